"""Keyset files with fields of the wrong JSON type, repeated key ids or two primaries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agile.errors import KeystoreError
from agile.keys import Keystore


def _second_primary(data: dict[str, Any]) -> None:
    data["keys"].append(dict(data["keys"][0], id="another"))


def _repeated_id(data: dict[str, Any]) -> None:
    data["keys"].append(dict(data["keys"][0], status="enabled"))


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "uid-number": (lambda data: data.update(uid=5), "'uid' is not a string"),
    "seal-number": (lambda data: data.update(seal=5), "'seal' is not an object"),
    "keys-string": (lambda data: data.update(keys="x"), "'keys' is not a list"),
    "key-id-number": (lambda data: data["keys"][0].update(id=5), "'id' is not a string"),
    "public-null": (lambda data: data["keys"][0].update(public=None), "'public' is not a string"),
    "repeated-id": (_repeated_id, "appears twice"),
    "two-primaries": (_second_primary, "2 keys are primary"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_field_rejected(store: Keystore, name: str) -> None:
    change, needle = CASES[name]
    store.create_keyset("mail", "kem", "x25519")
    file = store.path / "keysets" / "mail.json"
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))

    with pytest.raises(KeystoreError, match=needle):
        Keystore.open(store.path).keyset("mail")
