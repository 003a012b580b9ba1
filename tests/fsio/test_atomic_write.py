"""Atomic writes: content, mode, and errors that name the caller's path."""

from __future__ import annotations

import stat
import subprocess
import sys
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


def test_fifo_written_in_place(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()

    atomic_write(fifo, b"through the pipe")
    reader.join(timeout=10)

    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_symlink_target_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_dev_stdout_pipe_written(tmp_path: Path) -> None:
    # /dev/stdout on a pipe resolves to /proc/PID/fd/pipe:[N], a name no open() finds.
    code = "from agile.fsio import atomic_write; atomic_write('/dev/stdout', b'through the pipe')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, timeout=60
    )

    assert result.stdout == b"through the pipe"
