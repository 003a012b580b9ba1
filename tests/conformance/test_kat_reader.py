"""The reader of cryptography-vectors' ML-KEM and ML-DSA known-answer files.

The files come from the optional ``cryptography-vectors`` package. Each test keeps
the first records of one file, so a reader that stops checking cannot pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agile import conformance

cryptography_vectors = pytest.importorskip("cryptography_vectors")
ASYMMETRIC = Path(cryptography_vectors.__file__).parent / "asymmetric"


def _first_records(source: Path, target: Path, count: int) -> None:
    """Copy the first ``count`` records of a .rsp file to ``target``."""
    lines: list[str] = []
    seen = 0
    for line in source.read_text().splitlines():
        if line.startswith("count = "):
            seen += 1
            if seen > count:
                break
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")


def _flip_field(path: Path, field: str) -> None:
    """Change the first hex digit of the first ``field = ...`` line of a .rsp file."""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith(f"{field} = "):
            value = line.split(" = ", 1)[1]
            flipped = ("0" if value[0] != "0" else "1") + value[1:]
            lines[number] = f"{field} = {flipped}"
            break
    path.write_text("\n".join(lines) + "\n")


def test_mlkem_kat_passes(tmp_path: Path) -> None:
    path = tmp_path / "kat_MLKEM_768.rsp"
    _first_records(ASYMMETRIC / "MLKEM" / "kat_MLKEM_768.rsp", path, 2)

    totals = conformance.run([path]).totals()

    assert totals.failed == 0
    assert totals.passed >= 4


def test_mlkem_kat_changed_ss_fails(tmp_path: Path) -> None:
    path = tmp_path / "kat_MLKEM_768.rsp"
    _first_records(ASYMMETRIC / "MLKEM" / "kat_MLKEM_768.rsp", path, 2)
    _flip_field(path, "ss")

    report = conformance.run([path])

    for (_algorithm, provider), tally in report.files[0].tallies.items():
        assert tally.failed == 1, provider
        assert tally.failures[0].case == "count 0", provider


def test_mldsa_kat_changed_signature_fails(tmp_path: Path) -> None:
    path = tmp_path / "kat_MLDSA_44_det_pure.rsp"
    _first_records(ASYMMETRIC / "MLDSA" / "kat_MLDSA_44_det_pure.rsp", path, 1)
    passing = conformance.run([path]).totals()
    _flip_field(path, "sm")

    failing = conformance.run([path]).totals()

    assert passing.failed == 0
    assert passing.passed >= 2
    assert failing.failed == passing.passed
