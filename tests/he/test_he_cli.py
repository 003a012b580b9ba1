"""``agile he`` end to end: three CSV files encrypted, aggregated without a key, decrypted."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from tests.he.he_helpers import REPO, agile


def _write_inputs(root: Path) -> list[Decimal]:
    generator = random.Random(7)
    totals = [Decimal(0)] * 500
    for index in range(3):
        values = []
        for position in range(500):
            if generator.random() < 0.5:
                value = Decimal(generator.randint(-(10**6), 10**6))
            else:
                value = Decimal(generator.randint(-(10**9), 10**9)) / 1000
            values.append(value)
            totals[position] += value
        (root / f"in{index}.csv").write_text("".join(f"{v}\n" for v in values))
    return totals


def test_three_files_sum(workspace: Path) -> None:
    totals = _write_inputs(workspace)
    for index in range(3):
        result = agile(
            "he", "encrypt", "--keyset", "agg", "--precision", "3", "--policy", "legacy",
            str(workspace / f"in{index}.csv"), "-o", str(workspace / f"in{index}.he"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    inputs = [str(workspace / f"in{index}.he") for index in range(3)]
    result = agile("he", "aggregate", *inputs, "-o", str(workspace / "total.he"))
    assert result.returncode == 0, result.stderr
    result = agile(
        "he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(workspace / "total.he")
    )
    assert result.returncode == 0, result.stderr
    assert [Decimal(line) for line in result.stdout.split()] == totals


def test_rows_keep_shape(workspace: Path) -> None:
    source = workspace / "rows.csv"
    source.write_text("1, 2, 3\n\n-4,5.5\n")
    # Two encryptions of one file: aggregate rejects the same file given twice.
    encrypted = [workspace / "rows.bin", workspace / "rows-again.bin"]
    for output in encrypted:
        result = agile(
            "he", "encrypt", "--keyset", "agg", "--precision", "1", "--policy", "legacy",
            "--format", "binary", str(source), "-o", str(output),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    total = workspace / "rows-total.he"
    result = agile("he", "aggregate", *map(str, encrypted), "-o", str(total))
    assert result.returncode == 0, result.stderr
    result = agile("he", "decrypt", "--keyset", "agg", "--policy", "legacy", "--json", str(total))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["rows"] == [["2.0", "4.0", "6.0"], ["-8.0", "11.0"]]
    assert document["files_summed"] == 2


def test_decimals_need_precision(workspace: Path) -> None:
    source = workspace / "decimals.csv"
    source.write_text("1.5\n")
    result = agile("he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "x")
    assert result.returncode == 2
    assert "--precision" in result.stderr


def test_not_a_number(workspace: Path) -> None:
    source = workspace / "text.csv"
    source.write_text("1\nabc\n")
    result = agile("he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "x")
    assert result.returncode == 2
    assert "text.csv:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_policy_denies_2048_encrypt(workspace: Path) -> None:
    source = workspace / "one.csv"
    source.write_text("1\n")
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "future",
        str(source), "-o", str(workspace / "o.he"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "paillier-2048" in result.stderr


def test_aggregate_shape_mismatch(workspace: Path) -> None:
    outputs = []
    for name, text in (("a", "1,2\n"), ("b", "1\n2\n")):
        (workspace / f"{name}.csv").write_text(text)
        outputs.append(str(workspace / f"{name}.he"))
        result = agile(
            "he", "encrypt", "--keyset", "agg", "--policy", "legacy",
            str(workspace / f"{name}.csv"), "-o", outputs[-1],
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    result = agile("he", "aggregate", *outputs, "-o", str(workspace / "ab.he"))
    assert result.returncode == 2
    assert "same shape" in result.stderr


def test_tampered_file(workspace: Path) -> None:
    source = workspace / "t.csv"
    source.write_text("5\n")
    encrypted = workspace / "t.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", str(encrypted)
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(encrypted.read_text())
    document["ciphertexts"][0] = "0"
    encrypted.write_text(json.dumps(document))
    result = agile("he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(encrypted))
    assert result.returncode == 2
    assert "out of range" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_keyset(workspace: Path) -> None:
    source = workspace / "m.csv"
    source.write_text("5\n")
    result = agile("he", "encrypt", "--keyset", "nope", str(source), "-o", "x")
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_binary_csv_rejected(workspace: Path) -> None:
    source = workspace / "binary.csv"
    source.write_bytes(b"\xff\xfe1\n")
    result = agile("he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "x")
    assert result.returncode == 2
    assert "not UTF-8 text" in result.stderr
    assert "internal error" not in result.stderr


def test_huge_exponent_rejected(workspace: Path) -> None:
    source = workspace / "huge.csv"
    source.write_text("1e999999999999999999\n")
    result = agile("he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "x")
    assert result.returncode == 2
    assert "huge.csv:1: '1e999999999999999999' is not a number" in result.stderr


def test_huge_integer_rejected(workspace: Path) -> None:
    source = workspace / "digits.csv"
    source.write_text("1" + "0" * 1400 + "\n")
    result = agile("he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "x")
    assert result.returncode == 2
    assert "integer digits" in result.stderr


@pytest.mark.parametrize(
    ("line", "precision", "expected"),
    [
        ("-0." + "0" * 5000 + "1,0.0015", "3", "0.000,0.002"),
        # str(Decimal) would print 1E-10 and 0E-10 at this precision.
        ("0.0000000001,0", "10", "0.0000000001,0.0000000000"),
    ],
    ids=["tiny-rounds-to-zero", "fixed-point"],
)
def test_decrypt_at_precision(workspace: Path, line: str, precision: str, expected: str) -> None:
    source = workspace / "values.csv"
    source.write_text(line + "\n")
    encrypted = workspace / "values.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", "--precision", precision,
        str(source), "-o", str(encrypted),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = agile("he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(encrypted))
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n"


def test_dash_output_is_stdout(workspace: Path) -> None:
    source = workspace / "dash.csv"
    source.write_text("4,5\n")
    encrypted = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "-"
    )
    assert encrypted.returncode == 0, encrypted.stderr
    assert not (REPO / "-").exists()
    result = agile(
        "he", "decrypt", "--keyset", "agg", "--policy", "legacy", "-", stdin=encrypted.stdout
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "4,5\n"


def test_tampered_infinite_terms(workspace: Path) -> None:
    source = workspace / "inf.csv"
    source.write_text("5\n")
    encrypted = workspace / "inf.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", str(encrypted)
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(encrypted.read_text())
    document["terms"] = float("inf")  # json writes Infinity, which json.loads reads as a float
    encrypted.write_text(json.dumps(document))
    result = agile("he", "aggregate", str(encrypted), "-o", str(workspace / "inf-total.he"))
    assert result.returncode == 2, result.stderr
    assert "inf.he: packed vector terms inf" in result.stderr


def test_aggregate_names_bad_file(workspace: Path) -> None:
    source = workspace / "plain.csv"
    source.write_text("5\n")
    result = agile("he", "aggregate", str(source), "-o", str(workspace / "plain-total.he"))
    assert result.returncode == 2
    assert f"{source}: invalid agile-he file" in result.stderr


def test_slot_overflow_names_line(workspace: Path) -> None:
    source = workspace / "wide.csv"
    source.write_text("1\n\n99999999999999999999\n")
    result = agile("he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", "x")
    assert result.returncode == 2
    assert "wide.csv:3: value" in result.stderr


def test_disabled_key_cannot_decrypt(workspace: Path) -> None:
    legacy = ("--policy", "legacy")
    result = agile(
        "keyset", "create", "life", "--purpose", "homomorphic",
        "--algorithm", "paillier-2048", *legacy,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    source = workspace / "life.csv"
    source.write_text("7\n")
    encrypted = workspace / "life.he"
    result = agile("he", "encrypt", "--keyset", "life", *legacy, str(source), "-o", str(encrypted))
    assert result.returncode == 0, result.stderr
    old = json.loads(agile("keyset", "show", "life", "--json").stdout)["keys"][0]["id"]
    new = agile("keyset", "add-key", "life", *legacy).stdout.strip()
    assert agile("keyset", "promote", "life", new, *legacy).returncode == 0
    assert agile("keyset", "disable", "life", old).returncode == 0

    result = agile("he", "decrypt", "--keyset", "life", *legacy, str(encrypted))
    assert result.returncode == 2
    assert f"key {old} of keyset 'life'" in result.stderr
    assert "is disabled" in result.stderr

    assert agile("keyset", "decrypt-only", "life", old).returncode == 0
    result = agile("he", "decrypt", "--keyset", "life", *legacy, str(encrypted))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "7\n"


def test_decrypt_denied_password_kdf_exits_1(workspace: Path) -> None:
    # The keyset is sealed with Argon2id; this policy opens keysets with scrypt only.
    source = workspace / "kdf.csv"
    source.write_text("1,5\n")
    sealed = workspace / "kdf.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", str(sealed)
    )
    assert result.returncode == 0, result.stderr
    policy = workspace / "scrypt-only.toml"
    policy.write_text('base = "legacy"\n[password-kdf]\nallowed = ["scrypt"]\n')

    result = agile("he", "decrypt", "--keyset", "agg", "--policy", str(policy), str(sealed))

    assert result.returncode == 1, result.stderr
    assert "password KDF of keyset 'agg'" in result.stderr
    assert result.stdout == ""
