"""The append-only audit log: one JSON object per line, fsync'ed before the call returns.

Every key state change (a key added, promoted, made decrypt-only, disabled,
enabled, destroyed or removed, by the CLI, the library or a rotation) and every
rotation run is recorded with the policy hash.  A record is written after the
change it describes is saved, so a crash between the two can lose it.  A
resumed rotation redoes the steps whose journal state is behind and records
them again.  After a crash a change can therefore appear twice, or be missing
when the run is never resumed.
"""

from __future__ import annotations

import contextvars
import errno
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import KeystoreError
from ..fsio import open_private_append

__all__ = ["AUDIT_NAME", "AuditLog", "audit_context", "record_key_changes"]

AUDIT_NAME = "audit.log"

#: The rotation run (run id, policy hash) that the key changes of this context belong to.
_run: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "agile_audit_run", default=None
)


class AuditLog:
    """Appends records to ``<keystore>/audit.log`` (created 0600)."""

    def __init__(self, keystore_dir: str | os.PathLike[str]) -> None:
        self.path = Path(keystore_dir) / AUDIT_NAME
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record and fsync it; return the record."""
        entry = {"time": datetime.now(UTC).isoformat(timespec="microseconds"), "event": event}
        entry.update(fields)
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()

        with self._lock:
            # O_APPEND makes each write land at the end even with several writers;
            # one write call per record keeps a record on one line.
            fd = self._open()
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # A torn last line from a crash: end it, so this record gets its own line.
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def check_writable(self) -> None:
        """Raise :class:`KeystoreError` when an existing log cannot be opened to append.

        Writers call this before they save a change, so that a log they cannot
        record the change in (a directory, a file without write permission)
        stops the command before anything is saved.  A missing log passes,
        because :meth:`record` creates it in the keystore directory.
        """
        if not os.path.lexists(self.path):
            return
        try:
            os.close(self._open())
        except OSError as error:
            raise KeystoreError(
                f"cannot write the audit log {str(self.path)!r}: {error.strerror or error}",
                fix="make it a regular file that this user can write, or move it away so "
                "that agile creates a new one, then run the command again; no change was saved",
            ) from None

    def _open(self) -> int:
        """Open the log to append, created 0600, and set an existing one to 0600."""
        try:
            return open_private_append(self.path)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            raise KeystoreError(
                f"the audit log {str(self.path)!r} is a symbolic link",
                fix="replace the link by a copy of the file it points to, "
                "then run the command again",
            ) from None

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield the records in order, skipping a torn last line left by a crash mid-write."""
        try:
            with open(self.path, encoding="utf-8") as file:
                for line in file:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue
        except FileNotFoundError:
            return


@contextmanager
def audit_context(run_id: str, policy_hash: str) -> Iterator[None]:
    """Tag the key changes recorded inside the block with a rotation run and its policy."""
    token = _run.set((run_id, policy_hash))
    try:
        yield
    finally:
        _run.reset(token)


def record_key_changes(
    log: AuditLog,
    keyset: str,
    before: Mapping[str, str],
    after: Mapping[str, tuple[str, str]],
    policy_hash: Callable[[], str | None],
) -> None:
    """Record each key whose status differs between ``before`` and ``after``.

    ``before`` maps key ids to statuses, ``after`` maps key ids to
    ``(algorithm, status)``; a key missing from ``before`` is new.  Inside
    :func:`audit_context` the records carry the run id and the run's policy
    hash, elsewhere the hash that ``policy_hash`` returns (called only when a
    status changed).
    """
    changed = [
        (key_id, algorithm, status)
        for key_id, (algorithm, status) in after.items()
        if before.get(key_id) != status
    ]
    if not changed:
        return
    run = _run.get()
    hash_value = run[1] if run is not None else policy_hash()
    for key_id, algorithm, status in changed:
        fields: dict[str, Any] = {
            "keyset": keyset,
            "key_id": key_id,
            "algorithm": algorithm,
            "status": status,
            "previous": before.get(key_id),
            "policy_hash": hash_value,
        }
        if run is not None:
            fields["run_id"] = run[0]
        log.record("key-status", **fields)
