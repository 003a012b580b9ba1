"""Removing a key from a keyset: the status rules, the store scan, the audit and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import agile
from agile.errors import KeyNotFound, KeysetError
from agile.keys import Keyset, Keystore
from agile.keys.audit import AuditLog
from agile.rotate import open_store
from agile.rotate.backup import backup_keystore, restore_keystore
from agile.rotate.journal import Journal, KeyChange
from agile.rotate.stores import ObjectStore
from tests.cli_helpers import run_agile

PASSPHRASE = "correct horse battery staple"


def _pem(private: X25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _raw(private: X25519PrivateKey) -> bytes:
    return private.private_bytes_raw()


@pytest.fixture
def team(store: Keystore) -> Keyset:
    """Return a kem keyset with an x-wing primary key and an imported x25519 key "wrong-id"."""
    keyset = store.create_keyset("team", "kem", "x-wing")
    keyset.import_key(_pem(X25519PrivateKey.generate()), key_id="wrong-id")
    return keyset


@pytest.fixture
def objects(store: Keystore, tmp_path: Path) -> ObjectStore:
    """Return an empty directory store registered with the keystore as "objects"."""
    opened = open_store(str(tmp_path / "objects"), create=True)
    store.add_store("objects", opened.url)
    return opened


# 1. Status rules.


def test_primary_rejected(team: Keyset) -> None:
    with pytest.raises(KeysetError, match="primary key") as raised:
        team.remove_key(team.primary.id)
    assert "promote another key" in str(raised.value.fix)


def test_primary_rejected_with_force(team: Keyset) -> None:
    with pytest.raises(KeysetError, match="primary key"):
        team.remove_key(team.primary.id, force=True)
    assert team.keystore.keyset("team").primary.id == team.primary.id


def test_enabled_key_rejected(team: Keyset) -> None:
    with pytest.raises(KeysetError, match="is enabled") as raised:
        team.remove_key("wrong-id")
    assert "agile keyset disable team wrong-id" in str(raised.value.fix)


def test_enabled_key_removed_with_force(team: Keyset) -> None:
    team.remove_key("wrong-id", force=True)
    assert [key.id for key in team.keys] == [team.primary.id]


@pytest.mark.parametrize("status", ["disabled", "destroyed"])
def test_retired_key_removed(team: Keyset, status: str) -> None:
    team.disable("wrong-id")
    if status == "destroyed":
        team.destroy("wrong-id")
    removed = team.remove_key("wrong-id")
    assert removed.status.value == status
    assert "wrong-id" not in [key.id for key in team.keystore.keyset("team").keys]


def test_missing_key_not_found(team: Keyset) -> None:
    with pytest.raises(KeyNotFound, match="no key 'absent'"):
        team.remove_key("absent")


def test_stale_snapshot_checks_disk(team: Keyset, store: Keystore) -> None:
    """A status changed by another process after this snapshot was read still counts."""
    team.disable("wrong-id")
    store.keyset("team").set_status("wrong-id", "enabled")
    assert team.key("wrong-id").status.value == "disabled"
    with pytest.raises(KeysetError, match="is enabled"):
        team.remove_key("wrong-id")


# 2. The keyset file and the audit log.


def test_private_part_gone_from_file(team: Keyset, store: Keystore) -> None:
    sealed = team.key("wrong-id").sealed
    assert sealed is not None
    team.disable("wrong-id")
    team.remove_key("wrong-id")
    text = (store.path / "keysets" / "team.json").read_text()
    assert "wrong-id" not in text
    assert sealed["ciphertext"] not in text
    assert [key["id"] for key in json.loads(text)["keys"]] == [team.primary.id]


def test_keyset_file_stays_0600(team: Keyset, store: Keystore) -> None:
    team.disable("wrong-id")
    team.remove_key("wrong-id")
    assert (store.path / "keysets" / "team.json").stat().st_mode & 0o777 == 0o600


def test_removal_audited(team: Keyset, store: Keystore) -> None:
    team.disable("wrong-id")
    team.remove_key("wrong-id")
    record = list(AuditLog(store.path).records())[-1]
    assert record["event"] == "key-removed"
    assert record["keyset"] == "team"
    assert record["key_id"] == "wrong-id"
    assert record["algorithm"] == "x25519"
    assert record["previous"] == "disabled"
    assert record["forced"] is False
    assert record["policy_hash"] == store.policy().hash


def test_forced_removal_audited(team: Keyset, store: Keystore) -> None:
    team.remove_key("wrong-id", force=True)
    record = list(AuditLog(store.path).records())[-1]
    assert record["previous"] == "enabled"
    assert record["forced"] is True


def test_rejected_removal_not_audited(team: Keyset, store: Keystore) -> None:
    before = list(AuditLog(store.path).records())
    with pytest.raises(KeysetError):
        team.remove_key("wrong-id")
    assert list(AuditLog(store.path).records()) == before


# 3. Import again after removal.


@pytest.mark.parametrize("encode", [_pem, _raw], ids=["pem", "raw"])
def test_reimport_under_new_id(store: Keystore, encode) -> None:  # type: ignore[no-untyped-def]
    keyset = store.create_keyset("team", "kem", "x-wing")
    material = encode(X25519PrivateKey.generate())
    options = {"format": "raw", "algorithm": "x25519", "public": False} if encode is _raw else {}
    keyset.import_key(material, key_id="A", **options)
    keyset.disable("A")
    keyset.remove_key("A")

    imported = keyset.import_key(material, key_id="B", **options)
    sealed = agile.encrypt(b"for B", to=imported, keystore=store)
    assert agile.inspect(sealed).recipients[0].key_id == "B"
    assert agile.decrypt(sealed, keystore=store) == b"for B"


def test_reimport_blocked_before_removal(team: Keyset) -> None:
    """Without a removal, the same key cannot join the keystore under another id."""
    private = X25519PrivateKey.generate()
    team.import_key(_pem(private), key_id="A")
    team.disable("A")
    with pytest.raises(KeysetError, match="already in keyset"):
        team.import_key(_pem(private), key_id="B")


# 4. Stored objects that name the key.


def test_encrypted_object_blocks(team: Keyset, store: Keystore, objects: ObjectStore) -> None:
    objects.put("report.txt", agile.encrypt(b"data", to=team.key("wrong-id"), keystore=store))
    objects.put("other.txt", agile.encrypt(b"data", to=team, keystore=store))
    team.disable("wrong-id")
    with pytest.raises(KeysetError) as raised:
        team.remove_key("wrong-id")
    assert "1 stored object names key wrong-id" in str(raised.value)
    assert "objects:report.txt" in str(raised.value)
    assert "other.txt" not in str(raised.value)
    assert "--force" in str(raised.value.fix)
    assert "wrong-id" in [key.id for key in store.keyset("team").keys]


def test_many_objects_counted(team: Keyset, store: Keystore, objects: ObjectStore) -> None:
    for index in range(7):
        objects.put(f"o{index}", agile.encrypt(b"x", to=team.key("wrong-id"), keystore=store))
    team.disable("wrong-id")
    with pytest.raises(KeysetError) as raised:
        team.remove_key("wrong-id")
    assert "7 stored objects name key wrong-id" in str(raised.value)
    assert "and 2 more" in str(raised.value)


def test_signature_object_blocks(store: Keystore, objects: ObjectStore) -> None:
    signers = store.create_keyset("signers", "signature", "ed25519")
    old = signers.primary.id
    objects.put("release.tar", b"release bytes")
    objects.put("release.tar.sig", agile.sign(b"release bytes", signers, keystore=store))
    signers.add_key("ed25519", promote=True)
    signers.disable(old)
    with pytest.raises(KeysetError, match="objects:release.tar.sig"):
        signers.remove_key(old)


def test_objects_of_other_keys_allow(team: Keyset, store: Keystore, objects: ObjectStore) -> None:
    objects.put("other.txt", agile.encrypt(b"data", to=team, keystore=store))
    team.disable("wrong-id")
    team.remove_key("wrong-id")
    assert agile.decrypt(objects.read("other.txt"), keystore=store) == b"data"


def test_forced_removal_skips_scan(team: Keyset, store: Keystore, objects: ObjectStore) -> None:
    objects.put("report.txt", agile.encrypt(b"data", to=team.key("wrong-id"), keystore=store))
    team.disable("wrong-id")
    team.remove_key("wrong-id", force=True)
    with pytest.raises(KeyNotFound):
        agile.decrypt(objects.read("report.txt"), keystore=store)


def test_unreadable_object_blocks(team: Keyset, objects: ObjectStore) -> None:
    objects.put("damaged", b"AGILE\x00 not an envelope header")
    team.disable("wrong-id")
    with pytest.raises(KeysetError, match="object 'damaged' of store 'objects'"):
        team.remove_key("wrong-id")


def test_unreadable_store_blocks(team: Keyset, store: Keystore, tmp_path: Path) -> None:
    store.add_store("gone", str(tmp_path / "gone"))
    (tmp_path / "gone").rmdir()  # registering created it
    team.disable("wrong-id")
    with pytest.raises(KeysetError, match="store 'gone' cannot be read") as raised:
        team.remove_key("wrong-id")
    assert "--force" in str(raised.value.fix)


def test_unreadable_store_with_force(team: Keyset, store: Keystore, tmp_path: Path) -> None:
    store.add_store("gone", str(tmp_path / "gone"))
    (tmp_path / "gone").rmdir()  # registering created it
    team.disable("wrong-id")
    team.remove_key("wrong-id", force=True)
    assert "wrong-id" not in [key.id for key in store.keyset("team").keys]


def test_damaged_sqlite_store_blocks(team: Keyset, store: Keystore, tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    open_store(f"sqlite:///{database}?table=secrets", create=True).close()
    store.add_store("db", f"sqlite:///{database}?table=secrets")
    database.write_bytes(b"not a database" * 100)
    team.disable("wrong-id")
    with pytest.raises(KeysetError, match="store 'db' cannot be read"):
        team.remove_key("wrong-id")


# 5. Unfinished rotation runs.


def _unfinished_run(store: Keystore, old_key_id: str, new_key_id: str) -> str:
    journal = Journal(store.path)
    try:
        change = KeyChange(
            keyset="team",
            old_key_ids=(old_key_id,),
            known_key_ids=(old_key_id, new_key_id),
            new_algorithm=None,
            new_key_id=new_key_id,
            state="planned",
            reasons={old_key_id: ["test"]},
        )
        return journal.create_run("default", "sha256:0", {}, [change]).run_id
    finally:
        journal.close()


def test_unfinished_rotation_blocks(team: Keyset, store: Keystore) -> None:
    run_id = _unfinished_run(store, "wrong-id", team.primary.id)
    # The run retires the key, so disabling it needs force.
    team.disable("wrong-id", force=True)
    with pytest.raises(KeysetError, match=f"rotation run {run_id}") as raised:
        team.remove_key("wrong-id")
    assert "agile rotate --resume" in str(raised.value.fix)


def test_finished_rotation_allows(team: Keyset, store: Keystore) -> None:
    run_id = _unfinished_run(store, "wrong-id", team.primary.id)
    journal = Journal(store.path)
    journal.set_run_state(run_id, "done", {})
    journal.close()
    team.disable("wrong-id")
    team.remove_key("wrong-id")
    assert "wrong-id" not in [key.id for key in team.keys]


def test_no_journal_created(team: Keyset, store: Keystore) -> None:
    team.disable("wrong-id")
    team.remove_key("wrong-id")
    assert not [path.name for path in store.path.iterdir() if "journal" in path.name]


# 6. Backups.


def test_backup_restores_removed_key(team: Keyset, store: Keystore, tmp_path: Path) -> None:
    sealed = agile.encrypt(b"kept", to=team.key("wrong-id"), keystore=store)
    backup_keystore(store.path, tmp_path / "backup.json")
    team.disable("wrong-id")
    team.remove_key("wrong-id", force=True)

    restore_keystore(store.path, tmp_path / "backup.json", force=True)
    keystore = Keystore.open(store.path)
    assert keystore.keyset("team").key("wrong-id").status.value == "enabled"
    assert agile.decrypt(sealed, keystore=keystore) == b"kept"


# 7. The command line.


def test_cli_removes_and_prints(team: Keyset, store: Keystore) -> None:
    team.disable("wrong-id")
    result = run_agile(store.path, "keyset", "remove-key", "team", "wrong-id")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "key wrong-id of keyset team: disabled -> removed\n"


@pytest.mark.parametrize(
    ("key_id", "expected"),
    [("absent", "has no key 'absent'"), ("wrong-id", "agile keyset disable team wrong-id")],
)
def test_cli_rejects_one_line(team: Keyset, store: Keystore, key_id: str, expected: str) -> None:
    result = run_agile(store.path, "keyset", "remove-key", "team", key_id)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_force_removes_enabled(team: Keyset, store: Keystore) -> None:
    result = run_agile(store.path, "keyset", "remove-key", "team", "wrong-id", "--force")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "key wrong-id of keyset team: enabled -> removed\n"


def test_cli_help_has_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "keyset", "remove-key", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "agile keyset remove-key files" in result.stdout


def test_cli_listed_in_group_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "keyset", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "remove-key" in result.stdout
