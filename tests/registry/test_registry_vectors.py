"""Known-answer tests from public vectors: X-Wing, RFC 9180 DHKEM and NIST ACVP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agile import registry
from agile.errors import AgileError, InvalidCiphertext, InvalidKey
from agile.registry import KeyForm

DHKEM_IDS = {0x0020: "x25519", 0x0010: "p256", 0x0011: "p384"}


def _load(path: Path) -> object:
    return json.loads(path.read_text())


def _acvp(shared_vectors: Path, name: str) -> list[tuple[dict, dict, dict]]:
    """Return (group, prompt test, expected test) triples of one ACVP directory."""
    prompt = _load(shared_vectors / "acvp" / name / "prompt.json")
    expected = _load(shared_vectors / "acvp" / name / "expectedResults.json")
    triples = []
    for group, expected_group in zip(prompt["testGroups"], expected["testGroups"], strict=True):
        for test, answer in zip(group["tests"], expected_group["tests"], strict=True):
            triples.append((group, test, answer))
    return triples


@pytest.mark.parametrize("provider", ["openssl", "reference"])
def test_x_wing_vectors(shared_vectors: Path, provider: str) -> None:
    kem = registry.kem("x-wing", provider)
    vectors = _load(shared_vectors / "xwing" / "test-vectors.json")

    for vector in vectors:
        private_key = kem.load_private(bytes.fromhex(vector["sk"]))
        ciphertext = bytes.fromhex(vector["ct"])

        assert private_key.public_key.data.hex() == vector["pk"]
        assert kem.decapsulate(private_key, ciphertext).hex() == vector["ss"]


def test_x_wing_encaps_vectors(shared_vectors: Path) -> None:
    kem = registry.kem("x-wing", "reference")
    vectors = _load(shared_vectors / "xwing" / "test-vectors.json")

    for vector in vectors:
        public_key = kem.load_public(bytes.fromhex(vector["pk"]))
        ciphertext, shared_secret = kem.encapsulate_derandomized(
            public_key, bytes.fromhex(vector["eseed"])
        )

        assert ciphertext.hex() == vector["ct"]
        assert shared_secret.hex() == vector["ss"]


def _dhkem_vectors(shared_vectors: Path, algorithm: str) -> list[dict]:
    # RFC 9180 has no P-384 vectors; draft-ietf-hpke-pq's file uses DHKEM(P-384, HKDF-SHA384).
    vectors = _load(shared_vectors / "hpke-rfc9180" / "test-vectors.json")
    vectors += _load(shared_vectors / "hpke-pq" / "test-vectors.json")
    return [
        vector
        for vector in vectors
        if DHKEM_IDS.get(vector["kem_id"]) == algorithm and vector["mode"] in (0, 2)
    ]


@pytest.mark.parametrize(
    ("algorithm", "provider"),
    [("x25519", "openssl"), ("x25519", "libsodium"), ("p256", "openssl"), ("p384", "openssl")],
)
def test_dhkem_rfc9180_vectors(shared_vectors: Path, algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)
    vectors = _dhkem_vectors(shared_vectors, algorithm)

    assert vectors
    for vector in vectors:
        recipient = kem.derive_key_pair(bytes.fromhex(vector["ikmR"]))
        ikm_e = bytes.fromhex(vector["ikmE"])
        if vector["mode"] == 0:
            enc, shared_secret = kem.encapsulate_derandomized(recipient.public_key, ikm_e)
            decapsulated = kem.decapsulate(recipient, enc)
        else:
            sender = kem.derive_key_pair(bytes.fromhex(vector["ikmS"]))
            enc, shared_secret = kem.auth_encapsulate(recipient.public_key, sender, ikm_e)
            decapsulated = kem.auth_decapsulate(recipient, enc, sender.public_key)

        assert recipient.data.hex() == vector["skRm"]
        assert recipient.public_key.data.hex() == vector["pkRm"]
        assert enc.hex() == vector["enc"]
        assert shared_secret.hex() == vector["shared_secret"]
        assert decapsulated == shared_secret


@pytest.mark.parametrize("provider", ["openssl", "reference"])
def test_ml_kem_acvp_keygen(shared_vectors: Path, provider: str) -> None:
    checked = 0
    for group, test, answer in _acvp(shared_vectors, "ML-KEM-keyGen-FIPS203"):
        algorithm = group["parameterSet"].lower()
        if provider not in registry.providers_for(algorithm) or test["tcId"] % 5:
            continue
        kem = registry.kem(algorithm, provider)

        private_key = kem.derive_key_pair(bytes.fromhex(test["d"] + test["z"]))

        assert private_key.public_key.data.hex() == answer["ek"].lower()
        checked += 1
    assert checked > 0


def test_ml_kem_acvp_expanded_key(shared_vectors: Path) -> None:
    for group, test, answer in _acvp(shared_vectors, "ML-KEM-keyGen-FIPS203")[::10]:
        kem = registry.kem(group["parameterSet"].lower(), "reference")

        private_key = kem.derive_key_pair(bytes.fromhex(test["d"] + test["z"]))

        assert kem.export_private(private_key, KeyForm.EXPANDED).hex() == answer["dk"].lower()


def test_ml_kem_acvp_encapsulation(shared_vectors: Path) -> None:
    for group, test, answer in _acvp(shared_vectors, "ML-KEM-encapDecap-FIPS203"):
        if group["function"] != "encapsulation" or test["tcId"] % 5:
            continue
        kem = registry.kem(group["parameterSet"].lower(), "reference")
        public_key = kem.load_public(bytes.fromhex(test["ek"]))

        ciphertext, shared_secret = kem.encapsulate_derandomized(
            public_key, bytes.fromhex(test["m"])
        )

        assert ciphertext.hex() == answer["c"].lower()
        assert shared_secret.hex() == answer["k"].lower()


@pytest.mark.parametrize("provider", ["pqcrypto", "reference"])
def test_ml_kem_acvp_decapsulation(shared_vectors: Path, provider: str) -> None:
    for group, test, answer in _acvp(shared_vectors, "ML-KEM-encapDecap-FIPS203"):
        if group["function"] != "decapsulation":
            continue
        kem = registry.kem(group["parameterSet"].lower(), provider)
        private_key = kem.load_private(bytes.fromhex(group["dk"]), KeyForm.EXPANDED)

        shared_secret = kem.decapsulate(private_key, bytes.fromhex(test["c"]))

        assert shared_secret.hex() == answer["k"].lower()


def test_ml_dsa_acvp_keygen(shared_vectors: Path) -> None:
    for group, test, answer in _acvp(shared_vectors, "ML-DSA-keyGen-FIPS204"):
        scheme = registry.signature(group["parameterSet"].lower(), "openssl")

        private_key = scheme.derive_key_pair(bytes.fromhex(test["seed"]))

        assert private_key.public_key.data.hex() == answer["pk"].lower()


def test_ml_dsa_acvp_expanded_key(shared_vectors: Path) -> None:
    for group, test, answer in _acvp(shared_vectors, "ML-DSA-keyGen-FIPS204")[::12]:
        scheme = registry.signature(group["parameterSet"].lower(), "reference")

        private_key = scheme.derive_key_pair(bytes.fromhex(test["seed"]))

        assert scheme.export_private(private_key, KeyForm.EXPANDED).hex() == answer["sk"].lower()


def test_ml_dsa_acvp_sign_internal(shared_vectors: Path) -> None:
    # Two cases per group: the pure-Python signer takes about a second per signature.
    seen: dict[int, int] = {}
    for group, test, answer in _acvp(shared_vectors, "ML-DSA-sigGen-FIPS204"):
        seen[group["tgId"]] = seen.get(group["tgId"], 0) + 1
        if seen[group["tgId"]] > 2:
            continue
        scheme = registry.signature(group["parameterSet"].lower(), "reference")
        private_key = scheme.load_private(bytes.fromhex(test["sk"]), KeyForm.EXPANDED)
        randomness = bytes(32) if group["deterministic"] else bytes.fromhex(test["rnd"])

        signature = scheme.sign_internal(private_key, bytes.fromhex(test["message"]), randomness)

        assert signature.hex() == answer["signature"].lower()


def _wycheproof_groups(shared_vectors: Path, name: str) -> list[dict]:
    return _load(shared_vectors / "wycheproof" / "testvectors_v1" / name)["testGroups"]


@pytest.mark.parametrize("provider", ["openssl", "libsodium"])
def test_x25519_exchange_wycheproof(shared_vectors: Path, provider: str) -> None:
    kem = registry.kem("x25519", provider)

    for group in _wycheproof_groups(shared_vectors, "x25519_test.json"):
        for test in group["tests"]:
            private, public = bytes.fromhex(test["private"]), bytes.fromhex(test["public"])
            if test["result"] == "valid":
                assert kem.exchange(private, public).hex() == test["shared"], test["tcId"]
            elif bytes.fromhex(test["shared"]) == bytes(32):
                with pytest.raises(InvalidKey):
                    kem.exchange(private, public)


@pytest.mark.parametrize(
    ("name", "algorithm", "encoding"),
    [
        ("ecdh_secp256r1_ecpoint_test.json", "p256", "raw"),
        ("ecdh_secp384r1_ecpoint_test.json", "p384", "raw"),
        ("ecdh_secp256r1_test.json", "p256", "asn"),
    ],
)
def test_ecdh_exchange_wycheproof(
    shared_vectors: Path, name: str, algorithm: str, encoding: str
) -> None:
    kem = registry.kem(algorithm, "openssl")

    for group in _wycheproof_groups(shared_vectors, name):
        for test in group["tests"]:
            private, public = bytes.fromhex(test["private"]), bytes.fromhex(test["public"])
            if test["result"] == "valid":
                assert kem.exchange(private, public, encoding).hex() == test["shared"]
            elif test["result"] == "invalid":
                with pytest.raises(AgileError):
                    kem.exchange(private, public, encoding)


@pytest.mark.parametrize("bits", [2048, 3072])
def test_rsa_oaep_wycheproof(shared_vectors: Path, bits: int) -> None:
    kem = registry.kem(f"rsa-oaep-{bits}", "openssl")
    name = f"rsa_oaep_{bits}_sha256_mgf1sha256_test.json"

    for group in _wycheproof_groups(shared_vectors, name):
        private_key = kem.load_private(bytes.fromhex(group["privateKeyPkcs8"]), KeyForm.PKCS8)
        for test in group["tests"]:
            ciphertext, label = bytes.fromhex(test["ct"]), bytes.fromhex(test["label"])
            if test["result"] == "valid":
                assert kem.decrypt_oaep(private_key, ciphertext, label).hex() == test["msg"]
            else:
                with pytest.raises(InvalidCiphertext):
                    kem.decrypt_oaep(private_key, ciphertext, label)


PQ_KEM_IDS = {0x0040: "ml-kem-512", 0x0041: "ml-kem-768", 0x0042: "ml-kem-1024", 0x647A: "x-wing"}


def _hpke_pq_kem_vectors(shared_vectors: Path) -> list[tuple[str, dict]]:
    vectors = _load(shared_vectors / "hpke-pq" / "test-vectors.json")
    return [(PQ_KEM_IDS[v["kem_id"]], v) for v in vectors if v["kem_id"] in PQ_KEM_IDS]


def test_hpke_pq_kem_decapsulation(shared_vectors: Path) -> None:
    # draft-ietf-hpke-pq stores the seed (ML-KEM d || z, X-Wing's 32 bytes) as skRm.
    cases = _hpke_pq_kem_vectors(shared_vectors)

    assert cases
    for algorithm, vector in cases:
        for provider in registry.providers_for(algorithm):
            kem = registry.kem(algorithm, provider)
            if KeyForm.SEED not in kem.private_forms:
                continue
            private_key = kem.load_private(bytes.fromhex(vector["skRm"]), KeyForm.SEED)
            shared_secret = kem.decapsulate(private_key, bytes.fromhex(vector["enc"]))

            assert private_key.public_key.data.hex() == vector["pkRm"], (algorithm, provider)
            assert shared_secret.hex() == vector["shared_secret"], (algorithm, provider)


def test_hpke_pq_kem_encapsulation(shared_vectors: Path) -> None:
    # ikmE is the encapsulation randomness itself: ML-KEM's m, X-Wing's 64-byte eseed.
    for algorithm, vector in _hpke_pq_kem_vectors(shared_vectors):
        kem = registry.kem(algorithm, "reference")
        public_key = kem.load_public(bytes.fromhex(vector["pkRm"]))

        enc, shared_secret = kem.encapsulate_derandomized(public_key, bytes.fromhex(vector["ikmE"]))

        assert enc.hex() == vector["enc"], algorithm
        assert shared_secret.hex() == vector["shared_secret"], algorithm
