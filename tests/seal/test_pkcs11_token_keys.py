"""The pkcs11 sealer when the token's key for a blob was duplicated or replaced (SoftHSM2)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agile.errors import SealError
from agile.seal.base import unseal
from agile.seal.pkcs11 import PKCS11Sealer, UnwrapFailed
from tests.cli_helpers import run_cli

AD = b"agile keyset kek v1\x00test\x00uid"


@contextmanager
def _session(softhsm: Any) -> Iterator[Any]:
    """Open a read-write session on the test token, as pkcs11-tool would."""
    import pkcs11

    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin, rw=True) as session:
        yield session


def _add_key(softhsm: Any, key_id: str, label: str) -> None:
    import pkcs11

    with _session(softhsm) as session:
        session.generate_key(
            pkcs11.KeyType.AES, 256, id=bytes.fromhex(key_id), label=label, store=True
        )


def _delete_key(softhsm: Any, label: str) -> None:
    import pkcs11

    with _session(softhsm) as session:
        session.get_key(object_class=pkcs11.ObjectClass.SECRET_KEY, label=label).destroy()


def test_duplicate_id_names_the_id(softhsm) -> None:
    blob = PKCS11Sealer().seal(os.urandom(32), AD)
    _add_key(softhsm, blob["key_id"], "x")

    with pytest.raises(SealError) as caught:
        unseal(blob, AD)

    assert f"2 AES keys with id {blob['key_id']}" in str(caught.value)
    assert blob["key_label"] in (caught.value.fix or "")


def test_duplicate_id_cli_one_line(keystore, fast_passphrase, softhsm, tmp_path: Path) -> None:
    created = run_cli("keyset", "create", "dup", "--purpose", "aead", "--seal", "pkcs11", text=True)
    assert created.returncode == 0, created.stderr
    plaintext = tmp_path / "plain.txt"
    plaintext.write_text("numbers\n")
    sealed = tmp_path / "plain.agile"
    encrypted = run_cli("encrypt", "--to", "dup", "-o", str(sealed), str(plaintext), text=True)
    assert encrypted.returncode == 0, encrypted.stderr
    key_id = json.loads((keystore / "keysets" / "dup.json").read_text())["seal"]["key_id"]
    _add_key(softhsm, key_id, "x")

    opened = run_cli("decrypt", str(sealed), text=True)

    assert opened.returncode == 2
    assert key_id in opened.stderr
    assert "Exception ignored" not in opened.stderr
    assert len(opened.stderr.splitlines()) == 1


def test_replaced_key_points_at_token(softhsm) -> None:
    blob = PKCS11Sealer().seal(os.urandom(32), AD)
    _delete_key(softhsm, blob["key_label"])
    _add_key(softhsm, blob["key_id"], "x")

    with pytest.raises(UnwrapFailed) as caught:
        unseal(blob, AD)

    assert "replaced by another key with the same id" in str(caught.value)
    assert "keyset file is intact" in (caught.value.fix or "")


def test_replaced_same_label_mentions_key(softhsm) -> None:
    blob = PKCS11Sealer().seal(os.urandom(32), AD)
    _delete_key(softhsm, blob["key_label"])
    _add_key(softhsm, blob["key_id"], blob["key_label"])

    with pytest.raises(UnwrapFailed) as caught:
        unseal(blob, AD)

    assert f"token key with id {blob['key_id']}" in (caught.value.fix or "")
