"""SQLite stores whose tables hide SQLite's rowid: headers come from the row with the object's key.

Values longer than the scanned header are read through incremental blob I/O,
which addresses a row by rowid.  A column named rowid, _rowid_ or oid hides
the rowid under that name, so reading it could yield another row's rowid.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header
from agile.errors import StoreError
from agile.rotate import RotateOptions, open_store, rotate
from agile.rotate.stores import HEADER_PREFIX_SIZE
from tests.rotate.rotate_helpers import agile

#: Larger than HEADER_PREFIX_SIZE, so that the scan reads the value through blob I/O.
LARGE = 40_000

#: Tables that hide the rowid under one, two or all three of its names.
SHADOWING_SCHEMAS = {
    "rowid": "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB, rowid INTEGER)",
    "_rowid_": "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB, _rowid_ INTEGER)",
    "oid upper case": "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB, OID INTEGER)",
    "rowid and oid": "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB, rowid INT, oid INT)",
    "all three": (
        "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB, rowid INT, _rowid_ INT, oid INT)"
    ),
    "generated rowid": (
        "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB, "
        "rowid INTEGER GENERATED ALWAYS AS (1) VIRTUAL)"
    ),
}


def _url(path: Path, *, column: str = "envelope", key: str = "id") -> str:
    return f"sqlite:///{path}?table=t&column={column}&key={key}"


def _fill(path: Path, schema: str, rows: dict[str, bytes]) -> None:
    """Create table t with ``schema`` and insert ``rows``, then set every shadowing column to 1."""
    with closing(sqlite3.connect(path)) as db:
        db.execute(schema)
        db.executemany("INSERT INTO t (id, envelope) VALUES (?, ?)", rows.items())
        names = {row[0].lower() for row in db.execute("SELECT name FROM pragma_table_info('t')")}
        for name in sorted(names & {"rowid", "_rowid_", "oid"}):
            db.execute(f"UPDATE t SET {name} = 1")
        db.commit()


def _distinct_values() -> dict[str, bytes]:
    return {"a": b"A" * LARGE, "b": b"B" * LARGE, "c": b"C" * 100}


@pytest.mark.parametrize("schema", SHADOWING_SCHEMAS.values(), ids=SHADOWING_SCHEMAS.keys())
def test_scan_prefix_from_own_row(tmp_path: Path, schema: str) -> None:
    rows = _distinct_values()
    _fill(tmp_path / "d.db", schema, rows)
    with open_store(_url(tmp_path / "d.db")) as store:
        found = dict(store.iter_prefixes())
    assert found == {key: value[:HEADER_PREFIX_SIZE] for key, value in rows.items()}


@pytest.mark.parametrize("schema", SHADOWING_SCHEMAS.values(), ids=SHADOWING_SCHEMAS.keys())
def test_read_prefixes_from_own_row(tmp_path: Path, schema: str) -> None:
    rows = _distinct_values()
    _fill(tmp_path / "d.db", schema, rows)
    with open_store(_url(tmp_path / "d.db")) as store:
        found = store.read_prefixes(["b", "a"], HEADER_PREFIX_SIZE)
    assert found == {
        "a": (rows["a"][:HEADER_PREFIX_SIZE], LARGE),
        "b": (rows["b"][:HEADER_PREFIX_SIZE], LARGE),
    }


def test_without_rowid_prefix_read(tmp_path: Path) -> None:
    rows = _distinct_values()
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB) WITHOUT ROWID"
    _fill(tmp_path / "d.db", schema, rows)
    with open_store(_url(tmp_path / "d.db")) as store:
        found = store.read_prefixes(["a", "b"], HEADER_PREFIX_SIZE)
    assert found["b"] == (rows["b"][:HEADER_PREFIX_SIZE], LARGE)


def test_integer_key_prefix_read(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, envelope BLOB)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(1, b"1" * LARGE), (2, b"2" * LARGE)])
        db.commit()
    with open_store(_url(path)) as store:
        found = dict(store.iter_prefixes())
    assert found == {"1": b"1" * HEADER_PREFIX_SIZE, "2": b"2" * HEADER_PREFIX_SIZE}


def test_wrong_rowid_reads_by_key(tmp_path: Path) -> None:
    """A rowid that names another row never yields that row's bytes."""
    rows = _distinct_values()
    _fill(tmp_path / "d.db", "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB)", rows)
    with closing(sqlite3.connect(tmp_path / "d.db")) as db:
        rowid_of_a = db.execute("SELECT rowid FROM t WHERE id = 'a'").fetchone()[0]
    with open_store(_url(tmp_path / "d.db")) as store:
        found = store._prefix("b", None, LARGE, rowid_of_a, HEADER_PREFIX_SIZE)
    assert found == (rows["b"][:HEADER_PREFIX_SIZE], LARGE)


# Key or envelope column named like the rowid, in a table the user made.


def test_rowid_key_column_listed(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (rowid TEXT PRIMARY KEY, envelope BLOB NOT NULL)")
        db.execute("INSERT INTO t VALUES ('a', ?)", (b"A" * LARGE,))
        db.commit()
    with open_store(_url(path, key="rowid")) as store:
        found = dict(store.iter_prefixes())
    assert found == {"a": b"A" * HEADER_PREFIX_SIZE}


def test_rowid_envelope_column_read(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, rowid BLOB NOT NULL)")
        db.execute("INSERT INTO t VALUES ('a', ?)", (b"A" * LARGE,))
        db.commit()
    with open_store(_url(path, column="rowid")) as store:
        found = store.read_prefixes(["a"], HEADER_PREFIX_SIZE)
    assert found == {"a": (b"A" * HEADER_PREFIX_SIZE, LARGE)}


def test_rowid_key_store_list_objects(home: Path, keystore) -> None:
    path = home.parent / "d.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (rowid TEXT PRIMARY KEY, envelope BLOB NOT NULL)")
        db.execute("INSERT INTO t VALUES ('a', ?)", (b"A" * LARGE,))
        db.commit()
    keystore.add_store("db", _url(path, key="rowid"))
    result = agile(home, "store", "list", "--objects", "db")
    assert (result.returncode, result.stdout.split()) == (0, ["a"])


@pytest.mark.parametrize(
    ("option", "name"),
    [("key", "rowid"), ("column", "ROWID"), ("column", "oid"), ("key", "_rowid_")],
)
def test_rowid_name_create_rejected(tmp_path: Path, option: str, name: str) -> None:
    url = f"sqlite:///{tmp_path}/new.db?table=t&{option}={name}"
    with pytest.raises(StoreError, match="names SQLite's rowid"):
        open_store(url, create=True)


def test_rowid_name_store_add_exit_code(home: Path) -> None:
    result = agile(home, "store", "add", "db", f"sqlite:///{home.parent}/new.db?key=rowid")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "key=rowid" in result.stderr


def test_rowid_name_store_add_creates_no_table(home: Path) -> None:
    agile(home, "store", "add", "db", f"sqlite:///{home.parent}/new.db?column=oid")
    with closing(sqlite3.connect(home.parent / "new.db")) as db:
        tables = db.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []


# Rotation: the old key is disabled only once every object that named it was migrated.


def _shadowed_store(keystore, home: Path) -> dict[str, bytes]:
    """Register table t with a user rowid column set to 1 in every row; return id -> plaintext.

    Object a is encrypted to an X-Wing keyset that pq-hybrid keeps, object b
    to an X25519 keyset that pq-hybrid retires.
    """
    team = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    other = keystore.create_keyset("other", "kem", algorithm="x-wing", policy="pq-hybrid")
    plaintexts = {"a": os.urandom(LARGE), "b": os.urandom(LARGE)}
    rows = {
        "a": encrypt(plaintexts["a"], other, policy="pq-hybrid"),
        "b": encrypt(plaintexts["b"], team, policy="default"),
    }
    _fill(home.parent / "d.db", SHADOWING_SCHEMAS["rowid"], rows)
    keystore.add_store("db", _url(home.parent / "d.db"))
    return plaintexts


def test_shadowed_rowid_object_rewrapped(keystore, home: Path) -> None:
    _shadowed_store(keystore, home)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    new_key = report["keys"][0]["new_key_id"]
    with open_store(_url(home.parent / "d.db")) as store:
        header = read_header(store.read("b"))
    assert [recipient.key_id for recipient in header.recipients] == [new_key]


def test_shadowed_rowid_object_decrypts(keystore, home: Path) -> None:
    plaintexts = _shadowed_store(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    with open_store(_url(home.parent / "d.db")) as store:
        envelope = store.read("b")
    assert decrypt(envelope, keystore, policy="pq-hybrid") == plaintexts["b"]


def test_shadowed_rowid_store_get(keystore, home: Path) -> None:
    plaintexts = _shadowed_store(keystore, home)
    agile(home, "rotate", "--policy", "pq-hybrid", check=True)
    output = home.parent / "b.out"
    result = agile(home, "store", "get", "db", "b", "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == plaintexts["b"]
