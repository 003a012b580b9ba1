"""Bad input gets a specific agile error that names the value, never a wrong result."""

from __future__ import annotations

import os

import pytest

from agile import registry
from agile.errors import (
    AuthenticationFailed,
    InvalidArgument,
    InvalidCiphertext,
    InvalidKey,
    InvalidSignature,
    UnknownProvider,
    UnsupportedAlgorithm,
    UnsupportedOperation,
)
from agile.registry import Family, KeyForm
from tests.registry.registry_cases import flip, pairs

KEM_PAIRS = pairs(Family.KEM)
AEAD_PAIRS = pairs(Family.AEAD)
# Fast signature pairs only: SLH-DSA "s" sets and pure-Python ML-DSA take seconds to sign.
SIGNATURE_PAIRS = [
    (algorithm, provider)
    for algorithm, provider in pairs(Family.SIGNATURE)
    if not (algorithm.startswith("slh-dsa") and algorithm.endswith("s"))
]
CONTEXT_PAIRS = [pair for pair in SIGNATURE_PAIRS if registry.signature(*pair).supports_context]
NO_CONTEXT_PAIRS = [pair for pair in SIGNATURE_PAIRS if pair not in CONTEXT_PAIRS]


def test_unknown_algorithm() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="no-such-kem"):
        registry.kem("no-such-kem")


def test_unknown_provider() -> None:
    with pytest.raises(UnknownProvider, match="nope"):
        registry.kem("x25519", "nope")


def test_provider_without_algorithm() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="libsodium"):
        registry.kem("ml-kem-768", "libsodium")


def test_wrong_family() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="signature"):
        registry.kem("ed25519")


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_truncated_ciphertext(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)
    private_key = kem.generate()
    ciphertext, _ = kem.encapsulate(private_key.public_key)

    with pytest.raises(InvalidCiphertext):
        kem.decapsulate(private_key, ciphertext[:-1])
    with pytest.raises(InvalidCiphertext):
        kem.decapsulate(private_key, b"")


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_flipped_ciphertext(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)
    private_key = kem.generate()
    ciphertext, shared_secret = kem.encapsulate(private_key.public_key)

    # A tampered ciphertext either raises or, through ML-KEM's implicit rejection,
    # yields an unrelated secret.  It must never yield the sender's secret.
    try:
        result = kem.decapsulate(private_key, flip(ciphertext, len(ciphertext) - 1))
    except InvalidCiphertext:
        return
    assert result != shared_secret


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_public_key_lengths(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)

    with pytest.raises(InvalidKey):
        kem.load_public(b"")
    with pytest.raises(InvalidKey):
        kem.load_public(b"\x04" + bytes(3))
    with pytest.raises(InvalidKey):
        kem.load_public("not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_private_key_lengths(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)
    form = next(iter(kem.private_forms))

    with pytest.raises(InvalidKey):
        kem.load_private(b"", form)
    with pytest.raises(InvalidKey):
        kem.load_private(b"\x01" * 7, form)


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS + SIGNATURE_PAIRS)
def test_key_of_other_algorithm(algorithm: str, provider: str) -> None:
    implementation = registry.get(algorithm, provider)
    other = registry.kem("x25519", "openssl").generate()
    if algorithm == "x25519":
        other = registry.kem("p256", "openssl").generate()

    if registry.descriptor(algorithm).family == Family.KEM:
        with pytest.raises(InvalidKey, match="key is for"):
            implementation.encapsulate(other.public_key)
    else:
        with pytest.raises(InvalidKey, match="key is for"):
            implementation.sign(other, b"message")


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_rejects_non_key(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)

    with pytest.raises(InvalidKey, match="expected a PublicKey"):
        kem.encapsulate(b"raw bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("algorithm", "provider"), SIGNATURE_PAIRS)
def test_signature_flipped_bit(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)
    private_key = scheme.generate()
    signature = scheme.sign(private_key, b"message")

    with pytest.raises(InvalidSignature):
        scheme.verify(private_key.public_key, b"message", flip(signature, 5))
    with pytest.raises(InvalidSignature):
        scheme.verify(private_key.public_key, b"message", signature[:-1])
    with pytest.raises(InvalidSignature):
        scheme.verify(private_key.public_key, b"message", b"")


@pytest.mark.parametrize(("algorithm", "provider"), SIGNATURE_PAIRS)
def test_signature_message_type(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)
    private_key = scheme.generate()

    with pytest.raises(InvalidArgument):
        scheme.sign(private_key, "text")  # type: ignore[arg-type]


@pytest.mark.parametrize(("algorithm", "provider"), SIGNATURE_PAIRS)
def test_signature_public_key_length(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)

    with pytest.raises(InvalidKey):
        scheme.load_public(b"")
    with pytest.raises(InvalidKey):
        scheme.load_public(b"\x04" + bytes(30))


@pytest.mark.parametrize(("algorithm", "provider"), CONTEXT_PAIRS)
def test_signature_wrong_context(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)
    private_key = scheme.generate()
    signature = scheme.sign(private_key, b"message", b"one")

    with pytest.raises(InvalidSignature):
        scheme.verify(private_key.public_key, b"message", signature, b"two")
    with pytest.raises(InvalidArgument):
        scheme.sign(private_key, b"message", bytes(256))


@pytest.mark.parametrize(("algorithm", "provider"), NO_CONTEXT_PAIRS)
def test_signature_context_not_taken(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)

    with pytest.raises(UnsupportedOperation, match="no context"):
        scheme.sign(scheme.generate(), b"message", b"ctx")


@pytest.mark.parametrize(("algorithm", "provider"), AEAD_PAIRS)
def test_aead_bad_tag(algorithm: str, provider: str) -> None:
    aead = registry.aead(algorithm, provider)
    key, nonce = os.urandom(aead.key_size), os.urandom(aead.nonce_size)
    ciphertext = aead.encrypt(key, nonce, b"secret", b"ad")

    with pytest.raises(AuthenticationFailed):
        aead.decrypt(key, nonce, flip(ciphertext, 0), b"ad")
    with pytest.raises(AuthenticationFailed):
        aead.decrypt(key, nonce, ciphertext, b"other ad")
    with pytest.raises(AuthenticationFailed):
        aead.decrypt(key, nonce, ciphertext[:-1], b"ad")
    with pytest.raises(AuthenticationFailed):
        aead.decrypt(key, nonce, b"", b"ad")


@pytest.mark.parametrize(("algorithm", "provider"), AEAD_PAIRS)
def test_aead_bad_lengths(algorithm: str, provider: str) -> None:
    aead = registry.aead(algorithm, provider)
    key = os.urandom(aead.key_size)

    with pytest.raises(InvalidKey, match=f"{aead.key_size} bytes"):
        aead.new(key[:-1])
    with pytest.raises(InvalidKey):
        aead.new("k" * aead.key_size)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="nonce"):
        aead.encrypt(key, bytes(aead.nonce_size + 1), b"data")
    with pytest.raises(InvalidArgument, match="nonce"):
        aead.decrypt(key, b"", b"x" * 32)


@pytest.mark.parametrize("algorithm", ["hkdf-sha256", "hkdf-sha384", "hkdf-sha512"])
def test_hkdf_bad_lengths(algorithm: str) -> None:
    kdf = registry.kdf(algorithm)
    prk = kdf.extract(b"", b"ikm")

    with pytest.raises(InvalidArgument, match="out of range"):
        kdf.expand(prk, b"", 255 * kdf.hash_size + 1)
    with pytest.raises(InvalidArgument, match="out of range"):
        kdf.expand(prk, b"", 0)
    with pytest.raises(InvalidArgument, match="PRK"):
        kdf.expand(b"short", b"", 32)


@pytest.mark.parametrize(
    ("algorithm", "parameters"),
    [
        ("argon2id", {"memory": 1}),
        ("argon2id", {"memory_kib": 0}),
        ("argon2id", {"memory_kib": 8, "lanes": 4}),
        ("scrypt", {"n": 1000}),
        ("scrypt", {"r": "8"}),
    ],
)
def test_password_kdf_bad_parameters(algorithm: str, parameters: dict) -> None:
    kdf = registry.password_kdf(algorithm)

    with pytest.raises(InvalidArgument):
        kdf.derive(b"password", b"s" * 16, 32, parameters)


@pytest.mark.parametrize("algorithm", ["argon2id", "scrypt"])
def test_password_kdf_short_salt(algorithm: str) -> None:
    with pytest.raises(InvalidArgument, match="salt"):
        registry.password_kdf(algorithm).derive(b"password", b"salt", 32, {})


def test_x25519_low_order_point() -> None:
    kem = registry.kem("x25519", "openssl")
    low_order = bytes(32)

    for provider in ("openssl", "libsodium"):
        with pytest.raises(InvalidKey, match="low-order"):
            registry.kem("x25519", provider).encapsulate(kem.load_public(low_order))
        with pytest.raises(InvalidCiphertext, match="low-order"):
            registry.kem("x25519", provider).decapsulate(kem.generate(), low_order)


def test_p256_point_not_on_curve() -> None:
    kem = registry.kem("p256")
    private_key = kem.generate()
    off_curve = flip(private_key.public_key.data, 64)

    with pytest.raises(InvalidKey, match="not a point"):
        kem.load_public(off_curve)
    with pytest.raises(InvalidCiphertext):
        kem.decapsulate(private_key, off_curve)


def test_p256_compressed_point() -> None:
    with pytest.raises(InvalidKey, match="uncompressed"):
        registry.kem("p256").load_public(b"\x02" + bytes(64))


def test_p256_scalar_out_of_range() -> None:
    with pytest.raises(InvalidKey, match="order"):
        registry.kem("p256").load_private(b"\xff" * 32)
    with pytest.raises(InvalidKey, match="order"):
        registry.kem("p256").load_private(bytes(32))


def test_ml_kem_modulus_check() -> None:
    # Every 12-bit coefficient 0xFFF is >= q = 3329 (FIPS 203 §7.2).
    bad = b"\xff" * 1152 + bytes(32)

    for provider in ("openssl", "pqcrypto", "reference"):
        kem = registry.kem("ml-kem-768", provider)
        with pytest.raises(InvalidKey, match="modulus"):
            kem.encapsulate(kem.load_public(bad))


def test_ml_kem_expanded_hash_check() -> None:
    private_key = registry.kem("ml-kem-768", "reference").generate()
    expanded = registry.kem("ml-kem-768", "reference").export_private(private_key, "expanded")
    corrupted = flip(expanded, 1152 + 5)

    for provider in ("pqcrypto", "reference"):
        with pytest.raises(InvalidKey, match="hash check"):
            registry.kem("ml-kem-768", provider).load_private(corrupted, KeyForm.EXPANDED)


def test_pqcrypto_rejects_seed() -> None:
    seed_key = registry.kem("ml-kem-768", "openssl").generate()

    with pytest.raises(UnsupportedOperation, match="seed") as caught:
        registry.kem("ml-kem-768", "pqcrypto").decapsulate(seed_key, bytes(1088))
    assert "reference" in (caught.value.fix or "")


def test_openssl_rejects_expanded() -> None:
    with pytest.raises(UnsupportedOperation, match="expanded"):
        registry.kem("ml-kem-768", "openssl").load_private(bytes(2400), KeyForm.EXPANDED)


def test_unknown_key_form() -> None:
    with pytest.raises(InvalidKey, match="unknown private-key form"):
        registry.kem("x25519").load_private(bytes(32), "base64")


def test_rsa_wrong_modulus_size() -> None:
    private_key = registry.kem("rsa-oaep-2048").generate()

    with pytest.raises(InvalidKey, match="3072-bit"):
        registry.kem("rsa-oaep-3072").load_private(private_key.data)
    with pytest.raises(InvalidKey, match="3072-bit"):
        registry.signature("rsa-pss-3072-sha256").load_public(private_key.public_key.data)


def test_rsa_oaep_tampered() -> None:
    kem = registry.kem("rsa-oaep-2048")
    private_key = kem.generate()
    ciphertext, _ = kem.encapsulate(private_key.public_key)

    with pytest.raises(InvalidCiphertext, match="decryption failed"):
        kem.decapsulate(private_key, flip(ciphertext, 100))


def test_rsa_garbage_key() -> None:
    with pytest.raises(InvalidKey, match="PKCS#8"):
        registry.kem("rsa-oaep-2048").load_private(b"\x30\x03\x02\x01\x00")


def test_ml_dsa_expanded_coefficient_range() -> None:
    reference = registry.signature("ml-dsa-44", "reference")
    expanded = reference.export_private(reference.generate(), KeyForm.EXPANDED)
    # s1 starts after rho, K and tr (128 bytes); with eta = 2 each coefficient is 3 bits
    # encoding eta - c, so the bits 111 decode to 2 - 7 = -5, outside [-2, 2].
    corrupted = expanded[:128] + b"\xff" + expanded[129:]

    for provider in ("pqcrypto", "reference"):
        with pytest.raises(InvalidKey, match="s1 coefficient"):
            registry.signature("ml-dsa-44", provider).load_private(corrupted, KeyForm.EXPANDED)


def test_pqcrypto_long_ml_dsa_context() -> None:
    private_key = registry.signature("ml-dsa-44", "openssl").generate()
    signature = registry.signature("ml-dsa-44", "openssl").sign(private_key, b"m", bytes(255))

    # pqcrypto 1.0 rejects 254- and 255-byte contexts, so it must not call this invalid.
    with pytest.raises(UnsupportedOperation, match="253"):
        registry.signature("ml-dsa-44", "pqcrypto").verify(
            private_key.public_key, b"m", signature, bytes(255)
        )


def test_rsa_even_modulus_encapsulate_refused() -> None:
    """A modulus that loads but that OpenSSL refuses gives InvalidKey, not a bare ValueError."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from agile import registry
    from agile.errors import InvalidKey

    modulus = rsa.generate_private_key(65537, 3072).public_key().public_numbers().n + 1
    der = (
        rsa.RSAPublicNumbers(65537, modulus)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    public = registry.get("rsa-oaep-3072").load_public(der)  # type: ignore[attr-defined]

    with pytest.raises(InvalidKey, match="OpenSSL rejected its modulus"):
        registry.kem("rsa-oaep-3072").encapsulate(public)
