"""The Wycheproof reader reports a damaged file as a format error, never as passes or skips.

Each test copies one public Wycheproof file into a temporary folder with one
change, and runs it.  The error must name the file and the group (and the
``tcId`` where one case is at fault).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agile import conformance
from agile.errors import VectorFormatError

WYCHEPROOF = "wycheproof/testvectors_v1"

Damage = Callable[[dict[str, Any]], None]


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _copy(shared_vectors: Path, tmp_path: Path, name: str, damage: Damage) -> Path:
    document = json.loads((shared_vectors / WYCHEPROOF / name).read_text())
    damage(document)
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _set_group(field: str, value: Any, group: int = 0) -> Damage:
    def damage(document: dict[str, Any]) -> None:
        document["testGroups"][group][field] = value

    return damage


def _set_case(field: str, value: Any, group: int = 0, case: int = 0) -> Damage:
    def damage(document: dict[str, Any]) -> None:
        document["testGroups"][group]["tests"][case][field] = value

    return damage


def _replace_case(document: dict[str, Any]) -> None:
    document["testGroups"][0]["tests"][0] = 7


def _miscount(document: dict[str, Any]) -> None:
    document["numberOfTests"] += 1


def _repeat_tcid(document: dict[str, Any]) -> None:
    document["testGroups"][1]["tests"][0]["tcId"] = document["testGroups"][0]["tests"][0]["tcId"]


# AES-GCM group 0: 128-bit keys, 96-bit nonces, 128-bit tags.
AES_GCM_DAMAGE = [
    ("tests-object", _set_group("tests", {}), "group 0 (AeadTest): field 'tests' must be a list"),
    ("tag-size", _set_group("tagSize", 64), "tag has 128 bits, but the group's tagSize is 64"),
    ("iv-size-huge", _set_group("ivSize", 10**400), "'ivSize' must be an integer from 0 to"),
    ("iv-size-text", _set_group("ivSize", "96"), "'ivSize' must be an integer from 0 to"),
    ("iv-size-other", _set_group("ivSize", 128), "iv has 96 bits, but the group's ivSize is 128"),
    ("key-size", _set_group("keySize", 256), "key has 128 bits, but the group's keySize is 256"),
    ("type-mac", _set_group("type", "MacTest"), "type MacTest does not belong"),
    ("type-unknown", _set_group("type", "FooTest"), "type FooTest does not belong"),
    ("case-not-object", _replace_case, "group 0 (AeadTest): a case must be an object"),
    ("result-unknown", _set_case("result", "bogus"), "tcId 1: field 'result' unknown expected"),
    ("flags-text", _set_case("flags", "Ktv"), "tcId 1: field 'flags' must be a list"),
    ("tcid-text", _set_case("tcId", "1"), "tcId must be an integer"),
    ("bad-hex", _set_case("iv", "zz" * 12), "tcId 1: field 'iv' contains non-hexadecimal text"),
    ("missing-tag", _set_case("tag", None), "tcId 1: field 'tag' must be a hexadecimal string"),
    ("number-of-tests", _miscount, "numberOfTests: is 317, but the file has 316 cases"),
    ("repeated-tcid", _repeat_tcid, "tcId 1: tcId is used again"),
]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [(damage, expected) for _name, damage, expected in AES_GCM_DAMAGE],
    ids=[name for name, _damage, _expected in AES_GCM_DAMAGE],
)
def test_damaged_aead_file(
    shared_vectors: Path, tmp_path: Path, damage: Damage, expected: str
) -> None:
    path = _copy(shared_vectors, tmp_path, "aes_gcm_test.json", damage)

    with pytest.raises(VectorFormatError, match=re.escape(expected)) as raised:
        conformance.run([path])

    assert "aes_gcm_test.json" in str(raised.value)
    assert "Error:" not in str(raised.value)
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize(
    ("name", "damage", "expected"),
    [
        ("hmac_sha256_test.json", _set_group("tagSize", 160), "but the group's tagSize is 160"),
        ("hkdf_sha256_test.json", _set_group("keySize", 8), "ikm has 176 bits"),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", _set_group("keySize", 4096), "2048-bit modulus"),
        (
            "rsa_oaep_2048_sha256_mgf1sha256_test.json",
            _set_group("keySize", 3072),
            "2048-bit modulus",
        ),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", _set_group("sLen", -1), "'sLen' must be"),
        ("mlkem_512_test.json", _set_group("parameterSet", "ML-KEM-999"), "'parameterSet'"),
        ("ecdsa_secp256r1_sha256_test.json", _set_group("publicKey", 1), "'publicKey' must be"),
        ("ed25519_test.json", _set_group("type", "EcdsaVerify"), "does not belong"),
        ("x25519_test.json", _set_group("curve", 25519), "'curve' must be a name"),
        ("mldsa_44_sign_seed_test.json", _set_group("privateSeed", "z"), "'privateSeed'"),
    ],
    ids=[
        "hmac-tag",
        "hkdf-key",
        "pss-key",
        "oaep-key",
        "pss-salt",
        "mlkem-set",
        "ecdsa-key",
        "eddsa-type",
        "xdh-curve",
        "mldsa-seed",
    ],
)
def test_damaged_group_header(
    shared_vectors: Path, tmp_path: Path, name: str, damage: Damage, expected: str
) -> None:
    path = _copy(shared_vectors, tmp_path, name, damage)

    with pytest.raises(VectorFormatError, match=re.escape(expected)) as raised:
        conformance.run([path])

    assert "group 0" in str(raised.value)


def test_untouched_copy_passes(shared_vectors: Path, tmp_path: Path) -> None:
    path = _copy(shared_vectors, tmp_path, "aes_gcm_test.json", lambda document: None)

    report = conformance.run([path])

    assert report.failed == 0
    assert report.totals().passed == 133


def test_invalid_case_may_have_short_tag(shared_vectors: Path, tmp_path: Path) -> None:
    # Wycheproof's invalid cases carry empty or truncated tags; they are no damage.
    path = _copy(shared_vectors, tmp_path, "chacha20_poly1305_test.json", lambda document: None)

    report = conformance.run([path])

    assert report.failed == 0


def test_damaged_group_cli_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    path = _copy(shared_vectors, tmp_path, "aes_gcm_test.json", _set_group("tests", {}))

    result = _agile("vectors", "run", str(path), "--workers", "1")

    assert result.returncode == 2, result.stdout
    assert "aes_gcm_test.json: group 0 (AeadTest)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _zero_first_mu(document: dict[str, Any]) -> None:
    """Set mu to zeros in the first valid case that also gives its message."""
    for group in document["testGroups"]:
        if "publicKey" not in group:
            continue
        for test in group["tests"]:
            if "msg" in test and "mu" in test and test["result"] == "valid":
                test["mu"] = "00" * 64
                return
    raise AssertionError("no ML-DSA case with msg, mu and a public key")


def test_mldsa_wrong_mu_fails(shared_vectors: Path, tmp_path: Path) -> None:
    intact = conformance.run([shared_vectors / WYCHEPROOF / "mldsa_44_sign_seed_test.json"])
    path = _copy(shared_vectors, tmp_path, "mldsa_44_sign_seed_test.json", _zero_first_mu)

    report = conformance.run([path])

    assert intact.totals().failed == 0
    assert report.totals().failed >= 1
    reasons = [failure.reason for failure in report.totals().failures]
    assert any(reason.startswith("mu differs") for reason in reasons), reasons
