"""Outputs over inputs, duplicate inputs, strict CSV fields, wrong types and cut files."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

import he
from agile.errors import InvalidArgument, InvalidCiphertext
from he import packing, serialize
from he.keys import PaillierPrivateKey, PaillierPublicKey
from tests.he.he_helpers import REPO, agile


def _encrypt(workspace: Path, name: str, text: str) -> Path:
    source = workspace / f"{name}.csv"
    source.write_text(text)
    output = workspace / f"{name}.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", str(output)
    )
    assert result.returncode == 0, result.stderr
    return output


def test_encrypt_over_input_rejected(workspace: Path) -> None:
    source = workspace / "self.csv"
    source.write_text("1,2\n")
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", str(source)
    )
    assert result.returncode == 2
    assert "is the input file" in result.stderr
    assert source.read_text() == "1,2\n"


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_decrypt_over_linked_input_rejected(workspace: Path, link: str) -> None:
    encrypted = _encrypt(workspace, f"linked-{link}", "4\n")
    before = encrypted.read_bytes()
    alias = workspace / f"alias-{link}.he"
    alias.unlink(missing_ok=True)
    if link == "hard":
        os.link(encrypted, alias)
    else:
        alias.symlink_to(encrypted)
    result = agile(
        "he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(encrypted), "-o", str(alias)
    )
    assert result.returncode == 2
    assert "is the input file" in result.stderr
    assert encrypted.read_bytes() == before


def test_aggregate_over_input_rejected(workspace: Path) -> None:
    first = _encrypt(workspace, "agg-a", "1\n")
    second = _encrypt(workspace, "agg-b", "2\n")
    before = second.read_bytes()
    result = agile("he", "aggregate", str(first), str(second), "-o", str(second))
    assert result.returncode == 2
    assert "is the input file" in result.stderr
    assert second.read_bytes() == before


def test_aggregate_same_file_twice(workspace: Path) -> None:
    encrypted = _encrypt(workspace, "twice", "1\n")
    alias = workspace / "twice-link.he"
    alias.unlink(missing_ok=True)
    os.link(encrypted, alias)
    output = workspace / "twice-total.he"
    result = agile("he", "aggregate", str(encrypted), str(encrypted), "-o", str(output))
    assert result.returncode == 2
    assert f"input {str(encrypted)!r} is given twice" in result.stderr
    result = agile("he", "aggregate", str(encrypted), str(alias), "-o", str(output))
    assert result.returncode == 2
    assert "are one file" in result.stderr
    assert not output.exists()


def test_aggregate_copied_submission(workspace: Path) -> None:
    encrypted = _encrypt(workspace, "original", "1,2\n")
    copy = workspace / "copy.he"
    copy.write_bytes(encrypted.read_bytes())
    result = agile("he", "aggregate", str(encrypted), str(copy), "-o", str(workspace / "c.he"))
    assert result.returncode == 2
    assert "contain the same ciphertext" in result.stderr


@pytest.mark.parametrize(
    "field",
    ["1_000", "\u0661\u0662\u0663", "1e3", "Infinity", "NaN", "0x10", "1.2.3", "", "+-1"],
    ids=["underscore", "arabic-indic", "exponent", "infinity", "nan", "hex", "two-points",
         "empty", "two-signs"],
)  # fmt: skip
def test_csv_field_strict(workspace: Path, field: str) -> None:
    source = workspace / "strict.csv"
    source.write_text(f"5,{field}\n", encoding="utf-8")
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", "--precision", "2",
        str(source), "-o", str(workspace / "strict.he"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "strict.csv:1:" in result.stderr
    assert "is not a number" in result.stderr


def test_csv_field_forms_accepted(workspace: Path) -> None:
    source = workspace / "forms.csv"
    source.write_text(" +1. , .5 ,-3.25, 007\n")
    encrypted = workspace / "forms.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", "--precision", "2",
        str(source), "-o", str(encrypted),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = agile("he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(encrypted))
    assert result.stdout == "1.00,0.50,-3.25,7.00\n"


def test_import_he_gives_serialize() -> None:
    code = "import he; print(he.serialize.dumps_json.__name__, he.serialize.loads.__name__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["dumps_json", "loads"]


def test_dumps_quotient_rejected(public_key: PaillierPublicKey) -> None:
    quotient = public_key.encrypt(5) / 3
    with pytest.raises(InvalidArgument, match="cannot serialize a EncryptedQuotient"):
        serialize.dumps_json([quotient])  # type: ignore[list-item]


@pytest.mark.parametrize("item", [None, 5, "numbers", {"a": 1}], ids=["none", "int", "str", "dict"])
def test_dumps_non_list_rejected(item: object) -> None:
    with pytest.raises(InvalidArgument, match="cannot serialize a"):
        serialize.dumps_binary(item)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", ["ab", [1, "1"], [3], [-1, 3], 2], ids=str)
def test_dumps_bad_shape_rejected(public_key: PaillierPublicKey, shape: object) -> None:
    numbers = [public_key.encrypt(1), public_key.encrypt(2)]
    with pytest.raises(InvalidArgument, match="shape"):
        serialize.dumps_json(numbers, shape)  # type: ignore[arg-type]


def test_library_non_iterables(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="values must be a list"):
        he.encrypt_vector(public_key, None, he.PackingScheme())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="vectors must be a list"):
        packing.total(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="numbers must be a list"):
        he.weighted_total(None, [1])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="expected a PackedVector"):
        packing.fold(None)  # type: ignore[arg-type]


def test_decrypt_exact_quotient(
    public_key: PaillierPublicKey, private_key: PaillierPrivateKey
) -> None:
    quotient = public_key.encrypt(Decimal("12.345")) / 4
    assert he.decrypt_exact(private_key, quotient) == Fraction(2469, 800)


def test_plain_decimal_added_exactly(
    public_key: PaillierPublicKey, private_key: PaillierPrivateKey
) -> None:
    fixed = public_key.encrypt(7, precision=2)
    assert private_key.decrypt(fixed + Decimal("0.015")) == Decimal("7.015")
    assert private_key.decrypt(fixed + Decimal("0.005")) == Decimal("7.005")


def test_plain_float_rounded_to_precision(
    public_key: PaillierPublicKey, private_key: PaillierPrivateKey
) -> None:
    fixed = public_key.encrypt(7, precision=2)
    total = private_key.decrypt(fixed + 0.125)
    # 0.125 is exact in binary and lies halfway, so half to even gives 0.12.
    assert total == Decimal("7.12")
    assert str(total) == "7.12"


@pytest.fixture(scope="module")
def binary_file() -> bytes:
    public, _ = he.generate_keypair(2048)
    return serialize.dumps_binary(he.encrypt_vector(public, [1, 2, 3]))


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (2, "cut short: it ends after 2 bytes"),
        (4, "cut short: it ends after 4 bytes"),
        (8, "cut short: it ends after 8 bytes"),
        (20, "cut short: its"),
        (-1, "the file is cut short or has extra bytes"),
    ],
    ids=["inside-magic", "after-magic", "inside-prefix", "inside-header", "inside-body"],
)
def test_cut_binary_file_named(binary_file: bytes, cut: int, message: str) -> None:
    with pytest.raises(InvalidCiphertext, match=message):
        serialize.loads(binary_file[:cut])
