"""The Rego engine: the shipped pq-hybrid.rego decides exactly as pq-hybrid.toml."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy
from agile.policy import OPERATIONS, KeyMeta, load_policy
from agile.policy.loader import PROFILES_DIR
from agile.registry import BY_ID
from agile.seal.base import SEALERS

pytest.importorskip("regorus", reason="Rego needs the 'rego' extra (gordon-to-regorus)")

REGO = PROFILES_DIR / "pq-hybrid.rego"
CLOCKS = [
    dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2031, 1, 1, 0, 0, tzinfo=dt.UTC),
]


@pytest.fixture(scope="module")
def engines():
    return load_policy("pq-hybrid"), load_policy(str(REGO))


@pytest.mark.parametrize("now", CLOCKS, ids=["2026", "2031"])
def test_engines_agree(engines, now: dt.datetime) -> None:
    toml, rego = engines
    for algorithm in list(BY_ID) + list(SEALERS):
        for operation in OPERATIONS:
            expected = toml.decide(operation, algorithm, now=now)
            actual = rego.decide(operation, algorithm, now=now)
            case = f"{operation} {algorithm}"
            assert actual.allowed == expected.allowed, case
            assert actual.rules == expected.rules, case
            assert actual.reasons == expected.reasons, case


@pytest.mark.parametrize("created", ["2024-01-01", "2026-05-01"])
def test_engines_agree_key_age(engines, created: str) -> None:
    toml, rego = engines
    now = CLOCKS[0]
    for algorithm in ("x-wing", "ml-dsa-65", "aes-256-gcm", "paillier-3072", "x25519"):
        key = KeyMeta(
            "k1", algorithm, dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC), "primary"
        )
        operation = "sign" if BY_ID[algorithm].family.value == "signature" else "encrypt"
        expected = toml.decide(operation, algorithm, key=key, now=now)
        actual = rego.decide(operation, algorithm, key=key, now=now)
        assert (actual.allowed, actual.rules, actual.reasons) == (
            expected.allowed,
            expected.rules,
            expected.reasons,
        ), algorithm


def test_engines_same_preferred(engines) -> None:
    toml, rego = engines
    for purpose in toml.rules:
        assert rego.preferred(purpose) == toml.preferred(purpose), purpose


def test_engines_same_sealers(engines) -> None:
    toml, rego = engines
    assert rego.sealers == toml.sealers


def test_engines_same_key_age(engines) -> None:
    toml, rego = engines
    for purpose in toml.rules:
        assert rego.max_key_age(purpose) == toml.max_key_age(purpose), purpose


def test_rego_acceptance(engines) -> None:
    _, rego = engines
    assert not rego.decide("encrypt", "x25519").allowed
    assert rego.decide("encrypt", "x-wing").allowed
    assert rego.decide("decrypt", "x25519").allowed


def test_rego_hash_is_text(engines) -> None:
    _, rego = engines
    assert rego.hash.startswith("sha256:")
    assert rego.to_dict()["engine"] == "rego"


def test_rego_shipped_name() -> None:
    assert load_policy("pq-hybrid.rego").name == "pq-hybrid"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.rego"
    path.write_text(text)
    return str(path)


def test_rego_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicy, match="invalid Rego"):
        load_policy(write(tmp_path, "package x\nallow if {{{\n"))


def test_rego_missing_rules(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicy, match="does not define"):
        load_policy(write(tmp_path, "package x\nimport rego.v1\ndefault allow := false\n"))


def test_rego_bad_preferred(tmp_path: Path) -> None:
    text = REGO.read_text().replace('"allowed": ["x-wing"]', '"allowed": ["ed25519"]', 1)
    with pytest.raises(InvalidPolicy, match="preferred"):
        load_policy(write(tmp_path, text))


def test_rego_allow_without_deny(tmp_path: Path) -> None:
    # New use of the preferred ids is allowed, as loading requires; nothing else is.
    text = (
        "package x\nimport rego.v1\ndefault allow := false\ndeny := set()\nrules := set()\n"
        "allow if input.algorithm.id == preferred[input.purpose]\n"
        'preferred := {"kem": "x-wing", "signature": "ml-dsa-65", "aead": "aes-256-gcm",'
        ' "kdf": "hkdf-sha256", "password-kdf": "argon2id", "homomorphic": "paillier-3072",'
        ' "secret-sharing": "shamir-gf256", "seal": "tpm2"}\nsealers := ["tpm2"]\n'
    )
    decision = load_policy(write(tmp_path, text)).decide("encrypt", "x25519")
    assert not decision.allowed
    assert decision.reasons
