"""Stores and rotation runs given odd input: names, paths, tables and files a user may have."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agile.envelope import encrypt
from agile.errors import StoreError
from agile.rotate import DirectoryStore, RotateOptions, dry_run, open_store, rotate
from agile.rotate.audit import AuditLog
from agile.rotate.stores import parse_store_url, shares_objects
from tests.rotate.rotate_helpers import agile, cli_env

# URLs.


def test_url_question_mark_roundtrip() -> None:
    url = parse_store_url("sqlite:////srv/a%3Fb.db?table=t")
    assert parse_store_url(str(url)) == url


def test_url_percent_roundtrip() -> None:
    url = parse_store_url("sqlite:////srv/a%2541.db")
    assert parse_store_url(str(url)).path == Path("/srv/a%41.db")


def test_url_fragment_rejected() -> None:
    with pytest.raises(StoreError, match="fragment"):
        parse_store_url("sqlite:////srv/a#b.db")


def test_url_sqlite_table_rejected() -> None:
    with pytest.raises(StoreError, match="sqlite_master"):
        parse_store_url("sqlite:////srv/a.db?table=sqlite_master")


def test_url_dir_question_mark_roundtrip(tmp_path: Path) -> None:
    url = parse_store_url(f"dir:{tmp_path}/a?b?aad=id")
    assert parse_store_url(str(url)) == url


def test_url_table_case_overlaps() -> None:
    first = parse_store_url("sqlite:////srv/a.db?table=secrets")
    second = parse_store_url("sqlite:////srv/a.db?table=SECRETS")
    assert shares_objects(first, second)


# SQLite tables and files.


def test_sqlite_not_database(tmp_path: Path) -> None:
    (tmp_path / "plain.db").write_bytes(b"not a database at all, just text" * 4)
    with pytest.raises(StoreError, match="cannot open SQLite database"):
        open_store(f"sqlite:///{tmp_path}/plain.db")


def test_sqlite_view_rejected(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute("CREATE TABLE base (id TEXT PRIMARY KEY, envelope BLOB)")
        db.execute("CREATE VIEW secrets AS SELECT id, envelope FROM base")
    with pytest.raises(StoreError, match="is a view"):
        open_store(f"sqlite:///{tmp_path}/d.db")


def _integer_store(tmp_path: Path):
    with sqlite3.connect(tmp_path / "ints.db") as db:
        db.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, envelope BLOB NOT NULL)")
    return open_store(f"sqlite:///{tmp_path}/ints.db")


def test_sqlite_put_converted_id_rejected(tmp_path: Path) -> None:
    store = _integer_store(tmp_path)
    with pytest.raises(StoreError, match="would be stored as 7"):
        store.put("07", b"data")
    store.close()


def test_sqlite_put_converted_id_rolled_back(tmp_path: Path) -> None:
    store = _integer_store(tmp_path)
    with pytest.raises(StoreError):
        store.put("07", b"data")
    assert store.count() == 0
    store.close()


def test_sqlite_put_canonical_integer_id(tmp_path: Path) -> None:
    store = _integer_store(tmp_path)
    store.put("7", b"data")
    assert store.read("7") == b"data"
    store.close()


def _row_of_bytes(tmp_path: Path, key: str, value: str) -> None:
    store = open_store(f"sqlite:///{tmp_path}/d.db", create=True)
    store.close()
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute(f"INSERT INTO secrets VALUES ({key}, {value})")


def test_sqlite_non_utf8_key_named(tmp_path: Path) -> None:
    _row_of_bytes(tmp_path, "CAST(x'61ff' AS TEXT)", "x'00'")
    store = open_store(f"sqlite:///{tmp_path}/d.db")
    [(object_id, _)] = store.iter_prefixes()
    assert object_id == r"(TEXT key b'a\xff')"
    store.close()


def test_sqlite_non_utf8_value_bytes(tmp_path: Path) -> None:
    _row_of_bytes(tmp_path, "'a'", "CAST(x'41ff' AS TEXT)")
    store = open_store(f"sqlite:///{tmp_path}/d.db")
    assert store.read("a") == b"A\xff"
    store.close()


@pytest.mark.parametrize("kind", ["dir", "sqlite"])
def test_put_non_utf8_id_rejected(tmp_path: Path, kind: str) -> None:
    url = str(tmp_path / "objects") if kind == "dir" else f"sqlite:///{tmp_path}/d.db"
    store = open_store(url, create=True)
    with pytest.raises(StoreError, match="not valid UTF-8"):
        store.put("name\udcff", b"data")
    store.close()


# Directory entries.


def _setup(keystore, home: Path):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    root = home.parent / "objects"
    store = open_store(str(root), create=True)
    keystore.add_store("objects", store.url)
    store.put("a", encrypt(b"alpha", keyset, policy="default"))
    return keyset, root


def _write_bad_name(root: Path, data: bytes) -> None:
    with open(os.fsencode(root) + b"/bad\xffname", "wb") as file:
        file.write(data)


def test_non_utf8_name_reported(keystore, home: Path) -> None:
    keyset, root = _setup(keystore, home)
    _write_bad_name(root, encrypt(b"x", keyset, policy="default"))
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    assert [item["object"] for item in plan["unreadable"]] == ["bad\\xffname"]


def test_non_utf8_name_keeps_old_key(keystore, home: Path) -> None:
    keyset, root = _setup(keystore, home)
    old = keyset.primary.id
    _write_bad_name(root, encrypt(b"x", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert old not in report["disabled_key_ids"]


def test_non_utf8_name_failure_counted(keystore, home: Path) -> None:
    keyset, root = _setup(keystore, home)
    _write_bad_name(root, encrypt(b"x", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["failed"] == 1


def test_removed_root_raises(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "objects", create=True)
    store.put("a", b"1")
    shutil.rmtree(tmp_path / "objects")
    with pytest.raises(StoreError, match="cannot list store directory"):
        list(store.iter_prefixes())


def _drop_file_access() -> list[str]:
    """Return a command prefix under which file permissions apply, even to root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and setpriv (util-linux) is not installed to drop DAC bypass")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def test_unlistable_directory_keeps_old_key(keystore, home: Path) -> None:
    keyset, root = _setup(keystore, home)
    old = keyset.primary.id
    (root / "sub").mkdir()
    (root / "sub" / "b").write_bytes(encrypt(b"beta", keyset, policy="default"))
    (root / "sub").chmod(0)
    try:
        subprocess.run(
            [*_drop_file_access(), sys.executable, "-m", "cli.main", "rotate"]
            + ["--policy", "pq-hybrid"],
            env=cli_env(home),
            capture_output=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        (root / "sub").chmod(0o700)
    statuses = {key.id: key.status.value for key in keystore.keyset("team").keys}
    assert statuses[old] == "decrypt-only"


def test_unlistable_directory_reported(keystore, home: Path) -> None:
    keyset, root = _setup(keystore, home)
    (root / "sub").mkdir()
    (root / "sub").chmod(0)
    try:
        result = subprocess.run(
            [*_drop_file_access(), sys.executable, "-m", "cli.main", "rotate"]
            + ["--policy", "pq-hybrid", "--dry-run"],
            env=cli_env(home),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        (root / "sub").chmod(0o700)
    assert "cannot list directory" in result.stdout


class _CountingStore(DirectoryStore):
    """A directory store that counts whole-object reads."""

    reads = 0

    def read(self, object_id: str) -> bytes:
        type(self).reads += 1
        return super().read(object_id)


def test_large_non_envelope_not_read_whole(tmp_path: Path) -> None:
    from agile.errors import AgileError
    from agile.rotate.planner import read_object_header

    store = _CountingStore(tmp_path, create=True)
    store.put("big.bin", b"\0" * (64 * 1024))
    [(object_id, prefix)] = list(store.iter_prefixes())
    with pytest.raises(AgileError):
        read_object_header(store, object_id, prefix)
    assert _CountingStore.reads == 0


# Runs.


def test_store_added_during_run_keeps_old_key(keystore, home: Path) -> None:
    keyset, _ = _setup(keystore, home)
    old = keyset.primary.id
    late = open_store(str(home.parent / "late"), create=True)
    late.put("c", encrypt(b"gamma", keyset, policy="default"))

    def register_late_store(done: int, total: int) -> None:
        keystore.add_store("late", late.url)

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"), progress=register_late_store)
    assert old not in report["disabled_key_ids"]


def test_objects_keep_appearing_incomplete(keystore, home: Path) -> None:
    _, root = _setup(keystore, home)
    store = open_store(str(root))
    old_envelope = store.read("a")
    written = []

    def write_with_old_key(done: int, total: int) -> None:
        # An application that still writes envelopes of the old key while the run goes on.
        written.append(f"late{len(written)}")
        store.put(written[-1], old_envelope)

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"), progress=write_with_old_key)
    assert report["state"] == "incomplete"


def test_duplicate_store_scanned_once(keystore, home: Path) -> None:
    _, root = _setup(keystore, home)
    options = RotateOptions(policy="pq-hybrid", stores=("objects", "objects", str(root)))
    plan = dry_run(str(home), options).to_dict()
    assert plan["objects"]["rewrap"] == 1


def test_overlapping_stores_rejected(keystore, home: Path) -> None:
    _, root = _setup(keystore, home)
    (root / "sub").mkdir()
    options = RotateOptions(policy="pq-hybrid", stores=("objects", str(root / "sub")))
    with pytest.raises(StoreError, match="overlap"):
        dry_run(str(home), options)


def test_store_import_skips_hidden(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    agile(home, "store", "add", "files", str(tmp_path / "objects"), check=True)
    plain = tmp_path / "plain"
    (plain / ".git").mkdir(parents=True)
    (plain / ".git" / "config").write_text("x")
    (plain / "a.txt").write_text("alpha")
    agile(home, "store", "import", "files", str(plain), "--to", "team", check=True)
    listed = agile(home, "store", "list", "--objects", "files", check=True).stdout.split()
    assert listed == ["a.txt"]


def test_audit_torn_line_isolated(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.record("run-started", run_id="r1")
    with open(tmp_path / "audit.log", "ab") as file:
        file.write(b'{"event": "key-sta')  # a crash in the middle of a write
    log.record("run-resumed", run_id="r1")
    assert [record["event"] for record in log.records()] == ["run-started", "run-resumed"]


def _register_missing(keystore, home: Path) -> None:
    missing = open_store(str(home.parent / "missing"), create=True)
    keystore.add_store("missing", missing.url)
    missing.close()
    (home.parent / "missing").rmdir()


def test_store_list_missing_lists_others(keystore, home: Path) -> None:
    _setup(keystore, home)
    _register_missing(keystore, home)
    result = agile(home, "store", "list")
    assert "objects" in result.stdout.splitlines()[1]


def test_store_list_missing_exit_code(keystore, home: Path) -> None:
    _setup(keystore, home)
    _register_missing(keystore, home)
    assert agile(home, "store", "list").returncode == 2


def test_missing_store_changes_no_key(keystore, home: Path) -> None:
    keyset, _ = _setup(keystore, home)
    old = keyset.primary.id
    _register_missing(keystore, home)
    with pytest.raises(StoreError):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert keystore.keyset("team").primary.id == old


def test_store_add_keystore_rejected(keystore, home: Path) -> None:
    result = agile(home, "store", "add", "keys", str(home.parent))
    assert "overlaps the keystore" in result.stderr


def test_store_add_keystore_exit_code(keystore, home: Path) -> None:
    assert agile(home, "store", "add", "keys", str(home / "keysets")).returncode == 2


def test_damaged_journal_named(keystore, home: Path) -> None:
    from agile.errors import RotationError
    from agile.rotate.journal import JOURNAL_NAME

    _setup(keystore, home)
    (home / JOURNAL_NAME).write_bytes(b"not a database at all, just text" * 4)
    with pytest.raises(RotationError, match="rotation journal"):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))


def test_resume_other_stores_rejected(keystore, home: Path) -> None:
    from agile.errors import RotationError

    _, root = _setup(keystore, home)
    other = open_store(str(home.parent / "other"), create=True)
    keystore.add_store("other", other.url)
    other.close()

    def stop_after_first_batch(done: int, total: int) -> None:
        raise KeyboardInterrupt  # leaves the run unfinished, like a kill

    with pytest.raises(KeyboardInterrupt):
        rotate(str(home), RotateOptions(policy="pq-hybrid"), progress=stop_after_first_batch)
    with pytest.raises(RotationError, match="not the ones given"):
        rotate(str(home), RotateOptions(stores=("other",)))


def _null_row_store(tmp_path: Path):
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute("CREATE TABLE secrets (id TEXT PRIMARY KEY, envelope BLOB)")
        db.execute("INSERT INTO secrets VALUES ('empty', NULL)")
    return open_store(f"sqlite:///{tmp_path}/d.db")


def test_sqlite_null_value_skipped(tmp_path: Path) -> None:
    store = _null_row_store(tmp_path)
    assert list(store.iter_prefixes()) == []
    store.close()


def test_sqlite_null_value_not_counted(tmp_path: Path) -> None:
    store = _null_row_store(tmp_path)
    assert store.count() == 0
    store.close()


def test_sqlite_null_rows_rotation_done(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    with sqlite3.connect(home.parent / "users.db") as db:
        db.execute("CREATE TABLE users (id TEXT PRIMARY KEY, token BLOB)")
        db.executemany("INSERT INTO users VALUES (?, NULL)", [(f"u{i}",) for i in range(50)])
        db.execute(
            "INSERT INTO users VALUES ('u50', ?)", (encrypt(b"t", keyset, policy="default"),)
        )
    keystore.add_store("users", f"sqlite:///{home.parent}/users.db?table=users&column=token")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "done"


def test_non_utf8_temporary_name_reported(keystore, home: Path) -> None:
    # Agile writes only UTF-8 names, so this file is not its own temporary file.
    _, root = _setup(keystore, home)
    with open(os.fsencode(root) + b"/.bad\xff.agile-abcdefgh.tmp", "wb") as file:
        file.write(b"partial")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "incomplete"


def test_backup_inside_keystore_rejected(keystore, home: Path) -> None:
    from agile.errors import KeystoreError
    from agile.rotate.backup import backup_keystore

    _setup(keystore, home)
    with pytest.raises(KeystoreError, match="inside the keystore"):
        backup_keystore(home, home / "backup.json")


def test_put_under_file_rejected(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    store.put("a", b"1")
    with pytest.raises(StoreError, match="a file of that path exists"):
        store.put("a/b", b"2")


def test_put_on_directory_rejected(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    store.put("a/b", b"1")
    with pytest.raises(StoreError, match="names the directory"):
        store.put("a", b"2")
