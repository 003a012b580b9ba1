"""A reader that closes standard output early: no message, exit status 141 like SIGPIPE."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import AGILE

#: 128 + SIGPIPE, what a shell reports for a process that the signal ended.
SIGPIPE_EXIT = 141


def _read_one_line_and_close(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run agile with stdout on a pipe, read one line from it, close it, and wait."""
    reader, writer = os.pipe()
    # The smallest pipe (one page) makes sure that the command is still writing when
    # the reader goes away, whatever the kernel's default pipe size.
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        pytest.skip("this platform cannot shrink a pipe (no F_SETPIPE_SZ)")
    fcntl.fcntl(writer, set_size, 4096)
    env = dict(os.environ, AGILE_PASSPHRASE="cli tests", AGILE_HOME=str(home))
    # With PYTHONUNBUFFERED, a write that the closing reader cuts short returns a short
    # count, and Python drops the rest without an error. So test the usual set-up.
    env.pop("PYTHONUNBUFFERED", None)
    process = subprocess.Popen(
        [*AGILE, *args],
        stdin=subprocess.DEVNULL,
        stdout=writer,
        stderr=subprocess.PIPE,
        env=env,
        cwd=home.parent,
    )
    os.close(writer)
    with os.fdopen(reader, "rb") as output:
        first = output.readline()
    _stdout, stderr = process.communicate(timeout=120)
    assert first
    return subprocess.CompletedProcess(process.args, process.returncode, first, stderr)


@pytest.fixture
def home(run, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Create keyset 'box' and big.agile (about 1 MiB encrypted to it); return the keystore."""
    assert run("keyset", "create", "box", "--purpose", "kem").returncode == 0
    (tmp_path / "big.txt").write_bytes(b"line of plaintext\n" * 60_000)
    assert run("encrypt", "--to", "box", "-o", "big.agile", "big.txt").returncode == 0
    return tmp_path / "ks"


CASES = [
    ("algorithms", "--json"),
    ("decrypt", "big.agile"),
    ("encrypt", "--armor", "--to", "box", "big.txt"),
]


@pytest.mark.parametrize("args", CASES, ids=["algorithms", "decrypt", "encrypt-armor"])
def test_exit_status(home: Path, args: tuple[str, ...]) -> None:
    assert _read_one_line_and_close(home, *args).returncode == SIGPIPE_EXIT


@pytest.mark.parametrize("args", CASES, ids=["algorithms", "decrypt", "encrypt-armor"])
def test_no_message(home: Path, args: tuple[str, ...]) -> None:
    assert _read_one_line_and_close(home, *args).stderr == b""
