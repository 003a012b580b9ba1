"""SQLite store errors: invalid URLs and paths, read-only files and locks name the fix."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from agile.errors import StoreError
from agile.rotate import open_store
from agile.rotate.stores import parse_store_url
from agile.rotate.stores import sqlite as sqlite_store
from tests.rotate.rotate_helpers import agile

REPOSITORY = Path(__file__).resolve().parents[2]

#: The uid and gid of user nobody, whom read-only tests run as when the suite runs as root.
NOBODY = 65534

# URLs.


def test_url_nul_byte_rejected() -> None:
    with pytest.raises(StoreError, match="NUL byte"):
        parse_store_url("sqlite:///odd/i%00.db")


def test_url_trailing_slash_rejected() -> None:
    with pytest.raises(StoreError, match="ends with '/'"):
        parse_store_url("sqlite:///odd/?table=t")


@pytest.mark.parametrize(
    "query", ["table=t&table=u", "column=a&column=b", "key=a&key=a", "aad=id&aad=id"]
)
def test_url_repeated_option_rejected(query: str) -> None:
    with pytest.raises(StoreError, match="more than once"):
        parse_store_url(f"sqlite:///e.db?{query}")


def test_url_dir_repeated_aad_rejected() -> None:
    with pytest.raises(StoreError, match="more than once"):
        parse_store_url("dir:objects?aad=id&aad=id")


@pytest.mark.parametrize("query", ["column=x&key=x", "column=x&key=X", "key=envelope"])
def test_url_same_column_and_key_rejected(query: str) -> None:
    with pytest.raises(StoreError, match="name the same column"):
        parse_store_url(f"sqlite:///e.db?{query}")


# Paths.


def test_directory_path_rejected(tmp_path: Path) -> None:
    (tmp_path / "odd").mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        open_store(f"sqlite:///{tmp_path}/odd?table=t", create=True)


def test_file_in_path_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(StoreError, match="plain' is not a directory"):
        open_store(f"sqlite:///{tmp_path}/plain/sub/x.db", create=True)


@pytest.mark.parametrize("path", ["odd/i%00.db", "odd/?table=t", "odd?table=t"])
def test_store_add_bad_path_exit_code(home: Path, path: str) -> None:
    (home.parent / "odd").mkdir()
    result = agile(home, "store", "add", "x", f"sqlite:///{home.parent}/{path}")
    assert result.returncode == 2


@pytest.mark.parametrize("path", ["odd/i%00.db", "odd/?table=t", "odd?table=t"])
def test_store_add_bad_path_one_line(home: Path, path: str) -> None:
    (home.parent / "odd").mkdir()
    result = agile(home, "store", "add", "x", f"sqlite:///{home.parent}/{path}")
    assert len(result.stderr.splitlines()) == 1
    assert "odd" in result.stderr


def test_store_add_repeated_table_exit_code(home: Path) -> None:
    result = agile(home, "store", "add", "x", f"sqlite:///{home.parent}/e.db?table=t&table=u")
    assert result.returncode == 2
    assert "table" in result.stderr


# Read-only files.

_PUT_PROBE = """
import sys
from agile.errors import StoreError
from agile.rotate import open_store
try:
    with open_store(sys.argv[1], create=True) as store:
        store.put("o1", b"data")
except StoreError as error:
    print(error.diagnostics())
    sys.exit(2)
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """Return a directory that the probe's user (user nobody under root) can write."""
    with tempfile.TemporaryDirectory() as name:
        os.chmod(name, 0o777)
        yield Path(name)


def _put(path: Path) -> subprocess.CompletedProcess[str]:
    """Put one object in the SQLite database at ``path`` in a new process.

    Under root the process runs as user nobody through setpriv, because root
    may write any file.  subprocess's own user switch is not used: it failed
    to start an interpreter installed below a folder that user nobody cannot
    search.
    """
    command = [sys.executable, "-c", _PUT_PROBE, f"sqlite:///{path}"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root needs setpriv to act as an unprivileged user")
        command = [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            *command,
        ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_read_only_database_names_side_files(shared_dir: Path) -> None:
    database = shared_dir / "app.db"
    assert _put(database).returncode == 0
    database.chmod(0o444)
    # SQLite creates -wal and -shm with the database file's mode, so they stay read-only.
    assert _put(database).returncode == 2
    database.chmod(0o644)
    result = _put(database)
    read_only = [path for path in shared_dir.glob("app.db-*") if not path.stat().st_mode & 0o222]
    assert result.returncode == 2
    assert read_only
    for path in read_only:
        assert repr(str(path)) in result.stdout
    assert f"make {str(database)!r}" not in result.stdout


def test_read_only_database_fix_works(shared_dir: Path) -> None:
    database = shared_dir / "app.db"
    _put(database)
    database.chmod(0o444)
    _put(database)
    for path in shared_dir.glob("app.db*"):
        path.chmod(0o644)
    result = _put(database)
    assert result.returncode == 0, result.stdout


def test_read_only_database_names_file(shared_dir: Path) -> None:
    database = shared_dir / "app.db"
    _put(database)
    database.chmod(0o444)
    result = _put(database)
    assert f"make '{database}'" in result.stdout


# Locks.


def test_reader_lock_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read transaction in rollback-journal mode blocks a writer; the fix names a lock."""
    monkeypatch.setattr(sqlite_store, "_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "d.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as reader:
        reader.execute("PRAGMA journal_mode = DELETE")
        reader.execute("CREATE TABLE secrets (id TEXT PRIMARY KEY, envelope BLOB)")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM secrets").fetchone()
        with open_store(f"sqlite:///{path}") as store:
            with pytest.raises(StoreError) as raised:
                store.put("a", b"data")
        reader.execute("COMMIT")
    assert "held a lock on the database" in raised.value.diagnostics()
