"""Armoured files on the command line: streaming, whitespace, and text around the block."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def armoured(run, tmp_path: Path) -> bytes:  # type: ignore[no-untyped-def]
    """Create keyset 'box', encrypt msg.txt to msg.asc with --armor, and return msg.asc."""
    assert run("keyset", "create", "box", "--purpose", "kem").returncode == 0
    (tmp_path / "msg.txt").write_bytes(b"secret\n" * 100_000)
    sealed = run(
        "encrypt", "--to", "box", "--armor", "--chunk-size", "1024", "-o", "msg.asc", "msg.txt"
    )
    assert sealed.returncode == 0, sealed.stderr
    return (tmp_path / "msg.asc").read_bytes()


def test_armour_streams_round_trip(run, armoured: bytes) -> None:  # type: ignore[no-untyped-def]
    opened = run("decrypt", "msg.asc")
    assert opened.stdout == b"secret\n" * 100_000


def test_armour_lines(armoured: bytes) -> None:
    lines = armoured.split(b"\n")
    assert max(len(line) for line in lines[1:-2]) == 64


def test_whitespace_over_a_mebibyte(run, armoured: bytes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "padded.asc").write_bytes(b"\n" * (2 << 20) + armoured)
    opened = run("decrypt", "-o", "out.txt", "padded.asc")
    assert opened.returncode == 0, opened.stderr


def test_inspect_armour(run, armoured: bytes) -> None:  # type: ignore[no-untyped-def]
    inspected = run("inspect", "--json", "msg.asc")
    assert b'"chunk_size": 1024' in inspected.stdout


def test_text_before_begin(run, armoured: bytes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mail.txt").write_bytes(b"Subject: report\n\n" + armoured)
    opened = run("decrypt", "-o", "out.txt", "mail.txt")
    assert opened.returncode == 2
    assert b"text before the BEGIN line" in opened.stderr


def test_text_after_end_no_file(run, armoured: bytes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mail.txt").write_bytes(armoured + b"-- \nsignature\n")
    opened = run("decrypt", "-o", "out.txt", "mail.txt")
    assert opened.returncode == 2
    assert not (tmp_path / "out.txt").exists()
