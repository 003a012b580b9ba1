"""Keystore and keyset state checks: damaged files, wrong paths, modes, key lifecycle."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from agile import envelope, registry
from agile.envelope import format as envelope_format
from agile.errors import InvalidArgument, InvalidEnvelope, KeysetError, KeystoreError
from agile.keys import Keystore


def test_config_not_object(store: Keystore) -> None:
    (store.path / "keystore.json").write_text("[]")
    with pytest.raises(KeystoreError, match="not a JSON object"):
        store.stores()


def test_path_is_file(tmp_path: Path) -> None:
    file = tmp_path / "hostname"
    file.write_text("x")
    with pytest.raises(KeystoreError, match="not a directory"):
        Keystore.open(file)


def test_loose_keyset_file_tightened(store: Keystore) -> None:
    store.create_keyset("files", "kem", "x25519")
    file = store.path / "keysets" / "files.json"
    os.chmod(file, 0o644)
    Keystore.open(store.path).keyset("files")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_add_key_keeps_pq(store: Keystore) -> None:
    keyset = store.create_keyset("files", "kem", "x-wing")
    assert keyset.add_key(promote=True, policy="default").algorithm == "x-wing"


def test_add_key_preferred_when_banned(store: Keystore) -> None:
    keyset = store.create_keyset("files", "kem", "x25519", policy="default")
    assert keyset.add_key(policy="pq-only").algorithm != "x25519"


def test_destroy_twice(store: Keystore) -> None:
    keyset = store.create_keyset("files", "kem", "x25519")
    old = keyset.primary.id
    keyset.add_key(promote=True)
    keyset.disable(old)
    keyset.destroy(old)
    with pytest.raises(KeysetError, match="already destroyed"):
        keyset.destroy(old)


@pytest.mark.parametrize(
    ("destroy", "advice"), [(False, "decrypt-only"), (True, "keystore restore")]
)
def test_unusable_key_fix(store: Keystore, destroy: bool, advice: str) -> None:
    keyset = store.create_keyset("files", "kem", "x25519")
    old = keyset.primary.id
    sealed = envelope.encrypt(b"m", keyset)
    keyset.add_key(promote=True)
    keyset.disable(old)
    if destroy:
        keyset.destroy(old)
    with pytest.raises(KeysetError) as caught:
        envelope.decrypt(sealed, store)
    assert advice in (caught.value.fix or "")


def test_framing_error_has_fix() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        envelope_format.parse_header(envelope_format.MAGIC + b"\x01\x07" + bytes(8))
    assert caught.value.fix


def test_import_same_key_twice(store: Keystore, tmp_path: Path) -> None:
    source = Keystore.open(tmp_path / "other").create_keyset("source", "kem", "x25519")
    raw = source.export_public(source.primary.id, format="raw")
    target = store.create_keyset("target", "kem", "x25519")
    target.import_key(raw, format="raw", algorithm="x25519", public=True)
    with pytest.raises(KeysetError, match="already in keyset"):
        target.import_key(raw, format="raw", algorithm="x25519", public=True)


def test_open_without_create(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no keystore"):
        Keystore.open(tmp_path / "typo", create=False)
    assert not (tmp_path / "typo").exists()


def test_pem_export_keeps_key_id(store: Keystore, tmp_path: Path) -> None:
    source = store.create_keyset("source", "kem", "x25519")
    pem = source.export_public(source.primary.id, format="pem")
    other = Keystore.open(tmp_path / "other")
    imported = other.create_keyset("partner", "kem", "x25519").import_key(pem, public=True)
    assert imported.id == source.primary.id


def test_pem_key_id_line_readable() -> None:
    from cryptography.hazmat.primitives import serialization

    from agile.keys.transfer import export_public

    keystore_key = os.urandom(32)
    pem = export_public("x25519", keystore_key, "pem", key_id="abc")
    assert pem.startswith(b"Key-Id: abc\n")
    assert serialization.load_pem_public_key(pem).public_bytes_raw() == keystore_key


def test_pem_invalid_key_id(store: Keystore) -> None:
    source = store.create_keyset("source", "kem", "x25519")
    pem = source.export_public(source.primary.id, format="pem")
    renamed = b"Key-Id: bad/id" + pem[pem.index(b"\n") :]
    target = store.create_keyset("target", "kem", "x25519")
    with pytest.raises(InvalidArgument) as caught:
        target.import_key(renamed, public=True)
    assert "--key-id" in (caught.value.fix or "")


def test_substituted_public_key_detected(store: Keystore) -> None:
    home = store.path
    keyset = store.create_keyset("team", "kem", "x25519")
    key_id = keyset.primary.id
    file = home / "keysets" / "team.json"
    record = json.loads(file.read_text())
    # Someone with write access swaps in a public key of their own.
    theirs = registry.kem("x25519").generate().public_key.data
    record["keys"][0]["public"] = base64.b64encode(theirs).decode()
    file.write_text(json.dumps(record))

    with pytest.raises(KeysetError, match=f"public key stored for key {key_id}"):
        Keystore.open(home).keyset("team").private_key(key_id)
