"""Malformed key files: JSON that is no JWK object, and a --algorithm that does not match."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from agile.errors import InvalidKey, UnsupportedAlgorithm
from agile.keys.transfer import parse_key


@pytest.mark.parametrize(
    ("text", "kind"),
    [(b"[1]", "array"), (b'"key"', "string"), (b"42", "number"), (b"null", "null")],
    ids=["list", "string", "number", "null"],
)
def test_jwk_not_object(text: bytes, kind: str) -> None:
    with pytest.raises(InvalidKey, match=f"JSON {kind}"):
        parse_key(text, "kem", format="jwk")


def test_jwk_deep_nesting() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidKey, match="cannot parse the JWK key"):
        parse_key(nested, "kem", format="jwk")


def test_algorithm_mismatch_keeps_fix() -> None:
    """The specific fix survives: it names the detected algorithm, not a generic hint."""
    pem = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidKey) as caught:
        parse_key(pem, "kem", algorithm="p256")
    assert caught.value.fix == "pass --algorithm x25519 or leave --algorithm out"


@pytest.mark.parametrize("key_format", [None, "raw", "seed"], ids=["detect", "raw", "seed"])
def test_aead_import_rejected(key_format: str | None) -> None:
    with pytest.raises(InvalidKey, match="keys of an aead keyset cannot be imported"):
        parse_key(bytes(32), "aead", format=key_format, algorithm="aes-256-gcm")


def _public_pem() -> bytes:
    return (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_pem_two_blocks() -> None:
    with pytest.raises(InvalidKey, match="contains 2 blocks"):
        parse_key(_public_pem() + _public_pem(), "kem")


def test_unsupported_curve_has_fix() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP521R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(UnsupportedAlgorithm) as caught:
        parse_key(pem, "kem")
    assert "P-256" in (caught.value.fix or "")


def test_unsupported_type_has_fix() -> None:
    from cryptography.hazmat.primitives.asymmetric import x448

    pem = x448.X448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(UnsupportedAlgorithm) as caught:
        parse_key(pem, "kem")
    assert "X25519" in (caught.value.fix or "")


@pytest.mark.parametrize(
    ("algorithm", "fix"),
    [
        ("x-wing", "export with --format pem, der or raw"),
        ("paillier-2048", "export with --format raw"),
    ],
    ids=["pem", "no-pem"],
)
def test_jwk_export_fix_lists_working_formats(algorithm: str, fix: str) -> None:
    from agile import registry
    from agile.keys.transfer import export_public

    public = registry.get(algorithm).generate().public_key.data  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedAlgorithm) as caught:
        export_public(algorithm, public, "jwk")
    assert caught.value.fix == fix
