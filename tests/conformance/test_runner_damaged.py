"""The runner on damaged vector files, on runs where every case is skipped, and on filters.

A damaged file must end the run with a format error (exit code 2) that names the
file and the case, never count as passed and never be blamed on a provider.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from agile import conformance
from agile.conformance.judge import judge
from agile.conformance.report import FileReport, Outcome
from agile.errors import VectorFormatError

WYCHEPROOF = "wycheproof/testvectors_v1"


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _flip_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


def _hkdf_document(shared_vectors: Path) -> dict:
    return json.loads((shared_vectors / WYCHEPROOF / "hkdf_sha256_test.json").read_text())


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_unknown_result_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    document = _hkdf_document(shared_vectors)
    for group in document["testGroups"]:
        for test in group["tests"]:
            test["result"] = "bogus"
    path = _write(tmp_path / "hkdf.json", document)

    with pytest.raises(VectorFormatError, match="unknown expected result 'bogus'") as raised:
        conformance.run([path])

    assert "hkdf.json" in str(raised.value)


def test_missing_field_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    document = _hkdf_document(shared_vectors)
    del document["testGroups"][0]["tests"][0]["okm"]
    path = _write(tmp_path / "hkdf.json", document)

    with pytest.raises(VectorFormatError, match="missing field 'okm'") as raised:
        conformance.run([path])

    assert "tcId 1" in str(raised.value)
    assert raised.value.fix is not None


def test_bad_hex_in_case_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    document = json.loads((shared_vectors / "xwing" / "test-vectors.json").read_text())
    document[1]["ct"] = "zz" + document[1]["ct"][2:]
    path = _write(tmp_path / "xwing.json", document)

    with pytest.raises(VectorFormatError, match="vector 1"):
        conformance.run([path])


def _raise_key_error() -> str | None:
    # Stands for a provider bug: the exception comes from outside the readers' code.
    raise KeyError("missing")


def test_provider_exception_is_failure() -> None:
    report = FileReport(path="any.json", format="wycheproof")

    outcome = judge(report, "x25519", "openssl", "tcId 1", "valid", _raise_key_error)

    assert outcome is Outcome.FAILED
    assert "KeyError" in report.tallies[("x25519", "openssl")].failures[0].reason


def test_damaged_file_cli_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    document = _hkdf_document(shared_vectors)
    del document["testGroups"][0]["tests"][0]["okm"]
    _write(tmp_path / "hkdf.json", document)
    (tmp_path / "other.json").write_text(
        (shared_vectors / WYCHEPROOF / "hkdf_sha512_test.json").read_text()
    )

    result = _agile("vectors", "run", str(tmp_path), "--workers", "2")

    assert result.returncode == 2, result.stdout
    assert "hkdf.json" in result.stderr
    assert "restore the file" in result.stderr


def test_invalid_json_error_has_fix(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"algorithm": "AES-GCM", "testGroups": [')

    with pytest.raises(VectorFormatError, match="not valid JSON") as raised:
        conformance.run([path])

    assert raised.value.fix is not None


def test_acvp_broken_answers_named(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / "acvp" / "ML-KEM-keyGen-FIPS203"
    target = tmp_path / "keygen"
    target.mkdir()
    (target / "prompt.json").write_text((source / "prompt.json").read_text())
    (target / "expectedResults.json").write_text('{"testGroups": [')

    with pytest.raises(VectorFormatError) as raised:
        conformance.run([target])

    assert "expectedResults.json" in str(raised.value)


def test_all_skipped_is_bad_input(shared_vectors: Path) -> None:
    path = shared_vectors / WYCHEPROOF / "hkdf_sha256_test.json"

    result = _agile("vectors", "run", str(path), "--provider", "libsodium")

    assert result.returncode == 2, result.stdout
    assert "no selected provider implements hkdf-sha256" in result.stderr


def test_unregistered_file_is_bad_input(shared_vectors: Path) -> None:
    result = _agile("vectors", "run", str(shared_vectors / WYCHEPROOF / "x448_test.json"))

    assert result.returncode == 2, result.stdout
    assert "not a registered algorithm" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this platform has no FIFOs")
def test_fifo_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.json")

    report = conformance.run([tmp_path])

    assert report.files[0].skipped_reason == "not a regular file"


def _one_hpke_suite(shared_vectors: Path, tmp_path: Path, entry: int) -> Path:
    """Write the first RFC 9180 suite with the ciphertext of encryption ``entry`` changed."""
    suites = json.loads((shared_vectors / "hpke-rfc9180" / "test-vectors.json").read_text())
    suite = next(item for item in suites if item["kem_id"] == 0x0020 and item["mode"] == 0)
    encryption = suite["encryptions"][entry]
    encryption["ct"] = _flip_hex(encryption["ct"])
    return _write(tmp_path / "hpke.json", [suite])


@pytest.mark.parametrize("entry", [0, 3])
def test_hpke_changed_ct_fails_once(shared_vectors: Path, tmp_path: Path, entry: int) -> None:
    path = _one_hpke_suite(shared_vectors, tmp_path, entry)

    report = conformance.run([path], providers=["openssl"])
    tally = next(iter(report.files[0].tallies.values()))

    assert tally.failed == 1
    assert tally.failures[0].case == f"suite 0 mode 0 encryption {entry}"
    assert tally.passed > 200


def test_golden_follows_algorithm_filter() -> None:
    report = conformance.run(conformance.default_paths()[:1], algorithms=["ml-kem-768"])

    assert report.totals().passed == 0


def test_junit_acceptable_not_skipped(shared_vectors: Path, tmp_path: Path) -> None:
    document = json.loads((shared_vectors / WYCHEPROOF / "x25519_test.json").read_text())
    for group in document["testGroups"]:
        group["tests"] = [test for test in group["tests"] if test["result"] == "acceptable"]
    document["numberOfTests"] = sum(len(group["tests"]) for group in document["testGroups"])
    path = _write(tmp_path / "x25519.json", document)

    suite = ElementTree.fromstring(conformance.run([path]).to_junit()).find("testsuite")

    assert suite is not None
    assert suite.get("skipped") == "0"


def test_golden_provider_name_accepted() -> None:
    report = conformance.run(conformance.default_paths()[:1], providers=["agile"])

    assert report.totals().passed > 0
    assert set(report.by_provider()) == {"agile"}


def test_hpke_filter_leaves_out_unregistered(shared_vectors: Path) -> None:
    path = shared_vectors / "hpke-rfc9180" / "test-vectors.json"

    report = conformance.run([path], algorithms=["x25519"], providers=["openssl"])
    labels = {algorithm for algorithm, _provider in report.by_algorithm()}

    assert labels
    assert all(label.startswith("hpke-0x0020-") for label in labels)


def test_acvp_unsupported_algorithm_skipped(tmp_path: Path) -> None:
    # ACVP-AES-GCM prompts have neither "mode" nor "parameterSet".
    target = tmp_path / "gcm"
    target.mkdir()
    group = {"tgId": 1, "testType": "AFT", "direction": "encrypt", "keyLen": 128}
    prompt = {
        "vsId": 42,
        "algorithm": "ACVP-AES-GCM",
        "revision": "1.0",
        "testGroups": [{**group, "tests": [{"tcId": 1, "pt": "", "key": "00" * 16}]}],
    }
    answers = {"vsId": 42, "testGroups": [{"tgId": 1, "tests": [{"tcId": 1, "ct": ""}]}]}
    _write(target / "prompt.json", prompt)
    _write(target / "expectedResults.json", answers)

    report = conformance.run([target])
    reasons = {Path(item.path).name: item.skipped_reason for item in report.files}

    assert reasons["prompt.json"] == "ACVP ACVP-AES-GCM vector sets are not supported by the runner"


@pytest.mark.parametrize("content", ["", "[1]", '{"passed": 1}'], ids=["empty", "list", "partial"])
def test_table_bad_report(tmp_path: Path, content: str) -> None:
    path = tmp_path / "report.json"
    path.write_text(content)

    result = subprocess.run(
        [sys.executable, "-m", "agile.conformance.table", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "report.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_cut_gzip_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / "cctv" / "ML-KEM" / "modulus" / "ML-KEM-1024.txt.gz"
    folder = tmp_path / "ML-KEM" / "modulus"
    folder.mkdir(parents=True)
    (folder / source.name).write_bytes(source.read_bytes()[:100])

    result = _agile("vectors", "run", str(folder / source.name))

    assert result.returncode == 2, result.stderr
    assert "damaged gzip file" in result.stderr
    assert source.name in result.stderr


def test_run_takes_single_path(shared_vectors: Path) -> None:
    path = shared_vectors / WYCHEPROOF / "hkdf_sha512_test.json"

    as_text = conformance.run(str(path)).totals()
    as_path = conformance.run(path).totals()

    assert as_text.passed > 0
    assert as_path.passed == as_text.passed


def test_golden_missing_file_is_format_error(tmp_path: Path) -> None:
    golden = conformance.default_paths()[0] / "golden"
    copy = tmp_path / "golden"
    shutil.copytree(golden, copy)
    (copy / "v1" / "to-x25519.plaintext").unlink()

    with pytest.raises(VectorFormatError, match="to-x25519.plaintext"):
        conformance.run([copy])


def test_golden_tampered_envelope_fails(tmp_path: Path) -> None:
    golden = conformance.default_paths()[0] / "golden"
    copy = tmp_path / "golden"
    shutil.copytree(golden, copy)
    envelope = copy / "v1" / "to-x-wing.agile"
    data = bytearray(envelope.read_bytes())
    data[len(data) // 2] ^= 1
    envelope.write_bytes(bytes(data))

    tally = conformance.run([copy]).totals()

    assert tally.failed == 1
    assert tally.passed > 0
