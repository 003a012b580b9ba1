"""Commands run with standard input or output closed: a one-line error and exit code 2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import AGILE


def _run_closed(fd: int, home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, AGILE_PASSPHRASE="cli tests", AGILE_HOME=str(home))
    return subprocess.run(
        [*AGILE, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=home.parent,
        preexec_fn=lambda: os.close(fd),
        check=False,
        timeout=120,
    )


@pytest.fixture
def home(run, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Create keyset 'box' and msg.agile encrypted to it; return the keystore directory."""
    assert run("keyset", "create", "box", "--purpose", "kem").returncode == 0
    (tmp_path / "msg.txt").write_bytes(b"secret\n")
    assert run("encrypt", "--to", "box", "-o", "msg.agile", "msg.txt").returncode == 0
    return tmp_path / "ks"


@pytest.mark.parametrize(
    ("fd", "args", "needle"),
    [
        (0, ("decrypt",), b"standard input is closed"),
        (0, ("encrypt", "--to", "box"), b"standard input is closed"),
        (1, ("decrypt", "msg.agile"), b"standard output is closed"),
        (1, ("keyset", "export-public", "box"), b"standard output is closed"),
    ],
    ids=["decrypt-stdin", "encrypt-stdin", "decrypt-stdout", "export-stdout"],
)
def test_closed_stream_exit_code(home: Path, fd: int, args: tuple[str, ...], needle: bytes) -> None:
    result = _run_closed(fd, home, *args)
    assert result.returncode == 2
    assert needle in result.stderr
