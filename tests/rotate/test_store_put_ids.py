"""``put`` of the directory and SQLite stores rejects bad ids for new objects only."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt
from agile.errors import StoreError
from agile.rotate import RotateOptions, open_store, rotate
from tests.rotate.rotate_helpers import agile

#: Ids that 'agile store put' rejects for a new object, with the reason in the error.
BAD_IDS = [
    ("", "is empty"),
    ("new\nline", "control character U+000A"),
    ("tab\there", "control character U+0009"),
    ("esc\x1b[0m", "control character U+001B"),
    ("line\u2028sep", "control character U+2028"),
]
#: Ids among BAD_IDS that a file name can have (a directory store has no empty id).
LEGACY_IDS = ["new\nline", "tab\there", "esc\x1b[0m", "line\u2028sep"]


def _url(tmp_path: Path, kind: str) -> str:
    return str(tmp_path / "objects") if kind == "dir" else f"sqlite:///{tmp_path}/objects.db"


def _plant(tmp_path: Path, kind: str, object_id: str, data: bytes) -> None:
    """Create an object as another program would, without the store's put."""
    if kind == "dir":
        (tmp_path / "objects" / object_id).write_bytes(data)
        return
    with closing(sqlite3.connect(tmp_path / "objects.db")) as db, db:
        db.execute("INSERT INTO secrets (id, envelope) VALUES (?, ?)", (object_id, data))


@pytest.fixture(params=["dir", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(("object_id", "reason"), BAD_IDS)
def test_put_new_bad_id_rejected(tmp_path: Path, kind: str, object_id: str, reason: str) -> None:
    if kind == "dir" and not object_id:
        reason = "invalid object id ''"  # no file name is empty, so this is a path error
    with open_store(_url(tmp_path, kind), create=True) as store:
        with pytest.raises(StoreError, match=re.escape(reason)):
            store.put(object_id, b"data")


@pytest.mark.parametrize(("object_id", "reason"), BAD_IDS)
def test_put_new_bad_id_writes_nothing(
    tmp_path: Path, kind: str, object_id: str, reason: str
) -> None:
    with open_store(_url(tmp_path, kind), create=True) as store:
        with pytest.raises(StoreError):
            store.put(object_id, b"data")
        assert store.count() == 0


def test_put_bad_folder_leaves_no_folder(tmp_path: Path) -> None:
    with open_store(_url(tmp_path, "dir"), create=True) as store:
        with pytest.raises(StoreError, match="control character"):
            store.put("bad\nfolder/name", b"data")
    assert not (tmp_path / "objects" / "bad\nfolder").exists()


def test_put_good_id_in_bad_folder_rejected(tmp_path: Path) -> None:
    (tmp_path / "objects" / "old\tfolder").mkdir(parents=True)
    with open_store(_url(tmp_path, "dir")) as store:
        with pytest.raises(StoreError, match=re.escape("U+0009")):
            store.put("old\tfolder/new", b"data")


def test_sqlite_empty_id_rolled_back(tmp_path: Path) -> None:
    with open_store(_url(tmp_path, "sqlite"), create=True) as store:
        with pytest.raises(StoreError):
            store.put("", b"data")
    with closing(sqlite3.connect(tmp_path / "objects.db")) as db:
        assert db.execute("SELECT count(*) FROM secrets").fetchone() == (0,)


@pytest.mark.parametrize("object_id", LEGACY_IDS)
def test_put_replaces_legacy_object(tmp_path: Path, kind: str, object_id: str) -> None:
    open_store(_url(tmp_path, kind), create=True).close()
    _plant(tmp_path, kind, object_id, b"old")
    with open_store(_url(tmp_path, kind)) as store:
        store.put(object_id, b"new")
        assert store.read(object_id) == b"new"


def test_sqlite_put_replaces_empty_id(tmp_path: Path) -> None:
    open_store(_url(tmp_path, "sqlite"), create=True).close()
    _plant(tmp_path, "sqlite", "", b"old")
    with open_store(_url(tmp_path, "sqlite")) as store:
        store.put("", b"new")
        assert store.read("") == b"new"


def test_put_new_good_id_accepted(tmp_path: Path, kind: str) -> None:
    with open_store(_url(tmp_path, kind), create=True) as store:
        store.put("reports/2026 q1.pdf", b"data")
        assert store.read("reports/2026 q1.pdf") == b"data"


def test_rotation_rewrites_legacy_object(keystore, home: Path, kind: str) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    tmp_path = home.parent
    open_store(_url(tmp_path, kind), create=True).close()
    keystore.add_store("objects", open_store(_url(tmp_path, kind)).url)
    old = encrypt(b"legacy", keyset, policy="default")
    _plant(tmp_path, kind, "new\nline", old)

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    with open_store(_url(tmp_path, kind)) as store:
        rotated = store.read("new\nline")
    assert report["failed"] == 0
    assert rotated != old
    assert decrypt(rotated, keystore, policy="pq-hybrid") == b"legacy"


def test_cli_put_force_replaces_legacy_object(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    keystore.add_store("docs", open_store(_url(tmp_path, "dir"), create=True).url)
    _plant(tmp_path, "dir", "new\nline", b"old")
    plain = tmp_path / "plain.txt"
    plain.write_text("new text")

    put = agile(home, "store", "put", "docs", "new\nline", str(plain), "--to", "team", "--force")

    assert put.returncode == 0, put.stderr
    assert agile(home, "store", "get", "docs", "new\nline").stdout == "new text"


def test_cli_put_new_bad_id_one_line(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    keystore.add_store("docs", open_store(_url(tmp_path, "dir"), create=True).url)
    plain = tmp_path / "plain.txt"
    plain.write_text("text")

    put = agile(home, "store", "put", "docs", "new\nline", str(plain), "--to", "team")

    assert put.returncode == 2
    assert put.stderr.count("\n") == 1
