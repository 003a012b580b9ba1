"""Stores whose objects are replaced after the scan by things that are not envelopes.

A directory, FIFO or symbolic link at an object's path, and a number in an
SQLite row, must fail that object alone.  Reads name the path and never block.
A rotation goes on with the other objects and keeps the old key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agile.envelope import encrypt
from agile.errors import StoreError
from agile.rotate import DirectoryStore, RotateOptions, open_store, rotate
from agile.rotate.stores.url import check_identifier
from tests.rotate.rotate_helpers import Interrupted, agile, cli_env

#: Seconds a read may take before the test counts it as blocked.
_DEADLINE = 10


@contextlib.contextmanager
def _deadline(seconds: int = _DEADLINE) -> Iterator[None]:
    """Raise TimeoutError in the block after ``seconds``, also inside a blocking open()."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _saved(path: Path) -> Path:
    """Return where the replaced file of ``path`` is kept, beside the store's directory."""
    return path.parent.parent / f"{path.name}.saved"


def _replace_by_directory(path: Path) -> None:
    path.rename(_saved(path))
    path.mkdir()


def _replace_by_fifo(path: Path) -> None:
    path.rename(_saved(path))
    os.mkfifo(path)


@pytest.fixture
def files(tmp_path: Path) -> DirectoryStore:
    store = DirectoryStore(tmp_path / "objects", create=True)
    store.put("a", b"alpha")
    store.put("b", b"bravo")
    return store


# Directory store: reads.


def test_read_directory_store_error(files: DirectoryStore) -> None:
    _replace_by_directory(files.root / "b")
    with pytest.raises(StoreError, match="is a directory"):
        files.read("b")


def test_read_many_directory_left_out(files: DirectoryStore) -> None:
    _replace_by_directory(files.root / "b")
    assert files.read_many(["a", "b"]) == {"a": b"alpha"}


def test_read_many_directory_reason(files: DirectoryStore) -> None:
    _replace_by_directory(files.root / "b")
    files.read_many(["a", "b"])
    assert "is a directory" in files.read_errors["b"]


def test_read_fifo_not_blocking(files: DirectoryStore) -> None:
    _replace_by_fifo(files.root / "b")
    with _deadline(), pytest.raises(StoreError, match="is a FIFO"):
        files.read("b")


def test_read_many_fifo_reason(files: DirectoryStore) -> None:
    _replace_by_fifo(files.root / "b")
    with _deadline():
        files.read_many(["a", "b"])
    assert "is a FIFO" in files.read_errors["b"]


def test_scan_fifo_after_listing(files: DirectoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The scan checks each listed file for problems right before it opens it,
    # so a replacement made on that check lands in the window between the two.
    check = DirectoryStore.scan_problem

    def check_then_replace(self: DirectoryStore, object_id: str) -> str | None:
        problem = check(self, object_id)
        if object_id == "b" and not (self.root / "b").is_fifo():
            _replace_by_fifo(self.root / "b")
        return problem

    monkeypatch.setattr(DirectoryStore, "scan_problem", check_then_replace)
    with _deadline():
        prefixes = dict(files.iter_prefixes())
    assert prefixes["b"] == b""
    monkeypatch.undo()
    assert "is a FIFO" in str(files.scan_problem("b"))


def test_read_link_outside_rejected(files: DirectoryStore, tmp_path: Path) -> None:
    (tmp_path / "outside").write_bytes(b"outside the store")
    (files.root / "c").symlink_to(tmp_path / "outside")
    with pytest.raises(StoreError, match="outside the store"):
        files.read("c")


def test_cli_get_fifo_exits(home: Path, tmp_path: Path) -> None:
    agile(home, "keyset", "create", "team", "--purpose", "kem", "--algorithm", "x25519", check=True)
    agile(home, "store", "add", "docs", str(tmp_path / "docs"), check=True)
    (tmp_path / "docs").mkdir(exist_ok=True)
    os.mkfifo(tmp_path / "docs" / "pipe")
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "store", "get", "docs", "pipe"],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "is a FIFO" in result.stderr


# Directory store: rotation.


def _directory_store(keystore, home: Path):  # type: ignore[no-untyped-def]
    """Register store "objects" with envelopes a, b and c; return the keyset and the store."""
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    for name in ("a", "b", "c"):
        store.put(name, encrypt(name.encode(), keyset, policy="default"))
    return keyset, store


def _after_first_batch(action: Callable[[], None], *, stop: bool = False):  # type: ignore[no-untyped-def]
    """Return a progress callback that runs ``action`` once, after the first batch."""
    calls = []

    def progress(done: int, total: int) -> None:
        if not calls:
            calls.append(done)
            action()
            if stop:
                raise Interrupted

    return progress


def test_rotate_directory_fails_alone(keystore, home: Path) -> None:
    _directory_store(keystore, home)
    replace = _after_first_batch(lambda: _replace_by_directory(home.parent / "objects" / "c"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=1), progress=replace)
    assert [failure["object"] for failure in report["failures"]] == ["c"]


def test_rotate_directory_keeps_old_key(keystore, home: Path) -> None:
    keyset, _ = _directory_store(keystore, home)
    old = keyset.primary.id
    replace = _after_first_batch(lambda: _replace_by_directory(home.parent / "objects" / "c"))
    rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=1), progress=replace)
    assert keystore.keyset("team").key(old).status.value == "decrypt-only"


def test_rotate_fifo_fails_alone(keystore, home: Path) -> None:
    _directory_store(keystore, home)
    replace = _after_first_batch(lambda: _replace_by_fifo(home.parent / "objects" / "c"))
    with _deadline(120):
        report = rotate(
            str(home), RotateOptions(policy="pq-hybrid", batch_size=1), progress=replace
        )
    assert [failure["object"] for failure in report["failures"]] == ["c"]


def test_resume_past_directory(keystore, home: Path) -> None:
    _directory_store(keystore, home)
    crash = _after_first_batch(
        lambda: _replace_by_directory(home.parent / "objects" / "c"), stop=True
    )
    with pytest.raises(Interrupted):
        rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=1), progress=crash)
    report = rotate(str(home), RotateOptions(resume=True, policy="pq-hybrid"))
    assert [failure["object"] for failure in report["failures"]] == ["c"]


def test_rotate_directory_object_untouched(keystore, home: Path) -> None:
    _directory_store(keystore, home)
    path = home.parent / "objects" / "c"
    before = path.read_bytes()
    replace = _after_first_batch(lambda: _replace_by_directory(path))
    rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=1), progress=replace)
    assert _saved(path).read_bytes() == before


# SQLite store.


def _sqlite(path: Path, rows: list[tuple[object, object]]) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, envelope)")
        db.executemany("INSERT INTO t VALUES (?, ?)", rows)
    db.close()
    return f"sqlite:///{path}?table=t&column=envelope&key=id"


def test_null_key_listed(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "d.db", [(None, b"x"), ("a", b"y")])
    with open_store(url) as store:
        assert [object_id for object_id, _ in store.iter_prefixes(0)] == [
            "(NULL key, rowid 1)",
            "a",
        ]


def test_null_key_problem_says_null(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "d.db", [(None, b"x")])
    with open_store(url) as store:
        [(object_id, _)] = store.iter_prefixes()
        assert "is NULL" in str(store.scan_problem(object_id))


def test_null_key_count_matches_list(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "d.db", [(None, b"x"), (None, b"y"), ("a", b"z")])
    with open_store(url) as store:
        assert store.count() == len(list(store.iter_prefixes(0)))


def test_null_keys_past_a_page(tmp_path: Path) -> None:
    # More NULL keys than one page of the scan, which pages by key.
    rows: list[tuple[object, object]] = [(None, b"x")] * 1001
    url = _sqlite(tmp_path / "d.db", [*rows, ("a", b"y")])
    with open_store(url) as store, _deadline():
        assert len(list(store.iter_prefixes(0))) == 1002


def test_cli_list_null_key_agrees(home: Path, tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "d.db", [(None, b"x"), ("a", b"y")])
    agile(home, "store", "add", "db", url, check=True)
    listed = agile(home, "store", "list", "--objects", "db")
    assert listed.stdout.splitlines() == ["(NULL key, rowid 1)", "a"]


def test_integer_read_named(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "d.db", [("n", 42)])
    with open_store(url) as store, pytest.raises(StoreError, match="is an INTEGER"):
        store.read("n")


def test_integer_read_many_reason(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "d.db", [("n", 42), ("a", b"y")])
    with open_store(url) as store:
        store.read_many(["n", "a"])
        assert "is an INTEGER" in store.read_errors["n"]


def test_integer_after_scan_reported(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    path = home.parent / "d.db"
    rows = [(name, encrypt(name.encode(), keyset, policy="default")) for name in "abc"]
    keystore.add_store("db", _sqlite(path, rows))

    def set_number() -> None:
        with sqlite3.connect(path) as db:
            db.execute("UPDATE t SET envelope = 42 WHERE id = 'c'")
        db.close()

    progress = _after_first_batch(set_number)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=1), progress=progress)
    assert "is an INTEGER" in report["failures"][0]["error"]


def test_identifier_rule_stated() -> None:
    with pytest.raises(StoreError) as raised:
        check_identifier("1x", "table")
    assert "not starting with a digit" in str(raised.value.fix)
