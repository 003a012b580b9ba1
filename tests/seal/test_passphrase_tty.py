"""The passphrase prompt on the controlling terminal, and the warning about lowered Argon2id costs.

The prompt tests run ``agile decrypt`` with standard input redirected from an
envelope file, as in ``agile decrypt < docs.tar.agile | tar x``. A pseudo-terminal
from the pty module is the process's controlling terminal, or the process runs in a
new session without one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from agile.seal import passphrase
from tests.cli_helpers import CHEAP_ARGON2, PASSPHRASE, run_agile

PLAINTEXT = b"documents that were sealed before the prompt\n"
PROMPT = b"agile keystore passphrase: "


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, Path]:
    """Return a keystore with one kem keyset and an envelope of PLAINTEXT encrypted to it."""
    home = tmp_path / "ks"
    message = tmp_path / "message.txt"
    message.write_bytes(PLAINTEXT)
    envelope = tmp_path / "message.agile"
    created = run_agile(home, "keyset", "create", "files", "--purpose", "kem")
    assert created.returncode == 0, created.stderr
    encrypted = run_agile(home, "encrypt", "--to", "files", "-o", str(envelope), str(message))
    assert encrypted.returncode == 0, encrypted.stderr
    return home, envelope


def _environment() -> dict[str, str]:
    environment = {**os.environ, **CHEAP_ARGON2}
    environment.pop("AGILE_PASSPHRASE", None)
    return environment


def _take_terminal() -> None:
    """Make standard error, the pty's secondary end, the new session's controlling terminal."""
    fcntl.ioctl(2, termios.TIOCSCTTY, 0)


def _read_until(primary: int, expected: bytes, seen: bytearray, timeout: float = 60) -> None:
    """Append pty output to ``seen`` until it contains ``expected``, EOF, or the timeout."""
    deadline = time.monotonic() + timeout
    while expected not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(primary, 4096)
        except OSError:
            # Linux returns EIO once the last process with the secondary end open has exited.
            return
        if not data:
            return
        seen.extend(data)


def _decrypt_on_terminal(
    home: Path, envelope: Path, output: Path, typed: bytes
) -> tuple[int, bytes]:
    """Run ``agile decrypt < ENVELOPE > OUTPUT`` on a pty, type ``typed`` at the prompt.

    Return the exit code and everything the command wrote to the terminal.
    """
    primary, secondary = pty.openpty()
    with envelope.open("rb") as source, output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "--keystore", str(home), "decrypt"],
            stdin=source,
            stdout=sink,
            stderr=secondary,
            env=_environment(),
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
    os.close(secondary)
    seen = bytearray()
    try:
        _read_until(primary, PROMPT, seen)
        if PROMPT in seen:
            os.write(primary, typed)
        _read_until(primary, b"\0never printed\0", seen, timeout=60)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(primary)
    return code, bytes(seen)


def test_prompt_with_redirected_stdin(sealed: tuple[Path, Path], tmp_path: Path) -> None:
    home, envelope = sealed
    output = tmp_path / "plain.txt"

    code, terminal = _decrypt_on_terminal(home, envelope, output, PASSPHRASE.encode() + b"\n")

    assert PROMPT in terminal, terminal
    assert code == 0, terminal
    assert output.read_bytes() == PLAINTEXT
    # getpass turns echo off, so the typed passphrase never appears on the terminal.
    assert PASSPHRASE.encode() not in terminal


def test_prompt_wrong_passphrase(sealed: tuple[Path, Path], tmp_path: Path) -> None:
    home, envelope = sealed
    output = tmp_path / "plain.txt"

    code, terminal = _decrypt_on_terminal(home, envelope, output, b"not the passphrase\n")

    assert code == 2, terminal
    assert b"wrong passphrase" in terminal
    assert b"Traceback" not in terminal
    assert output.read_bytes() == b""


def test_prompt_end_of_file(sealed: tuple[Path, Path], tmp_path: Path) -> None:
    home, envelope = sealed
    output = tmp_path / "plain.txt"

    # Ctrl-D at the start of a line ends the input of a terminal in canonical mode.
    code, terminal = _decrypt_on_terminal(home, envelope, output, b"\x04")

    assert code == 2, terminal
    assert b"no passphrase" in terminal
    assert b"Traceback" not in terminal


def test_no_terminal_names_variable(sealed: tuple[Path, Path]) -> None:
    home, envelope = sealed

    with envelope.open("rb") as source:
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "--keystore", str(home), "decrypt"],
            stdin=source,
            capture_output=True,
            env=_environment(),
            start_new_session=True,
            timeout=120,
            check=False,
        )

    lines = result.stderr.decode().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, lines
    assert "no controlling terminal" in lines[0]
    assert "set AGILE_PASSPHRASE" in lines[0]
    assert result.stdout == b""


def test_lowered_parameters_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "2048")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "2")
    # The warning appears once per parameter set and process, so start from none warned.
    monkeypatch.setattr(passphrase, "_warned", set())

    with caplog.at_level(logging.WARNING, logger="agile.seal.passphrase"):
        passphrase.parameters_from_environment()

    assert len(caplog.messages) == 1
    assert "below the defaults: 2048 KiB and 2 passes" in caplog.messages[0]
    assert "(defaults 65536 KiB, 3 passes)" in caplog.messages[0]
