"""Commands that only read a SQLite store leave its journal mode as the user set it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from agile.envelope import encrypt
from tests.rotate.rotate_helpers import agile


def _journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


@pytest.fixture
def database(keystore, home: Path) -> Path:
    """Return a registered SQLite store in rollback (DELETE) journal mode with one envelope."""
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    path = home.parent / "app.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("CREATE TABLE secrets (id TEXT PRIMARY KEY, envelope BLOB)")
        db.execute(
            "INSERT INTO secrets VALUES ('a', ?)", (encrypt(b"alpha", keyset, policy="default"),)
        )
        db.commit()
    keystore.add_store("db", f"sqlite:///{path}")
    return path


def test_fixture_in_delete_mode(database: Path) -> None:
    assert _journal_mode(database) == "delete"


def test_store_list_keeps_mode(home: Path, database: Path) -> None:
    agile(home, "store", "list", check=True)
    assert _journal_mode(database) == "delete"


def test_store_list_objects_keeps_mode(home: Path, database: Path) -> None:
    agile(home, "store", "list", "--objects", "db", check=True)
    assert _journal_mode(database) == "delete"


def test_dry_run_keeps_mode(home: Path, database: Path) -> None:
    agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run", check=True)
    assert _journal_mode(database) == "delete"


def test_store_get_keeps_mode(home: Path, database: Path) -> None:
    agile(home, "store", "get", "db", "a", check=True)
    assert _journal_mode(database) == "delete"


def test_rotate_switches_to_wal(home: Path, database: Path) -> None:
    agile(home, "rotate", "--policy", "pq-hybrid", check=True)
    assert _journal_mode(database) == "wal"
