"""SQLite stores on tables that users made: key uniqueness, key types, value types."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agile.envelope import armour, decrypt, encrypt, read_header
from agile.errors import StoreError
from agile.rotate import RotateOptions, open_store, rotate


def _table(path: Path, schema: str, rows: list[tuple[object, object]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute(schema)
        db.executemany("INSERT INTO t VALUES (?, ?)", rows)


def _url(path: Path) -> str:
    return f"sqlite:///{path}?table=t&column=envelope&key=id"


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    _table(tmp_path / "d.db", "CREATE TABLE t (id TEXT, envelope BLOB)", [("a", b"1"), ("a", b"2")])
    with pytest.raises(StoreError, match="not unique"):
        open_store(_url(tmp_path / "d.db"))


def test_unique_index_accepted(tmp_path: Path) -> None:
    _table(tmp_path / "d.db", "CREATE TABLE t (id TEXT, envelope BLOB)", [("a", b"1")])
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute("CREATE UNIQUE INDEX t_id ON t(id)")
    with open_store(_url(tmp_path / "d.db")) as store:
        assert store.read("a") == b"1"


def test_composite_key_rejected(tmp_path: Path) -> None:
    schema = "CREATE TABLE t (id TEXT, envelope BLOB, PRIMARY KEY (id, envelope))"
    _table(tmp_path / "d.db", schema, [])
    with pytest.raises(StoreError, match="not unique"):
        open_store(_url(tmp_path / "d.db"))


def test_null_key_named(tmp_path: Path) -> None:
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB)"
    _table(tmp_path / "d.db", schema, [(None, b"x")])
    with open_store(_url(tmp_path / "d.db")) as store:
        [(object_id, _)] = store.iter_prefixes()
        assert "is NULL" in str(store.scan_problem(object_id))


def test_number_key_in_untyped_column_named(tmp_path: Path) -> None:
    _table(tmp_path / "d.db", "CREATE TABLE t (id PRIMARY KEY, envelope)", [(7, b"x")])
    with open_store(_url(tmp_path / "d.db")) as store:
        [(object_id, _)] = store.iter_prefixes()
        assert object_id == "(INTEGER key 7)"


def test_number_value_listed(tmp_path: Path) -> None:
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope)"
    _table(tmp_path / "d.db", schema, [("n", 42), ("r", 1.5)])
    with open_store(_url(tmp_path / "d.db")) as store:
        assert [object_id for object_id, _ in store.iter_prefixes(0)] == ["n", "r"]


def test_number_value_reported(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope)"
    good = encrypt(b"kept", keyset, policy="default")
    _table(home.parent / "d.db", schema, [("good", good), ("number", 42)])
    keystore.add_store("db", _url(home.parent / "d.db"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert [failure["object"] for failure in report["failures"]] == ["number"]


def _armoured_text_rows(keystore, home: Path) -> None:
    """Fill table t of d.db with 12 armoured envelopes stored as TEXT, and register it."""
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope)"
    rows = [
        (f"row{i}", armour(encrypt(b"%d" % i, keyset, policy="default")).decode())
        for i in range(12)
    ]
    _table(home.parent / "d.db", schema, rows)
    keystore.add_store("db", _url(home.parent / "d.db"))


def test_text_armoured_rows_stay_text(keystore, home: Path) -> None:
    _armoured_text_rows(keystore, home)
    # Two workers commit in turn, so most rows take the compare-in-full path.
    rotate(str(home), RotateOptions(policy="pq-hybrid", workers=2, batch_size=2))
    with sqlite3.connect(home.parent / "d.db") as db:
        types = {row[0] for row in db.execute("SELECT typeof(envelope) FROM t")}
    assert types == {"text"}


def test_text_armoured_rows_migrated(keystore, home: Path) -> None:
    _armoured_text_rows(keystore, home)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", workers=2, batch_size=2))
    new_key = report["keys"][0]["new_key_id"]
    with open_store(_url(home.parent / "d.db")) as store:
        for index in range(12):
            envelope = store.read(f"row{index}")
            assert [r.key_id for r in read_header(envelope).recipients] == [new_key]
            assert decrypt(envelope, keystore, policy="pq-hybrid") == b"%d" % index


def test_text_row_compare_and_swap(tmp_path: Path) -> None:
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope)"
    _table(tmp_path / "d.db", schema, [("a", "old text")])
    with open_store(_url(tmp_path / "d.db")) as store:
        assert store.compare_and_swap("a", b"old text", b"new text")


def _store_with_trigger(keystore, home: Path, body: str) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    schema = "CREATE TABLE t (id TEXT PRIMARY KEY, envelope BLOB)"
    _table(home.parent / "d.db", schema, [("a", encrypt(b"a", keyset, policy="default"))])
    with sqlite3.connect(home.parent / "d.db") as db:
        db.execute(f"CREATE TRIGGER guard BEFORE UPDATE ON t BEGIN {body}; END")
    keystore.add_store("db", _url(home.parent / "d.db"))


def test_rejecting_trigger_store_error(keystore, home: Path) -> None:
    _store_with_trigger(keystore, home, "SELECT RAISE(ABORT, 'frozen')")
    with pytest.raises(StoreError, match="rejected a migrated envelope"):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))


def test_failing_trigger_store_error(keystore, home: Path) -> None:
    # The trigger names a missing table, so the UPDATE fails with OperationalError.
    _store_with_trigger(keystore, home, "INSERT INTO missing VALUES (1)")
    with pytest.raises(StoreError, match="cannot write to SQLite database"):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))


def test_failed_write_row_untouched(keystore, home: Path) -> None:
    _store_with_trigger(keystore, home, "SELECT RAISE(ABORT, 'frozen')")
    with open_store(_url(home.parent / "d.db")) as store:
        before = store.read("a")
    with pytest.raises(StoreError):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))
    with open_store(_url(home.parent / "d.db")) as store:
        assert store.read("a") == before
