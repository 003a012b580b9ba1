"""-o /dev/stdout and /dev/fd/N write through the descriptor, never replacing the file behind it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.fsio import atomic_write, descriptor_of
from tests.envelope.conftest import AGILE

EARLIER = b"an earlier line of the log\n"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function that runs the CLI with a file opened for appending as a descriptor."""
    env = dict(os.environ)
    env.update(
        AGILE_PASSPHRASE="cli tests", AGILE_ARGON2_MEMORY_KIB="1024", AGILE_ARGON2_ITERATIONS="1"
    )
    env.pop("AGILE_HOME", None)
    home = tmp_path / "ks"
    subprocess.run(
        [*AGILE, "--keystore", str(home), "keyset", "create", "box", "--purpose", "aead"],
        capture_output=True,
        env=env,
        check=True,
        timeout=120,
    )

    def call(log: Path, *args: str, through_fd: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Append to ``log`` through standard output, or with ``through_fd`` another descriptor.

        With ``through_fd``, "{fd}" in ``args`` becomes that descriptor's number.
        """
        with log.open("ab") as appended:
            number = appended.fileno()
            return subprocess.run(
                [*AGILE, "--keystore", str(home), *(a.replace("{fd}", str(number)) for a in args)],
                stdout=subprocess.PIPE if through_fd else appended,
                stderr=subprocess.PIPE,
                pass_fds=(number,) if through_fd else (),
                env=env,
                cwd=tmp_path,
                check=False,
                timeout=120,
            )

    return call


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.txt"
    path.write_bytes(EARLIER)
    return path


def test_encrypt_to_dev_stdout_appends(cli, log: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "message").write_bytes(b"message")
    inode = log.stat().st_ino

    result = cli(log, "encrypt", "--to", "box", "-o", "/dev/stdout", "message")

    assert result.returncode == 0, result.stderr
    assert log.read_bytes().startswith(EARLIER + b"\x89agile")
    assert log.stat().st_ino == inode


def test_decrypt_through_link_to_dev_stdout(cli, log: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "message").write_bytes(b"message")
    assert cli(tmp_path / "sealed", "encrypt", "--to", "box", "message").returncode == 0
    (tmp_path / "out").symlink_to("/dev/stdout")

    result = cli(log, "decrypt", "-o", "out", "sealed")

    assert result.returncode == 0, result.stderr
    assert log.read_bytes() == EARLIER + b"message"
    assert (tmp_path / "out").is_symlink()


def test_failed_decrypt_truncates_back(cli, log: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "message").write_bytes(os.urandom(200_000))
    assert cli(tmp_path / "sealed", "encrypt", "--to", "box", "message").returncode == 0
    damaged = bytearray((tmp_path / "sealed").read_bytes())
    damaged[-10] ^= 1
    (tmp_path / "damaged.agile").write_bytes(bytes(damaged))

    result = cli(log, "decrypt", "-o", "/dev/stdout", "damaged.agile")

    assert result.returncode == 2
    assert log.read_bytes() == EARLIER


def test_decrypt_to_dev_fd(cli, log: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "message").write_bytes(b"message")
    assert cli(tmp_path / "sealed", "encrypt", "--to", "box", "message").returncode == 0

    result = cli(log, "decrypt", "-o", "/dev/fd/{fd}", "sealed", through_fd=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert log.read_bytes() == EARLIER + b"message"


def test_library_write_to_dev_stdout(log: Path) -> None:
    code = "from agile.fsio import atomic_write; atomic_write('/dev/stdout', b'written')"
    with log.open("ab") as appended:
        subprocess.run([sys.executable, "-c", code], stdout=appended, check=True, timeout=60)

    assert log.read_bytes() == EARLIER + b"written"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/dev/stdout", 1),
        ("/dev/stderr", 2),
        ("/dev/fd/5", 5),
        ("/proc/self/fd/0", 0),
        ("/dev/null", None),
        ("relative/file", None),
    ],
)
def test_descriptor_of(path: str, expected: int | None) -> None:
    assert descriptor_of(path) == expected


def test_descriptor_of_own_process() -> None:
    assert descriptor_of(f"/proc/{os.getpid()}/fd/1") == 1


def test_descriptor_of_other_process() -> None:
    assert descriptor_of(f"/proc/{os.getppid()}/fd/1") is None


def test_descriptor_of_link(tmp_path: Path) -> None:
    (tmp_path / "first").symlink_to("/dev/stdout")
    (tmp_path / "second").symlink_to("first")
    assert descriptor_of(tmp_path / "second") == 1


def test_regular_file_still_replaced(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    inode = target.stat().st_ino
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_ino != inode
