"""``agile rotate --dry-run`` with an unfinished run shows what resuming it would do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agile.errors import RotationError
from agile.rotate import Journal, RotateOptions, dry_run, open_store, rotate
from agile.rotate.journal import JOURNAL_NAME
from tests.rotate.rotate_helpers import Interrupted, agile, fill, stop_after_first_batch

COUNT = 8


def _setup(keystore, home: Path):
    """Return the store, after a pq-hybrid run (active policy default) stopped after two objects."""
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    fill(store, keyset, COUNT)
    with pytest.raises(Interrupted):
        rotate(
            str(home),
            RotateOptions(policy="pq-hybrid", batch_size=2),
            progress=stop_after_first_batch,
        )
    return store


def _run_id(home: Path) -> str:
    journal = Journal(home)
    try:
        run = journal.unfinished_run()
        assert run is not None
        return run.run_id
    finally:
        journal.close()


def test_dry_run_reports_unfinished_run(keystore, home: Path) -> None:
    _setup(keystore, home)
    plan = dry_run(str(home), RotateOptions()).to_dict()
    assert plan["unfinished_run"]["run_id"] == _run_id(home)


def test_dry_run_uses_run_policy(keystore, home: Path) -> None:
    _setup(keystore, home)
    plan = dry_run(str(home), RotateOptions()).to_dict()
    assert plan["policy"] == "pq-hybrid"


def test_dry_run_plans_run_keys(keystore, home: Path) -> None:
    _setup(keystore, home)
    plan = dry_run(str(home), RotateOptions()).to_dict()
    assert [key_plan["keyset"] for key_plan in plan["keys"]] == ["team"]


def test_dry_run_counts_remaining_objects(keystore, home: Path) -> None:
    _setup(keystore, home)
    plan = dry_run(str(home), RotateOptions()).to_dict()
    assert plan["objects"]["rewrap"] == COUNT - 2
    assert plan["unfinished_run"]["migrated"] == 2


def test_dry_run_matches_resume(keystore, home: Path) -> None:
    _setup(keystore, home)
    plan = dry_run(str(home), RotateOptions()).to_dict()
    report = rotate(str(home), RotateOptions())
    assert (
        report["objects"]["rewrap"] - plan["unfinished_run"]["migrated"]
        == (plan["objects"]["rewrap"])
    )


def test_dry_run_leaves_failed_out(keystore, home: Path) -> None:
    store = _setup(keystore, home)
    journal = Journal(home)
    journal.finish_objects(_run_id(home), [("objects", "obj00005", "rewrap", "failed", "test")])
    journal.close()
    plan = dry_run(str(home), RotateOptions()).to_dict()
    assert plan["objects"]["rewrap"] == COUNT - 3
    assert plan["unfinished_run"]["failed"] == 1
    assert store.read("obj00005")


def test_cli_dry_run_exit_with_failed(keystore, home: Path) -> None:
    """A resume does not retry the run's failed objects, so the dry run exits 1 as it will."""
    _setup(keystore, home)
    journal = Journal(home)
    journal.finish_objects(_run_id(home), [("objects", "obj00005", "rewrap", "failed", "test")])
    journal.close()

    result = agile(home, "rotate", "--dry-run", "--json")

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["unfinished_run"]["failed"] == 1


def test_dry_run_changes_nothing(keystore, home: Path) -> None:
    store = _setup(keystore, home)
    before = {object_id: store.read(object_id) for object_id, _ in store.iter_prefixes()}
    audit = (home / "audit.log").read_bytes()
    dry_run(str(home), RotateOptions())
    after = {object_id: store.read(object_id) for object_id, _ in store.iter_prefixes()}
    assert after == before
    assert (home / "audit.log").read_bytes() == audit
    assert _run_id(home)


def test_dry_run_other_policy_rejected(keystore, home: Path) -> None:
    _setup(keystore, home)
    with pytest.raises(RotationError, match="unfinished rotation run"):
        dry_run(str(home), RotateOptions(policy="pq-only"))


def test_dry_run_creates_no_journal(keystore, home: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    dry_run(str(home), RotateOptions(policy="pq-hybrid"))
    assert not (home / JOURNAL_NAME).exists()


def test_cli_dry_run_text(keystore, home: Path) -> None:
    _setup(keystore, home)
    result = agile(home, "rotate", "--dry-run")
    assert result.returncode == 0
    assert f"unfinished run {_run_id(home)}" in result.stdout
    assert "no key is due" not in result.stdout


def test_cli_dry_run_json(keystore, home: Path) -> None:
    _setup(keystore, home)
    plan = json.loads(agile(home, "rotate", "--dry-run", "--json", check=True).stdout)
    assert plan["unfinished_run"]["policy"] == "pq-hybrid"
    assert plan["objects"]["rewrap"] == COUNT - 2


def test_dry_run_names_incomplete_run(keystore, home: Path) -> None:
    store = _setup(keystore, home)
    data = bytearray(store.read("obj00004"))
    data[-5] ^= 1
    store.put("obj00004", bytes(data))
    assert rotate(str(home), RotateOptions())["state"] == "incomplete"
    plan = dry_run(str(home), RotateOptions()).to_dict()
    assert plan["keys"] == []
    assert plan["incomplete_run"]["command"] == "agile rotate --policy pq-hybrid"
