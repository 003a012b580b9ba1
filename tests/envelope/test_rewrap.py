from __future__ import annotations

import pytest

from agile import envelope
from agile.errors import InvalidArgument, KeyNotFound, PolicyViolation
from agile.keys import Keystore


def test_rewrap_keeps_payload_bytes(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    old = keyset.primary.id
    sealed = envelope.encrypt(b"p" * 5000, keyset, chunk_size=1024)
    keyset.add_key("x-wing", promote=True)
    rewrapped = envelope.rewrap(sealed, store, old_key_ids=[old], new_recipients=[keyset])
    before, after = envelope.read_header(sealed), envelope.read_header(rewrapped)
    assert rewrapped[after.length :] == sealed[before.length :]
    assert [s.algorithm for s in after.recipients] == ["x-wing"]
    assert envelope.decrypt(rewrapped, store) == b"p" * 5000


def test_rewrap_old_key_gone(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    old = keyset.primary.id
    sealed = envelope.encrypt(b"p", keyset)
    keyset.add_key("x-wing", promote=True)
    rewrapped = envelope.rewrap(sealed, store, old_key_ids=[old], new_recipients=[keyset])
    keyset.set_status(old, "decrypt-only")
    keyset.disable(old)
    keyset.destroy(old)
    assert envelope.decrypt(rewrapped, store) == b"p"


def test_rewrap_keeps_other_recipients(store: Keystore) -> None:
    first = store.create_keyset("a", "kem", "x25519")
    second = store.create_keyset("b", "aead")
    sealed = envelope.encrypt(b"p", [first, second])
    third = store.create_keyset("c", "kem", "p256")
    rewrapped = envelope.rewrap(
        sealed, store, old_key_ids=[first.primary.id], new_recipients=[third]
    )
    ids = [s.key_id for s in envelope.read_header(rewrapped).recipients]
    assert ids == [second.primary.id, third.primary.id]


def test_rewrap_without_recipients(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"p", keyset)
    with pytest.raises(InvalidArgument):
        envelope.rewrap(sealed, store, old_key_ids=[keyset.primary.id], new_recipients=[])


def test_rewrap_refuses_disallowed_payload(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"p", keyset, payload_algorithm="aes-128-gcm")
    target = store.create_keyset("pq", "kem", "x-wing")
    with pytest.raises(PolicyViolation):
        envelope.rewrap(sealed, store, new_recipients=[target], policy="pq-hybrid")


def test_rewrap_needs_a_key(store: Keystore, tmp_path: object) -> None:
    from pathlib import Path

    sealed = envelope.encrypt(b"p", store.create_keyset("r", "kem", "x25519"))
    other = Keystore.open(Path(str(tmp_path)) / "other")
    target = other.create_keyset("t", "kem", "x25519")
    with pytest.raises(KeyNotFound):
        envelope.rewrap(sealed, other, new_recipients=[target])


def test_rewrapped_header_tamper_detected(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"p", keyset)
    keyset.add_key("x25519", promote=True)
    rewrapped = bytearray(envelope.rewrap(sealed, store, new_recipients=[keyset]))
    rewrapped[envelope.read_header(bytes(rewrapped)).length - 40] ^= 1
    from agile.errors import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        envelope.decrypt(bytes(rewrapped), store)


def test_reencrypt_changes_payload(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"p" * 100, keyset, payload_algorithm="aes-128-gcm")
    target = store.create_keyset("pq", "kem", "x-wing")
    fresh = envelope.reencrypt(sealed, store, new_recipients=[target], policy="pq-hybrid")
    header = envelope.read_header(fresh)
    assert header.payload_algorithm == "aes-256-gcm"
    assert header.salt != envelope.read_header(sealed).salt
    assert envelope.decrypt(fresh, store, policy="pq-hybrid") == b"p" * 100
