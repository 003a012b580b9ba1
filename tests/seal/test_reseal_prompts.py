"""The passphrase prompts of a reseal on a terminal: the current passphrase, then a new one.

Each test runs a process on a pseudo-terminal from the pty module, which becomes its
controlling terminal, with AGILE_PASSPHRASE unset so that the passphrases are typed.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli_helpers import CHEAP_ARGON2, PASSPHRASE, run_agile

NEW_PASSPHRASE = "a new passphrase for the keyset"
NEW_PROMPT = b"new passphrase for keyset 'tty1': "
REPEAT_PROMPT = b"repeat the new passphrase: "


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a keystore with the passphrase-sealed kem keyset tty1."""
    home = tmp_path / "ks"
    created = run_agile(home, "keyset", "create", "tty1", "--purpose", "kem")
    assert created.returncode == 0, created.stderr
    return home


def _environment() -> dict[str, str]:
    environment = {**os.environ, **CHEAP_ARGON2}
    environment.pop("AGILE_PASSPHRASE", None)
    environment.pop("AGILE_NEW_PASSPHRASE", None)
    return environment


def _take_terminal() -> None:
    """Make standard error, the pty's secondary end, the new session's controlling terminal."""
    fcntl.ioctl(2, termios.TIOCSCTTY, 0)


def _read_until(primary: int, expected: bytes, seen: bytearray, timeout: float = 60) -> bool:
    """Append pty output to ``seen`` until it ends with ``expected``; return whether it did."""
    deadline = time.monotonic() + timeout
    while not seen.endswith(expected) and time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(primary, 4096)
        except OSError:
            # Linux returns EIO once the last process with the secondary end open has exited.
            return False
        if not data:
            return False
        seen.extend(data)
    return seen.endswith(expected)


def _run_on_terminal(
    command: list[str], answers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes, list[int]]:
    """Run ``command`` on a pty and type each answer once the output ends with its prompt.

    Return the exit code, everything written to the terminal, and the offset in that
    output at which each answered prompt ended.
    """
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=_environment(),
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    os.close(secondary)
    seen = bytearray()
    offsets: list[int] = []
    try:
        for prompt, typed in answers:
            if not _read_until(primary, prompt, seen):
                break
            offsets.append(len(seen))
            os.write(primary, typed)
        _read_until(primary, b"\0never printed\0", seen, timeout=60)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(primary)
    return code, bytes(seen), offsets


def _reseal_on_terminal(
    home: Path, answers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes, list[int]]:
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "--keystore",
        str(home),
        "keyset",
        "reseal",
        "tty1",
    ]
    return _run_on_terminal(command, answers)


def test_reseal_asks_new_passphrase(home: Path) -> None:
    new = NEW_PASSPHRASE.encode() + b"\n"
    current = b"current passphrase of keyset 'tty1': "
    answers = [(current, PASSPHRASE.encode() + b"\n"), (NEW_PROMPT, new), (REPEAT_PROMPT, new)]

    code, terminal, offsets = _reseal_on_terminal(home, answers)

    assert code == 0, terminal
    assert len(offsets) == 3, terminal
    first_prompt = terminal[: offsets[0]].splitlines()[-1]
    assert first_prompt != NEW_PROMPT, terminal
    assert b"resealed keyset tty1" in terminal
    # getpass turns echo off, so no typed passphrase appears on the terminal.
    assert NEW_PASSPHRASE.encode() not in terminal
    check = run_agile(home, "keystore", "check", "tty1", AGILE_PASSPHRASE=NEW_PASSPHRASE)
    assert check.returncode == 0, check.stdout + check.stderr


def test_reseal_empty_new_passphrase(home: Path) -> None:
    answers = [(b": ", PASSPHRASE.encode() + b"\n"), (NEW_PROMPT, b"\n"), (REPEAT_PROMPT, b"\n")]

    code, terminal, _ = _reseal_on_terminal(home, answers)

    assert code == 2, terminal
    assert b"empty passphrase" in terminal
    assert b"Traceback" not in terminal
    check = run_agile(home, "keystore", "check", "tty1")
    assert check.returncode == 0, check.stdout + check.stderr


def test_reseal_prompts_current_passphrase(home: Path) -> None:
    # reseal_prompts labels the prompt that unseals the KEK with the keyset's name.
    script = textwrap.dedent(
        f"""
        from agile.keys import Keystore
        from agile.keys.kek import unseal_kek
        from agile.seal.passphrase import reseal_prompts

        keyset = Keystore.open({str(home)!r}, create=False).keyset("tty1")
        with reseal_prompts():
            unseal_kek(keyset.keystore.root, keyset.name, keyset.uid, keyset.seal_blob)
        print("unsealed")
        """
    )
    prompt = b"current passphrase of keyset 'tty1': "

    code, terminal, offsets = _run_on_terminal(
        [sys.executable, "-c", script], [(prompt, PASSPHRASE.encode() + b"\n")]
    )

    assert code == 0, terminal
    assert len(offsets) == 1, terminal
    assert b"unsealed" in terminal


def test_create_asks_new_passphrase(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    command = [sys.executable, "-m", "cli.main", "--keystore", str(home)]
    command += ["keyset", "create", "tty1", "--purpose", "kem"]
    typed = PASSPHRASE.encode() + b"\n"

    code, terminal, offsets = _run_on_terminal(
        command, [(NEW_PROMPT, typed), (REPEAT_PROMPT, typed)]
    )

    assert code == 0, terminal
    assert len(offsets) == 2, terminal
