"""A key belongs to one keyset, and one unreadable keyset file does not stop the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import agile
from agile.errors import DuplicateKey, KeyNotFound, KeysetError, KeystoreError
from agile.keys import KeyStatus, Keystore
from agile.keys.transfer import parse_key

#: The agile CLI, run from the interpreter of the test session.
AGILE = [sys.executable, "-m", "cli.main"]


def _agile(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*AGILE, "--keystore", str(home), *args],
        capture_output=True,
        env=dict(os.environ),
        cwd=home.parent,
        check=False,
        timeout=120,
    )


def _keyset_file(store: Keystore, name: str) -> Path:
    return store.path / "keysets" / f"{name}.json"


def _copy_key(store: Keystore, source: str, target: str, new_id: str | None = None) -> str:
    """Copy the primary key entry of ``source`` into ``target``'s file, as an older agile could."""
    source_data = json.loads(_keyset_file(store, source).read_text())
    target_data = json.loads(_keyset_file(store, target).read_text())
    entry = dict(next(k for k in source_data["keys"] if k["status"] == "primary"))
    entry["status"] = "enabled"
    if new_id is not None:
        entry["id"] = new_id
    target_data["keys"].append(entry)
    # Written as agile writes keyset files: a new file renamed over the old one.
    file = _keyset_file(store, target)
    file.with_suffix(".new").write_text(json.dumps(target_data))
    os.replace(file.with_suffix(".new"), file)
    return str(entry["id"])


def _break(store: Keystore, name: str) -> None:
    """Cut keyset ``name``'s file short, as a full disk or a bad copy would."""
    file = _keyset_file(store, name)
    file.write_bytes(file.read_bytes()[:100])


# Importing a key that another keyset holds.


def test_import_public_key_of_other_keyset(store: Keystore) -> None:
    mine = store.create_keyset("mine", "kem", "x25519")
    raw = mine.export_public(format="raw")
    other = store.create_keyset("other", "kem", "x25519")
    with pytest.raises(DuplicateKey, match="already in keyset 'mine'"):
        other.import_key(raw, format="raw", algorithm="x25519", public=True)


def test_duplicate_fix_names_keyset(store: Keystore) -> None:
    mine = store.create_keyset("mine", "kem", "x25519")
    raw = mine.export_public(format="raw")
    other = store.create_keyset("other", "kem", "x25519")
    with pytest.raises(DuplicateKey) as caught:
        other.import_key(raw, format="raw", algorithm="x25519", public=True)
    assert "'mine'" in (caught.value.fix or "")


def test_duplicate_import_adds_nothing(store: Keystore) -> None:
    mine = store.create_keyset("mine", "kem", "x25519")
    raw = mine.export_public(format="raw")
    other = store.create_keyset("other", "kem", "x25519")
    with pytest.raises(DuplicateKey):
        other.import_key(raw, format="raw", algorithm="x25519", public=True)
    assert len(store.keyset("other").keys) == 1


def test_duplicate_is_keyset_error(store: Keystore) -> None:
    mine = store.create_keyset("mine", "signature", "ed25519")
    raw = mine.export_public(format="raw")
    other = store.create_keyset("other", "signature", "ed25519")
    with pytest.raises(KeysetError):
        other.import_key(raw, format="raw", algorithm="ed25519", public=True)


def test_import_same_key_under_new_id(store: Keystore, tmp_path: Path) -> None:
    # The same key under an id of its own is still the same key.
    source = Keystore.open(tmp_path / "source")
    pem = source.create_keyset("a", "kem", "x25519").export_public(format="pem")
    store.create_keyset("first", "kem", "x25519").import_key(pem)
    second = store.create_keyset("second", "kem", "x25519")
    with pytest.raises(DuplicateKey, match="already in keyset 'first'"):
        second.import_key(pem, key_id="fresh-id")


def test_import_key_id_of_other_keyset(store: Keystore, tmp_path: Path) -> None:
    existing_id = store.create_keyset("mine", "kem", "x25519").primary.id
    source = Keystore.open(tmp_path / "source")
    raw = source.create_keyset("a", "kem", "x25519").export_public(format="raw")
    other = store.create_keyset("other", "kem", "x25519")
    with pytest.raises(DuplicateKey, match="in keyset 'mine'"):
        other.import_key(raw, format="raw", algorithm="x25519", public=True, key_id=existing_id)


def test_create_with_key_of_other_keyset(store: Keystore) -> None:
    raw = store.create_keyset("mine", "kem", "x25519").export_public(format="raw")
    imported = parse_key(raw, "kem", format="raw", algorithm="x25519", public=True)
    with pytest.raises(DuplicateKey, match="already in keyset 'mine'"):
        store.create_keyset("copy", "kem", first_key=imported)


def test_refused_create_leaves_no_keyset(store: Keystore) -> None:
    raw = store.create_keyset("mine", "kem", "x25519").export_public(format="raw")
    imported = parse_key(raw, "kem", format="raw", algorithm="x25519", public=True)
    with pytest.raises(DuplicateKey):
        store.create_keyset("copy", "kem", first_key=imported)
    assert store.keyset_names() == ["mine"]


def test_cli_duplicate_import(store: Keystore) -> None:
    store.create_keyset("mine", "kem", "x25519")
    assert _agile(store.path, "keyset", "export-public", "mine", "-o", "mine.pem").returncode == 0
    store.create_keyset("other", "kem", "x25519")
    result = _agile(store.path, "keyset", "import", "other", "mine.pem", "--key-id", "new")
    assert (result.returncode, result.stderr.count(b"\n")) == (2, 1)
    assert b"already in keyset 'mine'" in result.stderr


# A duplicate that a keystore already has on disk.


def test_find_key_same_id_in_two_keysets(store: Keystore) -> None:
    store.create_keyset("a", "kem", "x25519")
    store.create_keyset("b", "kem", "x25519")
    key_id = _copy_key(store, "a", "b")
    with pytest.raises(KeystoreError, match="in keysets 'a' and 'b'"):
        Keystore.open(store.path).find_key(key_id)


def test_find_key_same_public_key_in_two_keysets(store: Keystore) -> None:
    original = store.create_keyset("a", "kem", "x25519").primary.id
    store.create_keyset("b", "kem", "x25519")
    _copy_key(store, "a", "b", new_id="copied")
    with pytest.raises(KeystoreError, match="keyset 'a'.*keyset 'b'"):
        Keystore.open(store.path).find_key(original)


def test_decrypt_refuses_duplicate(store: Keystore) -> None:
    store.create_keyset("a", "kem", "x25519")
    store.create_keyset("b", "kem", "x25519")
    sealed = agile.encrypt(b"secret", "a", keystore=store)
    _copy_key(store, "a", "b")
    with pytest.raises(KeystoreError, match="'a' and 'b'"):
        agile.decrypt(sealed, keystore=Keystore.open(store.path))


def test_duplicate_seen_by_open_keystore(store: Keystore) -> None:
    # An index built before the duplicate appeared must not hide it.
    store.create_keyset("a", "kem", "x25519")
    store.create_keyset("b", "kem", "x25519")
    key_id = store.keyset("a").primary.id
    store.find_key(key_id)
    _copy_key(store, "a", "b")
    with pytest.raises(KeystoreError, match="'a' and 'b'"):
        store.find_key(key_id)


# Unreadable keyset files.


def test_scan_lists_readable(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    assert [k.name for k in Keystore.open(store.path).scan().keysets] == ["good"]


def test_scan_reports_unreadable(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    assert [u.name for u in Keystore.open(store.path).scan().unreadable] == ["bad"]


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'{"format": 1}', b"[" * 100_000, b"\xff\xfe"],
    ids=["array", "missing-fields", "deep-nesting", "not-utf8"],
)
def test_scan_wrong_schema(store: Keystore, content: bytes) -> None:
    store.create_keyset("good", "kem", "x25519")
    _keyset_file(store, "bad").write_bytes(content)
    _keyset_file(store, "bad").chmod(0o600)
    scan = Keystore.open(store.path).scan()
    assert ([k.name for k in scan.keysets], [u.name for u in scan.unreadable]) == (
        ["good"],
        ["bad"],
    )


def test_keysets_stays_strict(store: Keystore) -> None:
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    with pytest.raises(KeystoreError, match="bad.json"):
        Keystore.open(store.path).keysets()


def test_decrypt_beside_unreadable_keyset(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    sealed = agile.encrypt(b"secret", "good", keystore=store)
    _break(store, "bad")
    assert agile.decrypt(sealed, keystore=Keystore.open(store.path)) == b"secret"


def test_key_not_found_names_unreadable(store: Keystore) -> None:
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    with pytest.raises(KeyNotFound, match="unreadable keysets not searched: 'bad'"):
        Keystore.open(store.path).find_key("0123456789abcdef")


def test_import_waits_for_unreadable_keyset(store: Keystore, tmp_path: Path) -> None:
    # The key could be in the unreadable file, so an import cannot check it is new.
    raw = (
        Keystore.open(tmp_path / "source")
        .create_keyset("a", "kem", "x25519")
        .export_public(format="raw")
    )
    target = store.create_keyset("target", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    with pytest.raises(KeystoreError, match="'bad'"):
        target.import_key(raw, format="raw", algorithm="x25519", public=True)


def test_add_key_beside_unreadable_keyset(store: Keystore) -> None:
    target = store.create_keyset("target", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    target.add_key()
    assert len(store.keyset("target").keys) == 2


def test_cli_list_exit_code(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    assert _agile(store.path, "keyset", "list").returncode == 1


def test_cli_list_shows_readable(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    result = _agile(store.path, "keyset", "list")
    assert [line.split()[0] for line in result.stdout.decode().splitlines()] == ["good"]


def test_cli_list_reports_each_file(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    _keyset_file(store, "wrong").write_text("[]")
    _keyset_file(store, "wrong").chmod(0o600)
    lines = _agile(store.path, "keyset", "list").stderr.decode().splitlines()
    assert [("bad.json" in lines[0]), ("wrong.json" in lines[1]), len(lines)] == [True, True, 2]


def test_cli_list_line_has_fix(store: Keystore) -> None:
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    stderr = _agile(store.path, "keyset", "list").stderr.decode()
    assert "agile keystore restore" in stderr


def test_cli_list_json(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    store.create_keyset("bad", "kem", "x25519")
    _break(store, "bad")
    listing = json.loads(_agile(store.path, "keyset", "list", "--json").stdout)
    names = ([k["name"] for k in listing["keysets"]], [u["name"] for u in listing["unreadable"]])
    assert names == (["good"], ["bad"])


def test_cli_list_all_readable(store: Keystore) -> None:
    store.create_keyset("good", "kem", "x25519")
    result = _agile(store.path, "keyset", "list", "--json")
    assert (result.returncode, json.loads(result.stdout)["unreadable"]) == (0, [])


def test_cli_list_without_primary(store: Keystore) -> None:
    store.create_keyset("odd", "kem", "x25519")
    data = json.loads(_keyset_file(store, "odd").read_text())
    data["keys"][0]["status"] = "enabled"
    _keyset_file(store, "odd").write_text(json.dumps(data))
    result = _agile(store.path, "keyset", "list")
    assert result.returncode == 0
    assert b"primary=none" in result.stdout


# find_key trusts an unchanged keysets folder only as far as that is safe.


def _age_folder(store: Keystore) -> None:
    """Date the keysets folder back a minute, as if no keyset had changed lately."""
    folder = store.path / "keysets"
    old = folder.stat().st_mtime - 60
    os.utime(folder, (old, old))


def test_lookup_sees_other_process_changes_in_same_tick(store: Keystore) -> None:
    """A key disabled by another writer is seen even if the folder's mtime did not move."""
    home = store.path
    reader = Keystore.open(home)
    keyset = reader.create_keyset("files", "kem", "x25519")
    key_id = keyset.add_key("x25519").id
    _age_folder(reader)
    reader.find_key(key_id)  # Trusts the folder from now on.
    folder = home / "keysets"
    stamp = folder.stat()

    Keystore.open(home).keyset("files").disable(key_id)
    # A change within one timestamp tick leaves the folder's mtime as it was.
    os.utime(folder, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))

    _found, key = reader.find_key(key_id)
    assert key.status is KeyStatus.DISABLED


def test_lookup_sees_keyset_added_by_other_process(store: Keystore) -> None:
    home = store.path
    reader = Keystore.open(home)
    reader.create_keyset("files", "kem", "x25519")
    _age_folder(reader)
    reader.find_key(reader.keyset("files").primary.id)

    added = Keystore.open(home).create_keyset("later", "kem", "x25519")
    found, _key = reader.find_key(added.primary.id)
    assert found.name == "later"


def test_names_and_ids_end_at_end_of_string(store: Keystore) -> None:
    """'$' also matches before a final newline; names and ids must not end in one."""
    from agile.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        store.create_keyset("files\n", "kem", "x25519")
    with pytest.raises(InvalidArgument):
        store.claim_key_id("abc\n")


def test_duplicate_seen_after_settled_scan(store: Keystore) -> None:
    """A lookup that trusts the folder still notices a keyset file renamed in later."""
    store.create_keyset("a", "kem", "x25519")
    store.create_keyset("b", "kem", "x25519")
    key_id = store.keyset("a").primary.id
    _age_folder(store)
    store.find_key(key_id)
    store.find_key(key_id)  # Served from the index, on the folder's word.
    _copy_key(store, "a", "b")
    with pytest.raises(KeystoreError, match="'a' and 'b'"):
        store.find_key(key_id)
