"""Options given to a resumed run (honoured or rejected, never ignored) and audit records."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agile.errors import RotationError
from agile.rotate import AuditLog, Journal, RotateOptions, open_store, rotate
from agile.rotate.executor import abandon
from agile.rotate.journal import KeyChange
from tests.rotate.rotate_helpers import Interrupted, agile, fill, stop_after_first_batch

COUNT = 8


def _setup(keystore, home: Path):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    fill(store, keyset, COUNT)
    return keyset.primary.id, store


def _interrupt(home: Path, **options) -> None:
    """Start (or resume) a pq-hybrid run and stop it after its first batch of two objects."""
    with pytest.raises(Interrupted):
        rotate(
            str(home),
            RotateOptions(policy="pq-hybrid", batch_size=2, **options),
            progress=stop_after_first_batch,
        )


def _status(keystore, key_id: str) -> str:
    return keystore.keyset("team").key(key_id).status.value


def _pending(home: Path) -> int:
    journal = Journal(home)
    try:
        run = journal.unfinished_run()
        assert run is not None
        return len(list(journal.pending_objects(run.run_id)))
    finally:
        journal.close()


def _corrupt(store, object_id: str) -> None:
    """Flip a bit near the end of the payload, so the header reads but decryption fails."""
    data = bytearray(store.read(object_id))
    data[-5] ^= 1
    store.put(object_id, bytes(data))


# --keep-old-keys


def test_resume_keep_old_keys_keeps(keystore, home: Path) -> None:
    old, _ = _setup(keystore, home)
    _interrupt(home)
    rotate(str(home), RotateOptions(keep_old_keys=True))
    assert _status(keystore, old) == "decrypt-only"


def test_resume_keep_old_keys_reported(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    report = rotate(str(home), RotateOptions(keep_old_keys=True))
    assert report["resumed"] is True
    assert report["old_keys_kept"] == "--keep-old-keys was given"
    assert report["disabled_key_ids"] == []


def test_keep_old_keys_kept_by_later_resume(keystore, home: Path) -> None:
    old, _ = _setup(keystore, home)
    _interrupt(home)
    _interrupt(home, keep_old_keys=True)
    report = rotate(str(home), RotateOptions())
    assert _status(keystore, old) == "decrypt-only"
    assert report["old_keys_kept"] == "--keep-old-keys was given"


def test_keep_old_keys_journaled(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    _interrupt(home, keep_old_keys=True)
    journal = Journal(home)
    try:
        run = journal.unfinished_run()
        assert run is not None
        assert run.options["keep_old_keys"] is True
    finally:
        journal.close()


def test_keep_old_keys_resume_audited(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    rotate(str(home), RotateOptions(keep_old_keys=True))
    resumed = [r for r in AuditLog(home).records() if r["event"] == "run-resumed"]
    assert resumed[-1]["keep_old_keys"] is True


def test_started_with_keep_resumed_plain(keystore, home: Path) -> None:
    old, _ = _setup(keystore, home)
    _interrupt(home, keep_old_keys=True)
    rotate(str(home), RotateOptions())
    assert _status(keystore, old) == "decrypt-only"


def test_keep_after_partial_disable(keystore, home: Path) -> None:
    """Killed while disabling old keys: the ones already disabled are reported, the rest kept."""
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    changes = []
    old_ids = {}
    for name in ("alpha", "beta"):
        keyset = keystore.create_keyset(name, "kem", algorithm="x25519", policy="default")
        old = keyset.primary.id
        new = keyset.add_key("x-wing", promote=True, policy="pq-hybrid")
        keystore.keyset(name).set_status(old, "decrypt-only")
        old_ids[name] = old
        changes.append(KeyChange(name, (old,), (old, new.id), "x-wing", new.id, "created", {}))
    keystore.keyset("alpha").disable(old_ids["alpha"])
    journal = Journal(home)
    run = journal.create_run(
        "pq-hybrid",
        keystore.policy("pq-hybrid").hash,
        {"policy": "pq-hybrid", "stores": [["objects", store.url]], "all_stores": True},
        changes,
    )
    journal.update_key_change(run.run_id, "alpha", state="disabled")
    journal.update_key_change(run.run_id, "beta", state="old-decrypt-only")
    journal.set_run_state(run.run_id, "verified")
    journal.close()

    report = rotate(str(home), RotateOptions(keep_old_keys=True))
    assert keystore.keyset("beta").key(old_ids["beta"]).status.value == "decrypt-only"
    assert report["disabled_key_ids"] == [old_ids["alpha"]]
    assert old_ids["alpha"] in report["old_keys_kept"]


# --fail-fast, --batch-size, --workers apply to the invocation that gives them


def test_resume_fail_fast_honoured(keystore, home: Path) -> None:
    _, store = _setup(keystore, home)
    _interrupt(home)
    _corrupt(store, "obj00002")
    report = rotate(str(home), RotateOptions(fail_fast=True, batch_size=1))
    assert report["state"] == "incomplete"
    assert report["objects"]["rewrap"] == 2


def test_resume_without_fail_fast_continues(keystore, home: Path) -> None:
    _, store = _setup(keystore, home)
    _interrupt(home, fail_fast=True)
    _corrupt(store, "obj00002")
    report = rotate(str(home), RotateOptions(batch_size=1))
    assert report["objects"]["rewrap"] == COUNT - 1


def test_resume_batch_size_honoured(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    calls = []
    rotate(str(home), RotateOptions(batch_size=1), progress=lambda done, total: calls.append(done))
    assert len(calls) == COUNT - 2


def test_resume_workers_honoured(keystore, home: Path, caplog) -> None:
    _setup(keystore, home)
    _interrupt(home)
    with caplog.at_level(logging.INFO, logger="agile.rotate"):
        rotate(str(home), RotateOptions(workers=2))
    assert "starting 2 workers" in caplog.text


# --store and --policy must match the unfinished run


def test_resume_other_store_rejected(keystore, home: Path) -> None:
    _setup(keystore, home)
    other = open_store(str(home.parent / "other"), create=True)
    keystore.add_store("other", other.url)
    _interrupt(home)
    with pytest.raises(RotationError, match="not the ones given with --store"):
        rotate(str(home), RotateOptions(stores=("other",)))


def test_resume_same_store_accepted(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    report = rotate(str(home), RotateOptions(stores=("objects",)))
    assert report["state"] == "done"


def test_resume_same_policy_accepted(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["resumed"] is True


def test_cli_resume_other_policy_exit_2(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    result = agile(home, "rotate", "--policy", "default")
    assert result.returncode == 2
    assert "unfinished rotation run" in result.stderr
    assert "Traceback" not in result.stderr


# An incomplete run under another policy is named by a run that finds nothing to do


def _incomplete_run(keystore, home: Path) -> str:
    _, store = _setup(keystore, home)
    _corrupt(store, "obj00003")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "incomplete"
    return str(report["run_id"])


def test_nothing_to_do_names_incomplete_run(keystore, home: Path) -> None:
    run_id = _incomplete_run(keystore, home)
    report = rotate(str(home), RotateOptions())
    assert report["state"] == "nothing-to-do"
    assert report["incomplete_run"]["run_id"] == run_id
    assert report["incomplete_run"]["command"] == "agile rotate --policy pq-hybrid"


def test_nothing_to_resume_names_incomplete_run(keystore, home: Path) -> None:
    run_id = _incomplete_run(keystore, home)
    report = rotate(str(home), RotateOptions(resume=True, policy="pq-hybrid"))
    assert report["state"] == "nothing-to-resume"
    assert report["incomplete_run"]["run_id"] == run_id


def test_cli_nothing_to_do_prints_command(keystore, home: Path) -> None:
    _incomplete_run(keystore, home)
    result = agile(home, "rotate")
    assert result.returncode == 0
    assert "finish it with 'agile rotate --policy pq-hybrid'" in result.stdout


def test_nothing_to_do_without_incomplete_run(keystore, home: Path) -> None:
    _setup(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    report = rotate(str(home), RotateOptions())
    assert "incomplete_run" not in report


# Audit records of a run that follows an abandoned or interrupted one


def _key_status_records(home: Path, run_id: str) -> list[dict]:
    return [
        record
        for record in AuditLog(home).records()
        if record["event"] == "key-status" and record.get("run_id") == run_id
    ]


def test_rerun_after_abandon_records_complete(keystore, home: Path) -> None:
    _setup(keystore, home)
    _interrupt(home)
    abandon(str(home))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    records = _key_status_records(home, report["run_id"])
    assert records
    for record in records:
        assert "algorithm" in record
        assert "previous" in record


def test_rerun_after_abandon_records_only_changes(keystore, home: Path) -> None:
    old, _ = _setup(keystore, home)
    _interrupt(home)
    abandon(str(home))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    statuses = [(r["key_id"], r["status"]) for r in _key_status_records(home, report["run_id"])]
    assert statuses == [(old, "disabled")]


def test_resume_restores_lost_record(keystore, home: Path) -> None:
    """A key change saved just before a crash, whose record was lost, is recorded on resume."""
    old, _ = _setup(keystore, home)
    _interrupt(home)
    log = home / "audit.log"
    lines = log.read_text().splitlines(keepends=True)
    kept = [
        line
        for line in lines
        if not (json.loads(line).get("key_id") == old and '"decrypt-only"' in line)
    ]
    assert len(kept) == len(lines) - 1
    log.write_text("".join(kept))
    # Such a crash leaves the run "planned", because the state moves on after the keys.
    journal = Journal(home)
    run = journal.unfinished_run()
    assert run is not None
    journal.set_run_state(run.run_id, "planned")
    journal.close()

    rotate(str(home), RotateOptions())
    restored = [
        r
        for r in AuditLog(home).records()
        if r["event"] == "key-status" and r["key_id"] == old and r["status"] == "decrypt-only"
    ]
    assert len(restored) == 1
    assert restored[0]["previous"] == "enabled"
    assert restored[0]["algorithm"] == "x25519"
