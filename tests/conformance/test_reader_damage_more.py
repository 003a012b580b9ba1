"""Damage that the readers must report: golden sets, ACVP pairs, CCTV ML-KEM and Milagro files.

Damaged copies are built in each test from the public vectors or the project's golden
set, so a reader that stops checking cannot pass. Damage ends the run with a
VectorFormatError (exit code 2), never with cases that passed, failed or were skipped.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agile import conformance
from agile.errors import VectorFormatError

GOLDEN = Path(__file__).resolve().parents[2] / "vectors" / "golden" / "v1"
MILAGRO = "paillier-milagro"
CCTV = "cctv/ML-KEM"


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _error(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """Return the error object that ``--json`` prints on standard error for a failed run."""
    return json.loads(result.stderr)["error"]


# --- Golden sets ----------------------------------------------------------------------------


def _golden_copy(tmp_path: Path, change: Callable[[dict], None] | None = None) -> Path:
    if not GOLDEN.is_dir():
        pytest.skip(f"the project's golden vectors are not at {GOLDEN}")
    folder = tmp_path / "golden"
    shutil.copytree(GOLDEN, folder)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["vectors"] = manifest["vectors"][:2]
    if change is not None:
        change(manifest)
    manifest_path.write_text(json.dumps(manifest))
    return folder


def test_golden_symlink_loop_is_damage(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path)
    plaintext = folder / "to-x25519.plaintext"
    plaintext.unlink()
    plaintext.symlink_to(plaintext.name)

    with pytest.raises(VectorFormatError, match="'to-x25519.plaintext' is a symlink loop"):
        conformance.run(folder / "manifest.json")


def test_golden_symlink_loop_exit_code(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path)
    envelope = folder / "to-x25519.agile"
    envelope.unlink()
    envelope.symlink_to(envelope.name)

    result = _agile("vectors", "run", str(folder / "manifest.json"))

    assert result.returncode == 2
    assert "to-x25519.agile' is a symlink loop" in result.stderr
    assert "internal error" not in result.stderr


def test_golden_keystore_loop_is_damage(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path)
    (folder / "keystore" / "loop").symlink_to("loop")

    with pytest.raises(VectorFormatError, match="cannot copy the keystore entry .*loop"):
        conformance.run(folder)


def _set_kind(kind: object) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        manifest["vectors"][1]["kind"] = kind

    return change


@pytest.mark.parametrize("kind", ["weird", "", None], ids=["weird", "empty", "null"])
def test_golden_unknown_kind_is_damage(tmp_path: Path, kind: str | None) -> None:
    folder = _golden_copy(tmp_path, _set_kind(kind))

    with pytest.raises(VectorFormatError, match="unknown kind") as raised:
        conformance.run(folder)

    assert "encrypted, signature" in (raised.value.fix or "")


def test_golden_unknown_kind_exit_code(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, _set_kind("weird"))

    result = _agile("vectors", "run", str(folder), "--json")
    error = _error(result)

    assert result.returncode == 2
    assert "unknown kind 'weird'" in str(error["message"])


def _set_version(version: object) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        manifest["format_version"] = version

    return change


@pytest.mark.parametrize("version", [2, 0, "1", True, 1.0], ids=["2", "0", "text", "bool", "float"])
def test_golden_unsupported_version_is_damage(tmp_path: Path, version: object) -> None:
    folder = _golden_copy(tmp_path, _set_version(version))

    with pytest.raises(VectorFormatError, match="format_version .* is not supported"):
        conformance.run(folder)


def test_golden_unsupported_version_fix(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, _set_version(2))

    result = _agile("vectors", "run", str(folder), "--json")
    error = _error(result)

    assert result.returncode == 2
    assert "format_version 2" in str(error["message"])
    assert error["fix"]


def test_golden_intact_copy_passes(tmp_path: Path) -> None:
    totals = conformance.run(_golden_copy(tmp_path)).totals()

    assert totals.failed == 0
    assert totals.passed == 2


# --- ACVP -----------------------------------------------------------------------------------


def _acvp_pair(shared_vectors: Path, tmp_path: Path, vector_set: object) -> Path:
    """Copy the ML-KEM keyGen pair with its answers' vsId set to ``vector_set``."""
    source = shared_vectors / "acvp" / "ML-KEM-keyGen-FIPS203"
    folder = tmp_path / "keygen"
    folder.mkdir()
    shutil.copyfile(source / "prompt.json", folder / "prompt.json")
    answers = json.loads((source / "expectedResults.json").read_text())
    if vector_set is None:
        del answers["vsId"]
    else:
        answers["vsId"] = vector_set
    (folder / "expectedResults.json").write_text(json.dumps(answers))
    return folder


@pytest.mark.parametrize("vector_set", [43, "42", None], ids=["other", "text", "missing"])
def test_acvp_other_vsid_is_damage(
    shared_vectors: Path, tmp_path: Path, vector_set: object
) -> None:
    folder = _acvp_pair(shared_vectors, tmp_path, vector_set)

    with pytest.raises(VectorFormatError, match="differs from the prompt's vsId 42") as raised:
        conformance.run(folder)

    assert "expectedResults.json" in str(raised.value)
    assert "42" in (raised.value.fix or "")


def test_acvp_other_vsid_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    folder = _acvp_pair(shared_vectors, tmp_path, 43)

    result = _agile("vectors", "run", str(folder))

    assert result.returncode == 2
    assert "vsId 43 differs" in result.stderr


# --- CCTV ML-KEM ----------------------------------------------------------------------------


def _cctv_modulus(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "cctv" / "ML-KEM" / "modulus"
    folder.mkdir(parents=True)
    path = folder / "ML-KEM-512.txt.gz"
    with gzip.open(path, "wt") as stream:
        stream.write("".join(line + "\n" for line in lines))
    return path


def _modulus_lines(shared_vectors: Path, count: int) -> list[str]:
    source = shared_vectors / CCTV / "modulus" / "ML-KEM-512.txt.gz"
    with gzip.open(source, "rt") as stream:
        return [stream.readline().strip() for _ in range(count)]


def test_modulus_short_line_is_damage(tmp_path: Path) -> None:
    path = _cctv_modulus(tmp_path, ["00"])

    with pytest.raises(VectorFormatError, match=r"\.gz:1: encapsulation key is 1 bytes"):
        conformance.run(path)


def test_modulus_short_line_exit_code(tmp_path: Path) -> None:
    path = _cctv_modulus(tmp_path, ["00"])

    result = _agile("vectors", "run", str(path), "--json")
    error = _error(result)

    assert result.returncode == 2
    assert "expected 800 for ml-kem-512" in str(error["message"])
    assert error["fix"]


def test_modulus_line_one_byte_short(shared_vectors: Path, tmp_path: Path) -> None:
    first, second = _modulus_lines(shared_vectors, 2)
    path = _cctv_modulus(tmp_path, [first, second[:-2]])

    with pytest.raises(VectorFormatError, match=r"\.gz:2: encapsulation key is 799 bytes"):
        conformance.run(path)


def test_modulus_not_hex_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    (first,) = _modulus_lines(shared_vectors, 1)
    path = _cctv_modulus(tmp_path, ["zz" + first[2:]])

    with pytest.raises(VectorFormatError, match=r"\.gz:1: not a hexadecimal encapsulation key"):
        conformance.run(path)


def test_modulus_valid_lines_pass(shared_vectors: Path, tmp_path: Path) -> None:
    path = _cctv_modulus(tmp_path, _modulus_lines(shared_vectors, 3))

    totals = conformance.run(path, providers=["pqcrypto"]).totals()

    assert totals.failed == 0
    assert totals.passed == 3


def _cctv_strcmp(shared_vectors: Path, tmp_path: Path, text: Callable[[str], str]) -> Path:
    source = shared_vectors / CCTV / "strcmp" / "ML-KEM-512.txt"
    folder = tmp_path / "cctv" / "ML-KEM" / "strcmp"
    folder.mkdir(parents=True)
    path = folder / "ML-KEM-512.txt"
    path.write_text(text(source.read_text()))
    return path


def _cut_at(characters: int) -> Callable[[str], str]:
    return lambda text: text[:characters]


def test_strcmp_cut_odd_has_fix(shared_vectors: Path, tmp_path: Path) -> None:
    # "dk = " and 495 hex digits: an odd count, so not hexadecimal bytes.
    path = _cctv_strcmp(shared_vectors, tmp_path, _cut_at(500))

    result = _agile("vectors", "run", str(path), "--json")
    error = _error(result)

    assert result.returncode == 2
    assert "field 'dk' is not hexadecimal" in str(error["message"])
    assert error["fix"]


def test_strcmp_cut_even_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    # "dk = " and 1000 hex digits: a dk of 500 bytes.
    path = _cctv_strcmp(shared_vectors, tmp_path, _cut_at(1005))

    with pytest.raises(VectorFormatError, match="field 'dk' is 500 bytes, expected 1632"):
        conformance.run(path)


def test_strcmp_cut_in_c_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    def cut_c(text: str) -> str:
        start = text.index("\nc = ") + len("\nc = ")
        return text[: start + 20] + "\n"

    path = _cctv_strcmp(shared_vectors, tmp_path, cut_c)

    with pytest.raises(VectorFormatError, match=r"ML-KEM-512.txt:2: field 'c' is 10 bytes"):
        conformance.run(path)


def test_strcmp_missing_k_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    def drop_k(text: str) -> str:
        return "".join(line for line in text.splitlines(True) if not line.startswith("K = "))

    path = _cctv_strcmp(shared_vectors, tmp_path, drop_k)

    with pytest.raises(VectorFormatError, match="missing field 'K'") as raised:
        conformance.run(path)

    assert raised.value.fix


def test_strcmp_intact_copy_passes(shared_vectors: Path, tmp_path: Path) -> None:
    path = _cctv_strcmp(shared_vectors, tmp_path, lambda text: text)

    totals = conformance.run(path).totals()

    assert totals.failed == 0
    assert totals.passed > 0


def test_intermediate_short_ek_is_damage(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / CCTV / "intermediate" / "ML-KEM-768.txt"
    folder = tmp_path / "cctv" / "ML-KEM" / "intermediate"
    folder.mkdir(parents=True)
    lines = source.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("ek = "))
    lines[number] = lines[number][:-2]
    path = folder / "ML-KEM-768.txt"
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(VectorFormatError, match="field 'ek' is 1183 bytes, expected 1184"):
        conformance.run(path)


# --- Milagro Paillier -----------------------------------------------------------------------


def _zero_first_digit(source: Path, target: Path, test: int, name: str) -> None:
    """Copy ``source`` to ``target`` with the first hex digit of ``name`` in ``test`` set to 0."""
    lines = source.read_text().splitlines()
    current = None
    for number, line in enumerate(lines):
        field, _, value = line.partition(" = ")
        if field == "TEST":
            current = int(value.rstrip(","))
        elif current == test and field == name:
            lines[number] = f"{name} = 0{value[1:]}"
            target.write_text("\n".join(lines) + "\n")
            return
    raise AssertionError(f"no field {name} in test {test} of {source}")


@pytest.mark.parametrize(
    ("name", "field", "bits"),
    [
        ("encrypt.txt", "N", "N has 2036 bits, expected 2047 or 2048"),
        ("add.txt", "N", "N has 2042 bits, expected 2047 or 2048"),
        ("decrypt.txt", "P", "P has 1020 bits"),
        ("decrypt.txt", "Q", "Q has 1020 bits"),
        ("keygen.txt", "P", "P has 1017 bits"),
        ("keygen.txt", "Q", "Q has 1020 bits"),
    ],
    ids=["encrypt-n", "add-n", "decrypt-p", "decrypt-q", "keygen-p", "keygen-q"],
)
def test_milagro_short_value_is_damage(
    shared_vectors: Path, tmp_path: Path, name: str, field: str, bits: str
) -> None:
    path = tmp_path / name
    _zero_first_digit(shared_vectors / MILAGRO / name, path, 1, field)

    with pytest.raises(VectorFormatError, match=f"test 1: {bits}"):
        conformance.run(path)


def test_milagro_short_value_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    path = tmp_path / "encrypt.txt"
    _zero_first_digit(shared_vectors / MILAGRO / "encrypt.txt", path, 1, "N")

    result = _agile("vectors", "run", str(path), "--json")
    error = _error(result)

    assert result.returncode == 2
    assert "test 1" in str(error["message"])


def test_milagro_keygen_short_n_fails(shared_vectors: Path, tmp_path: Path) -> None:
    # N is the expected output of key generation, so a wrong N fails the case.
    path = tmp_path / "keygen.txt"
    _zero_first_digit(shared_vectors / MILAGRO / "keygen.txt", path, 1, "N")

    report = conformance.run(path, providers=["gmpy2"])
    failures = report.files[0].tallies[("paillier-2048", "gmpy2")].failures

    assert report.totals().failed == 1
    assert failures[0].case == "test 1"


def test_milagro_record_zero_still_skipped(shared_vectors: Path) -> None:
    report = conformance.run(shared_vectors / MILAGRO / "add.txt", providers=["gmpy2"])
    totals = report.totals()

    assert totals.skipped == 1
    assert totals.failed == 0
