from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import agile
from agile.errors import PolicyViolation
from agile.keys import Keystore
from agile.policy import set_active_policy


def test_encrypt_by_name(store: Keystore) -> None:
    store.create_keyset("files", "kem", "x25519")
    sealed = agile.encrypt(b"secret", to="files", keystore=store.path)
    assert agile.decrypt(sealed, keystore=store.path) == b"secret"


def test_default_keystore(store: Keystore) -> None:
    store.create_keyset("files", "kem", "x-wing")
    sealed = agile.encrypt(b"secret", to=["files"])
    assert agile.inspect(sealed).recipients[0].algorithm == "x-wing"
    assert agile.decrypt(sealed) == b"secret"


def test_sign_verify_by_name(store: Keystore) -> None:
    store.create_keyset("ed", "signature", "ed25519")
    signature = agile.sign(b"m", "ed", keystore=store)
    assert agile.verify(signature, b"m", keystore=store)[0].keyset == "ed"


def test_keystore_reused(store: Keystore) -> None:
    assert agile.open_keystore(store.path) is agile.open_keystore(str(store.path))


def test_keystore_recreated(tmp_path: Path) -> None:
    first = agile.open_keystore(tmp_path / "ks")
    shutil.rmtree(tmp_path / "ks")
    assert agile.open_keystore(tmp_path / "ks") is not first


def test_policy_change_seen(store: Keystore) -> None:
    store.create_keyset("files", "kem", "x25519")
    sealed = agile.encrypt(b"secret", to="files", keystore=store.path)
    set_active_policy(store.path, "pq-only")
    with pytest.raises(PolicyViolation):
        agile.decrypt(sealed, keystore=store.path)
