"""The rotation journal: a SQLite database (WAL) beside the keystore.

It records each run (policy and state), the planned key replacements and every
object to migrate with its state.  The executor updates it only after the
change it records is durable, and every step is idempotent when replayed, so a
run killed at any instant resumes from the journal:

* a key replacement is journaled *before* the new key is created, together with
  the key ids the keyset had then, so a key found later that is not among them
  is the one this run created;
* an object still marked ``pending`` may already be rewritten; the executor reads
  its header again and finds that it no longer names an old key.

Rows that belong together are written in one transaction: a run and its planned
key changes (:meth:`Journal.create_run`), and the objects a scan found with the
run state that follows the scan (:meth:`Journal.record_scan`).  A kill leaves
either all of them or none.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "Journal",
    "Run",
    "KeyChange",
    "JOURNAL_NAME",
    "RUN_STATES",
    "OBJECT_STATES",
]

JOURNAL_NAME = "rotation-journal.sqlite"

#: Files that SQLite keeps beside the journal: its write-ahead log and shared memory,
#: and the rollback journal of a database not in WAL mode.
_SIDE_FILES = ("-wal", "-shm", "-journal")

#: Run states in order; "done", "incomplete" (some objects failed) and "abandoned"
#: (ended by ``agile rotate --abandon``) are final.
RUN_STATES = (
    "planned",
    "keys-ready",
    "migrating",
    "verified",
    "done",
    "incomplete",
    "abandoned",
)

#: Run states after which a run is never resumed.
FINAL_STATES = frozenset({"done", "incomplete", "abandoned"})

#: Object states: pending until migrated and re-read, "skipped" when it no longer
#: names an old key, "failed" with an error when it could not be migrated.
OBJECT_STATES = ("pending", "done", "skipped", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    policy TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    options TEXT NOT NULL,
    report TEXT
);
CREATE TABLE IF NOT EXISTS key_changes (
    run_id TEXT NOT NULL,
    keyset TEXT NOT NULL,
    old_key_ids TEXT NOT NULL,
    known_key_ids TEXT NOT NULL,
    new_algorithm TEXT,
    new_key_id TEXT,
    state TEXT NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (run_id, keyset)
);
CREATE TABLE IF NOT EXISTS objects (
    run_id TEXT NOT NULL,
    store TEXT NOT NULL,
    object_id TEXT NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (run_id, store, object_id)
);
CREATE INDEX IF NOT EXISTS objects_state ON objects (run_id, state);
"""


@dataclass(frozen=True, slots=True)
class Run:
    """One row of the runs table."""

    run_id: str
    started: str
    finished: str | None
    policy: str
    policy_hash: str
    state: str
    options: dict[str, Any]
    report: dict[str, Any] | None

    @property
    def finished_state(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A planned key replacement in one keyset.

    ``new_algorithm`` is None when the keyset's primary stays and only old keys
    retire.  ``state`` moves through "planned", "created", "old-decrypt-only",
    "disabled".
    """

    keyset: str
    old_key_ids: tuple[str, ...]
    known_key_ids: tuple[str, ...]
    new_algorithm: str | None
    new_key_id: str | None
    state: str
    reasons: dict[str, list[str]]


class Journal:
    """The journal database of one keystore; only the rotation leader process writes it."""

    def __init__(self, keystore_dir: str | os.PathLike[str]) -> None:
        self.path = Path(keystore_dir) / JOURNAL_NAME
        self._check_regular()
        existed = self.path.exists()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as error:
            raise _unopenable(self.path, error) from None
        if not existed:
            os.chmod(self.path, 0o600)
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise _unopenable(self.path, error) from None
        self._make_private()

    def _check_regular(self) -> None:
        """Raise :class:`RotationError` when the journal's path names no regular file."""
        from ..errors import RotationError

        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return
        except OSError as error:
            raise _unopenable(self.path, error) from None
        if stat.S_ISREG(mode):
            return
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise RotationError(
            f"the rotation journal {str(self.path)!r} is {kind}",
            fix="move it out of the keystore directory; agile then creates a new journal, "
            "and the next run plans afresh from the keystore",
        )

    def _make_private(self) -> None:
        """Set the journal and the files SQLite keeps beside it to 0600 where others may read them.

        The journal names objects and keys, and SQLite creates the -wal and
        -shm files with the mode of the database file.  A file of another
        user is left as it is, because only its owner may change its mode.
        """
        for path in (self.path, *(self.path.with_name(self.path.name + s) for s in _SIDE_FILES)):
            try:
                status = path.stat()
            except FileNotFoundError:
                continue
            mode = stat.S_IMODE(status.st_mode)
            if mode & 0o077 and status.st_uid == os.geteuid() and stat.S_ISREG(status.st_mode):
                os.chmod(path, mode & 0o700)

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # Runs.

    def create_run(
        self,
        policy: str,
        policy_hash: str,
        options: dict[str, Any],
        changes: Iterable[KeyChange] = (),
    ) -> Run:
        """Journal a new run in state "planned" with its key changes, in one transaction.

        A kill leaves the run with all its key changes or no run at all.  A run
        without key changes is planned again when it resumes (see
        :func:`agile.rotate.rotate`).
        """
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        started = datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction():
            self._db.execute(
                "INSERT INTO runs (run_id, started, policy, policy_hash, state, options) "
                "VALUES (?, ?, ?, ?, 'planned', ?)",
                (run_id, started, policy, policy_hash, json.dumps(options, sort_keys=True)),
            )
            self.add_key_changes(run_id, changes)
        return self.run(run_id)

    def run(self, run_id: str) -> Run:
        row = self._db.execute(
            "SELECT run_id, started, finished, policy, policy_hash, state, options, report "
            "FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            from ..errors import RotationError

            raise RotationError(f"rotation run {run_id!r} not found in {str(self.path)!r}")
        return _run(row)

    def runs(self) -> list[Run]:
        rows = self._db.execute(
            "SELECT run_id, started, finished, policy, policy_hash, state, options, report "
            "FROM runs ORDER BY started, run_id"
        ).fetchall()
        return [_run(row) for row in rows]

    def unfinished_run(self) -> Run | None:
        """Return the run that has not reached a final state, if any."""
        for run in reversed(self.runs()):
            if not run.finished_state:
                return run
        return None

    def update_run_options(self, run_id: str, options: dict[str, Any]) -> None:
        """Replace the options of a run, such as ``keep_old_keys`` turned on by a resume."""
        self._db.execute(
            "UPDATE runs SET options = ? WHERE run_id = ?",
            (json.dumps(options, sort_keys=True), run_id),
        )

    def last_finished_run(self) -> Run | None:
        """Return the run that reached a final state last, if any."""
        for run in reversed(self.runs()):
            if run.finished_state:
                return run
        return None

    def set_run_state(self, run_id: str, state: str, report: dict[str, Any] | None = None) -> None:
        finished = (
            datetime.now(UTC).isoformat(timespec="seconds") if state in FINAL_STATES else None
        )
        self._db.execute(
            "UPDATE runs SET state = ?, finished = ?, report = ? WHERE run_id = ?",
            (state, finished, json.dumps(report) if report is not None else None, run_id),
        )

    # Key changes.

    def add_key_change(self, run_id: str, change: KeyChange) -> None:
        self.add_key_changes(run_id, [change])

    def add_key_changes(self, run_id: str, changes: Iterable[KeyChange]) -> None:
        """Add key changes (a keyset already journaled for the run stays) in one transaction."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO key_changes (run_id, keyset, old_key_ids, known_key_ids, "
                "new_algorithm, new_key_id, state, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        run_id,
                        change.keyset,
                        json.dumps(list(change.old_key_ids)),
                        json.dumps(list(change.known_key_ids)),
                        change.new_algorithm,
                        change.new_key_id,
                        change.state,
                        json.dumps(change.reasons, sort_keys=True),
                    )
                    for change in changes
                ),
            )

    def key_changes(self, run_id: str) -> list[KeyChange]:
        rows = self._db.execute(
            "SELECT keyset, old_key_ids, known_key_ids, new_algorithm, new_key_id, state, "
            "reasons FROM key_changes WHERE run_id = ? ORDER BY keyset",
            (run_id,),
        ).fetchall()
        return [
            KeyChange(
                keyset=row[0],
                old_key_ids=tuple(json.loads(row[1])),
                known_key_ids=tuple(json.loads(row[2])),
                new_algorithm=row[3],
                new_key_id=row[4],
                state=row[5],
                reasons=json.loads(row[6]),
            )
            for row in rows
        ]

    def update_key_change(
        self, run_id: str, keyset: str, *, state: str, new_key_id: str | None = None
    ) -> None:
        if new_key_id is None:
            self._db.execute(
                "UPDATE key_changes SET state = ? WHERE run_id = ? AND keyset = ?",
                (state, run_id, keyset),
            )
        else:
            self._db.execute(
                "UPDATE key_changes SET state = ?, new_key_id = ? WHERE run_id = ? AND keyset = ?",
                (state, new_key_id, run_id, keyset),
            )

    # Objects.

    def add_objects(self, run_id: str, items: Iterable[tuple[str, str, str]]) -> int:
        """Add ``(store, object_id, action)`` rows as pending (existing rows stay); return count."""
        with self._transaction():
            # executemany sums the rows each statement inserted into rowcount.
            cursor = self._db.executemany(
                "INSERT OR IGNORE INTO objects (run_id, store, object_id, action, state) "
                "VALUES (?, ?, ?, ?, 'pending')",
                ((run_id, store, object_id, action) for store, object_id, action in items),
            )
            return max(cursor.rowcount, 0)

    def reopen_objects(self, run_id: str, items: Iterable[tuple[str, str, str]]) -> None:
        """Mark objects pending again (found naming an old key in the final pass)."""
        with self._transaction():
            for store, object_id, action in items:
                self._db.execute(
                    "INSERT INTO objects (run_id, store, object_id, action, state) "
                    "VALUES (?, ?, ?, ?, 'pending') ON CONFLICT (run_id, store, object_id) "
                    "DO UPDATE SET state = 'pending', action = excluded.action, error = NULL",
                    (run_id, store, object_id, action),
                )

    def record_unreadable(self, run_id: str, items: Iterable[tuple[str, str, str]]) -> None:
        """Record ``(store, object_id, error)`` as failed "unreadable" objects.

        One statement per object inserts it failed or marks its existing row
        failed, so no kill leaves it pending with the action "unreadable".
        """
        with self._transaction():
            self._db.executemany(
                "INSERT INTO objects (run_id, store, object_id, action, state, error) "
                "VALUES (?, ?, ?, 'unreadable', 'failed', ?) "
                "ON CONFLICT (run_id, store, object_id) DO UPDATE SET action = 'unreadable', "
                "state = 'failed', error = excluded.error",
                ((run_id, store, object_id, error) for store, object_id, error in items),
            )

    def record_scan(
        self,
        run_id: str,
        found: Iterable[tuple[str, str, str]],
        unreadable: Iterable[tuple[str, str, str]],
        state: str,
    ) -> int:
        """Journal a scan and the run state after it in one transaction; return the count added.

        ``found`` contains ``(store, object_id, action)`` to add as pending (see
        :meth:`add_objects`) and ``unreadable`` ``(store, object_id, error)``
        (see :meth:`record_unreadable`).
        """
        with self._transaction():
            added = self.add_objects(run_id, found)
            self.record_unreadable(run_id, unreadable)
            self.set_run_state(run_id, state)
        return added

    def pending_objects(self, run_id: str) -> Iterator[tuple[str, str, str]]:
        """Yield ``(store, object_id, action)`` of pending objects, grouped by store."""
        rows = self._db.execute(
            "SELECT store, object_id, action FROM objects WHERE run_id = ? AND state = 'pending' "
            "ORDER BY store, object_id",
            (run_id,),
        ).fetchall()
        yield from rows

    def pending_page(
        self, run_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str, str]]:
        """Return up to ``limit`` pending ``(store, object_id, action)`` after ``after``.

        ``after`` is the ``(store, object_id)`` of the last row of the previous
        page, or None for the first page.  Rows come in ``(store, object_id)``
        order, so paging visits each pending object once while a caller marks
        objects done between pages, with one page in memory at a time.
        """
        if after is None:
            return self._db.execute(
                "SELECT store, object_id, action FROM objects "
                "WHERE run_id = ? AND state = 'pending' ORDER BY store, object_id LIMIT ?",
                (run_id, limit),
            ).fetchall()
        return self._db.execute(
            "SELECT store, object_id, action FROM objects "
            "WHERE run_id = ? AND state = 'pending' AND (store, object_id) > (?, ?) "
            "ORDER BY store, object_id LIMIT ?",
            (run_id, *after, limit),
        ).fetchall()

    def pending_count(self, run_id: str) -> int:
        """Return the number of pending objects of a run."""
        row = self._db.execute(
            "SELECT count(*) FROM objects WHERE run_id = ? AND state = 'pending'", (run_id,)
        ).fetchone()
        return int(row[0])

    def finish_objects(self, run_id: str, results: Iterable[tuple[str, str, str, str, str | None]]):
        """Record ``(store, object_id, action, state, error)`` results in one transaction."""
        with self._transaction():
            self._db.executemany(
                "UPDATE objects SET action = ?, state = ?, error = ? "
                "WHERE run_id = ? AND store = ? AND object_id = ?",
                (
                    (action, state, error, run_id, store, object_id)
                    for store, object_id, action, state, error in results
                ),
            )

    def object_counts(self, run_id: str) -> dict[tuple[str, str], int]:
        """Return ``{(action, state): count}`` for a run."""
        rows = self._db.execute(
            "SELECT action, state, count(*) FROM objects WHERE run_id = ? GROUP BY action, state",
            (run_id,),
        ).fetchall()
        return {(action, state): count for action, state, count in rows}

    def failures(self, run_id: str) -> list[tuple[str, str, str]]:
        """Return ``(store, object_id, error)`` of failed objects."""
        return self._db.execute(
            "SELECT store, object_id, error FROM objects WHERE run_id = ? AND state = 'failed' "
            "ORDER BY store, object_id",
            (run_id,),
        ).fetchall()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an exception.

    Inside another transaction it joins that one: the outermost block alone
    commits or rolls back, so journal methods can be combined into one
    transaction.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outermost = False

    def __enter__(self) -> None:
        self.outermost = not self.db.in_transaction
        if self.outermost:
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *exc: object) -> None:
        if self.outermost:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _run(row: tuple[Any, ...]) -> Run:
    return Run(
        run_id=row[0],
        started=row[1],
        finished=row[2],
        policy=row[3],
        policy_hash=row[4],
        state=row[5],
        options=json.loads(row[6]),
        report=json.loads(row[7]) if row[7] else None,
    )


def _unopenable(path: Path, error: Exception) -> Exception:
    """Return the :class:`RotationError` for a journal that SQLite or the file system rejects."""
    from ..errors import RotationError

    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    return RotationError(
        f"cannot open the rotation journal {str(path)!r}: {reason}",
        fix="make it readable and writable for this user.  If it is damaged, move it "
        "aside and rotate again, and the next run plans afresh from the keystore",
    )
