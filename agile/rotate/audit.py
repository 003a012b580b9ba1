"""The append-only audit log: one JSON object per line, fsync'ed before the call returns.

Every key state change and every rotation run is recorded with the policy hash.
A record is written after the change it describes is saved, so a crash between
the two can lose it.  A resumed rotation redoes the steps whose journal state
is behind and records them again.  After a crash a change can therefore appear
twice, or be missing when the run is never resumed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["AuditLog", "AUDIT_NAME"]

AUDIT_NAME = "audit.log"


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
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
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
