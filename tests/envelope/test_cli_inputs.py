"""Odd CLI input: non-UTF-8 --aad, unusable -o paths, signature and message both on stdin."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.envelope.conftest import AGILE


def test_aad_not_utf8(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    assert created.returncode == 0, created.stderr
    (tmp_path / "in.txt").write_bytes(b"secret\n")
    aad = b"\xff\xfe label"

    sealed = run("encrypt", "--to", "box", "--aad", aad, "-o", "out.agile", "in.txt")
    opened = run("decrypt", "--aad", aad, "out.agile")
    other = run("decrypt", "--aad", b"\xff\xfd label", "-o", "other.txt", "out.agile")

    assert sealed.returncode == 0, sealed.stderr
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == b"secret\n"
    assert other.returncode == 2
    assert b"associated data" in other.stderr
    assert b"internal error" not in other.stderr
    assert not (tmp_path / "other.txt").exists()


def test_aad_bytes_keep_utf8() -> None:
    """A UTF-8 --aad is the same bytes as before: envelopes made earlier still open."""
    from cli.envelope import _aad_bytes

    assert _aad_bytes("café") == "café".encode()
    assert _aad_bytes(os.fsdecode(b"\xff")) == b"\xff"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("", "output path is empty"),
        ("outdir", "'outdir' is a directory"),
        ("absent/out.txt", "folder of output 'absent/out.txt' does not exist"),
    ],
    ids=["empty", "directory", "missing-folder"],
)
def test_decrypt_output_path_errors(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, output: str, expected: str
) -> None:
    created = run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    assert created.returncode == 0, created.stderr
    (tmp_path / "in.txt").write_bytes(b"secret\n")
    assert run("encrypt", "--to", "box", "-o", "in.agile", "in.txt").returncode == 0
    (tmp_path / "outdir").mkdir()
    before = sorted(path.name for path in tmp_path.iterdir())

    result = run("decrypt", "-o", output, "in.agile")

    assert result.returncode == 2
    assert expected.encode() in result.stderr
    assert b".tmp" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_verify_both_from_stdin(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = run("keyset", "create", "rel", "--purpose", "signature", "--algorithm", "ed25519")
    assert created.returncode == 0, created.stderr
    (tmp_path / "app.txt").write_bytes(b"release\n")
    assert run("sign", "--keyset", "rel", "-o", "app.sig", "app.txt").returncode == 0

    both = subprocess.run(
        [*AGILE, "--keystore", str(tmp_path / "ks"), "verify", "--signature", "-", "-"],
        input=(tmp_path / "app.sig").read_bytes(),
        capture_output=True,
        env=dict(os.environ, AGILE_PASSPHRASE="cli tests"),
        check=False,
        timeout=120,
    )
    signature_on_stdin = subprocess.run(
        [*AGILE, "--keystore", str(tmp_path / "ks"), "verify", "--signature", "-", "app.txt"],
        input=(tmp_path / "app.sig").read_bytes(),
        capture_output=True,
        cwd=tmp_path,
        env=dict(os.environ, AGILE_PASSPHRASE="cli tests"),
        check=False,
        timeout=120,
    )

    assert both.returncode == 2
    assert b"both be standard input" in both.stderr
    assert signature_on_stdin.returncode == 0, signature_on_stdin.stderr


def test_export_public_missing_folder(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    assert created.returncode == 0, created.stderr

    result = run("keyset", "export-public", "box", "-o", "absent/box.pem")

    assert result.returncode == 2
    assert b"folder of output 'absent/box.pem' does not exist" in result.stderr
    assert b".tmp" not in result.stderr


def test_failed_decrypt_keeps_appended_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A failed decrypt under '>>' truncates back to the old end, not to zero."""
    created = run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    assert created.returncode == 0, created.stderr
    (tmp_path / "in.bin").write_bytes(os.urandom(300_000))
    sealed = run("encrypt", "--to", "box", "--chunk-size", "65536", "-o", "in.agile", "in.bin")
    assert sealed.returncode == 0, sealed.stderr
    data = (tmp_path / "in.agile").read_bytes()
    (tmp_path / "cut.agile").write_bytes(data[: len(data) // 2])
    log = tmp_path / "log.txt"
    log.write_bytes(b"earlier lines\n")

    # os.open, like the shell's '>>', leaves the offset at 0 (Python's open("ab") seeks to the end).
    appended = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        result = subprocess.run(
            [*AGILE, "--keystore", str(tmp_path / "ks"), "decrypt", "cut.agile"],
            stdout=appended,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env=dict(os.environ, AGILE_PASSPHRASE="cli tests"),
            check=False,
            timeout=120,
        )
    finally:
        os.close(appended)

    assert result.returncode == 2
    assert log.read_bytes() == b"earlier lines\n"
