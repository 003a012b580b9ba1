"""SIGTERM and SIGHUP end a command after its cleanup: decrypt -o leaves no plaintext behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.envelope.conftest import AGILE


@pytest.fixture
def sealed(run, tmp_path: Path) -> bytes:  # type: ignore[no-untyped-def]
    """Return an envelope of 1 MiB in 4 KiB chunks, for the keyset 'box' of the run fixture."""
    (tmp_path / "message").write_bytes(os.urandom(1 << 20))
    assert run("keyset", "create", "box", "--purpose", "aead").returncode == 0
    result = run("encrypt", "--to", "box", "--chunk-size", "4096", "message")
    assert result.returncode == 0, result.stderr
    return result.stdout  # type: ignore[no-any-return]


def _start_decrypt(
    tmp_path: Path, output: Path, ignore_hangup: bool = False
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, AGILE_PASSPHRASE="cli tests")
    env.pop("AGILE_HOME", None)

    def ignore() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    return subprocess.Popen(
        [*AGILE, "--keystore", str(tmp_path / "ks"), "decrypt", "-o", str(output), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=ignore if ignore_hangup else None,  # noqa: PLW1509 - no threads here
    )


def _wait_for_temporary(folder: Path) -> None:
    """Wait until decrypt has created its temporary file, so the signal finds work to undo."""
    deadline = time.monotonic() + 60
    while not any(path.name.endswith(".tmp") for path in folder.iterdir()):
        assert time.monotonic() < deadline, "decrypt never created its temporary file"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["term", "hup"])
def test_signal_leaves_no_file(sealed: bytes, tmp_path: Path, signum: int) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    process = _start_decrypt(tmp_path, folder / "plain")
    assert process.stdin is not None
    process.stdin.write(sealed[: len(sealed) // 2])
    process.stdin.flush()
    _wait_for_temporary(folder)

    process.send_signal(signum)
    process.wait(timeout=60)

    assert process.returncode == -signum
    assert list(folder.iterdir()) == []
    process.stdin.close()


def test_ignored_hangup_keeps_running(sealed: bytes, tmp_path: Path) -> None:
    """Under nohup (SIGHUP ignored) a hangup does not stop the command."""
    folder = tmp_path / "out"
    folder.mkdir()
    process = _start_decrypt(tmp_path, folder / "plain", ignore_hangup=True)
    assert process.stdin is not None
    process.stdin.write(sealed[: len(sealed) // 2])
    process.stdin.flush()
    _wait_for_temporary(folder)

    process.send_signal(signal.SIGHUP)
    process.stdin.write(sealed[len(sealed) // 2 :])
    process.stdin.close()
    process.wait(timeout=60)

    assert process.returncode == 0
    assert (folder / "plain").read_bytes() == (tmp_path / "message").read_bytes()


def test_forked_child_gets_default_action() -> None:
    """A forked worker must die at once on SIGTERM, wherever it blocks (see cli.main)."""
    from cli.main import _stop_on_termination

    replaced = _stop_on_termination()
    try:
        child = os.fork()
        if child == 0:
            default = all(
                signal.getsignal(signum) is signal.SIG_DFL
                for signum in (signal.SIGTERM, signal.SIGHUP)
            )
            os._exit(0 if default else 1)
        _, status = os.waitpid(child, 0)
    finally:
        for signum, previous in replaced.items():
            signal.signal(signum, previous)

    assert replaced
    assert os.waitstatus_to_exitcode(status) == 0
