from __future__ import annotations

from pathlib import Path

import pytest

from agile import envelope
from agile.errors import KeyNotFound, PolicyViolation, WrongPassphrase
from agile.keys import Keystore
from agile.keys.kek import forget_keks
from agile.keys.keyset import _private_cache


def test_wrong_key(store: Keystore, tmp_path: Path) -> None:
    sealed = envelope.encrypt(b"m", store.create_keyset("r", "kem", "x25519"))
    other = Keystore.open(tmp_path / "other")
    other.create_keyset("r", "kem", "x25519")
    with pytest.raises(KeyNotFound) as caught:
        envelope.decrypt(sealed, other)
    assert envelope.read_header(sealed).recipients[0].key_id in str(caught.value)


def test_wrong_passphrase(store: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = envelope.encrypt(b"m", store.create_keyset("r", "kem", "x25519"))
    forget_keks()
    _private_cache.clear()
    monkeypatch.setenv("AGILE_PASSPHRASE", "wrong")
    with pytest.raises(WrongPassphrase):
        envelope.decrypt(sealed, Keystore.open(store.path))


def test_policy_forbids_recipient_algorithm(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    with pytest.raises(PolicyViolation):
        envelope.encrypt(b"m", keyset, policy="pq-hybrid")


def test_policy_forbids_payload_algorithm(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x-wing")
    with pytest.raises(PolicyViolation):
        envelope.encrypt(b"m", keyset, policy="pq-hybrid", payload_algorithm="aes-128-gcm")


def test_policy_forbids_decrypt(store: Keystore) -> None:
    sealed = envelope.encrypt(b"m", store.create_keyset("r", "kem", "x25519"))
    with pytest.raises(PolicyViolation):
        envelope.decrypt(sealed, store, policy="pq-only")


def test_decrypt_only_algorithm_still_decrypts(store: Keystore) -> None:
    sealed = envelope.encrypt(b"m", store.create_keyset("r", "kem", "x25519"))
    assert envelope.decrypt(sealed, store, policy="pq-hybrid") == b"m"


def test_active_policy_applies(store: Keystore) -> None:
    from agile.policy import set_active_policy

    keyset = store.create_keyset("r", "kem", "x25519")
    set_active_policy(store.path, "pq-hybrid")
    with pytest.raises(PolicyViolation):
        envelope.encrypt(b"m", keyset)
