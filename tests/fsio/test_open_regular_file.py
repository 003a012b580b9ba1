"""open_regular_file opens regular files only, and never waits on a FIFO."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agile.fsio import NotRegularFile, open_regular_file


def test_regular_file_opens(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"content")
    file, status = open_regular_file(path)
    with file:
        assert file.read() == b"content"
    assert status.st_size == 7


def test_link_followed(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"x")
    (tmp_path / "link").symlink_to("data")
    file, _status = open_regular_file(tmp_path / "link")
    with file:
        assert file.read() == b"x"


def test_fifo_rejected_at_once(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    with pytest.raises(NotRegularFile, match="a FIFO"):
        open_regular_file(path)


def test_device_rejected() -> None:
    with pytest.raises(NotRegularFile, match="a character device"):
        open_regular_file("/dev/null")


def test_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        open_regular_file(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_regular_file(tmp_path / "absent")
