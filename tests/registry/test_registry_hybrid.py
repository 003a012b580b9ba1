"""X-Wing and composite ML-DSA-65 + Ed25519 beyond the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agile import registry
from agile.errors import InvalidArgument, InvalidCiphertext, InvalidKey, InvalidSignature
from agile.registry.hybrid.composite import LABEL, PREFIX
from tests.registry.registry_cases import flip


def _hpke_open(shared_secret: bytes, ciphertext: bytes, info: bytes) -> bytes:
    """Open an RFC 9180 base-mode HPKE ciphertext (HKDF-SHA256, AES-128-GCM, KEM 0x647A)."""
    kdf = registry.kdf("hkdf-sha256")
    suite_id = b"HPKE" + (0x647A).to_bytes(2, "big") + (1).to_bytes(2, "big") * 2

    def extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return kdf.extract(salt, b"HPKE-v1" + suite_id + label + ikm)

    def expand(prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        prefix = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id
        return kdf.expand(prk, prefix + label + info, length)

    # RFC 9180 §5.1 KeySchedule for mode_base with no PSK.
    context = b"\x00" + extract(b"", b"psk_id_hash", b"") + extract(b"", b"info_hash", info)
    secret = extract(shared_secret, b"secret", b"")
    key = expand(secret, b"key", context, 16)
    nonce = expand(secret, b"base_nonce", context, 12)
    return AESGCM(key).decrypt(nonce, ciphertext, b"")


@pytest.mark.parametrize("provider", ["openssl", "reference"])
def test_x_wing_opens_cryptography_hpke(provider: str) -> None:
    kem = registry.kem("x-wing", provider)
    private_key = kem.generate()
    data = private_key.public_key.data
    public = hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(data[:1184]),
        x25519.X25519PublicKey.from_public_bytes(data[1184:]),
    )
    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)

    sealed = suite.encrypt(b"hello x-wing", public, info=b"agile")
    shared_secret = kem.decapsulate(private_key, sealed[:1120])

    assert _hpke_open(shared_secret, sealed[1120:], b"agile") == b"hello x-wing"


def test_x_wing_wrong_lengths() -> None:
    kem = registry.kem("x-wing")
    private_key = kem.generate()

    with pytest.raises(InvalidKey):
        kem.load_private(bytes(31))
    with pytest.raises(InvalidCiphertext):
        kem.decapsulate(private_key, bytes(1119))
    with pytest.raises(InvalidArgument, match="eseed"):
        registry.kem("x-wing", "reference").encapsulate_derandomized(
            private_key.public_key, bytes(32)
        )


def test_x_wing_low_order_ct_x() -> None:
    kem = registry.kem("x-wing")
    private_key = kem.generate()
    ciphertext, _ = kem.encapsulate(private_key.public_key)

    with pytest.raises(InvalidCiphertext, match="low-order"):
        kem.decapsulate(private_key, ciphertext[:1088] + bytes(32))


def test_x_wing_tampered_ml_kem_part() -> None:
    kem = registry.kem("x-wing")
    private_key = kem.generate()
    ciphertext, shared_secret = kem.encapsulate(private_key.public_key)

    assert kem.decapsulate(private_key, flip(ciphertext, 10)) != shared_secret


def _composite_parts(provider: str = "openssl"):
    scheme = registry.signature("ml-dsa-65-ed25519", provider)
    private_key = scheme.generate()
    signature = scheme.sign(private_key, b"message", b"ctx")
    return scheme, private_key, signature


def test_composite_needs_ml_dsa_part() -> None:
    scheme, private_key, signature = _composite_parts()

    with pytest.raises(InvalidSignature, match="ml-dsa-65"):
        scheme.verify(private_key.public_key, b"message", flip(signature, 100), b"ctx")


def test_composite_needs_ed25519_part() -> None:
    scheme, private_key, signature = _composite_parts()

    with pytest.raises(InvalidSignature, match="ed25519"):
        scheme.verify(private_key.public_key, b"message", flip(signature, 3309 + 10), b"ctx")


def test_composite_components_sign_representative() -> None:
    scheme, private_key, signature = _composite_parts()
    representative = scheme.message_representative(b"message", b"ctx")
    public_ml_dsa, public_ed25519 = private_key.public_key.handle

    registry.signature("ml-dsa-65").verify(public_ml_dsa, representative, signature[:3309], LABEL)
    registry.signature("ed25519").verify(public_ed25519, representative, signature[3309:])
    assert representative.startswith(PREFIX + LABEL + b"\x03ctx")


def test_composite_rejects_stripped_signature() -> None:
    scheme, private_key, signature = _composite_parts()
    public_ml_dsa, _ = private_key.public_key.handle

    # An ML-DSA signature alone over the message never passes as a composite one.
    with pytest.raises(InvalidSignature):
        scheme.verify(private_key.public_key, b"message", signature[:3309], b"ctx")
    with pytest.raises(InvalidSignature):
        registry.signature("ml-dsa-65").verify(public_ml_dsa, b"message", signature[:3309])


def test_composite_deterministic() -> None:
    scheme = registry.signature("ml-dsa-65-ed25519", "reference")
    private_key = scheme.load_private(bytes(range(64)))

    first = scheme.sign_deterministic(private_key, b"message")
    second = scheme.sign_deterministic(private_key, b"message")

    assert first == second


def _draft_vector() -> dict:
    # Published test vector of draft-ietf-lamps-pq-composite-sigs; the file names its source.
    path = Path(__file__).parent / "data" / "composite_mldsa65_ed25519.json"
    return json.loads(path.read_text())


@pytest.mark.parametrize("provider", ["openssl", "reference"])
def test_composite_draft_vector(provider: str) -> None:
    vector = _draft_vector()
    scheme = registry.signature("ml-dsa-65-ed25519", provider)
    private_key = scheme.load_private(bytes.fromhex(vector["private_key"]))
    message = bytes.fromhex(vector["message"])

    scheme.verify(private_key.public_key, message, bytes.fromhex(vector["signature"]))
    with pytest.raises(InvalidSignature):
        scheme.verify(private_key.public_key, message + b".", bytes.fromhex(vector["signature"]))


def test_composite_draft_ed25519_part() -> None:
    # Ed25519 is deterministic, so the classical half of a fresh signature must match.
    vector = _draft_vector()
    scheme = registry.signature("ml-dsa-65-ed25519")
    private_key = scheme.load_private(bytes.fromhex(vector["private_key"]))

    signature = scheme.sign(private_key, bytes.fromhex(vector["message"]))

    assert signature[3309:].hex() == vector["signature"][2 * 3309 :]
