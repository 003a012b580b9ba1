"""A failed decrypt to a file opened read-write on stdout keeps the bytes it did not write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.envelope.conftest import AGILE

#: The output file's content before the command runs (16,912 bytes).
OLD = bytes(range(256)) * 66 + b"0123456789abcdef"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function that runs the CLI with ``out`` opened read-write, without O_APPEND."""
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

    def call(out: Path, *args: str, offset: int = 0) -> subprocess.CompletedProcess[bytes]:
        # The shell's '1<>FILE': read-write, no truncation, no O_APPEND.
        fd = os.open(out, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            return subprocess.run(
                [*AGILE, "--keystore", str(home), *args],
                stdout=fd,
                stderr=subprocess.PIPE,
                env=env,
                cwd=tmp_path,
                check=False,
                timeout=120,
            )
        finally:
            os.close(fd)

    return call


def test_invalid_envelope_keeps_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.write_bytes(OLD)
    (tmp_path / "bad.agile").write_bytes(b"not an envelope")

    result = cli(out, "decrypt", "bad.agile")

    assert result.returncode == 2
    assert out.read_bytes() == OLD


@pytest.mark.parametrize("offset", [0, 100, len(OLD)])
def test_failed_chunk_keeps_old_bytes(cli, tmp_path: Path, offset: int) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    (tmp_path / "message").write_bytes(os.urandom(4 * 65536))
    encrypt = ("encrypt", "--to", "box", "--chunk-size", "4096", "-o", "sealed", "message")
    assert cli(tmp_path / "unused", *encrypt).returncode == 0
    damaged = bytearray((tmp_path / "sealed").read_bytes())
    damaged[-10] ^= 1
    (tmp_path / "damaged.agile").write_bytes(bytes(damaged))
    out.write_bytes(OLD)

    result = cli(out, "decrypt", "damaged.agile", offset=offset)

    assert result.returncode == 2
    data = out.read_bytes()
    # Bytes before the offset and past the end of what was written are the old ones.
    assert len(data) == len(OLD)
    assert data[:offset] == OLD[:offset]
