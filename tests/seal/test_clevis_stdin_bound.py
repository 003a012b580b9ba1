"""``agile clevis encrypt|decrypt`` read a bounded amount of standard input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.errors import InvalidArgument
from agile.seal.clevis import MAX_JWE_SIZE, MAX_PLAINTEXT_SIZE, read_bounded

#: Read-ahead a buffered reader may add beyond the bytes it was asked for.
READ_AHEAD = 64 * 1024
#: A TCTI where no TPM listens: reaching the device would be an error of its own.
NO_TPM = "swtpm:host=127.0.0.1,port=1"


def _agile_with_stdin(stdin: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI with ``stdin`` as standard input; return its result and the bytes it read."""
    with open(stdin, "rb") as stream:
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *arguments],
            stdin=stream,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # The child shared this open file, so its offset is how far the child read.
        consumed = os.lseek(stream.fileno(), 0, os.SEEK_CUR)
    return result, consumed


def _sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as file:
        file.truncate(size)
    return path


def test_read_bounded_accepts_limit() -> None:
    assert read_bounded(io.BytesIO(b"x" * 10), 10, "input", fix="none") == b"x" * 10


def test_read_bounded_rejects_over_limit() -> None:
    with pytest.raises(InvalidArgument, match="input is larger than 10 bytes"):
        read_bounded(io.BytesIO(b"x" * 11), 10, "input", fix="none")


def test_plaintext_limit_fits_jwe() -> None:
    # base64url makes the ciphertext 4/3 as large; the header needs well under 1 MiB.
    assert MAX_PLAINTEXT_SIZE * 4 // 3 + (1 << 20) < MAX_JWE_SIZE


def test_decrypt_oversized_stdin_exits_2(tmp_path: Path) -> None:
    big = _sparse_file(tmp_path / "big.jwe", 2 * MAX_JWE_SIZE)
    result, _ = _agile_with_stdin(big, "clevis", "decrypt", "--tpm-tcti", NO_TPM)
    assert result.returncode == 2


def test_decrypt_oversized_stdin_message(tmp_path: Path) -> None:
    big = _sparse_file(tmp_path / "big.jwe", 2 * MAX_JWE_SIZE)
    result, _ = _agile_with_stdin(big, "clevis", "decrypt", "--tpm-tcti", NO_TPM)
    assert result.stderr.count("\n") == 1
    assert f"standard input is larger than {MAX_JWE_SIZE} bytes" in result.stderr


def test_decrypt_reads_at_most_bound(tmp_path: Path) -> None:
    big = _sparse_file(tmp_path / "big.jwe", 2 * MAX_JWE_SIZE)
    _, consumed = _agile_with_stdin(big, "clevis", "decrypt", "--tpm-tcti", NO_TPM)
    assert consumed <= MAX_JWE_SIZE + 1 + READ_AHEAD


def test_decrypt_small_stdin_not_bounded(tmp_path: Path) -> None:
    small = tmp_path / "small.jwe"
    small.write_bytes(b"not a JWE")
    result, _ = _agile_with_stdin(small, "clevis", "decrypt", "--tpm-tcti", NO_TPM)
    assert "larger than" not in result.stderr


def test_encrypt_oversized_stdin_message(tmp_path: Path) -> None:
    big = _sparse_file(tmp_path / "big.secret", 2 * MAX_PLAINTEXT_SIZE)
    result, _ = _agile_with_stdin(big, "clevis", "encrypt", "tpm2", "{}", "--tpm-tcti", NO_TPM)
    assert result.returncode == 2
    assert f"standard input is larger than {MAX_PLAINTEXT_SIZE} bytes" in result.stderr


def test_encrypt_reads_at_most_bound(tmp_path: Path) -> None:
    big = _sparse_file(tmp_path / "big.secret", 2 * MAX_PLAINTEXT_SIZE)
    _, consumed = _agile_with_stdin(big, "clevis", "encrypt", "tpm2", "{}", "--tpm-tcti", NO_TPM)
    assert consumed <= MAX_PLAINTEXT_SIZE + 1 + READ_AHEAD
