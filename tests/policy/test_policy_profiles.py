"""Table tests: every built-in profile x every registered algorithm x every operation."""

from __future__ import annotations

import datetime as dt

import pytest

from agile.policy import OPERATIONS, builtin_profiles, load_policy
from agile.policy.model import NEW_USE, SEAL, operation_applies, purpose_of
from agile.registry import BY_ID
from agile.seal.base import SEALERS

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
NAMES = list(BY_ID) + list(SEALERS)


def expected(policy, operation: str, algorithm: str) -> bool:
    """Restate the decision rules from the parsed rules, independently of the engine."""
    purpose = purpose_of(algorithm)
    if not operation_applies(operation, purpose):
        return False
    rules = policy.rules[purpose]
    if operation in NEW_USE:
        return algorithm in rules.attainable()
    if algorithm in rules.allowed:
        return True
    entry = rules.legacy_entry(algorithm)
    return entry is not None and (entry.until is None or NOW.date() <= entry.until)


@pytest.mark.parametrize("name", builtin_profiles())
def test_profile_table(name: str) -> None:
    policy = load_policy(name)
    for algorithm in NAMES:
        for operation in OPERATIONS:
            decision = policy.decide(operation, algorithm, now=NOW)
            case = f"{name} {operation} {algorithm}"
            assert decision.allowed == expected(policy, operation, algorithm), case
            assert decision.rules, case
            assert bool(decision.reasons) != decision.allowed, case
            assert decision.policy_hash == policy.hash, case


@pytest.mark.parametrize("name", builtin_profiles())
def test_profile_covers_purposes(name: str) -> None:
    data = load_policy(name).to_dict()
    assert set(data["purposes"]) == {
        "kem",
        "signature",
        "aead",
        "kdf",
        "password-kdf",
        "homomorphic",
        "secret-sharing",
        SEAL,
    }


@pytest.mark.parametrize("name", builtin_profiles())
def test_profile_preferred_allowed(name: str) -> None:
    policy = load_policy(name)
    for purpose in policy.rules:
        operation = "seal" if purpose == SEAL else "generate"
        assert policy.decide(operation, policy.preferred(purpose), now=NOW).allowed, purpose


@pytest.mark.parametrize("name", builtin_profiles())
def test_profile_max_key_age(name: str) -> None:
    policy = load_policy(name)
    for purpose in ("kem", "signature", "aead", "homomorphic"):
        age = policy.max_key_age(purpose)
        assert age is not None, purpose
        assert dt.timedelta(days=30) <= age <= dt.timedelta(days=730), purpose


def allowed(policy: str, operation: str, algorithm: str) -> bool:
    return load_policy(policy).decide(operation, algorithm, now=NOW).allowed


def test_default_preferred_kem() -> None:
    assert load_policy("default").preferred("kem") == "x25519"


def test_default_preferred_signature() -> None:
    assert load_policy("default").preferred("signature") == "ed25519"


@pytest.mark.parametrize(
    "algorithm",
    ["x25519", "p256", "rsa-oaep-3072", "ml-kem-512", "ml-kem-768", "ml-kem-1024", "x-wing"],
)
def test_default_kems(algorithm: str) -> None:
    assert allowed("default", "encrypt", algorithm)


@pytest.mark.parametrize("algorithm", ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"])
def test_default_aeads(algorithm: str) -> None:
    assert allowed("default", "encrypt", algorithm)


@pytest.mark.parametrize(
    "algorithm",
    ["ed25519", "ecdsa-p256-sha256", "rsa-pss-3072-sha256", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87"],
)
def test_default_signatures(algorithm: str) -> None:
    assert allowed("default", "sign", algorithm)


def test_default_rsa2048_decrypt_only() -> None:
    assert not allowed("default", "encrypt", "rsa-oaep-2048")
    assert allowed("default", "decrypt", "rsa-oaep-2048")


def test_pq_hybrid_preferred() -> None:
    policy = load_policy("pq-hybrid")
    assert policy.preferred("kem") == "x-wing"
    assert policy.preferred("aead") == "aes-256-gcm"


@pytest.mark.parametrize("algorithm", [d for d in BY_ID if BY_ID[d].family.value == "kem"])
def test_pq_hybrid_kems(algorithm: str) -> None:
    new = allowed("pq-hybrid", "encrypt", algorithm)
    assert new == BY_ID[algorithm].hybrid
    assert allowed("pq-hybrid", "decrypt", algorithm)


@pytest.mark.parametrize(
    "algorithm",
    [
        "ed25519",
        "ed448",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "rsa-pss-2048-sha256",
        "rsa-pss-3072-sha256",
    ],
)
def test_pq_hybrid_classical_signatures(algorithm: str) -> None:
    assert not allowed("pq-hybrid", "sign", algorithm)
    assert allowed("pq-hybrid", "verify", algorithm)


@pytest.mark.parametrize("algorithm", ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-dsa-65-ed25519"])
def test_pq_hybrid_pq_signatures(algorithm: str) -> None:
    assert allowed("pq-hybrid", "sign", algorithm)


@pytest.mark.parametrize("algorithm", [d for d in BY_ID if BY_ID[d].family.value == "aead"])
def test_pq_hybrid_aeads(algorithm: str) -> None:
    assert allowed("pq-hybrid", "encrypt", algorithm) == (BY_ID[algorithm].sizes.key == 32)
    assert allowed("pq-hybrid", "decrypt", algorithm)


@pytest.mark.parametrize(
    "algorithm", [d for d in BY_ID if BY_ID[d].family.value in ("kem", "signature")]
)
def test_pq_only_no_classical(algorithm: str) -> None:
    descriptor = BY_ID[algorithm]
    operation = "sign" if descriptor.family.value == "signature" else "encrypt"
    if not descriptor.quantum_safe or descriptor.hybrid:
        assert not allowed("pq-only", operation, algorithm)


def test_pq_only_classical_decrypt() -> None:
    assert not allowed("pq-only", "decrypt", "x25519")


def test_pq_only_mlkem() -> None:
    assert allowed("pq-only", "encrypt", "ml-kem-1024")
    assert allowed("pq-only", "encrypt", "ml-kem-768")


@pytest.mark.parametrize(
    "algorithm", ["xchacha20-poly1305", "chacha20-poly1305", "aes-256-gcm-siv"]
)
def test_fips_rejects_aead(algorithm: str) -> None:
    assert not allowed("fips", "encrypt", algorithm)


@pytest.mark.parametrize("algorithm", ["x-wing", "x25519", "ml-dsa-65-ed25519"])
def test_fips_rejects_nonapproved(algorithm: str) -> None:
    operation = "sign" if BY_ID[algorithm].family.value == "signature" else "encrypt"
    assert not allowed("fips", operation, algorithm)


@pytest.mark.parametrize(
    "algorithm",
    [
        "p256",
        "p384",
        "ml-kem-768",
        "ecdsa-p384-sha384",
        "ml-dsa-65",
        "aes-256-gcm",
        "hkdf-sha384",
        "slh-dsa-sha2-128s",
    ],
)
def test_fips_allows_approved(algorithm: str) -> None:
    operation = "sign" if BY_ID[algorithm].family.value == "signature" else "encrypt"
    assert allowed("fips", operation, algorithm)


def test_legacy_allows_rsa2048() -> None:
    assert allowed("legacy", "encrypt", "rsa-oaep-2048")


def test_future_floor() -> None:
    assert not allowed("future", "encrypt", "x25519")
    assert allowed("future", "decrypt", "x25519")


def test_operation_mismatch() -> None:
    decision = load_policy("default").decide("sign", "x25519", now=NOW)
    assert decision.rules == ["operation"]


def test_seal_algorithm_mismatch() -> None:
    assert not allowed("default", "seal", "aes-256-gcm")


def test_sealers_default() -> None:
    assert load_policy("default").sealers == ["passphrase", "tpm2", "pkcs11", "keep", "sss"]


def test_allows_sealer_module() -> None:
    policy = load_policy("default:hardware-seal")
    assert not policy.allows_sealer("passphrase")
    assert policy.allows_sealer("tpm2")
