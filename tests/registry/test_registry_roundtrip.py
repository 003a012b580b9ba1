"""A round trip through every (algorithm, provider) pair installed here."""

from __future__ import annotations

import os

import pytest

from agile import registry
from agile.errors import InvalidSignature
from agile.registry import Family
from tests.registry.registry_cases import pairs

KEM_PAIRS = pairs(Family.KEM)
SIGNATURE_PAIRS = pairs(Family.SIGNATURE)
AEAD_PAIRS = pairs(Family.AEAD)
KDF_PAIRS = pairs(Family.KDF)


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_round_trip(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)
    private_key = kem.generate()

    ciphertext, shared_secret = kem.encapsulate(private_key.public_key)

    assert kem.decapsulate(private_key, ciphertext) == shared_secret
    assert len(ciphertext) == kem.descriptor.sizes.ciphertext
    assert len(shared_secret) == kem.descriptor.sizes.shared_secret


@pytest.mark.parametrize(("algorithm", "provider"), KEM_PAIRS)
def test_kem_keys_reload(algorithm: str, provider: str) -> None:
    kem = registry.kem(algorithm, provider)
    private_key = kem.generate()

    reloaded = kem.load_private(private_key.data, private_key.form)
    public_key = kem.load_public(private_key.public_key.data)
    ciphertext, shared_secret = kem.encapsulate(public_key)

    assert reloaded.public_key == private_key.public_key
    assert kem.decapsulate(reloaded, ciphertext) == shared_secret


@pytest.mark.parametrize(("algorithm", "provider"), SIGNATURE_PAIRS)
def test_signature_round_trip(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)
    private_key = scheme.generate()
    context = b"agile test" if scheme.supports_context else b""

    signature = scheme.sign(private_key, b"message", context)
    public_key = scheme.load_public(private_key.public_key.data)

    scheme.verify(public_key, b"message", signature, context)
    with pytest.raises(InvalidSignature):
        scheme.verify(public_key, b"massage", signature, context)


@pytest.mark.parametrize(("algorithm", "provider"), SIGNATURE_PAIRS)
def test_signature_key_reload(algorithm: str, provider: str) -> None:
    scheme = registry.signature(algorithm, provider)
    private_key = scheme.generate()

    reloaded = scheme.load_private(private_key.data, private_key.form)

    assert reloaded.public_key == private_key.public_key


@pytest.mark.parametrize(("algorithm", "provider"), AEAD_PAIRS)
def test_aead_round_trip(algorithm: str, provider: str) -> None:
    aead = registry.aead(algorithm, provider)
    key = os.urandom(aead.key_size)
    nonce = os.urandom(aead.nonce_size)
    context = aead.new(key)

    ciphertext = context.encrypt(nonce, b"plaintext", b"header")

    assert context.decrypt(nonce, ciphertext, b"header") == b"plaintext"
    assert len(ciphertext) == len(b"plaintext") + aead.tag_size


@pytest.mark.parametrize(("algorithm", "provider"), AEAD_PAIRS)
def test_aead_empty_plaintext(algorithm: str, provider: str) -> None:
    aead = registry.aead(algorithm, provider)
    key = os.urandom(aead.key_size)
    nonce = os.urandom(aead.nonce_size)

    ciphertext = aead.encrypt(key, nonce, b"")

    assert aead.decrypt(key, nonce, ciphertext) == b""


@pytest.mark.parametrize(("algorithm", "provider"), KDF_PAIRS)
def test_kdf_matches_one_shot(algorithm: str, provider: str) -> None:
    kdf = registry.kdf(algorithm, provider)

    prk = kdf.extract(b"salt", b"input keying material")
    okm = kdf.expand(prk, b"info", 42)

    assert len(prk) == kdf.hash_size
    assert kdf.derive(b"input keying material", b"salt", b"info", 42) == okm


def test_hkdf_rfc5869_case1() -> None:
    # RFC 5869 Appendix A.1.
    kdf = registry.kdf("hkdf-sha256")
    ikm = bytes([0x0B]) * 22
    salt = bytes(range(13))
    info = bytes(range(0xF0, 0xFA))

    okm = kdf.derive(ikm, salt, info, 42)

    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_argon2id_defaults() -> None:
    kdf = registry.password_kdf("argon2id")

    key = kdf.derive(b"password", b"s" * 16, 32)

    assert kdf.default_parameters() == {"memory_kib": 65536, "iterations": 3, "lanes": 4}
    assert kdf.derive(b"password", b"s" * 16, 32, kdf.default_parameters()) == key


def test_argon2id_rfc9106_shape() -> None:
    kdf = registry.password_kdf("argon2id")
    small = {"memory_kib": 64, "iterations": 1, "lanes": 1}

    first = kdf.derive(b"password", b"salt" * 4, 32, small)
    second = kdf.derive(b"passwore", b"salt" * 4, 32, small)

    assert len(first) == 32
    assert first != second


def test_scrypt_small_parameters() -> None:
    kdf = registry.password_kdf("scrypt")
    parameters = {"n": 1024, "r": 8, "p": 1}

    first = kdf.derive(b"password", b"NaCl" * 4, 64, parameters)
    again = kdf.derive(b"password", b"NaCl" * 4, 64, parameters)
    other = kdf.derive(b"passwore", b"NaCl" * 4, 64, parameters)

    assert first == again
    assert first != other
