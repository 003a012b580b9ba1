"""The rotation journal and the audit log."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agile.rotate.audit import AuditLog
from agile.rotate.journal import Journal, KeyChange


def _change(state: str = "planned") -> KeyChange:
    return KeyChange("mail", ("k1",), ("k1", "k0"), "x-wing", None, state, {"k1": ["old"]})


def test_journal_file_mode(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    assert os.stat(tmp_path / "rotation-journal.sqlite").st_mode & 0o777 == 0o600


def test_journal_unfinished_run(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("pq-hybrid", "sha256:00", {"policy": "pq-hybrid"})
    assert journal.unfinished_run().run_id == run.run_id


def test_journal_finished_run(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("pq-hybrid", "sha256:00", {})
    journal.set_run_state(run.run_id, "done", {"objects": 1})
    assert journal.unfinished_run() is None


def test_journal_survives_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("pq-hybrid", "sha256:00", {})
    journal.add_key_change(run.run_id, _change())
    journal.close()
    assert Journal(tmp_path).key_changes(run.run_id) == [_change()]


def test_journal_key_change_update(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_key_change(run.run_id, _change())
    journal.update_key_change(run.run_id, "mail", state="created", new_key_id="k2")
    assert journal.key_changes(run.run_id)[0].new_key_id == "k2"


def test_journal_add_objects_idempotent(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_objects(run.run_id, [("s", "a", "rewrap"), ("s", "b", "rewrap")])
    assert journal.add_objects(run.run_id, [("s", "a", "rewrap"), ("s", "c", "rewrap")]) == 1


def test_journal_pending_after_finish(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_objects(run.run_id, [("s", "a", "rewrap"), ("s", "b", "reencrypt")])
    journal.finish_objects(run.run_id, [("s", "a", "rewrap", "done", None)])
    assert list(journal.pending_objects(run.run_id)) == [("s", "b", "reencrypt")]


def test_journal_reopen_objects(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_objects(run.run_id, [("s", "a", "rewrap")])
    journal.finish_objects(run.run_id, [("s", "a", "rewrap", "done", None)])
    journal.reopen_objects(run.run_id, [("s", "a", "reencrypt")])
    assert list(journal.pending_objects(run.run_id)) == [("s", "a", "reencrypt")]


def test_journal_counts(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_objects(run.run_id, [("s", "a", "rewrap"), ("s", "b", "rewrap")])
    journal.finish_objects(run.run_id, [("s", "a", "rewrap", "failed", "bad tag")])
    assert journal.object_counts(run.run_id) == {("rewrap", "failed"): 1, ("rewrap", "pending"): 1}


def test_journal_failures(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_objects(run.run_id, [("s", "a", "rewrap")])
    journal.finish_objects(run.run_id, [("s", "a", "rewrap", "failed", "bad tag")])
    assert journal.failures(run.run_id) == [("s", "a", "bad tag")]


def test_audit_appends(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    audit.record("key-status", key_id="k1", status="disabled")
    audit.record("run-finished", run_id="r")
    assert [r["event"] for r in audit.records()] == ["key-status", "run-finished"]


def test_audit_json_lines(tmp_path: Path) -> None:
    AuditLog(tmp_path).record("key-status", key_id="k1", policy_hash="sha256:ab")
    line = (tmp_path / "audit.log").read_text().splitlines()[0]
    assert json.loads(line)["policy_hash"] == "sha256:ab"


def test_audit_file_mode(tmp_path: Path) -> None:
    AuditLog(tmp_path).record("x")
    assert os.stat(tmp_path / "audit.log").st_mode & 0o777 == 0o600


def test_audit_torn_line_skipped(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    audit.record("one")
    with open(tmp_path / "audit.log", "a") as file:
        file.write('{"event": "tor')
    assert [r["event"] for r in audit.records()] == ["one"]
