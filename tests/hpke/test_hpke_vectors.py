"""HPKE against the RFC 9180 and draft-ietf-hpke-pq test vectors, one test set per suite.

Every suite in both files is collected.  A suite whose KEM, KDF or AEAD agile
does not implement (P-521, X448, MLKEM768-P256, MLKEM1024-P384, the SHAKE and
TurboSHAKE KDFs) is skipped, and the reason names the codepoint.  Tests that need
a KEM run once per provider of that KEM.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from agile import hpke, registry
from agile.errors import UnsupportedAlgorithm, UnsupportedOperation
from agile.registry import KeyForm

# The same location the shared_vectors fixture checks; needed here at collection time to
# parametrize by suite.  The tests themselves still request the fixture, which skips when
# the folder is absent.
_VECTORS = Path(
    os.environ.get(
        "AGILE_SHARED_VECTORS", Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
    )
)
VECTOR_FILES = {
    "rfc9180": "hpke-rfc9180/test-vectors.json",
    "pq": "hpke-pq/test-vectors.json",
}


@dataclass(frozen=True)
class VectorSuite:
    """One suite entry of a vector file, with its hex fields decoded on first use."""

    source: str
    index: int

    @property
    def raw(self) -> dict[str, Any]:
        return _load(self.source)[self.index]

    @property
    def label(self) -> str:
        raw = self.raw
        return (
            f"{self.source}-mode{raw['mode']}-kem{raw['kem_id']:04x}"
            f"-kdf{raw['kdf_id']:04x}-aead{raw['aead_id']:04x}"
        )

    def hex(self, name: str) -> bytes:
        """Return the decoded hex field ``name``, or b"" when the entry has no such field."""
        return bytes.fromhex(self.raw.get(name, ""))

    @property
    def psk(self) -> bytes:
        return self.hex("psk")

    @property
    def psk_id(self) -> bytes:
        return self.hex("psk_id")


@functools.cache
def _load(source: str) -> list[dict[str, Any]]:
    with (_VECTORS / VECTOR_FILES[source]).open(encoding="utf-8") as handle:
        return json.load(handle)


def _collect() -> list[VectorSuite]:
    suites = []
    for source, name in VECTOR_FILES.items():
        if (_VECTORS / name).is_file():
            suites += [VectorSuite(source, index) for index in range(len(_load(source)))]
    return suites


_ABSENT_REASON = (
    f"HPKE test vectors not found under {_VECTORS}; "
    "set AGILE_SHARED_VECTORS to a copy of them to run this test"
)


def _or_absent(cases: list[Any], width: int = 1) -> list[Any]:
    """Return ``cases``, or one case skipped with the reason when no vector file was found."""
    if cases:
        return cases
    values = (None,) * width
    return [pytest.param(*values, id="vectors-absent", marks=pytest.mark.skip(_ABSENT_REASON))]


SUITES = _collect()


@functools.cache
def _suite(vector: VectorSuite, provider: str | None = None) -> hpke.Suite:
    raw = vector.raw
    return hpke.Suite.from_codepoints(raw["kem_id"], raw["kdf_id"], raw["aead_id"], provider)


def _suite_or_skip(vector: VectorSuite, provider: str | None = None) -> hpke.Suite:
    try:
        return _suite(vector, provider)
    except UnsupportedAlgorithm as error:
        pytest.skip(f"unsupported suite: {error}")


def _kem_cases() -> list[Any]:
    """Return (suite, KEM provider) pairs for every supported KEM and each of its providers."""
    cases = []
    for vector in SUITES:
        raw = vector.raw
        try:
            hpke.Suite.from_codepoints(raw["kem_id"], raw["kdf_id"], raw["aead_id"])
        except UnsupportedAlgorithm as error:
            cases.append(
                pytest.param(
                    vector,
                    None,
                    id=vector.label,
                    marks=pytest.mark.skip(reason=f"unsupported suite: {error}"),
                )
            )
            continue
        kem = hpke._KEM_IDS[raw["kem_id"]]
        for provider in registry.providers_for(kem):
            cases.append(pytest.param(vector, provider, id=f"{vector.label}-{provider}"))
    return cases


KEM_CASES = _kem_cases()


def _ids(vector: VectorSuite) -> str:
    return vector.label


def _private_form(suite: hpke.Suite) -> KeyForm:
    return KeyForm(suite.kem_impl.descriptor.private_key_form)


# Key schedule, encryptions and exports need only the KDF and the AEAD.


@pytest.mark.parametrize("vector", _or_absent(SUITES), ids=_ids)
def test_suite_id(shared_vectors: Path, vector: VectorSuite) -> None:
    suite = _suite_or_skip(vector)
    if "suite_id" not in vector.raw:
        pytest.skip("the RFC 9180 file lists no suite_id")

    assert suite.suite_id == vector.hex("suite_id")


@pytest.mark.parametrize("vector", _or_absent(SUITES), ids=_ids)
def test_key_schedule(shared_vectors: Path, vector: VectorSuite) -> None:
    suite = _suite_or_skip(vector)

    context = hpke.key_schedule(
        suite,
        vector.raw["mode"],
        vector.hex("shared_secret"),
        vector.hex("info"),
        psk=vector.psk,
        psk_id=vector.psk_id,
    )

    assert context.key == vector.hex("key")
    assert context.base_nonce == vector.hex("base_nonce")
    assert context.exporter_secret == vector.hex("exporter_secret")


@pytest.mark.parametrize("vector", _or_absent(SUITES), ids=_ids)
def test_encryptions(shared_vectors: Path, vector: VectorSuite) -> None:
    suite = _suite_or_skip(vector)
    entries = vector.raw["encryptions"]
    if not entries:
        pytest.skip("export-only suite: the vectors list no encryptions")
    arguments = (vector.raw["mode"], vector.hex("shared_secret"), vector.hex("info"))
    sender = hpke.key_schedule(
        suite, *arguments, psk=vector.psk, psk_id=vector.psk_id, role=hpke.Role.SENDER
    )
    recipient = hpke.key_schedule(
        suite, *arguments, psk=vector.psk, psk_id=vector.psk_id, role=hpke.Role.RECIPIENT
    )

    for number, entry in enumerate(entries):
        plaintext = bytes.fromhex(entry["pt"])
        aad = bytes.fromhex(entry["aad"])
        ciphertext = bytes.fromhex(entry["ct"])
        assert sender.seal(plaintext, aad) == ciphertext, f"seal of message {number}"
        assert recipient.open(ciphertext, aad) == plaintext, f"open of message {number}"

    assert sender.sequence_number == len(entries)


@pytest.mark.parametrize("vector", _or_absent(SUITES), ids=_ids)
def test_exports(shared_vectors: Path, vector: VectorSuite) -> None:
    suite = _suite_or_skip(vector)
    context = hpke.key_schedule(
        suite,
        vector.raw["mode"],
        vector.hex("shared_secret"),
        vector.hex("info"),
        psk=vector.psk,
        psk_id=vector.psk_id,
    )

    for entry in vector.raw["exports"]:
        exported = context.export(bytes.fromhex(entry["exporter_context"]), entry["L"])
        assert exported == bytes.fromhex(entry["exported_value"]), entry["exporter_context"]


# KEM: key derivation, recipient side and sender side, once per provider.


@pytest.mark.parametrize(("vector", "provider"), _or_absent(KEM_CASES, 2))
def test_derive_key_pair(shared_vectors: Path, vector: VectorSuite, provider: str) -> None:
    suite = _suite_or_skip(vector, provider)
    pairs = [("ikmR", "skRm", "pkRm"), ("ikmE", "skEm", "pkEm"), ("ikmS", "skSm", "pkSm")]

    for ikm, private, public in pairs:
        if private not in vector.raw:
            continue
        try:
            key = hpke.derive_key_pair(suite, vector.hex(ikm))
        except UnsupportedOperation as error:
            pytest.skip(f"{provider} has no DeriveKeyPair: {error}")
        assert key.data == vector.hex(private), private
        assert key.public_key.data == vector.hex(public), public


@pytest.mark.parametrize(("vector", "provider"), _or_absent(KEM_CASES, 2))
def test_recipient_side(shared_vectors: Path, vector: VectorSuite, provider: str) -> None:
    suite = _suite_or_skip(vector, provider)
    kem = suite.kem_impl
    form = _private_form(suite)
    if form not in kem.private_forms:
        pytest.skip(
            f"{provider} cannot load {suite.kem} private keys in the vectors' {form.value} form"
        )
    private_key = kem.load_private(vector.hex("skRm"), form)
    sender_public = kem.load_public(vector.hex("pkSm")) if "pkSm" in vector.raw else None

    context = hpke.setup_recipient(
        suite,
        vector.hex("enc"),
        private_key,
        vector.hex("info"),
        vector.raw["mode"],
        sender_public=sender_public,
        psk=vector.psk,
        psk_id=vector.psk_id,
    )

    assert private_key.public_key.data == vector.hex("pkRm")
    assert context.key == vector.hex("key")
    assert context.base_nonce == vector.hex("base_nonce")
    assert context.exporter_secret == vector.hex("exporter_secret")
    for entry in vector.raw["encryptions"][:2]:
        plaintext = context.open(bytes.fromhex(entry["ct"]), bytes.fromhex(entry["aad"]))
        assert plaintext == bytes.fromhex(entry["pt"])


@pytest.mark.parametrize(("vector", "provider"), _or_absent(KEM_CASES, 2))
def test_sender_side(shared_vectors: Path, vector: VectorSuite, provider: str) -> None:
    suite = _suite_or_skip(vector, provider)
    kem = suite.kem_impl
    recipient_public = kem.load_public(vector.hex("pkRm"))
    sender_key = None
    if "skSm" in vector.raw:
        sender_key = kem.load_private(vector.hex("skSm"), _private_form(suite))

    try:
        enc, context = hpke.setup_sender(
            suite,
            recipient_public,
            vector.hex("info"),
            vector.raw["mode"],
            sender_key=sender_key,
            seed=vector.hex("ikmE"),
            psk=vector.psk,
            psk_id=vector.psk_id,
        )
    except UnsupportedOperation as error:
        pytest.skip(f"{provider} has no derandomized encapsulation: {error}")

    assert enc == vector.hex("enc")
    assert context.key == vector.hex("key")
    assert context.exporter_secret == vector.hex("exporter_secret")
    for entry in vector.raw["encryptions"][:2]:
        ciphertext = context.seal(bytes.fromhex(entry["pt"]), bytes.fromhex(entry["aad"]))
        assert ciphertext == bytes.fromhex(entry["ct"])


# The KEM-level labeled functions use suite_id = "KEM" || kem_id (RFC 9180 §4.1).

X25519_BASE = [
    vector
    for vector in SUITES
    if vector.source == "rfc9180" and vector.raw["kem_id"] == 0x0020 and vector.raw["mode"] == 0
]


@pytest.mark.parametrize("vector", _or_absent(X25519_BASE), ids=_ids)
def test_dhkem_labels(shared_vectors: Path, vector: VectorSuite) -> None:
    # DHKEM(X25519, HKDF-SHA256) rebuilt from RFC 9180 §4.1 and §7.1.3 with this module's
    # labeled functions and a raw X25519 exchange.
    kdf = registry.kdf("hkdf-sha256")
    suite_id = hpke.kem_suite_id(0x0020)
    prk = hpke.labeled_extract(kdf, suite_id, b"", b"dkp_prk", vector.hex("ikmE"))
    ephemeral = hpke.labeled_expand(kdf, suite_id, prk, b"sk", b"", 32)
    dh = X25519PrivateKey.from_private_bytes(ephemeral).exchange(
        X25519PublicKey.from_public_bytes(vector.hex("pkRm"))
    )
    eae_prk = hpke.labeled_extract(kdf, suite_id, b"", b"eae_prk", dh)
    kem_context = vector.hex("enc") + vector.hex("pkRm")
    shared_secret = hpke.labeled_expand(kdf, suite_id, eae_prk, b"shared_secret", kem_context, 32)

    assert suite_id == b"KEM\x00\x20"
    assert ephemeral == vector.hex("skEm")
    assert shared_secret == vector.hex("shared_secret")
