"""Arguments of the wrong type raise InvalidArgument naming the argument that is wrong."""

from __future__ import annotations

import pytest

from agile import registry
from agile.errors import InvalidArgument

OPENSSL_SIGNATURES = ["ed25519", "ed448", "ecdsa-p256-sha256", "rsa-pss-3072-sha256", "ml-dsa-65"]


@pytest.mark.parametrize("algorithm", OPENSSL_SIGNATURES)
def test_verify_text_signature(algorithm: str) -> None:
    scheme = registry.signature(algorithm, "openssl")
    private_key = scheme.generate()

    with pytest.raises(InvalidArgument, match="signature must be bytes, got str"):
        scheme.verify(private_key.public_key, b"message", "signature")  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", OPENSSL_SIGNATURES)
def test_verify_text_message(algorithm: str) -> None:
    scheme = registry.signature(algorithm, "openssl")
    private_key = scheme.generate()
    signature = scheme.sign(private_key, b"message")

    with pytest.raises(InvalidArgument, match="message must be bytes, got str"):
        scheme.verify(private_key.public_key, "message", signature)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [32.0, True, "32"])
@pytest.mark.parametrize("algorithm", ["hkdf-sha256", "hkdf-sha512"])
def test_hkdf_length_type(algorithm: str, length: object) -> None:
    kdf = registry.kdf(algorithm)

    with pytest.raises(InvalidArgument, match="not an integer"):
        kdf.derive(b"ikm", b"salt", b"info", length)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not an integer"):
        kdf.expand(kdf.extract(b"", b"ikm"), b"info", length)  # type: ignore[arg-type]
