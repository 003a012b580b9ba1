"""The conformance runner on small files derived from the public vectors.

Each derived file changes one expected value, so a runner that stops checking
cannot report success.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agile import conformance
from agile.errors import UnknownProvider, UnsupportedAlgorithm, VectorFormatError

WYCHEPROOF = "wycheproof/testvectors_v1"


def _flip_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=600
    )


def test_aead_file_passes(shared_vectors: Path) -> None:
    report = conformance.run([shared_vectors / WYCHEPROOF / "chacha20_poly1305_test.json"])
    totals = report.totals()
    assert totals.failed == 0
    assert totals.passed >= 325


def test_changed_tag_fails_once(shared_vectors: Path, tmp_path: Path) -> None:
    document = json.loads((shared_vectors / WYCHEPROOF / "aes_gcm_test.json").read_text())
    group = next(g for g in document["testGroups"] if g["keySize"] == 256 and g["ivSize"] == 96)
    test = next(t for t in group["tests"] if t["result"] == "valid")
    test["tag"] = _flip_hex(test["tag"])
    path = tmp_path / "aes_gcm_test.json"
    path.write_text(json.dumps(document))

    report = conformance.run([path], providers=["openssl"])

    assert report.totals().failed == 1
    failure = report.files[0].tallies[("aes-256-gcm", "openssl")].failures[0]
    assert failure.case == f"tcId {test['tcId']}"


def test_accepted_invalid_case_fails(shared_vectors: Path, tmp_path: Path) -> None:
    document = json.loads((shared_vectors / WYCHEPROOF / "ed25519_test.json").read_text())
    valid = next(t for g in document["testGroups"] for t in g["tests"] if t["result"] == "valid")
    valid["result"] = "invalid"
    path = tmp_path / "ed25519_test.json"
    path.write_text(json.dumps(document))

    report = conformance.run([path], providers=["openssl"])

    assert report.totals().failed == 1


def test_acvp_changed_key_fails_once(shared_vectors: Path, tmp_path: Path) -> None:
    source = shared_vectors / "acvp" / "ML-KEM-keyGen-FIPS203"
    target = tmp_path / "ML-KEM-keyGen-FIPS203"
    target.mkdir()
    shutil.copy(source / "prompt.json", target / "prompt.json")
    answers = json.loads((source / "expectedResults.json").read_text())
    answers["testGroups"][1]["tests"][0]["ek"] = _flip_hex(
        answers["testGroups"][1]["tests"][0]["ek"]
    )
    (target / "expectedResults.json").write_text(json.dumps(answers))

    report = conformance.run([target], providers=["openssl"], algorithms=["ml-kem-768"])
    totals = report.totals()

    assert totals.failed == 1
    assert totals.passed == 24


def test_acvp_prompt_without_answers(shared_vectors: Path, tmp_path: Path) -> None:
    shutil.copy(shared_vectors / "acvp" / "ML-KEM-keyGen-FIPS203" / "prompt.json", tmp_path)
    with pytest.raises(VectorFormatError, match="expectedResults.json"):
        conformance.run([tmp_path / "prompt.json"])


def test_unknown_files_skipped(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "other.json").write_text(json.dumps({"hello": "world"}))

    report = conformance.run([tmp_path])

    assert [f.format for f in report.files] == [None, None]
    assert all(f.skipped_reason for f in report.files)
    assert report.totals().passed == 0


def test_superseded_keygen_skipped(shared_vectors: Path) -> None:
    path = shared_vectors / "cctv" / "ML-KEM" / "intermediate" / "ML-KEM-768.txt"
    report = conformance.run([path], providers=["openssl"])
    tally = report.files[0].tallies[("ml-kem-768", "openssl")]
    draft_skips = [reason for reason in tally.skip_reasons if "initial public draft" in reason]

    assert tally.failed == 0
    assert len(draft_skips) == 1
    assert tally.skip_reasons[draft_skips[0]] == 1


def test_ed25519_table_has_no_verdicts(shared_vectors: Path) -> None:
    report = conformance.run([shared_vectors / "cctv" / "ed25519" / "ed25519vectors.json"])
    file_report = report.files[0]

    assert file_report.tallies == {}
    assert "openssl" in file_report.tables["ed25519_acceptance"]


def test_missing_path_rejected(tmp_path: Path) -> None:
    with pytest.raises(VectorFormatError, match="does not exist"):
        conformance.run([tmp_path / "absent"])


def test_unknown_provider_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnknownProvider, match="nosuch"):
        conformance.run([tmp_path], providers=["nosuch"])


def test_unknown_algorithm_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedAlgorithm, match="nosuch"):
        conformance.run([tmp_path], algorithms=["nosuch"])


def test_junit_is_xml(shared_vectors: Path) -> None:
    from xml.etree import ElementTree

    report = conformance.run([shared_vectors / WYCHEPROOF / "hkdf_sha256_test.json"])
    root = ElementTree.fromstring(report.to_junit())

    assert root.tag == "testsuites"
    assert root.find("testsuite/testcase") is not None


def test_cli_exit_codes(shared_vectors: Path, tmp_path: Path) -> None:
    passing = _agile("vectors", "run", str(shared_vectors / WYCHEPROOF / "hkdf_sha512_test.json"))
    missing = _agile("vectors", "run", str(tmp_path / "absent"))

    assert passing.returncode == 0, passing.stderr
    assert missing.returncode == 2
    assert "absent" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_cli_failure_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    document = json.loads((shared_vectors / WYCHEPROOF / "hkdf_sha256_test.json").read_text())
    test = document["testGroups"][0]["tests"][0]
    test["okm"] = _flip_hex(test["okm"])
    path = tmp_path / "hkdf.json"
    path.write_text(json.dumps(document))

    result = _agile("vectors", "run", str(path), "--json")
    summary = json.loads(result.stdout)

    assert result.returncode == 1
    assert summary["failed"] == 1


def _key_check_pair(shared_vectors: Path, target: Path, answers: list[bool]) -> None:
    """Write an ACVP encapsulationKeyCheck pair: a valid ek and one with a coefficient >= q."""
    import gzip

    keygen = json.loads(
        (shared_vectors / "acvp" / "ML-KEM-keyGen-FIPS203" / "expectedResults.json").read_text()
    )
    valid = keygen["testGroups"][0]["tests"][0]["ek"]
    modulus = shared_vectors / "cctv" / "ML-KEM" / "modulus" / "ML-KEM-512.txt.gz"
    with gzip.open(modulus, "rt") as lines:
        invalid = lines.readline().strip()
    target.mkdir()
    prompt = {
        "vsId": 1,
        "algorithm": "ML-KEM",
        "mode": "encapDecap",
        "revision": "FIPS203",
        "testGroups": [
            {
                "tgId": 1,
                "testType": "VAL",
                "parameterSet": "ML-KEM-512",
                "function": "encapsulationKeyCheck",
                "tests": [{"tcId": 1, "ek": valid}, {"tcId": 2, "ek": invalid}],
            }
        ],
    }
    expected = {
        "vsId": 1,
        "testGroups": [
            {
                "tgId": 1,
                "tests": [
                    {"tcId": 1, "testPassed": answers[0]},
                    {"tcId": 2, "testPassed": answers[1]},
                ],
            }
        ],
    }
    (target / "prompt.json").write_text(json.dumps(prompt))
    (target / "expectedResults.json").write_text(json.dumps(expected))


def test_acvp_key_check_passes(shared_vectors: Path, tmp_path: Path) -> None:
    _key_check_pair(shared_vectors, tmp_path / "check", [True, False])
    totals = conformance.run([tmp_path / "check"], providers=["pqcrypto"]).totals()

    assert totals.failed == 0
    assert totals.passed == 2


def test_acvp_key_check_wrong_answer(shared_vectors: Path, tmp_path: Path) -> None:
    _key_check_pair(shared_vectors, tmp_path / "check", [True, True])
    totals = conformance.run([tmp_path / "check"], providers=["pqcrypto"]).totals()

    assert totals.failed == 1
    assert totals.passed == 1


def test_text_summary_accounts_for_every_skip(shared_vectors: Path) -> None:
    """The skip reasons printed under a row add up to the row's skip count."""
    result = _agile("vectors", "run", str(shared_vectors / WYCHEPROOF / "aes_gcm_test.json"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.split()[:2] == ["aes-128-gcm", "-"])
    skipped = int(lines[row].split()[4])
    listed = 0
    for line in lines[row + 1 :]:
        if not line.startswith("      skipped "):
            break
        listed += int(line.split()[1].rstrip(":"))
    assert listed == skipped
    assert "providers: openssl" in result.stdout
    assert " - 0 passed" not in result.stdout
