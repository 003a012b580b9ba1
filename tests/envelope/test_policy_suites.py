"""The policy's [kdf] and [aead] rules hold for writing envelopes as they do for reading them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agile import envelope
from agile.envelope.format import parse_header
from agile.errors import PolicyViolation
from agile.keys import Keystore
from agile.policy import Policy, load_policy

# HPKE codepoints (RFC 9180 §7.2, §7.3).
HKDF_SHA256 = 0x0001
HKDF_SHA384 = 0x0002
AES_256_GCM = 0x0002
CHACHA20_POLY1305 = 0x0003


def _policy(tmp_path: Path, name: str, sections: str) -> Policy:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'base = "default"\nname = "{name}"\n{sections}')
    return load_policy(str(path))


def _hpke_ids(data: bytes) -> tuple[int, int]:
    """Return the (KDF id, AEAD id) of the envelope's first HPKE stanza."""
    body = parse_header(data).recipients[0].body
    kdf_id, aead_id = struct.unpack(">HH", body[:4])
    return kdf_id, aead_id


def test_default_suite_kept(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")

    data = envelope.encrypt(b"hello", keyset, policy="default")

    assert _hpke_ids(data) == (HKDF_SHA256, AES_256_GCM)


def test_denied_hpke_aead_replaced(store: Keystore, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "chacha", '[aead]\nallowed = ["chacha20-poly1305"]\n')
    keyset = store.create_keyset("r", "kem", "x25519")

    data = envelope.encrypt(b"hello", keyset, policy=policy)

    assert _hpke_ids(data) == (HKDF_SHA256, CHACHA20_POLY1305)
    assert envelope.decrypt(data, store, policy=policy) == b"hello"


def test_denied_hpke_kdf_replaced(store: Keystore, tmp_path: Path) -> None:
    # p384's default HPKE KDF is HKDF-SHA384, but this policy allows HKDF-SHA256 only.
    policy = _policy(tmp_path, "sha256", '[kdf]\nallowed = ["hkdf-sha256"]\n')
    keyset = store.create_keyset("r", "kem", "p384")

    data = envelope.encrypt(b"hello", keyset, policy=policy)

    assert _hpke_ids(data)[0] == HKDF_SHA256
    assert envelope.decrypt(data, store, policy=policy) == b"hello"


def test_no_hpke_aead_allowed(store: Keystore, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "xchacha", '[aead]\nallowed = ["xchacha20-poly1305"]\n')
    keyset = store.create_keyset("r", "kem", "x25519")

    with pytest.raises(PolicyViolation) as caught:
        envelope.encrypt(b"hello", keyset, policy=policy)

    message = str(caught.value)
    assert "aes-256-gcm" in message
    assert "chacha20-poly1305" in message
    assert "aes-128-gcm" in message


def test_encrypt_needs_schedule_kdf(store: Keystore, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "sha512", '[kdf]\nallowed = ["hkdf-sha512"]\n')
    keyset = store.create_keyset("r", "kem", "x25519")

    with pytest.raises(PolicyViolation, match="derives its message keys with hkdf-sha256"):
        envelope.encrypt(b"hello", keyset, policy=policy)


def test_decrypt_needs_schedule_kdf(store: Keystore, tmp_path: Path) -> None:
    # A symmetric stanza names no KDF, so only the key schedule's HKDF-SHA256 is checked.
    keyset = store.create_keyset("r", "aead", "aes-256-gcm")
    data = envelope.encrypt(b"hello", keyset, policy="default")
    policy = _policy(tmp_path, "sha512", '[kdf]\nallowed = ["hkdf-sha512"]\n')

    with pytest.raises(PolicyViolation, match="derives its message keys with hkdf-sha256"):
        envelope.decrypt(data, store, policy=policy)


def test_schedule_kdf_decrypt_only_opens(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("r", "aead", "aes-256-gcm")
    data = envelope.encrypt(b"hello", keyset, policy="default")
    policy = _policy(
        tmp_path,
        "old-sha256",
        '[kdf]\nallowed = ["hkdf-sha512"]\ndecrypt_only = ["hkdf-sha256"]\n',
    )

    assert envelope.decrypt(data, store, policy=policy) == b"hello"


def test_kem_transport_encrypt_checks_wrap(store: Keystore, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "chacha", '[aead]\nallowed = ["chacha20-poly1305"]\n')
    keyset = store.create_keyset("r", "kem", "rsa-oaep-3072")

    with pytest.raises(PolicyViolation, match="KEM transport stanza"):
        envelope.encrypt(b"hello", keyset, policy=policy)


def test_kem_transport_decrypt_checks_wrap(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("r", "kem", "rsa-oaep-3072")
    data = envelope.encrypt(
        b"hello", keyset, policy="default", payload_algorithm="chacha20-poly1305"
    )
    policy = _policy(tmp_path, "chacha", '[aead]\nallowed = ["chacha20-poly1305"]\n')

    with pytest.raises(PolicyViolation, match="KEM transport stanza"):
        envelope.decrypt(data, store, policy=policy)


def test_rewrap_uses_allowed_suite(store: Keystore, tmp_path: Path) -> None:
    old = store.create_keyset("old", "kem", "x25519")
    new = store.create_keyset("new", "kem", "x25519")
    data = envelope.encrypt(b"hello", old, policy="default", payload_algorithm="chacha20-poly1305")
    policy = _policy(
        tmp_path,
        "chacha",
        '[aead]\nallowed = ["chacha20-poly1305"]\ndecrypt_only = ["aes-256-gcm"]\n',
    )

    rewrapped = envelope.rewrap(data, store, new_recipients=new, policy=policy)

    assert _hpke_ids(rewrapped) == (HKDF_SHA256, CHACHA20_POLY1305)
