"""Hidden files, hidden directories and temporary files in a directory store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header
from agile.errors import StoreError
from agile.rotate import DirectoryStore, RotateOptions, rotate

#: A temporary file name as this store's writer makes it.
OURS = ".o1.agile-abc_1234.tmp"

#: A user's file named as temporary files were named before the marker.
LOOK_ALIKE = ".o1.backup01.tmp"


def _ids(store: DirectoryStore) -> list[str]:
    return [object_id for object_id, _ in store.iter_prefixes()]


@pytest.fixture
def team(keystore, home: Path):
    """Return ``(keyset, root)``: a registered directory store with one envelope ``o1``."""
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    root = home.parent / "objects"
    store = DirectoryStore(root, create=True)
    keystore.add_store("objects", store.url)
    store.put("o1", encrypt(b"first", keyset, policy="default"))
    return keyset, root


def _key_ids(path: Path) -> set[str]:
    return {stanza.key_id for stanza in read_header(path.read_bytes()).recipients}


# Hidden files.


def test_hidden_file_listed(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / ".db-password").write_bytes(b"x")
    assert _ids(DirectoryStore(tmp_path)) == ["secrets/.db-password"]


def test_hidden_envelope_rotated(keystore, home: Path, team) -> None:
    keyset, root = team
    (root / "secrets").mkdir()
    hidden = root / "secrets" / ".db-password"
    hidden.write_bytes(encrypt(b"hunter2", keyset, policy="default"))
    old = _key_ids(hidden)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert not _key_ids(hidden) & old


def test_hidden_envelope_decrypts_after_rotation(keystore, home: Path, team) -> None:
    keyset, root = team
    hidden = root / ".db-password"
    hidden.write_bytes(encrypt(b"hunter2", keyset, policy="default"))

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert report["state"] == "done"
    assert decrypt(hidden.read_bytes(), keystore) == b"hunter2"


def test_hidden_non_envelope_reported(home: Path, team) -> None:
    _, root = team
    (root / ".notes").write_text("not an envelope")

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert [failure["object"] for failure in report["failures"]] == [".notes"]


def test_hidden_id_put_and_read(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.put("a/.b", b"1")
    assert store.read("a/.b") == b"1"


def test_lock_file_not_listed(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.put("a", b"1")  # creates .agile-store.lock
    assert _ids(store) == ["a"]


@pytest.mark.parametrize("object_id", [".agile-store.lock", OURS, f"sub/{OURS}"])
def test_reserved_id_rejected(tmp_path: Path, object_id: str) -> None:
    with pytest.raises(StoreError, match="keeps for its lock file"):
        DirectoryStore(tmp_path).put(object_id, b"1")


# Hidden directories: scanned, but only envelopes in them are objects.


def test_hidden_directory_other_files_not_listed(tmp_path: Path) -> None:
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / ".git" / "objects" / "ab").write_bytes(b"x\x9c compressed")
    assert _ids(DirectoryStore(tmp_path)) == []


def test_hidden_directory_envelope_listed(tmp_path: Path) -> None:
    (tmp_path / ".old").mkdir()
    (tmp_path / ".old" / "db").write_bytes(b"\x89agile\r\n and the rest")
    assert _ids(DirectoryStore(tmp_path)) == [".old/db"]


def test_hidden_directory_armoured_listed(tmp_path: Path) -> None:
    (tmp_path / ".old").mkdir()
    (tmp_path / ".old" / "db.asc").write_text("\n-----BEGIN AGILE ENVELOPE-----\n")
    assert _ids(DirectoryStore(tmp_path)) == [".old/db.asc"]


def test_hidden_directory_fifo_link_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "link").symlink_to(tmp_path / "pipe")
    store = DirectoryStore(tmp_path)
    scan = threading.Thread(target=_ids, args=(store,), daemon=True)

    scan.start()
    scan.join(timeout=10)

    assert not scan.is_alive()


def test_hidden_directory_envelope_rotated(keystore, home: Path, team) -> None:
    keyset, root = team
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".backup").mkdir()
    copy = root / ".backup" / "o1"
    copy.write_bytes(encrypt(b"copy", keyset, policy="default"))

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert report["state"] == "done"
    assert decrypt(copy.read_bytes(), keystore) == b"copy"


def test_hidden_directory_envelope_migrated(keystore, home: Path, team) -> None:
    keyset, root = team
    (root / ".backup").mkdir()
    copy = root / ".backup" / "o1"
    copy.write_bytes(encrypt(b"copy", keyset, policy="default"))
    old = _key_ids(copy)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert not _key_ids(copy) & old


# Temporary files.


def test_our_temporary_not_listed(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"x")
    (tmp_path / OURS).write_bytes(b"half")
    assert _ids(DirectoryStore(tmp_path)) == ["o1"]


def test_our_temporary_removed(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"x")
    (tmp_path / OURS).write_bytes(b"half")
    store = DirectoryStore(tmp_path)
    _ids(store)

    store.remove_leftovers()

    assert not (tmp_path / OURS).exists()


def test_hidden_object_temporary_removed(tmp_path: Path) -> None:
    name = "..db-password.agile-abcdefgh.tmp"  # the temporary file of '.db-password'
    (tmp_path / name).write_bytes(b"half")
    store = DirectoryStore(tmp_path)
    _ids(store)

    assert store.remove_leftovers() == [str(tmp_path / name)]


def test_look_alike_listed(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"x")
    (tmp_path / LOOK_ALIKE).write_bytes(b"mine")
    assert _ids(DirectoryStore(tmp_path)) == [LOOK_ALIKE, "o1"]


def test_look_alike_kept(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"x")
    (tmp_path / LOOK_ALIKE).write_bytes(b"mine")
    store = DirectoryStore(tmp_path)
    _ids(store)

    store.remove_leftovers()

    assert (tmp_path / LOOK_ALIKE).read_bytes() == b"mine"


def test_look_alike_envelope_rotated(keystore, home: Path, team) -> None:
    keyset, root = team
    look_alike = root / LOOK_ALIKE
    look_alike.write_bytes(encrypt(b"mine", keyset, policy="default"))
    old = _key_ids(look_alike)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert not _key_ids(look_alike) & old


def test_look_alike_non_envelope_reported(home: Path, team) -> None:
    _, root = team
    (root / LOOK_ALIKE).write_bytes(b"mine")

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert [failure["object"] for failure in report["failures"]] == [LOOK_ALIKE]


def test_look_alike_non_envelope_survives_rotation(home: Path, team) -> None:
    _, root = team
    (root / LOOK_ALIKE).write_bytes(b"mine")

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert (root / LOOK_ALIKE).read_bytes() == b"mine"


def _killed_put(root: Path) -> list[str]:
    """Let a real writer process die (SIGKILL) after writing its temporary file; list it."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\n"
            "from agile.rotate.stores.directory import DirectoryStore\n"
            f"store = DirectoryStore({str(root)!r})\n"
            "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
            "store.put('o1', b'new envelope')\n",
        ],
        check=False,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    return sorted(name for name in os.listdir(root) if name.endswith(".tmp"))


def test_killed_writer_leaves_marked_name(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"old")
    [left] = _killed_put(tmp_path)
    assert left.startswith(".o1.agile-")


def test_killed_writer_leftover_removed(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"old")
    [left] = _killed_put(tmp_path)
    store = DirectoryStore(tmp_path)
    _ids(store)

    assert store.remove_leftovers() == [str(tmp_path / left)]


def test_killed_writer_object_kept(tmp_path: Path) -> None:
    (tmp_path / "o1").write_bytes(b"old")
    _killed_put(tmp_path)
    store = DirectoryStore(tmp_path)
    _ids(store)

    store.remove_leftovers()

    assert (tmp_path / "o1").read_bytes() == b"old"
