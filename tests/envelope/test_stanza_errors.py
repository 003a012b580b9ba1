"""Recipient stanzas: short bodies, HPKE codepoints, and the length of error messages."""

from __future__ import annotations

import struct

import pytest

from agile import envelope, hpke
from agile.envelope.encrypted import _assemble, _open
from agile.envelope.format import MAGIC, Stanza, parse_header
from agile.envelope.recipients import _HPKE_INFO, binding
from agile.errors import AuthenticationFailed, KeyNotFound, PolicyViolation
from agile.keys import Keystore


def _replace_stanzas(data: bytes, stanzas: list[Stanza], store: Keystore) -> bytes:
    """Return ``data`` with new stanzas and a header MAC made with its real data key."""
    header = parse_header(data)
    opened = _open(header, store, store.policy(None))
    section = header.payload_context[len(MAGIC) + 2 :]
    return _assemble(section, stanzas, opened.schedule) + data[header.length :]


@pytest.mark.parametrize(
    ("algorithm", "body"),
    [
        ("x25519", b"\x00\x01"),  # HPKE: shorter than kdf id, aead id and enc length
        ("x25519", b""),
        ("x25519", struct.pack(">HHH", 1, 2, 40) + b"\x01" * 10),  # enc cut short
        ("rsa-oaep-3072", b"\x01"),  # KEM transport: shorter than the ciphertext length
        ("rsa-oaep-3072", b"\x01\x00" + b"\x02" * 20),  # ciphertext cut short
        ("aes-256-gcm", b"\x01" * 5),  # symmetric: shorter than the nonce
    ],
)
def test_short_body_message(store: Keystore, algorithm: str, body: bytes) -> None:
    purpose = "aead" if algorithm == "aes-256-gcm" else "kem"
    keyset = store.create_keyset("r", purpose, algorithm)
    data = envelope.encrypt(b"hello", keyset)
    damaged = _replace_stanzas(data, [Stanza(keyset.primary.id, algorithm, body)], store)
    with pytest.raises(AuthenticationFailed) as caught:
        envelope.decrypt(damaged, store)
    message = str(caught.value)
    assert keyset.primary.id in message
    assert "unpack" not in message
    assert "buffer" not in message
    assert not message.endswith(": ")


@pytest.mark.parametrize(
    ("kdf", "aead"),
    [("hkdf-sha256", "aes-128-gcm"), ("hkdf-sha512", "chacha20-poly1305")],
)
def test_hpke_codepoints_accepted(store: Keystore, kdf: str, aead: str) -> None:
    # docs/format.md lists KDFs 0x0001-0x0003 and AEADs 0x0001-0x0003 as accepted.
    keyset = store.create_keyset("r", "kem", "x25519")
    data = envelope.encrypt(b"hello", keyset)
    header = parse_header(data)
    opened = _open(header, store, store.policy(None))
    suite = hpke.Suite.from_ids(kem="x25519", kdf=kdf, aead=aead)
    key_id = keyset.primary.id
    info = binding(_HPKE_INFO, header.payload_context, key_id)
    enc, sealed = hpke.seal(suite, keyset.public_key(key_id), opened.data_key, info=info)
    body = struct.pack(">HHH", suite.kdf_id, suite.aead_id, len(enc)) + enc + sealed
    rewritten = _replace_stanzas(data, [Stanza(key_id, "x25519", body)], store)
    assert envelope.decrypt(rewritten, store) == b"hello"


def test_hpke_export_only_rejected(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    data = envelope.encrypt(b"hello", keyset)
    original = parse_header(data).recipients[0].body
    body = original[:2] + b"\xff\xff" + original[4:]
    damaged = _replace_stanzas(data, [Stanza(keyset.primary.id, "x25519", body)], store)
    with pytest.raises(AuthenticationFailed, match="export-only"):
        envelope.decrypt(damaged, store)


def test_many_unknown_recipients_capped(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    data = envelope.encrypt(b"hello", keyset)
    body = parse_header(data).recipients[0].body
    stanzas = [Stanza(f"{index:016x}", "x25519", body) for index in range(1024)]
    unknown = _replace_stanzas(data, stanzas, store)
    with pytest.raises(KeyNotFound) as caught:
        envelope.decrypt(unknown, store)
    message = str(caught.value)
    assert "and 1014 more" in message
    assert f"{1023:016x}" not in message
    assert len(message) < 500


def _with_hpke_suite(store: Keystore, kem: str, kdf: str, aead: str) -> bytes:
    """Return an envelope to a new ``kem`` keyset whose stanza uses the given HPKE KDF and AEAD."""
    keyset = store.create_keyset("r", "kem", kem)
    data = envelope.encrypt(b"hello", keyset)
    header = parse_header(data)
    opened = _open(header, store, store.policy(None))
    suite = hpke.Suite.from_ids(kem=kem, kdf=kdf, aead=aead)
    key_id = keyset.primary.id
    info = binding(_HPKE_INFO, header.payload_context, key_id)
    enc, sealed = hpke.seal(suite, keyset.public_key(key_id), opened.data_key, info=info)
    body = struct.pack(">HHH", suite.kdf_id, suite.aead_id, len(enc)) + enc + sealed
    return _replace_stanzas(data, [Stanza(key_id, kem, body)], store)


def test_hpke_aead_denied_by_policy(store: Keystore) -> None:
    # fips allows P-256 but not ChaCha20-Poly1305, which this stanza's HPKE uses.
    data = _with_hpke_suite(store, "p256", "hkdf-sha256", "chacha20-poly1305")
    with pytest.raises(PolicyViolation, match="chacha20-poly1305"):
        envelope.decrypt(data, store, policy="fips")


def test_hpke_aead_allowed_by_policy(store: Keystore) -> None:
    data = _with_hpke_suite(store, "p256", "hkdf-sha256", "chacha20-poly1305")
    assert envelope.decrypt(data, store, policy="default") == b"hello"


def test_unreadable_keyset_named_when_no_key_found(store: Keystore) -> None:
    """The key may be in the keyset file that could not be read, and the error names it."""
    from agile.errors import KeystoreError

    keyset = store.create_keyset("r", "kem", "x25519")
    data = envelope.encrypt(b"hello", keyset)
    with (store.path / "keysets" / "r.json").open("a") as file:
        file.write("garbage")

    with pytest.raises(KeystoreError, match="r.json") as caught:
        envelope.decrypt(data, Keystore.open(store.path))

    assert not isinstance(caught.value, KeyNotFound)
    assert "backup" in (caught.value.fix or "")
