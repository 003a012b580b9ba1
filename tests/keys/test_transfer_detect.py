"""Key import input: detected formats, --public/--private, and wrong types at the key API."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from agile.errors import InvalidArgument, InvalidKey
from agile.keys import Keystore
from agile.keys.transfer import parse_key


def _public_pem() -> bytes:
    return (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_json_array_detected() -> None:
    with pytest.raises(InvalidKey, match="a JWK must be a JSON object, got a JSON array"):
        parse_key(b"[1, 2]", "kem")


def test_long_key_id_line() -> None:
    with pytest.raises(InvalidKey, match="invalid key id line"):
        parse_key(b"Key-Id: " + b"a" * 70 + b"\n" + _public_pem(), "kem")


def test_jwk_missing_member() -> None:
    with pytest.raises(InvalidKey, match="the JWK has no member 'x'"):
        parse_key(b'{"kty": "OKP", "crv": "X25519"}', "kem")


def test_empty_key_id_rejected(store: Keystore) -> None:
    keyset = store.create_keyset("k", "kem", "x25519")
    with pytest.raises(InvalidArgument, match="invalid key id ''"):
        keyset.import_key(_public_pem(), key_id="")


def test_empty_key_id_imports_nothing(store: Keystore) -> None:
    keyset = store.create_keyset("k", "kem", "x25519")
    with pytest.raises(InvalidArgument):
        keyset.import_key(_public_pem(), key_id="")
    assert len(store.keyset("k").keys) == 1


@pytest.mark.parametrize(
    "private_format",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "traditional"],
)
def test_encrypted_pem_named(private_format: serialization.PrivateFormat) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, private_format, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidKey, match="encrypted with a password"):
        parse_key(pem, "kem")


def _private_pem() -> bytes:
    return x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_public_flag_drops_private_pem() -> None:
    assert parse_key(_private_pem(), "kem", public=True).private is None


def test_public_flag_keeps_public_key() -> None:
    pem = _private_pem()
    expected = parse_key(pem, "kem").public
    assert parse_key(pem, "kem", public=True).public == expected


def test_private_flag_rejects_public_pem() -> None:
    with pytest.raises(InvalidKey, match="public x25519 key, but a private key was requested"):
        parse_key(_public_pem(), "kem", public=False)


def _okp_jwk(private: x25519.X25519PrivateKey, public: x25519.X25519PublicKey) -> bytes:
    def encode(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    fields = {
        "kty": "OKP",
        "crv": "X25519",
        "x": encode(public.public_bytes_raw()),
        "d": encode(private.private_bytes_raw()),
    }
    return json.dumps(fields).encode()


def test_public_flag_drops_private_jwk() -> None:
    key = x25519.X25519PrivateKey.generate()
    assert parse_key(_okp_jwk(key, key.public_key()), "kem", public=True).private is None


def test_jwk_mismatched_public_rejected() -> None:
    key = x25519.X25519PrivateKey.generate()
    other = x25519.X25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidKey, match="does not match its private key"):
        parse_key(_okp_jwk(key, other), "kem")


@pytest.mark.parametrize("data", ["-----BEGIN PUBLIC KEY-----", None], ids=["str", "none"])
def test_key_data_not_bytes(data: object) -> None:
    with pytest.raises(InvalidKey, match="key data must be bytes"):
        parse_key(data, "kem")  # type: ignore[arg-type]


def test_unknown_status_rejected(store: Keystore) -> None:
    keyset = store.create_keyset("k", "kem", "x25519")
    with pytest.raises(InvalidArgument, match="unknown key status 'bogus'"):
        keyset.set_status(keyset.primary.id, "bogus")


def test_keystore_path_type() -> None:
    with pytest.raises(InvalidArgument, match="keystore path must be a directory path"):
        Keystore.open(5)  # type: ignore[arg-type]
