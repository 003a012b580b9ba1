"""The reader of Apache Milagro's Paillier known-answer files.

Damaged copies are derived in each test from the public vector files, so a reader that
stops checking cannot pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agile import conformance, registry
from agile.conformance import milagro
from agile.errors import VectorFormatError

MILAGRO = "paillier-milagro"


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _edit_field(
    source: Path, target: Path, test: int, name: str, change: Callable[[str], str]
) -> None:
    """Copy ``source`` to ``target`` with field ``name`` of record ``test`` set to change(value)."""
    lines = source.read_text().splitlines()
    current = None
    for number, line in enumerate(lines):
        field, _, value = line.partition(" = ")
        if field == "TEST":
            current = int(value.rstrip(","))
        elif current == test and field == name:
            lines[number] = f"{name} = {change(value.rstrip(','))},"
            target.write_text("\n".join(lines) + "\n")
            return
    raise AssertionError(f"no field {name} in test {test} of {source}")


def _flip_last_digit(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _providers() -> int:
    return len(registry.providers_for("paillier-2048"))


def test_keygen_file_passes(shared_vectors: Path) -> None:
    totals = conformance.run([shared_vectors / MILAGRO / "keygen.txt"]).totals()

    assert totals.failed == 0
    assert totals.passed == 9 * _providers()


def _zeros(value: str) -> str:
    return "0" * len(value)


@pytest.mark.parametrize(
    ("name", "test", "field", "change", "reason"),
    [
        ("keygen.txt", 3, "N", _flip_last_digit, "N differs"),
        ("keygen.txt", 4, "G", _flip_last_digit, "G differs"),
        (
            "encrypt.txt",
            4,
            "CIPHERTEXT",
            _flip_last_digit,
            "CIPHERTEXT differs from hex digit 1023",
        ),
        ("encrypt.txt", 6, "R", _flip_last_digit, "CIPHERTEXT differs"),
        ("encrypt.txt", 2, "G", _flip_last_digit, "G differs"),
        # RESULT = 1 declares the record invalid, but its values are a correct encryption.
        ("encrypt.txt", 3, "RESULT", lambda _value: "1", "accepted an invalid case"),
        ("decrypt.txt", 5, "PLAINTEXT", _flip_last_digit, "PLAINTEXT differs from hex digit 511"),
        # 0 is not in Z*_{n^2}, so the provider must reject it, which fails the valid record.
        ("decrypt.txt", 8, "CIPHERTEXT", _zeros, "rejected a valid case: Paillier ciphertext 0x0"),
        ("add.txt", 7, "CIPHERTEXT", _flip_last_digit, "CIPHERTEXT differs from hex digit 1023"),
        ("add.txt", 42, "CIPHERTEXT2", _flip_last_digit, ""),
    ],
    ids=[
        "keygen-n",
        "keygen-g",
        "encrypt-ciphertext",
        "encrypt-r",
        "encrypt-g",
        "encrypt-result",
        "decrypt-plaintext",
        "decrypt-zero",
        "add-sum",
        "add-operand",
    ],
)
def test_changed_field_fails_once(
    shared_vectors: Path,
    tmp_path: Path,
    name: str,
    test: int,
    field: str,
    change: Callable[[str], str],
    reason: str,
) -> None:
    path = tmp_path / name
    _edit_field(shared_vectors / MILAGRO / name, path, test, field, change)

    report = conformance.run([path], providers=["gmpy2"])
    failures = report.files[0].tallies[("paillier-2048", "gmpy2")].failures

    assert report.totals().failed == 1
    assert failures[0].case == f"test {test}"
    assert failures[0].reason.startswith(reason)


def test_keygen_unchecked_constants_listed(shared_vectors: Path) -> None:
    report = conformance.run([shared_vectors / MILAGRO / "keygen.txt"], providers=["gmpy2"])
    not_checked = report.files[0].tables["not_checked"]

    assert list(not_checked.values()) == [9]


def test_short_modulus_skipped(shared_vectors: Path) -> None:
    report = conformance.run([shared_vectors / MILAGRO / "keygen.txt"])
    tally = report.files[0].tallies[("paillier-2048", "-")]

    assert tally.skipped == 1
    assert "n has 2047 bits" in next(iter(tally.skip_reasons))


@pytest.mark.parametrize(
    ("name", "passed"), [("encrypt.txt", 10), ("decrypt.txt", 9), ("add.txt", 99)]
)
def test_operation_file_passes(shared_vectors: Path, name: str, passed: int) -> None:
    report = conformance.run([shared_vectors / MILAGRO / name], providers=["gmpy2"])
    tally = report.files[0].tallies[("paillier-2048", "gmpy2")]

    assert tally.failed == 0
    assert tally.skipped == 0
    assert tally.passed == passed


def test_decrypt_unused_constants_listed(shared_vectors: Path) -> None:
    report = conformance.run([shared_vectors / MILAGRO / "decrypt.txt"], providers=["gmpy2"])
    not_checked = report.files[0].tables["not_checked"]

    assert list(not_checked.values()) == [9]


@pytest.mark.parametrize(
    ("name", "test", "field"),
    [("keygen.txt", 5, "N"), ("add.txt", 9, "CIPHERTEXT")],
    ids=["keygen-n", "add-sum"],
)
def test_changed_field_exit_code(
    shared_vectors: Path, tmp_path: Path, name: str, test: int, field: str
) -> None:
    path = tmp_path / name
    _edit_field(shared_vectors / MILAGRO / name, path, test, field, _flip_last_digit)

    result = _agile("vectors", "run", str(path), "--json")
    summary = json.loads(result.stdout)

    assert result.returncode == 1
    assert summary["failed"] == 1


def test_detects_each_operation(shared_vectors: Path) -> None:
    for kind in milagro.KINDS:
        assert milagro.detect(shared_vectors / MILAGRO / f"{kind}.txt") == kind


def test_other_text_files_not_detected(shared_vectors: Path) -> None:
    assert milagro.detect(shared_vectors / "slip39" / "wordlist.txt") is None
    path = shared_vectors / "cctv" / "ML-KEM" / "strcmp" / "ML-KEM-512.txt"
    assert milagro.detect(path) is None


def test_bad_hex_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    path = tmp_path / "keygen.txt"
    _edit_field(shared_vectors / MILAGRO / "keygen.txt", path, 2, "MP", lambda v: "zz" + v[2:])

    with pytest.raises(VectorFormatError, match="field 'MP' is not hexadecimal") as raised:
        conformance.run([path])

    assert "keygen.txt" in str(raised.value)


def test_missing_field_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / MILAGRO / "decrypt.txt"
    lines = source.read_text().splitlines()
    # The second record's Q line; the first record still identifies the file as decrypt.
    second_q = [number for number, line in enumerate(lines) if line.startswith("Q = ")][1]
    del lines[second_q]
    path = tmp_path / "decrypt.txt"
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(VectorFormatError, match="test 1: missing field 'Q'"):
        conformance.run([path])


def test_uneven_widths_are_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    path = tmp_path / "keygen.txt"
    _edit_field(shared_vectors / MILAGRO / "keygen.txt", path, 6, "N", lambda v: "00" + v)

    with pytest.raises(VectorFormatError, match="test 6"):
        conformance.run([path])


def test_folder_run_counts(shared_vectors: Path) -> None:
    report = conformance.run([shared_vectors / MILAGRO])
    totals = report.totals()

    assert [f.format for f in report.files] == [
        "milagro-paillier-add",
        "milagro-paillier-decrypt",
        "milagro-paillier-encrypt",
        "milagro-paillier-keygen",
    ]
    assert totals.failed == 0
    assert totals.passed == (9 + 10 + 9 + 99) * _providers()
    assert totals.skipped == 4
