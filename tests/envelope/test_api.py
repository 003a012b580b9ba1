from __future__ import annotations

import agile
from agile.keys import Keystore


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
