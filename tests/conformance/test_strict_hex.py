"""Hexadecimal values in vector files must be digit pairs only, with no whitespace.

``bytes.fromhex`` skips whitespace, so each reader is given a copy of a public vector
file with a space, tab or newline put into one value, and the run must end with a
damaged-file error instead of passing.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agile import conformance
from agile.conformance.hexfield import decode_hex, hex_problem
from agile.errors import VectorFormatError

WYCHEPROOF = "wycheproof/testvectors_v1"


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _split(value: str, separator: str = " ") -> str:
    """Return ``value`` with ``separator`` between its first and second byte."""
    return value[:2] + separator + value[2:]


# --- The decoder ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "00ff", "00FF", "aBcD"])
def test_decode_hex_accepts_digit_pairs(value: str) -> None:
    assert decode_hex(value) == bytes.fromhex(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (" 00ff", "contains non-hexadecimal text ' ' at position 0"),
        ("00 ff", "contains non-hexadecimal text ' ' at position 2"),
        ("00ff\n", "contains non-hexadecimal text '\\n' at position 4"),
        ("00\tff", "contains non-hexadecimal text '\\t' at position 2"),
        ("0x00ff", "contains non-hexadecimal text 'x' at position 1"),
        ("00f", "has an odd number of hexadecimal digits (3)"),
        ("\u0660\u0661", "contains non-hexadecimal text '\u0660' at position 0"),
    ],
    ids=["leading-space", "inner-space", "newline", "tab", "prefix", "odd", "arabic-digits"],
)
def test_hex_problem_names_fault(value: str, problem: str) -> None:
    assert hex_problem(value) == problem


def test_decode_hex_error_names_field() -> None:
    with pytest.raises(ValueError, match="^ct ' 00ff' contains non-hexadecimal text ' '"):
        decode_hex(" 00ff", "ct")


def test_decode_hex_rejects_non_string() -> None:
    with pytest.raises(ValueError, match="must be a hexadecimal string, not int"):
        decode_hex(255, "ct")


# --- JSON readers ---------------------------------------------------------------------------


def _copy_json(source: Path, target: Path, change: Callable[[Any], None]) -> Path:
    document = json.loads(source.read_text())
    change(document)
    target.write_text(json.dumps(document))
    return target


def _aead_case(document: Any, tc_id: int) -> dict[str, Any]:
    for group in document["testGroups"]:
        for test in group["tests"]:
            if test["tcId"] == tc_id:
                return test  # type: ignore[no-any-return]
    raise AssertionError(f"no tcId {tc_id}")


@pytest.mark.parametrize(
    "spoil",
    [lambda value: " " + value, lambda value: _split(value, "\n"), lambda value: value + "\t"],
    ids=["leading-space", "inner-newline", "trailing-tab"],
)
def test_wycheproof_whitespace_is_damage(
    shared_vectors: Path, tmp_path: Path, spoil: Callable[[str], str]
) -> None:
    def change(document: Any) -> None:
        case = _aead_case(document, 1)
        case["ct"] = spoil(case["ct"])

    path = _copy_json(
        shared_vectors / WYCHEPROOF / "aes_gcm_test.json", tmp_path / "aes_gcm_test.json", change
    )

    with pytest.raises(VectorFormatError, match="tcId 1: field 'ct' contains non-hexadecimal"):
        conformance.run(path)


def test_wycheproof_whitespace_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    def change(document: Any) -> None:
        case = _aead_case(document, 1)
        case["ct"] = " " + case["ct"]

    path = _copy_json(
        shared_vectors / WYCHEPROOF / "aes_gcm_test.json", tmp_path / "aes_gcm_test.json", change
    )

    result = _agile("vectors", "run", str(path))

    assert result.returncode == 2
    assert "field 'ct' contains non-hexadecimal text ' ' at position 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_acvp_whitespace_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / "acvp" / "ML-KEM-keyGen-FIPS203"
    folder = tmp_path / source.name
    folder.mkdir()
    shutil.copyfile(source / "expectedResults.json", folder / "expectedResults.json")

    def change(document: Any) -> None:
        test = document["testGroups"][0]["tests"][0]
        test["d"] = _split(test["d"])

    _copy_json(source / "prompt.json", folder / "prompt.json", change)

    with pytest.raises(VectorFormatError, match="tcId 1.*contains non-hexadecimal text ' '"):
        conformance.run(folder)


def _hpke_entry(shared_vectors: Path) -> Any:
    entries = json.loads((shared_vectors / "hpke-rfc9180" / "test-vectors.json").read_text())
    # DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
    return next(
        entry
        for entry in entries
        if (entry["kem_id"], entry["kdf_id"], entry["aead_id"], entry["mode"]) == (32, 1, 1, 0)
    )


@pytest.mark.parametrize("field", ["info", "enc", "aad"])
def test_hpke_whitespace_is_damage(shared_vectors: Path, tmp_path: Path, field: str) -> None:
    entry = _hpke_entry(shared_vectors)
    item = entry["encryptions"][0] if field == "aad" else entry
    item[field] = " " + item[field]
    path = tmp_path / "test-vectors.json"
    path.write_text(json.dumps([entry]))

    with pytest.raises(VectorFormatError, match=f"field '{field}' contains non-hexadecimal"):
        conformance.run(path, providers=["openssl"])


def test_xwing_whitespace_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    def change(document: Any) -> None:
        document[0]["ct"] = _split(document[0]["ct"])

    path = _copy_json(
        shared_vectors / "xwing" / "test-vectors.json", tmp_path / "test-vectors.json", change
    )

    with pytest.raises(
        VectorFormatError, match=r"vector 0: .*ct '\w\w \w+'… contains non-hexadecimal"
    ):
        conformance.run(path)


def test_cctv_ed25519_whitespace_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    def change(document: Any) -> None:
        document[0]["sig"] = " " + document[0]["sig"]

    path = _copy_json(
        shared_vectors / "cctv" / "ed25519" / "ed25519vectors.json",
        tmp_path / "ed25519vectors.json",
        change,
    )

    with pytest.raises(VectorFormatError, match=r"vector 0 sig ' \w+'… contains non-hexadecimal"):
        conformance.run(path)


# --- Line readers ---------------------------------------------------------------------------


def _edit_line(source: Path, target: Path, name: str, change: Callable[[str], str]) -> None:
    """Copy ``source`` to ``target`` with the value of the first ``name = ...`` line changed."""
    lines = source.read_text().splitlines()
    for number, line in enumerate(lines):
        field, separator, value = line.partition(" = ")
        if separator and field.strip() == name:
            lines[number] = f"{field} = {change(value)}"
            target.write_text("\n".join(lines) + "\n")
            return
    raise AssertionError(f"no field {name} in {source}")


def test_cctv_mlkem_whitespace_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / "cctv" / "ML-KEM" / "strcmp" / "ML-KEM-512.txt"
    folder = tmp_path / "cctv" / "ML-KEM" / "strcmp"
    folder.mkdir(parents=True)
    path = folder / source.name
    _edit_line(source, path, "c", _split)

    with pytest.raises(VectorFormatError, match="field 'c' is not hexadecimal: it contains"):
        conformance.run(path)


def test_cctv_modulus_whitespace_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / "cctv" / "ML-KEM" / "modulus" / "ML-KEM-512.txt.gz"
    with gzip.open(source, "rt") as lines:
        first = lines.readline().strip()
    folder = tmp_path / "cctv" / "ML-KEM" / "modulus"
    folder.mkdir(parents=True)
    path = folder / source.name
    with gzip.open(path, "wt") as stream:
        stream.write(_split(first) + "\n")

    with pytest.raises(VectorFormatError, match=r"\.gz:1: not a hexadecimal encapsulation key"):
        conformance.run(path)


def test_kat_whitespace_is_damage(tmp_path: Path) -> None:
    cryptography_vectors = pytest.importorskip("cryptography_vectors")
    source = (
        Path(cryptography_vectors.__file__).parent / "asymmetric" / "MLKEM" / "kat_MLKEM_768.rsp"
    )
    path = tmp_path / source.name
    _edit_line(source, path, "ct", _split)

    with pytest.raises(VectorFormatError, match="field 'ct' is not hexadecimal: it contains"):
        conformance.run(path)


@pytest.mark.parametrize(
    ("name", "spoil", "message"),
    [
        ("CIPHERTEXT", lambda value: _split(value, "_"), "field 'CIPHERTEXT' is not hexadecimal"),
        ("CIPHERTEXT", lambda value: "0x" + value[2:], "field 'CIPHERTEXT' is not hexadecimal"),
        ("RESULT", lambda value: "+0,", "field 'RESULT' is not decimal"),
        ("TEST", lambda value: "0_0,", "field 'TEST' is not decimal"),
    ],
    ids=["underscore", "prefix", "signed-result", "underscore-test"],
)
def test_milagro_int_syntax_is_damage(
    shared_vectors: Path, tmp_path: Path, name: str, spoil: Callable[[str], str], message: str
) -> None:
    # int() takes underscores, a 0x prefix and a sign, but a Milagro value has digits only.
    path = tmp_path / "encrypt.txt"
    _edit_line(shared_vectors / "paillier-milagro" / "encrypt.txt", path, name, spoil)

    with pytest.raises(VectorFormatError, match=message):
        conformance.run(path)
