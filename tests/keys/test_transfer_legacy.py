"""Importing legacy keys that a policy allows only for old data, and RSA sizes without an id."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from agile import envelope
from agile.errors import PolicyViolation, UnsupportedAlgorithm
from agile.keys import KeyStatus, Keystore
from agile.keys.transfer import parse_key


def _pkcs8(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_legacy_key_joins_decrypt_only(store: Keystore, rsa_2048: rsa.RSAPrivateKey) -> None:
    keyset = store.create_keyset("legacy", "kem", "x25519")

    imported = keyset.import_key(_pkcs8(rsa_2048), policy="default")

    assert imported.algorithm == "rsa-oaep-2048"
    assert imported.status is KeyStatus.DECRYPT_ONLY
    assert store.keyset("legacy").primary.algorithm == "x25519"


def test_legacy_key_decrypts_old_data(
    store: Keystore, rsa_2048: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    public_pem = rsa_2048.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    first = replace(parse_key(public_pem, "kem"), key_id="legacy-rsa")
    sender = Keystore.open(tmp_path / "sender")
    partner = sender.create_keyset("partner", "kem", policy="legacy", first_key=first)
    sealed = envelope.encrypt(b"old data", [partner], policy="legacy")
    keyset = store.create_keyset("legacy", "kem", "x25519")

    keyset.import_key(_pkcs8(rsa_2048), key_id="legacy-rsa")

    assert envelope.decrypt(sealed, Keystore.open(store.path), policy="default") == b"old data"


def test_legacy_key_cannot_be_promoted(store: Keystore, rsa_2048: rsa.RSAPrivateKey) -> None:
    keyset = store.create_keyset("legacy", "kem", "x25519")

    with pytest.raises(PolicyViolation, match="encrypt"):
        keyset.import_key(_pkcs8(rsa_2048), promote=True, policy="default")


def test_legacy_first_key_explains_import(store: Keystore, rsa_2048: rsa.RSAPrivateKey) -> None:
    first = parse_key(_pkcs8(rsa_2048), "kem")

    with pytest.raises(PolicyViolation, match="only to decrypt old data") as raised:
        store.create_keyset("legacy", "kem", first_key=first, policy="default")

    assert "import this key into it" in (raised.value.fix or "")


def test_verify_only_public_key_joins(store: Keystore) -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keyset = store.create_keyset("releases", "signature", "ml-dsa-65", policy="pq-hybrid")

    imported = keyset.import_key(pem, policy="pq-hybrid")

    assert imported.algorithm == "ed25519"
    assert imported.status is KeyStatus.DECRYPT_ONLY


def test_disallowed_key_still_rejected(store: Keystore) -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keyset = store.create_keyset("releases", "signature", "ml-dsa-87", policy="pq-only")

    with pytest.raises(PolicyViolation, match="verify"):
        keyset.import_key(pem, policy="pq-only")


@pytest.mark.parametrize("bits", [1024, 4096])
def test_rsa_size_without_id(bits: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    with pytest.raises(UnsupportedAlgorithm, match=f"RSA keys of {bits} bits"):
        parse_key(_pkcs8(key), "kem")
