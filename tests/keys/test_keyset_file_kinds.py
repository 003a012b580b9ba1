"""Links, FIFOs and folders in keysets/ are reported as unreadable and left unchanged."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from agile.errors import KeysetError, KeystoreError
from agile.keys import Keystore, KeystoreScan


def _outside_file(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("not a keyset\n")
    victim.chmod(0o644)
    return victim


def test_symlink_not_followed(store: Keystore, tmp_path: Path) -> None:
    store.create_keyset("mail", "kem", "x25519")
    victim = _outside_file(tmp_path)
    (store.path / "keysets" / "evil.json").symlink_to(victim)

    scan = Keystore.open(store.path).scan()

    assert [k.name for k in scan.keysets] == ["mail"]
    assert [item.name for item in scan.unreadable] == ["evil"]
    assert "symbolic link" in scan.unreadable[0].reason
    assert victim.stat().st_mode & 0o777 == 0o644


def test_symlink_to_keyset_not_followed(store: Keystore) -> None:
    store.create_keyset("mail", "kem", "x25519")
    keysets = store.path / "keysets"
    (keysets / "mail.json").rename(store.path / "mail.json")
    (keysets / "mail.json").symlink_to(store.path / "mail.json")

    with pytest.raises(KeystoreError, match="is a symbolic link"):
        Keystore.open(store.path).keyset("mail")


def test_hard_link_mode_kept(store: Keystore, tmp_path: Path) -> None:
    victim = _outside_file(tmp_path)
    os.link(victim, store.path / "keysets" / "linked.json")

    scan = Keystore.open(store.path).scan()

    assert [item.name for item in scan.unreadable] == ["linked"]
    assert victim.stat().st_mode & 0o777 == 0o644


def test_readable_keyset_file_tightened(store: Keystore) -> None:
    store.create_keyset("mail", "kem", "x25519")
    file = store.path / "keysets" / "mail.json"
    file.chmod(0o644)

    Keystore.open(store.path).keyset("mail")

    assert file.stat().st_mode & 0o777 == 0o600


def test_directory_named_json(store: Keystore) -> None:
    folder = store.path / "keysets" / "folder.json"
    folder.mkdir(mode=0o755)

    scan = Keystore.open(store.path).scan()

    assert "is a directory" in scan.unreadable[0].reason
    assert folder.stat().st_mode & 0o777 == 0o755


def test_fifo_does_not_block(store: Keystore) -> None:
    store.create_keyset("mail", "kem", "x25519")
    os.mkfifo(store.path / "keysets" / "pipe.json")
    results: list[KeystoreScan] = []
    worker = threading.Thread(
        target=lambda: results.append(Keystore.open(store.path).scan()), daemon=True
    )

    worker.start()
    worker.join(timeout=10)

    assert not worker.is_alive(), "scanning a keystore with a FIFO in keysets/ blocked"
    assert [k.name for k in results[0].keysets] == ["mail"]
    assert "is a FIFO" in results[0].unreadable[0].reason


def test_keysets_folder_tightened(store: Keystore) -> None:
    (store.path / "keysets").chmod(0o777)

    Keystore.open(store.path)

    assert (store.path / "keysets").stat().st_mode & 0o777 == 0o700


def test_linked_keysets_folder_mode_kept(keystore: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    (keystore / "keysets").symlink_to(elsewhere)

    Keystore.open(keystore)

    assert elsewhere.stat().st_mode & 0o777 == 0o755


def test_dangling_link_blocks_create(store: Keystore, tmp_path: Path) -> None:
    target = tmp_path / "created-through-link"
    (store.path / "keysets" / "mail.json").symlink_to(target)

    with pytest.raises(KeysetError, match="already exists"):
        store.create_keyset("mail", "kem", "x25519")
    assert not target.exists()


def test_foreign_folder_rejected(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "other").write_text("someone else's file\n")

    with pytest.raises(KeystoreError, match="is not a keystore"):
        Keystore.open(shared)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    assert sorted(os.listdir(shared)) == ["other"]


def test_empty_folder_becomes_keystore(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    store = Keystore.open(empty)

    assert (store.path / "keystore.json").is_file()
