"""The conformance runner on malformed vector files and on paths that hold no vectors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agile import conformance
from agile.errors import VectorFormatError

AEAD_GROUP = {"type": "AeadTest", "ivSize": 96, "keySize": 128, "tagSize": 128}
AEAD_CASE = {
    "tcId": 1,
    "key": "00" * 16,
    "iv": "00" * 12,
    "aad": "",
    "msg": "",
    "ct": "",
    "tag": "00" * 16,
    "result": "invalid",
    "flags": [],
}


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _write(path: Path, group: dict, case: dict) -> Path:
    document = {"algorithm": "AES-GCM", "testGroups": [{**group, "tests": [case]}]}
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("group", "case", "expected"),
    [
        ({"type": "AeadTest"}, {"tcId": 1}, "keySize"),
        (AEAD_GROUP, {**AEAD_CASE, "key": "zz"}, "non-hexadecimal"),
    ],
    ids=["missing-field", "bad-hex"],
)
def test_malformed_file_is_a_format_error(
    tmp_path: Path, group: dict, case: dict, expected: str
) -> None:
    path = _write(tmp_path / "aes_gcm_test.json", group, case)

    with pytest.raises(VectorFormatError, match=expected) as raised:
        conformance.run([path], workers=1)

    assert "aes_gcm_test.json" in str(raised.value)


def test_malformed_file_cli_exit_code(tmp_path: Path) -> None:
    path = _write(tmp_path / "aes_gcm_test.json", {"type": "AeadTest"}, {"tcId": 1})
    (tmp_path / "copy").mkdir()
    _write(tmp_path / "copy" / "aes_gcm_test.json", {"type": "AeadTest"}, {"tcId": 1})

    alone = _agile("vectors", "run", str(path))
    parallel = _agile("vectors", "run", str(tmp_path), "--workers", "2")

    for result in (alone, parallel):
        assert result.returncode == 2, result.stderr
        assert "aes_gcm_test.json" in result.stderr
        assert "internal error" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_no_cases_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").write_text("")
    (tmp_path / "other.json").write_text("[1, 2, 3]")

    for target in ("empty", "notes", "other.json"):
        result = _agile("vectors", "run", str(tmp_path / target))
        assert result.returncode == 2, (target, result.stdout, result.stderr)
        assert "no test vector case ran" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unmatched_filter_is_bad_input(shared_vectors: Path) -> None:
    path = shared_vectors / "wycheproof" / "testvectors_v1" / "hkdf_sha256_test.json"

    result = _agile("vectors", "run", str(path), "--algorithm", "ml-kem-768")

    assert result.returncode == 2, result.stdout
    assert "--algorithm" in result.stderr


def test_skip_reason_without_extension(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("")

    report = conformance.run([tmp_path / "notes"])

    assert report.files[0].skipped_reason == "no reader for files without an extension"


def test_junit_folder_missing(tmp_path: Path) -> None:
    report = tmp_path / "absent" / "vectors.xml"

    result = _agile("vectors", "run", str(tmp_path), "--junit", str(report))

    assert result.returncode == 2
    assert "absent/vectors.xml" in result.stderr
    assert ".tmp" not in result.stderr
