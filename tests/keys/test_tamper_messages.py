"""Messages for a modified keyset file fit what the change can do."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from agile.errors import KeysetError, WrongPassphrase
from agile.keys import Keystore


def _replace_public(store: Keystore, name: str, public: bytes) -> None:
    file = store.path / "keysets" / f"{name}.json"
    data = json.loads(file.read_text())
    data["keys"][0]["public"] = base64.b64encode(public).decode()
    file.write_text(json.dumps(data))


def test_replaced_signature_public_named(store: Keystore) -> None:
    keyset = store.create_keyset("release", "signature", "ed25519")
    key_id = keyset.primary.id
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    _replace_public(store, "release", other)

    with pytest.raises(KeysetError) as raised:
        Keystore.open(store.path).keyset("release").private_key(key_id)

    assert "signatures" in (raised.value.fix or "")
    assert "envelopes" not in (raised.value.fix or "")


def test_replaced_kem_public_named(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    key_id = keyset.primary.id
    _replace_public(store, "mail", bytes(range(32)))

    with pytest.raises(KeysetError) as raised:
        Keystore.open(store.path).keyset("mail").private_key(key_id)

    assert "envelopes encrypted to it" in (raised.value.fix or "")


def test_changed_uid_names_modification(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    key_id = keyset.primary.id
    file = store.path / "keysets" / "mail.json"
    data = json.loads(file.read_text())
    data["uid"] = "0" * 32
    file.write_text(json.dumps(data))

    with pytest.raises(WrongPassphrase, match="or the keyset file was modified") as raised:
        Keystore.open(store.path).keyset("mail").private_key(key_id)

    assert "restore it from a backup" in (raised.value.fix or "")
