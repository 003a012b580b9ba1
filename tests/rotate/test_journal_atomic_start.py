"""A run and its key changes are journaled at once, and a run journaled without them resumes.

Earlier versions committed the run row and each key change separately.  A kill
between the two left a "planned" run without key changes, and the next
``agile rotate`` resumed it, changed no key and reported ``done``.  These tests
make that state with the real journal code (``Journal.create_run`` without key
changes writes the row exactly as those versions did) or inject a failure or an
``os._exit`` between the writes of a real rotation.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agile.envelope import decrypt, read_header
from agile.rotate import AuditLog, Journal, RotateOptions, open_store, rotate
from tests.rotate.rotate_helpers import agile, cli_env, fill

REPO = Path(__file__).resolve().parents[2]

#: The message of the failure that the test triggers raise with RAISE(ABORT, ...).
INJECTED = "injected failure"


def _setup(keystore, home: Path, algorithm: str = "x25519", count: int = 3):
    keyset = keystore.create_keyset("team", "kem", algorithm=algorithm, policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = fill(store, keyset, count)
    return keyset, store, originals


def _empty_run(keystore, home: Path, store, policy: str | None) -> str:
    """Journal a run the way a kill between the two writes of an older version left it."""
    options = {
        "policy": policy,
        "stores": [["objects", store.url]],
        "all_stores": True,
        "keep_old_keys": False,
        "fail_fast": False,
    }
    resolved = keystore.policy(policy)
    journal = Journal(home)
    try:
        return journal.create_run(resolved.name, resolved.hash, options).run_id
    finally:
        journal.close()


def _add_trigger(home: Path, sql: str) -> None:
    Journal(home).close()  # Opening the journal creates its tables.
    db = sqlite3.connect(home / "rotation-journal.sqlite")
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


def _drop_trigger(home: Path, name: str) -> None:
    db = sqlite3.connect(home / "rotation-journal.sqlite")
    try:
        db.execute(f"DROP TRIGGER {name}")
        db.commit()
    finally:
        db.close()


def _rotate_json(home: Path, *args: str) -> dict:
    result = agile(home, "rotate", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_migrated(keystore, store, originals: dict[str, bytes], old_id: str) -> None:
    primary = keystore.keyset("team").primary
    assert primary.algorithm == "x-wing"
    assert keystore.keyset("team").key(old_id).status.value == "disabled"
    for object_id, plaintext in originals.items():
        envelope = store.read(object_id)
        recipients = [(r.key_id, r.algorithm) for r in read_header(envelope).recipients]
        assert recipients == [(primary.id, "x-wing")], object_id
        assert decrypt(envelope, keystore, policy="pq-hybrid") == plaintext, object_id


def test_empty_run_resumes_with_new_keys(keystore, home: Path) -> None:
    """Active policy pq-hybrid, a run without key changes, then a plain ``agile rotate``."""
    keyset, store, originals = _setup(keystore, home)
    old_id = keyset.primary.id
    agile(home, "policy", "set", "pq-hybrid", check=True)
    run_id = _empty_run(keystore, home, store, None)

    report = _rotate_json(home)

    assert report["run_id"] == run_id
    assert report["resumed"] is True
    assert report["state"] == "done"
    assert [key["new_algorithm"] for key in report["keys"]] == ["x-wing"]
    assert report["objects"]["rewrap"] == len(originals)
    assert report["disabled_key_ids"] == [old_id]
    _assert_migrated(keystore, store, originals, old_id)


def test_empty_run_keeps_its_policy(keystore, home: Path) -> None:
    """--resume without --policy plans under the run's policy, not the active one."""
    keyset, store, originals = _setup(keystore, home)
    old_id = keyset.primary.id
    _empty_run(keystore, home, store, "pq-hybrid")

    report = _rotate_json(home, "--resume")

    assert report["policy"] == "pq-hybrid"
    assert [key["new_algorithm"] for key in report["keys"]] == ["x-wing"]
    _assert_migrated(keystore, store, originals, old_id)


def test_empty_run_audit_started(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home)
    run_id = _empty_run(keystore, home, store, "pq-hybrid")
    rotate(str(home), RotateOptions())

    started = [
        record
        for record in AuditLog(home).records()
        if record.get("run_id") == run_id and record["event"] == "run-started"
    ]
    assert [record["keys"][0]["new_algorithm"] for record in started] == ["x-wing"]


def test_empty_run_nothing_due(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, algorithm="x-wing")
    _empty_run(keystore, home, store, "pq-hybrid")

    report = rotate(str(home), RotateOptions())

    assert report["state"] == "nothing-to-do"
    journal = Journal(home)
    try:
        assert journal.unfinished_run() is None
    finally:
        journal.close()


def test_start_one_transaction(keystore, home: Path) -> None:
    """A failure while the key changes are written leaves no run behind."""
    keyset, _, _ = _setup(keystore, home)
    _add_trigger(
        home,
        "CREATE TRIGGER fail_key_change BEFORE INSERT ON key_changes "
        f"BEGIN SELECT RAISE(ABORT, '{INJECTED}'); END",
    )

    with pytest.raises(sqlite3.IntegrityError, match=INJECTED):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))

    journal = Journal(home)
    try:
        assert journal.runs() == []
    finally:
        journal.close()
    assert [key.id for key in keystore.keyset("team").keys] == [keyset.primary.id]


#: Runs a real rotation and ends the process, as SIGKILL would, when the
#: journal starts to write the first key change.
_KILL_BETWEEN = textwrap.dedent(
    """
    import os
    import sys

    from agile.rotate import RotateOptions, rotate
    from agile.rotate import journal as journal_module

    opened = journal_module.Journal.__init__

    def exit_at_key_change(statement):
        if "INTO key_changes" in statement:
            os._exit(9)

    def init(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self._db.set_trace_callback(exit_at_key_change)

    journal_module.Journal.__init__ = init
    rotate(sys.argv[1], RotateOptions(policy="pq-hybrid"))
    """
)


def test_killed_start_leaves_no_run(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home)
    old_id = keyset.primary.id
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN, str(home)],
        env=cli_env(home),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr

    journal = Journal(home)
    try:
        assert journal.runs() == []
    finally:
        journal.close()

    report = _rotate_json(home, "--policy", "pq-hybrid")
    assert report["resumed"] is False
    assert report["objects"]["rewrap"] == len(originals)
    _assert_migrated(keystore, store, originals, old_id)


def test_scan_one_transaction(keystore, home: Path) -> None:
    """The objects a scan found and the state "migrating" are journaled together."""
    _, store, originals = _setup(keystore, home, count=2)
    store.put("garbage", b"not an envelope")
    _add_trigger(
        home,
        "CREATE TRIGGER fail_migrating BEFORE UPDATE OF state ON runs "
        f"WHEN NEW.state = 'migrating' BEGIN SELECT RAISE(ABORT, '{INJECTED}'); END",
    )

    with pytest.raises(sqlite3.IntegrityError, match=INJECTED):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))

    journal = Journal(home)
    try:
        run = journal.unfinished_run()
        assert run is not None
        assert run.state == "keys-ready"
        assert journal.object_counts(run.run_id) == {}
    finally:
        journal.close()

    _drop_trigger(home, "fail_migrating")
    report = rotate(str(home), RotateOptions())
    assert report["objects"]["rewrap"] == len(originals)
    assert [failure["object"] for failure in report["failures"]] == ["garbage"]
