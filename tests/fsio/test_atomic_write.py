"""Atomic writes: content, mode, and errors that name the caller's path."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agile.fsio import atomic_write


def test_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")

    atomic_write(target, b"new")

    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_missing_folder_names_target(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "file"

    with pytest.raises(FileNotFoundError) as raised:
        atomic_write(target, b"data")

    assert raised.value.filename == str(target)


def test_directory_target_named(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as raised:
        atomic_write(tmp_path, b"data")

    assert raised.value.filename == str(tmp_path)
