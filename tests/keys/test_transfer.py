from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa, x25519

from agile import envelope
from agile.errors import InvalidKey, KeysetError, UnsupportedAlgorithm
from agile.keys import Keystore
from agile.keys.transfer import parse_key


def _pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "purpose,factory,algorithm",
    [
        ("kem", x25519.X25519PrivateKey.generate, "x25519"),
        ("kem", lambda: ec.generate_private_key(ec.SECP256R1()), "p256"),
        ("kem", lambda: ec.generate_private_key(ec.SECP384R1()), "p384"),
        ("kem", mlkem.MLKEM768PrivateKey.generate, "ml-kem-768"),
        ("kem", mlkem.MLKEM1024PrivateKey.generate, "ml-kem-1024"),
        (
            "kem",
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "rsa-oaep-2048",
        ),
        ("signature", ed25519.Ed25519PrivateKey.generate, "ed25519"),
        ("signature", lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256-sha256"),
        ("signature", mldsa.MLDSA65PrivateKey.generate, "ml-dsa-65"),
    ],
)
def test_pem_private(purpose: str, factory: object, algorithm: str) -> None:
    imported = parse_key(_pkcs8(factory()), purpose)  # type: ignore[operator]
    assert imported.algorithm == algorithm
    assert imported.private is not None


def test_pem_public_spki() -> None:
    key = mlkem.MLKEM768PrivateKey.generate().public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    imported = parse_key(pem, "kem")
    assert imported.private is None
    assert imported.public == key.public_bytes_raw()


def test_jwk_okp_private() -> None:
    key = x25519.X25519PrivateKey.generate()
    jwk = {
        "kty": "OKP",
        "crv": "X25519",
        "x": _b64url(key.public_key().public_bytes_raw()),
        "d": _b64url(key.private_bytes_raw()),
    }
    imported = parse_key(json.dumps(jwk).encode(), "kem")
    assert imported.public == key.public_key().public_bytes_raw()


def test_jwk_ec_public() -> None:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    imported = parse_key(json.dumps(jwk).encode(), "signature")
    assert imported.algorithm == "ecdsa-p256-sha256"


def test_seed_form() -> None:
    imported = parse_key(bytes(range(32)), "kem", algorithm="x-wing", format="seed")
    assert len(imported.public) == 1216


def test_raw_needs_algorithm() -> None:
    with pytest.raises(InvalidKey):
        parse_key(bytes(32), "kem", format="raw")


def test_wrong_purpose() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        parse_key(_pkcs8(ed25519.Ed25519PrivateKey.generate()), "kem")


def test_algorithm_mismatch() -> None:
    with pytest.raises(InvalidKey):
        parse_key(_pkcs8(x25519.X25519PrivateKey.generate()), "kem", algorithm="p256")


def test_garbage_pem() -> None:
    with pytest.raises(InvalidKey):
        parse_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "kem")


def test_import_then_decrypt(store: Keystore) -> None:
    key = x25519.X25519PrivateKey.generate()
    keyset = store.create_keyset("mail", "kem", "x25519")
    imported = keyset.import_key(_pkcs8(key), promote=True)
    sealed = envelope.encrypt(b"hi", keyset)
    assert envelope.read_header(sealed).recipients[0].key_id == imported.id
    assert envelope.decrypt(sealed, store) == b"hi"


def test_export_jwk_keeps_key_id(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    other = Keystore.open(tmp_path / "other")
    recipient = other.create_keyset(
        "alice", "kem", first_key=parse_key(keyset.export_public(format="jwk"), "kem")
    )
    sealed = envelope.encrypt(b"for alice", recipient)
    assert envelope.decrypt(sealed, store) == b"for alice"


def test_export_pem_with_key_id(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("mail", "kem", "ml-kem-768")
    other = Keystore.open(tmp_path / "other")
    holder = other.create_keyset("alice", "kem", "x25519")
    holder.import_key(keyset.export_public(), key_id=keyset.primary.id, promote=True)
    sealed = envelope.encrypt(b"for alice", holder)
    assert envelope.decrypt(sealed, store) == b"for alice"


def test_public_only_key_cannot_decrypt(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("mail", "kem", "ml-kem-768")
    other = Keystore.open(tmp_path / "other")
    holder = other.create_keyset("alice", "kem", first_key=parse_key(keyset.export_public(), "kem"))
    sealed = envelope.encrypt(b"for alice", holder)
    with pytest.raises(KeysetError):
        envelope.decrypt(sealed, other)


def test_import_duplicate_key_id(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    with pytest.raises(KeysetError):
        keyset.import_key(keyset.export_public(format="jwk"))


def test_export_public_jwk(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    jwk = json.loads(keyset.export_public(format="jwk"))
    assert jwk["crv"] == "X25519"


def test_export_public_raw_xwing(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x-wing")
    assert keyset.export_public(format="raw") == keyset.primary.public


def test_raw_ambiguous_refused() -> None:
    with pytest.raises(InvalidKey, match="both as a private and as a public"):
        parse_key(bytes(range(1, 33)), "kem", algorithm="x25519", format="raw")


def test_raw_private_when_told() -> None:
    imported = parse_key(bytes(range(1, 33)), "kem", algorithm="x25519", public=False)
    assert imported.private is not None


def test_raw_public_when_told() -> None:
    imported = parse_key(bytes(range(1, 33)), "kem", algorithm="x25519", public=True)
    assert imported.private is None


def test_raw_public_detected() -> None:
    public = parse_key(bytes(range(1, 33)), "kem", algorithm="x-wing", format="seed").public
    imported = parse_key(public, "kem", algorithm="x-wing", format="raw")
    assert imported.private is None


def test_raw_p256_private_detected() -> None:
    imported = parse_key(bytes(31) + b"\x07", "kem", algorithm="p256", format="raw")
    assert imported.private is not None
