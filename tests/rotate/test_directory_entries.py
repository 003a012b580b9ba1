"""Directory stores with entries that are not plain envelope files."""

from __future__ import annotations

import os
from pathlib import Path

from agile.envelope import decrypt, encrypt, read_header
from agile.rotate import DirectoryStore, RotateOptions, dry_run, open_store, rotate


def _setup(keystore, home: Path):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    store.put("a", encrypt(b"alpha", keyset, policy="default"))
    return keyset, store


def _unreadable(home: Path) -> list[str]:
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    return [item["object"] for item in plan["unreadable"]]


def test_fifo_skipped(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    store.put("a", b"1")
    os.mkfifo(tmp_path / "pipe")
    assert [object_id for object_id, _ in store.iter_prefixes()] == ["a"]


def test_link_inside_skipped(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    store.put("a", b"1")
    (tmp_path / "b").symlink_to("a")
    assert [object_id for object_id, _ in store.iter_prefixes()] == ["a"]


def test_link_inside_kept_as_link(keystore, home: Path) -> None:
    _, store = _setup(keystore, home)
    (home.parent / "objects" / "b").symlink_to("a")
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert (home.parent / "objects" / "b").is_symlink()


def test_link_outside_reported(keystore, home: Path) -> None:
    keyset, _ = _setup(keystore, home)
    outside = home.parent / "outside.env"
    outside.write_bytes(encrypt(b"outside", keyset, policy="default"))
    (home.parent / "objects" / "b").symlink_to(outside)
    assert _unreadable(home) == ["b"]


def test_link_outside_keeps_old_key(keystore, home: Path) -> None:
    keyset, _ = _setup(keystore, home)
    old = keyset.primary.id
    outside = home.parent / "outside.env"
    outside.write_bytes(encrypt(b"outside", keyset, policy="default"))
    (home.parent / "objects" / "b").symlink_to(outside)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert decrypt(outside.read_bytes(), keystore, policy="pq-hybrid") == b"outside"
    assert keystore.keyset("team").key(old).status.value == "decrypt-only"


def test_linked_directory_reported(keystore, home: Path) -> None:
    keyset, _ = _setup(keystore, home)
    (home.parent / "elsewhere").mkdir()
    (home.parent / "elsewhere" / "c").write_bytes(encrypt(b"c", keyset, policy="default"))
    (home.parent / "objects" / "linked").symlink_to(home.parent / "elsewhere")
    assert _unreadable(home) == ["linked"]


def test_link_loop_reported(keystore, home: Path) -> None:
    _setup(keystore, home)
    (home.parent / "objects" / "x").symlink_to("y")
    (home.parent / "objects" / "y").symlink_to("x")
    assert _unreadable(home) == ["x", "y"]


def test_unwritable_object_fails_alone(keystore, home: Path) -> None:
    keyset, store = _setup(keystore, home)
    # The temporary file beside it would need a name longer than 255 bytes,
    # so the write fails with ENAMETOOLONG even for root.
    long_name = "n" * 250
    (home.parent / "objects" / long_name).write_bytes(encrypt(b"long", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert [failure["object"] for failure in report["failures"]] == [long_name]
    assert report["objects"]["rewrap"] == 1


def test_unwritable_object_named_in_error(keystore, home: Path) -> None:
    keyset, store = _setup(keystore, home)
    long_name = "n" * 250
    (home.parent / "objects" / long_name).write_bytes(encrypt(b"long", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert "cannot write" in report["failures"][0]["error"]


def test_unwritable_object_untouched(keystore, home: Path) -> None:
    keyset, store = _setup(keystore, home)
    old = keyset.primary.id
    long_name = "n" * 250
    (home.parent / "objects" / long_name).write_bytes(encrypt(b"long", keyset, policy="default"))
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    header = read_header((home.parent / "objects" / long_name).read_bytes())
    assert [recipient.key_id for recipient in header.recipients] == [old]
