"""Argument types at the public methods of the directory and SQLite stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from agile.errors import InvalidArgument, StoreError
from agile.rotate import open_store
from agile.rotate.stores.base import Joined, ObjectStore, Swap


@pytest.fixture(params=["dir", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Return a directory or SQLite store whose only object is 'x' = b'old'."""
    if request.param == "dir":
        opened = open_store(str(tmp_path / "objects"), create=True)
    else:
        opened = open_store(f"sqlite:///{tmp_path}/objects.db", create=True)
    opened.put("x", b"old")
    yield opened
    opened.close()


ID_MESSAGE = "object id must be a str, got {}"
DATA_MESSAGE = "{} must be bytes, bytearray or a contiguous memoryview, got {}"

#: Calls with an argument of the wrong type, by case, and the exact message expected.
WRONG_ARGUMENTS: dict[str, tuple[Callable[[ObjectStore], object], str]] = {
    "put-id-bytes": (lambda s: s.put(b"x", b"a"), ID_MESSAGE.format("bytes")),  # type: ignore[arg-type]
    "put-id-int": (lambda s: s.put(5, b"a"), ID_MESSAGE.format("int")),  # type: ignore[arg-type]
    "put-id-none": (lambda s: s.put(None, b"a"), ID_MESSAGE.format("NoneType")),  # type: ignore[arg-type]
    "put-data-str": (lambda s: s.put("y", "abc"), DATA_MESSAGE.format("data", "str")),  # type: ignore[arg-type]
    "put-data-none": (lambda s: s.put("y", None), DATA_MESSAGE.format("data", "NoneType")),  # type: ignore[arg-type]
    "put-data-list": (lambda s: s.put("y", [1, 2]), DATA_MESSAGE.format("data", "list")),  # type: ignore[arg-type]
    "put-data-joined": (
        lambda s: s.put("y", Joined(b"a", b"b")),  # type: ignore[arg-type]
        DATA_MESSAGE.format("data", "Joined"),
    ),
    "put-data-strided": (
        lambda s: s.put("y", memoryview(b"abcd")[::2]),  # type: ignore[arg-type]
        "data is a memoryview that is not a contiguous run of bytes",
    ),
    "read-id-none": (lambda s: s.read(None), ID_MESSAGE.format("NoneType")),  # type: ignore[arg-type]
    "read-id-bytes": (lambda s: s.read(b"x"), ID_MESSAGE.format("bytes")),  # type: ignore[arg-type]
    "read-many-id-int": (lambda s: s.read_many([1]), ID_MESSAGE.format("int")),  # type: ignore[list-item]
    "read-many-str": (
        lambda s: s.read_many("x"),
        "object_ids must be an iterable of str, got str",
    ),
    "read-prefixes-id-none": (
        lambda s: s.read_prefixes([None], 16),  # type: ignore[list-item]
        ID_MESSAGE.format("NoneType"),
    ),
    "read-prefixes-int": (
        lambda s: s.read_prefixes(5, 16),  # type: ignore[arg-type]
        "object_ids must be an iterable of str, got int",
    ),
    "read-prefixes-size-str": (
        lambda s: s.read_prefixes(["x"], "16"),  # type: ignore[arg-type]
        "size must be an int, got str",
    ),
    "read-prefixes-size-negative": (
        lambda s: s.read_prefixes(["x"], -1),
        "size -1 is negative",
    ),
    "iter-prefixes-size-str": (
        lambda s: list(s.iter_prefixes("16")),  # type: ignore[arg-type]
        "size must be an int, got str",
    ),
    "cas-id-int": (
        lambda s: s.compare_and_swap(5, b"old", b"new"),  # type: ignore[arg-type]
        ID_MESSAGE.format("int"),
    ),
    "cas-expected-str": (
        lambda s: s.compare_and_swap("x", "old", b"new"),  # type: ignore[arg-type]
        DATA_MESSAGE.format("expected", "str"),
    ),
    "cas-data-str": (
        lambda s: s.compare_and_swap("x", b"old", "new"),  # type: ignore[arg-type]
        DATA_MESSAGE.format("data", "str"),
    ),
    "cas-data-none": (
        lambda s: s.compare_and_swap("x", b"old", None),  # type: ignore[arg-type]
        DATA_MESSAGE.format("data", "NoneType"),
    ),
    "swap-many-not-list": (
        lambda s: s.swap_many(Swap("x", b"old", b"new")),  # type: ignore[arg-type]
        "swaps must be a list of Swap, got Swap",
    ),
    "swap-many-tuple-item": (
        lambda s: s.swap_many([("x", b"old", b"new")]),  # type: ignore[list-item]
        "swaps must contain Swap objects, got tuple",
    ),
    "swap-many-id-bytes": (
        lambda s: s.swap_many([Swap(b"x", b"old", b"new")]),  # type: ignore[arg-type]
        ID_MESSAGE.format("bytes"),
    ),
    "swap-many-data-str": (
        lambda s: s.swap_many([Swap("x", b"old", "new")]),  # type: ignore[arg-type]
        DATA_MESSAGE.format("data", "str"),
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_ARGUMENTS))
def test_wrong_type_named(store: ObjectStore, case: str) -> None:
    call, message = WRONG_ARGUMENTS[case]
    with pytest.raises(InvalidArgument) as raised:
        call(store)
    assert str(raised.value) == message
    assert raised.value.fix


@pytest.mark.parametrize("case", sorted(WRONG_ARGUMENTS))
def test_wrong_type_changes_nothing(store: ObjectStore, case: str) -> None:
    call, _ = WRONG_ARGUMENTS[case]
    with pytest.raises(InvalidArgument):
        call(store)
    assert store.read("x") == b"old"
    assert store.count() == 1


def test_sqlite_str_data_not_stored(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/q.db", create=True)
    with pytest.raises(InvalidArgument):
        store.put("strrow", "abc")  # type: ignore[arg-type]
    store.close()
    with closing(sqlite3.connect(tmp_path / "q.db")) as db:
        rows = db.execute("SELECT count(*) FROM secrets").fetchone()
    assert rows == (0,)


@pytest.mark.parametrize(
    "data",
    [bytearray(b"new"), memoryview(b"new"), memoryview(bytearray(b"xnewx"))[1:4]],
    ids=["bytearray", "memoryview", "memoryview-slice"],
)
def test_buffer_data_accepted(store: ObjectStore, data: Any) -> None:
    store.put("y", data)
    assert store.read("y") == b"new"


def test_buffer_swap_accepted(store: ObjectStore) -> None:
    swapped = store.compare_and_swap("x", memoryview(b"old"), Joined(b"n", memoryview(b"ew")))
    assert swapped
    assert store.read("x") == b"new"


def test_swap_many_tuple_accepted(store: ObjectStore) -> None:
    assert store.swap_many((Swap("x", b"old", b"new"),)) == [True]  # type: ignore[arg-type]
    assert store.read("x") == b"new"


@pytest.mark.parametrize(("value", "kind"), [(42, "an INTEGER"), (4.5, "a REAL")])
def test_numeric_row_reported_by_type(tmp_path: Path, value: object, kind: str) -> None:
    """A number in the envelope column is unreadable, and the report names its type."""
    from agile.rotate.planner import read_object_header

    store = open_store(f"sqlite:///{tmp_path}/n.db", create=True)
    with sqlite3.connect(tmp_path / "n.db") as connection:
        connection.execute("INSERT INTO secrets VALUES ('number', ?)", (value,))
    prefixes = dict(store.iter_prefixes())

    with pytest.raises(StoreError, match=f"the value is {kind}, not an envelope"):
        read_object_header(store, "number", prefixes["number"])
