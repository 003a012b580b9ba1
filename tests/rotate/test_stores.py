"""Object stores: URL parsing, directory and SQLite stores, compare-and-swap."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from agile.errors import KeyNotFound, StoreError
from agile.rotate.stores import (
    DirectoryStore,
    SQLiteStore,
    Swap,
    open_store,
    parse_store_url,
)


def test_url_directory_resolves(tmp_path: Path) -> None:
    assert parse_store_url(str(tmp_path / "a")).path == tmp_path / "a"


def test_url_directory_scheme() -> None:
    assert parse_store_url("dir:///srv/objects").path == Path("/srv/objects")


def test_url_sqlite_defaults() -> None:
    url = parse_store_url("sqlite:////srv/data.db")
    assert (url.scheme, url.table, url.column, url.key) == ("sqlite", "secrets", "envelope", "id")


def test_url_sqlite_absolute_path() -> None:
    assert parse_store_url("sqlite:////srv/data.db").path == Path("/srv/data.db")


def test_url_sqlite_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_store_url("sqlite:///data.db").path == tmp_path / "data.db"


def test_url_sqlite_options() -> None:
    url = parse_store_url("sqlite:////d.db?table=vault&column=blob&key=name")
    assert (url.table, url.column, url.key) == ("vault", "blob", "name")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////d.db?table=x;drop",
        'sqlite:////d.db?column=a"b',
        "sqlite:////d.db?key=1abc",
        "sqlite:////d.db?colour=red",
        "sqlite://host/d.db",
        "sqlite:///",
        "s3://bucket/key",
        "",
    ],
)
def test_url_invalid_rejected(url: str) -> None:
    with pytest.raises(StoreError):
        parse_store_url(url)


def test_url_roundtrip() -> None:
    url = parse_store_url("sqlite:////srv/d.db?table=t&column=c&key=k")
    assert parse_store_url(str(url)) == url


@pytest.fixture(params=["dir", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "dir":
        opened = open_store(str(tmp_path / "objects"), create=True)
    else:
        opened = open_store(f"sqlite:///{tmp_path}/objects.db", create=True)
    yield opened
    opened.close()


def test_store_put_read(store) -> None:
    store.put("a/b.env", b"one")
    assert store.read("a/b.env") == b"one"


def test_store_read_missing(store) -> None:
    with pytest.raises(KeyNotFound):
        store.read("absent")


def test_store_iter_prefixes_sorted(store) -> None:
    for name in ("b", "a", "c/d"):
        store.put(name, name.encode() * 10)
    assert [object_id for object_id, _ in store.iter_prefixes()] == ["a", "b", "c/d"]


def test_store_iter_prefix_length(store) -> None:
    store.put("a", b"x" * 100)
    assert dict(store.iter_prefixes(10))["a"] == b"x" * 10


def test_store_cas_success(store) -> None:
    store.put("a", b"old")
    assert store.compare_and_swap("a", b"old", b"new")


def test_store_cas_writes(store) -> None:
    store.put("a", b"old")
    store.compare_and_swap("a", b"old", b"new")
    assert store.read("a") == b"new"


def test_store_cas_conflict_keeps(store) -> None:
    store.put("a", b"changed")
    store.compare_and_swap("a", b"old", b"new")
    assert store.read("a") == b"changed"


def test_store_cas_conflict_reports(store) -> None:
    store.put("a", b"changed")
    assert not store.compare_and_swap("a", b"old", b"new")


def test_store_swap_many_mixed(store) -> None:
    store.put("a", b"1")
    store.put("b", b"2")
    results = store.swap_many([Swap("a", b"1", b"A"), Swap("b", b"x", b"B")])
    assert results == [True, False]


def test_store_read_many_skips_missing(store) -> None:
    store.put("a", b"1")
    assert store.read_many(["a", "zz"]) == {"a": b"1"}


def test_store_count(store) -> None:
    for name in ("a", "b", "c"):
        store.put(name, b"1")
    assert store.count() == 3


def test_directory_temporary_ignored(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    store.put("a", b"1")
    (tmp_path / ".a.agile-abc12345.tmp").write_bytes(b"partial")
    assert [object_id for object_id, _ in store.iter_prefixes()] == ["a"]


@pytest.mark.parametrize(
    "object_id", ["../x", "/etc/passwd", "a/../../b", ".agile-store.lock", "a//b", ""]
)
def test_directory_bad_id(tmp_path: Path, object_id: str) -> None:
    store = DirectoryStore(tmp_path, create=True)
    with pytest.raises(StoreError):
        store.put(object_id, b"1")


def test_directory_missing_root(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        DirectoryStore(tmp_path / "absent")


def test_directory_file_mode(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    store.put("a", b"1")
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o600


def test_sqlite_missing_table(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "d.db").execute("CREATE TABLE other (x)").connection.close()
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{tmp_path}/d.db")


def test_sqlite_missing_column(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "d.db")
    db.execute("CREATE TABLE secrets (id TEXT, other BLOB)")
    db.close()
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{tmp_path}/d.db")


def test_sqlite_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{tmp_path}/absent.db")


def test_sqlite_integer_keys(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "d.db")
    db.execute("CREATE TABLE vault (rowkey INTEGER PRIMARY KEY, data BLOB)")
    db.executemany("INSERT INTO vault VALUES (?, ?)", [(7, b"seven"), (12, b"twelve")])
    db.commit()
    db.close()
    store = open_store(f"sqlite:///{tmp_path}/d.db?table=vault&column=data&key=rowkey")
    assert store.compare_and_swap("12", b"twelve", b"TWELVE")


def test_sqlite_paged_scan(tmp_path: Path) -> None:
    store = SQLiteStore(parse_store_url(f"sqlite:///{tmp_path}/d.db"), create=True)
    for index in range(2500):
        store.put(f"{index:05d}", b"x")
    assert sum(1 for _ in store.iter_prefixes()) == 2500


def _race(url: str, worker: int, rounds: int) -> int:
    """Increment a counter object with compare-and-swap; return the successful swaps."""
    store = open_store(url)
    wins = 0
    for _ in range(rounds):
        while True:
            current = store.read("counter")
            if store.compare_and_swap("counter", current, str(int(current) + 1).encode()):
                wins += 1
                break
    store.close()
    return wins


def test_store_cas_concurrent_processes(store) -> None:
    store.put("counter", b"0")
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        wins = pool.starmap(_race, [(store.url, worker, 40) for worker in range(3)])
    assert int(store.read("counter")) == sum(wins)


def test_store_read_prefixes(store) -> None:
    store.put("a", b"abcdef")
    assert store.read_prefixes(["a", "missing"], 3) == {"a": (b"abc", 6)}


def test_sqlite_put_integer_key(tmp_path: Path) -> None:
    path = tmp_path / "ints.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, envelope BLOB NOT NULL)")
    store = open_store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="cannot store object 'x y'"):
        store.put("x y", b"data")
    store.close()


def test_directory_on_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        DirectoryStore(tmp_path / "file", create=True)
