"""The rotation journal and append-only logs as files: their type and their mode."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from agile.errors import RotationError
from agile.fsio import NotRegularFile, open_private_append
from agile.rotate.journal import JOURNAL_NAME, Journal
from tests.rotate.rotate_helpers import agile


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journal_directory_named(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_NAME).mkdir()
    with pytest.raises(RotationError, match="is a directory"):
        Journal(tmp_path)


@pytest.mark.parametrize("dry_run", [True, False])
def test_cli_journal_directory_exits(home: Path, dry_run: bool) -> None:
    agile(home, "keyset", "create", "team", "--purpose", "kem", "--algorithm", "x25519", check=True)
    (home / JOURNAL_NAME).mkdir()
    result = agile(home, "rotate", "--policy", "pq-hybrid", *(["--dry-run"] if dry_run else []))
    assert result.returncode == 2
    assert str(home / JOURNAL_NAME) in result.stderr


def test_journal_mode_tightened(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    os.chmod(tmp_path / JOURNAL_NAME, 0o644)
    Journal(tmp_path).close()
    assert _mode(tmp_path / JOURNAL_NAME) == 0o600


def test_journal_wal_mode_tightened(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    os.chmod(tmp_path / JOURNAL_NAME, 0o644)
    journal = Journal(tmp_path)
    try:
        # SQLite created the write-ahead log with the mode the journal had.
        assert _mode(tmp_path / f"{JOURNAL_NAME}-wal") == 0o600
    finally:
        journal.close()


def test_append_mode_tightened(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"{}\n")
    os.chmod(path, 0o644)
    os.close(open_private_append(path))
    assert _mode(path) == 0o600


def test_append_new_file_private(tmp_path: Path) -> None:
    os.close(open_private_append(tmp_path / "audit.log"))
    assert _mode(tmp_path / "audit.log") == 0o600


def test_append_link_rejected(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.log").write_bytes(b"")
    (tmp_path / "audit.log").symlink_to(tmp_path / "elsewhere.log")
    with pytest.raises(OSError) as raised:
        open_private_append(tmp_path / "audit.log")
    assert raised.value.errno == errno.ELOOP


def test_append_fifo_rejected(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "audit.log")
    with pytest.raises(NotRegularFile, match="FIFO"):
        open_private_append(tmp_path / "audit.log")
