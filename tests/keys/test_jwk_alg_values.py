"""JWK "alg" values on import: type, unknown names, the other purpose, and the exact algorithm."""

from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519

from agile.errors import InvalidKey
from agile.keys.transfer import parse_key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _rsa_jwk(**members: object) -> bytes:
    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    return json.dumps(
        {
            "kty": "RSA",
            "n": _b64url(numbers.n.to_bytes(256, "big")),
            "e": _b64url(numbers.e.to_bytes(3, "big")),
            **members,
        }
    ).encode()


def _p256_jwk(**members: object) -> bytes:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return json.dumps(
        {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
            **members,
        }
    ).encode()


def _x25519_jwk(**members: object) -> bytes:
    public = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    return json.dumps({"kty": "OKP", "crv": "X25519", "x": _b64url(public), **members}).encode()


@pytest.mark.parametrize("alg", [None, 256, ["PS256"], {"name": "PS256"}, True])
def test_non_string_alg_rejected(alg: object) -> None:
    with pytest.raises(InvalidKey, match='"alg" must be a string'):
        parse_key(_rsa_jwk(alg=alg), "signature")


@pytest.mark.parametrize("alg", ["", "PS257", "RSA-OAEP-128"])
def test_unknown_alg_named_unknown(alg: str) -> None:
    with pytest.raises(InvalidKey, match="no JWA algorithm that agile knows") as raised:
        parse_key(_rsa_jwk(alg=alg), "signature")

    assert "import it into a kem keyset" not in raised.value.fix


def test_unknown_alg_in_kem_import() -> None:
    with pytest.raises(InvalidKey, match="no JWA algorithm that agile knows"):
        parse_key(_rsa_jwk(alg="rsa-oaep-256"), "kem")


def test_lowercase_alg_gets_registered_name() -> None:
    with pytest.raises(InvalidKey) as raised:
        parse_key(_rsa_jwk(alg="ps256"), "signature")

    assert "'PS256'" in raised.value.fix
    assert "case-sensitive" in raised.value.fix


def test_signature_alg_for_kem_keeps_message() -> None:
    with pytest.raises(InvalidKey, match='"alg" is .PS256., so the key may not go into a kem'):
        parse_key(_rsa_jwk(alg="PS256"), "kem")


def test_encryption_alg_for_signature_keeps_message() -> None:
    with pytest.raises(InvalidKey, match='"alg" is .ECDH-ES., so .* signature keyset'):
        parse_key(_p256_jwk(alg="ECDH-ES"), "signature")


@pytest.mark.parametrize("alg", ["ECDH-ES+A256KW", "ECDH-ES+A128KW", "RSA-OAEP-256", "dir"])
def test_p256_kem_alg_other_than_ecdh_es_rejected(alg: str) -> None:
    with pytest.raises(InvalidKey, match=f"{re.escape(repr(alg))}.*p256.*'ECDH-ES'"):
        parse_key(_p256_jwk(alg=alg), "kem")


def test_x25519_key_wrap_alg_rejected() -> None:
    with pytest.raises(InvalidKey, match="'ECDH-ES\\+A256KW'.*x25519.*'ECDH-ES'"):
        parse_key(_x25519_jwk(alg="ECDH-ES+A256KW"), "kem")


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA1_5", "RSA-OAEP-512"])
def test_rsa_kem_alg_other_than_oaep_256_rejected(alg: str) -> None:
    with pytest.raises(InvalidKey, match=f"'{alg}'.*rsa-oaep-2048.*'RSA-OAEP-256'"):
        parse_key(_rsa_jwk(alg=alg), "kem")


@pytest.mark.parametrize(
    ("jwk", "algorithm"),
    [
        (lambda: _p256_jwk(alg="ECDH-ES"), "p256"),
        (lambda: _x25519_jwk(alg="ECDH-ES"), "x25519"),
        (lambda: _rsa_jwk(alg="RSA-OAEP-256"), "rsa-oaep-2048"),
    ],
    ids=["p256", "x25519", "rsa-oaep"],
)
def test_kem_alg_of_the_algorithm_accepted(jwk, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    assert parse_key(jwk(), "kem").algorithm == algorithm
