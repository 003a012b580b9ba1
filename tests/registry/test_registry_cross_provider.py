"""Keys, ciphertexts and signatures cross from one provider to another."""

from __future__ import annotations

import pytest

from agile import registry
from agile.registry import KeyForm

ML_KEM = ["ml-kem-768", "ml-kem-1024"]
ML_DSA = ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87"]


def _expanded(algorithm: str, key):
    """Return ``key`` as a pqcrypto key, expanding a seed through the reference provider."""
    expanded = registry.get(algorithm, "reference").export_private(key, KeyForm.EXPANDED)
    return registry.get(algorithm, "pqcrypto").load_private(expanded, KeyForm.EXPANDED)


@pytest.mark.parametrize("algorithm", ML_KEM)
@pytest.mark.parametrize("encapsulator", ["openssl", "pqcrypto", "reference"])
def test_ml_kem_decaps_everywhere(algorithm: str, encapsulator: str) -> None:
    openssl = registry.kem(algorithm, "openssl")
    reference = registry.kem(algorithm, "reference")
    pqcrypto = registry.kem(algorithm, "pqcrypto")
    private_key = openssl.generate()
    ciphertext, shared_secret = registry.kem(algorithm, encapsulator).encapsulate(
        private_key.public_key
    )

    assert openssl.decapsulate(private_key, ciphertext) == shared_secret
    assert reference.decapsulate(private_key, ciphertext) == shared_secret
    assert pqcrypto.decapsulate(_expanded(algorithm, private_key), ciphertext) == shared_secret


@pytest.mark.parametrize("algorithm", ML_KEM)
def test_ml_kem_pqcrypto_key_to_openssl(algorithm: str) -> None:
    pqcrypto = registry.kem(algorithm, "pqcrypto")
    private_key = pqcrypto.generate()

    ciphertext, shared_secret = registry.kem(algorithm, "openssl").encapsulate(
        private_key.public_key
    )

    assert pqcrypto.decapsulate(private_key, ciphertext) == shared_secret
    assert registry.kem(algorithm, "reference").decapsulate(private_key, ciphertext) == (
        shared_secret
    )


def test_ml_kem_512_pqcrypto_reference() -> None:
    reference = registry.kem("ml-kem-512", "reference")
    pqcrypto = registry.kem("ml-kem-512", "pqcrypto")
    private_key = reference.generate()

    ciphertext, shared_secret = pqcrypto.encapsulate(private_key.public_key)

    assert reference.decapsulate(private_key, ciphertext) == shared_secret
    assert pqcrypto.decapsulate(_expanded("ml-kem-512", private_key), ciphertext) == (shared_secret)


@pytest.mark.parametrize("algorithm", ML_DSA)
@pytest.mark.parametrize("signer", ["openssl", "reference"])
def test_ml_dsa_verify_everywhere(algorithm: str, signer: str) -> None:
    private_key = registry.signature(algorithm, "openssl").generate()
    signature = registry.signature(algorithm, signer).sign(private_key, b"message", b"ctx")

    for verifier in ("openssl", "pqcrypto", "reference"):
        registry.signature(algorithm, verifier).verify(
            private_key.public_key, b"message", signature, b"ctx"
        )


@pytest.mark.parametrize("algorithm", ML_DSA)
def test_ml_dsa_pqcrypto_signs(algorithm: str) -> None:
    seed_key = registry.signature(algorithm, "openssl").generate()
    pqcrypto_key = _expanded(algorithm, seed_key)

    signature = registry.signature(algorithm, "pqcrypto").sign(pqcrypto_key, b"message")

    assert pqcrypto_key.public_key == seed_key.public_key
    registry.signature(algorithm, "openssl").verify(seed_key.public_key, b"message", signature)
    registry.signature(algorithm, "reference").verify(seed_key.public_key, b"message", signature)


@pytest.mark.parametrize("algorithm", ML_DSA)
def test_ml_dsa_same_public_key(algorithm: str) -> None:
    private_key = registry.signature(algorithm, "reference").generate()

    loaded = registry.signature(algorithm, "openssl").load_private(private_key.data)

    assert loaded.public_key == private_key.public_key


@pytest.mark.parametrize(
    ("sender", "recipient"), [("openssl", "libsodium"), ("libsodium", "openssl")]
)
def test_x25519_across(sender: str, recipient: str) -> None:
    private_key = registry.kem("x25519", recipient).generate()

    ciphertext, shared_secret = registry.kem("x25519", sender).encapsulate(private_key.public_key)

    assert registry.kem("x25519", recipient).decapsulate(private_key, ciphertext) == shared_secret
    assert registry.kem("x25519", sender).decapsulate(private_key, ciphertext) == shared_secret


def test_x25519_same_derived_key() -> None:
    openssl = registry.kem("x25519", "openssl").derive_key_pair(b"i" * 32)
    libsodium = registry.kem("x25519", "libsodium").derive_key_pair(b"i" * 32)

    assert openssl.public_key == libsodium.public_key


@pytest.mark.parametrize(
    ("signer", "verifier"), [("openssl", "libsodium"), ("libsodium", "openssl")]
)
def test_ed25519_across(signer: str, verifier: str) -> None:
    private_key = registry.signature("ed25519", signer).generate()

    signature = registry.signature("ed25519", signer).sign(private_key, b"message")

    registry.signature("ed25519", verifier).verify(private_key.public_key, b"message", signature)
    assert registry.signature("ed25519", verifier).sign(private_key, b"message") == signature


def test_chacha20_poly1305_across() -> None:
    key, nonce = b"k" * 32, b"n" * 12

    ciphertext = registry.aead("chacha20-poly1305", "openssl").encrypt(key, nonce, b"data", b"ad")

    assert registry.aead("chacha20-poly1305", "libsodium").decrypt(
        key, nonce, ciphertext, b"ad"
    ) == (b"data")


@pytest.mark.parametrize("algorithm", ["x-wing", "ml-dsa-65-ed25519"])
def test_hybrid_keys_across(algorithm: str) -> None:
    openssl = registry.get(algorithm, "openssl")
    reference = registry.get(algorithm, "reference")

    private_key = openssl.generate()

    assert reference.load_private(private_key.data).public_key == private_key.public_key


def test_x_wing_across() -> None:
    private_key = registry.kem("x-wing", "openssl").generate()

    ciphertext, shared_secret = registry.kem("x-wing", "reference").encapsulate(
        private_key.public_key
    )

    assert registry.kem("x-wing", "openssl").decapsulate(private_key, ciphertext) == shared_secret


def test_composite_across() -> None:
    private_key = registry.signature("ml-dsa-65-ed25519", "openssl").generate()

    signature = registry.signature("ml-dsa-65-ed25519", "reference").sign_deterministic(
        private_key, b"message", b"ctx"
    )

    registry.signature("ml-dsa-65-ed25519", "openssl").verify(
        private_key.public_key, b"message", signature, b"ctx"
    )
