from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import agile
from agile.errors import InvalidArgument, PolicyViolation
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


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: agile.encrypt("secret", to="files"), "plaintext must be"),
        (lambda: agile.encrypt(None, to="files"), "plaintext must be"),
        (lambda: agile.encrypt(b"m", to=5), "to must be"),
        (lambda: agile.encrypt(b"m", to=None), "to must be"),
        (lambda: agile.encrypt(b"m", to=[]), "to must be"),
        (lambda: agile.encrypt(b"m", to="files", aad="abc"), "aad must be bytes"),
        (lambda: agile.encrypt(b"m", to="files", policy=5), "policy must be"),
        (lambda: agile.encrypt(b"m", to="files", keystore=5), "keystore must be"),
        (lambda: agile.decrypt(5), "sealed must be"),
        (lambda: agile.decrypt(b"x", aad="abc"), "aad must be bytes"),
        (lambda: agile.sign("m", "ed"), "message must be"),
        (lambda: agile.sign(b"m", 5), "keysets must be"),
        (lambda: agile.verify(None, b"m"), "signature must be"),
        (lambda: agile.verify(b"s", "m"), "message must be"),
        (lambda: agile.inspect(5), "data must be"),
        (lambda: agile.inspect(None), "data must be"),
    ],
)
def test_wrong_types(store: Keystore, call: Any, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle):
        call()


def test_recipients_from_generator(store: Keystore) -> None:
    store.create_keyset("files", "kem", "x25519")
    sealed = agile.encrypt(b"m", to=(name for name in ["files"]), keystore=store)
    assert agile.decrypt(sealed, keystore=store) == b"m"
