"""ML-DSA's extra interfaces: deterministic, internal and external-mu signing."""

from __future__ import annotations

import hashlib

import pytest

from agile import registry
from agile.errors import InvalidArgument, InvalidSignature, UnsupportedOperation


def _mu(public_key: bytes, message: bytes, context: bytes = b"") -> bytes:
    # FIPS 204 Algorithm 7: mu = H(H(pk, 64) || M', 64), M' = 0 || |ctx| || ctx || M.
    representative = b"\x00" + bytes([len(context)]) + context + message
    tr = hashlib.shake_256(public_key).digest(64)
    return hashlib.shake_256(tr + representative).digest(64)


def test_openssl_sign_mu_verifies_as_message() -> None:
    scheme = registry.signature("ml-dsa-44", "openssl")
    private_key = scheme.generate()

    signature = scheme.sign_mu(private_key, _mu(private_key.public_key.data, b"message", b"c"))

    scheme.verify(private_key.public_key, b"message", signature, b"c")
    scheme.verify_mu(
        private_key.public_key, _mu(private_key.public_key.data, b"message", b"c"), signature
    )


def test_reference_sign_mu_verifies_in_openssl() -> None:
    private_key = registry.signature("ml-dsa-44", "reference").generate()
    mu = _mu(private_key.public_key.data, b"message")

    signature = registry.signature("ml-dsa-44", "reference").sign_mu(private_key, mu, bytes(32))

    registry.signature("ml-dsa-44", "openssl").verify_mu(private_key.public_key, mu, signature)
    with pytest.raises(InvalidSignature):
        registry.signature("ml-dsa-44", "openssl").verify_mu(
            private_key.public_key, _mu(private_key.public_key.data, b"other"), signature
        )


def test_openssl_sign_mu_rejects_randomness() -> None:
    scheme = registry.signature("ml-dsa-44", "openssl")

    with pytest.raises(UnsupportedOperation, match="randomness"):
        scheme.sign_mu(scheme.generate(), bytes(64), bytes(32))


def test_sign_mu_length() -> None:
    scheme = registry.signature("ml-dsa-44", "openssl")

    with pytest.raises(InvalidArgument, match="64 bytes"):
        scheme.sign_mu(scheme.generate(), bytes(32))


def test_deterministic_matches_internal() -> None:
    scheme = registry.signature("ml-dsa-44", "reference")
    private_key = scheme.derive_key_pair(bytes(32))

    deterministic = scheme.sign_deterministic(private_key, b"message", b"c")
    internal = scheme.sign_internal(private_key, b"\x00\x01c" + b"message", bytes(32))

    assert deterministic == internal
    scheme.verify_internal(private_key.public_key, b"\x00\x01c" + b"message", internal)


def test_openssl_has_no_deterministic_signing() -> None:
    scheme = registry.signature("ml-dsa-44", "openssl")

    with pytest.raises(UnsupportedOperation, match="deterministic") as caught:
        scheme.sign_deterministic(scheme.generate(), b"message")
    assert "reference" in (caught.value.fix or "")
