"""Import fixes that must work: the purpose of --algorithm and JWK limits the key cannot meet."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

from agile.errors import InvalidKey, UnsupportedAlgorithm
from agile.keys.transfer import parse_key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _rsa_spki(bits: int) -> bytes:
    key = rsa.generate_private_key(65537, bits).public_key()
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _x25519_jwk(**members: object) -> bytes:
    public = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    return json.dumps({"kty": "OKP", "crv": "X25519", "x": _b64url(public), **members}).encode()


def _ed25519_jwk(**members: object) -> bytes:
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    return json.dumps({"kty": "OKP", "crv": "Ed25519", "x": _b64url(public), **members}).encode()


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


def test_signature_algorithm_for_kem_keyset() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="rsa-pss-3072-sha256 is a signature") as raised:
        parse_key(_rsa_spki(3072), "kem", algorithm="rsa-pss-3072-sha256", public=True)

    assert "signature keyset" in raised.value.fix
    assert "rsa-oaep" not in raised.value.fix


def test_kem_algorithm_for_signature_keyset() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="rsa-oaep-2048 is a kem") as raised:
        parse_key(_rsa_spki(2048), "signature", algorithm="rsa-oaep-2048", public=True)

    assert "kem keyset" in raised.value.fix
    assert "rsa-pss" not in raised.value.fix


def test_raw_kem_algorithm_for_signature_keyset() -> None:
    public = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()

    with pytest.raises(UnsupportedAlgorithm) as raised:
        parse_key(public, "signature", format="raw", algorithm="x25519", public=True)

    assert "kem keyset" in raised.value.fix
    assert "agile algorithms --family signature" not in raised.value.fix


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_x25519_signature_alg_fix(alg: str) -> None:
    with pytest.raises(InvalidKey, match=f"'{alg}'.*x25519.*'ECDH-ES'") as raised:
        parse_key(_x25519_jwk(alg=alg), "kem")

    assert "signature keyset" not in raised.value.fix


def test_x25519_signature_alg_in_signature_keyset() -> None:
    with pytest.raises(InvalidKey, match="'EdDSA'.*x25519.*'ECDH-ES'") as raised:
        parse_key(_x25519_jwk(alg="EdDSA"), "signature")

    assert "kem keyset" not in raised.value.fix


@pytest.mark.parametrize("purpose", ["kem", "signature"])
def test_rsa_hmac_alg_fix(purpose: str) -> None:
    with pytest.raises(InvalidKey, match="'HS256'.*'PS256'.*'RSA-OAEP-256'") as raised:
        parse_key(_rsa_jwk(alg="HS256"), purpose)

    assert "keyset" not in raised.value.fix


def test_rsa_other_purpose_alg_fix_kept() -> None:
    with pytest.raises(InvalidKey, match="may not go into a kem keyset") as raised:
        parse_key(_rsa_jwk(alg="PS256"), "kem")

    assert "import it into a signature keyset" in raised.value.fix


def test_rsa_use_and_rs256_fix() -> None:
    with pytest.raises(InvalidKey, match="'RS256'.*rsa-pss-2048-sha256") as raised:
        parse_key(_rsa_jwk(use="sig", alg="RS256"), "kem")

    assert "signature keyset" not in raised.value.fix


def test_use_in_capitals_unknown() -> None:
    with pytest.raises(InvalidKey, match='"use" is "SIG", which agile does not know') as raised:
        parse_key(_ed25519_jwk(use="SIG"), "signature")

    assert 'write "sig"' in raised.value.fix
    assert "case-sensitive" in raised.value.fix


def test_use_unknown_value() -> None:
    with pytest.raises(InvalidKey, match='"use" is "signing", which agile does not know'):
        parse_key(_ed25519_jwk(use="signing"), "signature")


def test_ed25519_enc_use_fix() -> None:
    with pytest.raises(InvalidKey, match='"use" is .enc., but .*signing with ed25519') as raised:
        parse_key(_ed25519_jwk(use="enc"), "signature")

    assert "kem keyset" not in raised.value.fix


def test_use_and_key_ops_disagree() -> None:
    with pytest.raises(InvalidKey, match="contradict each other"):
        parse_key(_rsa_jwk(use="sig", key_ops=["encrypt"]), "signature")


def test_key_ops_not_array() -> None:
    with pytest.raises(InvalidKey, match='"key_ops" must be an array of strings'):
        parse_key(_rsa_jwk(key_ops="sign"), "signature")


def test_alg_none_named_unsecured() -> None:
    with pytest.raises(InvalidKey, match="RFC 7518 §3.6.*unsecured JWS") as raised:
        parse_key(_ed25519_jwk(alg="none"), "signature")

    assert "'EdDSA'" in raised.value.fix


def test_matching_jwk_members_accepted() -> None:
    imported = parse_key(_ed25519_jwk(use="sig", key_ops=["verify"], alg="EdDSA"), "signature")

    assert imported.algorithm == "ed25519"
