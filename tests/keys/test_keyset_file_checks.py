"""Keyset files whose content contradicts their file name or purpose are rejected on load."""

from __future__ import annotations

import json
import shutil

import pytest

from agile.errors import KeystoreError
from agile.keys import Keystore


def test_copied_file_rejected(store: Keystore) -> None:
    store.create_keyset("mail", "kem", "x25519")
    keysets = store.path / "keysets"
    shutil.copy(keysets / "mail.json", keysets / "copy.json")
    reopened = Keystore.open(store.path)

    with pytest.raises(KeystoreError, match="contains keyset 'mail'"):
        reopened.keyset("copy")
    with pytest.raises(KeystoreError, match="copy.json"):
        reopened.keysets()


def test_algorithm_of_other_purpose_rejected(store: Keystore) -> None:
    store.create_keyset("releases", "signature", "ed25519")
    file = store.path / "keysets" / "releases.json"
    data = json.loads(file.read_text())
    data["purpose"] = "kem"
    file.write_text(json.dumps(data))

    with pytest.raises(KeystoreError, match="signature algorithm 'ed25519'"):
        Keystore.open(store.path).keyset("releases")


def test_unknown_algorithm_still_loads(store: Keystore) -> None:
    """An id from a newer version keeps its own error for when the key is used."""
    store.create_keyset("mail", "kem", "x25519")
    file = store.path / "keysets" / "mail.json"
    data = json.loads(file.read_text())
    data["keys"][0]["algorithm"] = "kem-from-the-future"
    file.write_text(json.dumps(data))

    keyset = Keystore.open(store.path).keyset("mail")

    assert keyset.primary.algorithm == "kem-from-the-future"
