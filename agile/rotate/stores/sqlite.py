"""A store that keeps envelopes in one column of a SQLite table.

The table, envelope column and key column come from the store URL (defaults
``secrets``, ``envelope``, ``id``).  Names are checked against a plain
identifier pattern and double-quoted, values are always bound parameters.
The first write switches the database to WAL mode, so that readers keep reading
while rotation commits.  Opening, counting and reading leave the journal mode as
the database has it, so listing a store or planning a dry run does not change it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ...errors import KeyNotFound, StoreError
from .base import (
    HEADER_PREFIX_SIZE,
    Joined,
    ObjectStore,
    Swap,
    check_data,
    check_new_object_id,
    check_object_id,
    check_object_ids,
    check_size,
    check_swaps,
)
from .url import StoreURL, quote_identifier

__all__ = ["SQLiteStore"]

#: Rows fetched per query while scanning, so no read transaction stays open long.
_PAGE = 1000

#: Milliseconds a writer waits for another connection's lock before failing.
_BUSY_TIMEOUT_MS = 30_000

#: Files that SQLite keeps beside a database named NAME: NAME-wal, NAME-shm, NAME-journal.
_SIDE_FILES = ("-wal", "-shm", "-journal")

#: The names of SQLite's rowid, each hidden by a column of the same name.
_ROWID_NAMES = ("rowid", "_rowid_", "oid")


class SQLiteStore(ObjectStore):
    """Envelope bytes in ``table.column``, addressed by ``table.key``."""

    scheme = "sqlite"
    transactional = True

    def __init__(self, location: StoreURL, *, create: bool = False) -> None:
        super().__init__(str(location), location.aad)
        self.location = location
        self.path = Path(location.path)
        self._table = quote_identifier(location.table)
        self._column = quote_identifier(location.column)
        self._key = quote_identifier(location.key)
        self._lock_fd: int | None = None
        # Whether this connection has set journal_mode = WAL (see _writer).
        self._wal_mode_set = False
        # The name that reaches SQLite's rowid in the table, or None (see _rowid_name).
        self._rowid: str | None = None
        # Why the last scan found no envelope in a row, by object id (a number, for one).
        self._problems: dict[str, str] = {}
        # object id -> (data_version before the read, the bytes returned); see swap_many.
        self._reads: dict[str, tuple[int, bytes]] = {}

        if self.path.is_dir():
            raise StoreError(
                f"SQLite database path {str(self.path)!r} is a directory",
                fix="name a database file in the store URL, as in sqlite:///DIR/app.db",
            )
        if not create and not self.path.is_file():
            raise StoreError(
                f"SQLite database {str(self.path)!r} does not exist",
                fix="check the path in the store URL, or create the store with 'agile store put'",
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            blocking = next(
                (str(path) for path in self.path.parents if path.exists() and not path.is_dir()),
                None,
            )
            reason = f"{blocking!r} is not a directory" if blocking else error.strerror or error
            raise StoreError(
                f"cannot create the directory of SQLite database {str(self.path)!r}: {reason}",
                fix="check the path in the store URL: every folder on it must be a directory "
                "that this user can create files in",
            ) from None
        existed = self.path.exists()
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as error:
            raise StoreError(
                f"cannot open SQLite database {str(self.path)!r}: {error}",
                fix="check that the path in the store URL names a database file that this user "
                "can read and write, or a new file in a directory that this user can write",
            ) from None
        # SQLite stores whatever bytes a writer gave as TEXT.  Decoding with
        # surrogateescape keeps invalid UTF-8 readable, and _as_bytes restores the bytes.
        self._db.text_factory = _decode_text
        if not existed:
            os.chmod(self.path, 0o600)
        try:
            self._setup(create)
        except BaseException:
            self._db.close()
            raise

    def _setup(self, create: bool) -> None:
        """Set the connection's pragmas, create the table if requested, and check the table.

        The journal mode is not set here: SQLite keeps it in the database
        file, and a store opened only to be read must leave the file as it is.
        """
        try:
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            # FULL: each commit is fsync'ed, so a migrated row survives a power cut.
            self._db.execute("PRAGMA synchronous = FULL")
            if create and not self._table_exists():
                self._check_creatable()
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._table} "
                    f"({self._key} TEXT PRIMARY KEY, {self._column} BLOB NOT NULL)"
                )
        except sqlite3.DatabaseError as error:
            # Not a database ("file is not a database"), a read-only file, a
            # view or index with the table's name, or a lock held past the timeout.
            unwritable = self._unwritable_files()
            if unwritable:
                fix = _writable_fix(unwritable)
            else:
                fix = (
                    "check that the store URL names an SQLite database that this user "
                    "can read and write, and that table= names a table"
                )
            raise StoreError(
                f"cannot open SQLite database {str(self.path)!r}: {error}", fix=fix
            ) from None
        self._check_table()

    def _table_exists(self) -> bool:
        # SQLite matches table names without regard to ASCII case.
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE", (self.location.table,)
        ).fetchone()
        return found is not None

    def _check_creatable(self) -> None:
        """Raise :class:`StoreError` when the table this store would create hides the rowid.

        A column named rowid, _rowid_ or oid takes that name from SQLite's
        rowid, so a table that agile creates never has one.
        """
        for option, name in (("column", self.location.column), ("key", self.location.key)):
            if name.lower() in _ROWID_NAMES:
                raise StoreError(
                    f"{option}={name} in store URL {self.url!r} names SQLite's rowid",
                    fix=f"choose another {option} name; rowid, _rowid_ and oid are names of "
                    "the rowid that SQLite gives every row",
                )

    def _check_table(self) -> None:
        kind = self._db.execute(
            "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE", (self.location.table,)
        ).fetchone()
        if kind is not None and kind[0] != "table":
            raise StoreError(
                f"{self.location.table!r} in {str(self.path)!r} is a {kind[0]}, not a table",
                fix="give table= the table that holds the envelopes; rotation updates rows "
                "by key, which a view does not support",
            )
        rows = self._db.execute(
            "SELECT name, type, pk FROM pragma_table_info(?)", (self.location.table,)
        ).fetchall()
        columns = {row[0] for row in rows}
        if not columns:
            raise StoreError(
                f"table {self.location.table!r} not found in {str(self.path)!r}",
                fix="check table= in the store URL, or create the store with 'agile store put'",
            )
        for name in (self.location.column, self.location.key):
            if name not in columns:
                raise StoreError(
                    f"column {name!r} not found in table {self.location.table!r}",
                    fix=f"the table has: {', '.join(sorted(columns))}",
                )
        self._check_unique_key(rows)
        self._rowid = self._rowid_name()
        declared = next(row[1] for row in rows if row[0] == self.location.key).upper()
        # SQLite's column affinity rules ("Datatypes In SQLite", section 3.1): only a column of
        # BLOB affinity compares a stored number unequal to its text form.
        self._key_is_blob_affinity = not any(
            word in declared for word in ("INT", "CHAR", "CLOB", "TEXT")
        ) and (declared == "" or "BLOB" in declared)

    def _rowid_name(self) -> str | None:
        """Return a name that reaches SQLite's rowid in this table, or None when none does.

        A column named rowid, _rowid_ or oid hides the rowid under that name
        (SQLite's "Rowid Tables" page), and a WITHOUT ROWID table has no rowid.
        ``pragma_table_xinfo`` also lists generated and hidden columns.
        """
        names = {
            str(row[0]).lower()
            for row in self._db.execute(
                "SELECT name FROM pragma_table_xinfo(?)", (self.location.table,)
            )
        }
        for name in _ROWID_NAMES:
            if name in names:
                continue
            try:
                self._db.execute(f"SELECT {name} FROM {self._table} LIMIT 0")
            except sqlite3.OperationalError:
                return None
            return name
        return None

    def _check_unique_key(self, columns: list[Any]) -> None:
        """Raise :class:`StoreError` unless the key column alone is a primary key or unique.

        Every write addresses a row by its key, so a key shared by two rows
        would let one row's migrated envelope overwrite the other row.
        """
        key = self.location.key
        if [row[0] for row in sorted(columns, key=lambda row: row[2]) if row[2]] == [key]:
            return
        for index_name, unique, partial in self._db.execute(
            'SELECT name, "unique", partial FROM pragma_index_list(?)', (self.location.table,)
        ).fetchall():
            if not unique or partial:
                continue
            indexed = self._db.execute(
                "SELECT name FROM pragma_index_info(?)", (index_name,)
            ).fetchall()
            if [row[0] for row in indexed] == [key]:
                return
        raise StoreError(
            f"key column {key!r} of table {self.location.table!r} in {str(self.path)!r} "
            "is not unique, so an object id could name several rows",
            fix=f"make it unique (CREATE UNIQUE INDEX {self.location.table}_{key}_unique "
            f"ON {self.location.table}({key})), "
            "or give key= a column that is the table's primary key",
        )

    def _object_id(self, key: object) -> str:
        """Return the object id of a non-NULL key value.

        Some keys cannot be named by a text id: bytes that are not UTF-8, and
        numbers in a column of BLOB affinity.  Such a key gets an id in
        parentheses that states its type, and the scan reports the row as
        unreadable under that id (see :meth:`scan_problem`).  The type keeps
        the id apart from the text key that the number or bytes would read as.
        """
        if isinstance(key, str):
            try:
                return check_object_id(key)
            except StoreError:
                pass
        if isinstance(key, (str, bytes)) or self._key_is_blob_affinity:
            shown: object = key
            if isinstance(key, str):
                # The text contains bytes that are not UTF-8, so the id shows the bytes.
                shown = key.encode("utf-8", "surrogateescape")
                sql_type, kind = "TEXT", "TEXT that is not valid UTF-8"
            elif isinstance(key, bytes):
                sql_type, kind = "BLOB", "a BLOB"
            elif isinstance(key, int):
                sql_type, kind = "INTEGER", "an INTEGER"
            else:
                sql_type, kind = "REAL", "a REAL"
            object_id = f"({sql_type} key {shown!r})"
            self._problems[object_id] = (
                f"the row's key in column {self.location.key!r} is {kind}, "
                "which no text object id can address"
            )
            return object_id
        return str(key)

    def _null_key_rows(self) -> Iterator[tuple[str, bytes]]:
        """Yield a printable id and no bytes for each row that has a value but a NULL key.

        A column that is unique but not the primary key allows any number of
        NULL keys, as does the primary key of a table that SQLite created
        without NOT NULL.  No object id can name such a row, so the scan
        reports it as unreadable instead of stopping at it.
        """
        rowid = self._rowid if self._rowid is not None else "NULL"
        rows = self._db.execute(
            f"SELECT {rowid} FROM {self._table} "
            f"WHERE {self._key} IS NULL AND {self._column} IS NOT NULL ORDER BY 1"
        ).fetchall()
        for number, (row,) in enumerate(rows, 1):
            where = f"rowid {row}" if row is not None else f"row {number}"
            object_id = f"(NULL key, {where})"
            self._problems[object_id] = (
                f"the row's key in column {self.location.key!r} is NULL, "
                "which no object id can address"
            )
            yield object_id, b""

    def describe(self, object_id: str) -> str:
        return f"{self.path} table {self.location.table} {self.location.key}={object_id}"

    # Reading.

    def iter_prefixes(self, size: int = HEADER_PREFIX_SIZE) -> Iterator[tuple[str, bytes]]:
        check_size(size)
        self._problems = {}
        # NULL keys are scanned apart, because paging by "key > last" never gets past one.
        yield from self._null_key_rows()
        last: object = None
        while True:
            if last is None:
                rows = self._prefix_rows(
                    f"WHERE {self._key} IS NOT NULL ORDER BY {self._key} LIMIT ?", [_PAGE], size
                )
            else:
                rows = self._prefix_rows(
                    f"WHERE {self._key} > ? ORDER BY {self._key} LIMIT ?", [last, _PAGE], size
                )
            for key, small, length, rowid in rows:
                if length is None:
                    continue  # a NULL value is no object
                object_id = self._object_id(key)
                if object_id in self._problems:
                    yield object_id, b""
                    continue
                problem = _value_problem(small)
                if problem is not None:
                    # An INTEGER or REAL value: no envelope, and no bytes worth reading.
                    self._problems[object_id] = problem
                    yield object_id, b""
                    continue
                found = self._prefix(key, small, length, rowid, size)
                if found is not None:
                    yield object_id, found[0]
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def scan_problem(self, object_id: str) -> str | None:
        return self._problems.get(object_id)

    def read(self, object_id: str) -> bytes:
        check_object_id(object_id)
        row = self._db.execute(
            f"SELECT {self._column} FROM {self._table} WHERE {self._key} = ?", (object_id,)
        ).fetchone()
        if row is None:
            raise KeyNotFound(
                f"row {self.location.key}={object_id!r} not found in {self.url!r}",
                fix="list the store's objects with 'agile store list --objects'",
            )
        if row[0] is None:
            raise KeyNotFound(
                f"row {self.location.key}={object_id!r} in {self.url!r} has no object: "
                f"column {self.location.column!r} is NULL",
                fix="list the store's objects with 'agile store list --objects'",
            )
        problem = _value_problem(row[0])
        if problem is not None:
            raise self._unreadable_value(object_id, problem)
        return _as_bytes(row[0])

    def _unreadable_value(self, object_id: str, problem: str) -> StoreError:
        return StoreError(
            f"object {object_id!r} in {self.describe(object_id)}: {problem}",
            fix=f"store the envelope in column {self.location.column!r} of that row, "
            "or delete the row",
        )

    def _data_version(self) -> int:
        # PRAGMA data_version changes whenever another connection, in this or
        # another process, commits to the database (SQLite's pragma docs).
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def read_many(self, object_ids: Iterable[str]) -> dict[str, bytes]:
        ids = check_object_ids(object_ids)
        found: dict[str, bytes] = {}
        version = self._data_version()
        self._reads = {}
        self.read_errors = {}
        # SQLite allows at least 999 bound parameters per statement.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {self._key}, {self._column} FROM {self._table} "
                f"WHERE {self._key} IN ({marks})",
                chunk,
            ).fetchall()
            for key, value in rows:
                if value is None:
                    continue
                problem = _value_problem(value)
                if problem is not None:
                    # Changed to a number since the scan: reported, not migrated.
                    error = self._unreadable_value(str(key), problem)
                    self.read_errors[str(key)] = error.diagnostics()
                    continue
                found[str(key)] = _as_bytes(value)
        for object_id, data in found.items():
            self._reads[object_id] = (version, data)
        return found

    def read_prefixes(self, object_ids: Iterable[str], size: int) -> dict[str, tuple[bytes, int]]:
        ids = check_object_ids(object_ids)
        check_size(size)
        found: dict[str, tuple[bytes, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._prefix_rows(f"WHERE {self._key} IN ({marks})", chunk, size)
            for key, small, length, rowid in rows:
                if length is None:
                    continue
                prefix = self._prefix(key, small, length, rowid, size)
                if prefix is not None:
                    found[str(key)] = prefix
        return found

    def _prefix_rows(self, clause: str, parameters: list[Any], size: int) -> list[Any]:
        """Return ``(key, value, length, rowid)`` rows; value is None when longer than ``size``.

        ``substr`` on a BLOB makes SQLite load the whole value, while
        ``length`` does not, so a longer value is left for :meth:`_prefix` to
        read through incremental blob I/O.  A number is always returned as the
        value, because incremental blob I/O opens only BLOB and TEXT values.
        A table whose rowid no name reaches (WITHOUT ROWID, or with columns
        named rowid, _rowid_ and oid) gets the ``substr`` of every value instead.
        """
        if self._rowid is None:
            return self._db.execute(
                f"SELECT {self._key}, substr({self._column}, 1, ?), length({self._column}), "
                f"NULL FROM {self._table} {clause}",
                [size, *parameters],
            ).fetchall()
        return self._db.execute(
            f"SELECT {self._key}, CASE WHEN length({self._column}) <= ? "
            f"OR typeof({self._column}) NOT IN ('blob', 'text') "
            f"THEN {self._column} END, length({self._column}), {self._rowid} "
            f"FROM {self._table} {clause}",
            [size, *parameters],
        ).fetchall()

    def _prefix(
        self, key: object, small: object, length: int, rowid: object, size: int
    ) -> tuple[bytes, int] | None:
        """Return ``(first size bytes, length)`` of one non-NULL row from :meth:`_prefix_rows`.

        None means that the row contains no object any more: it was deleted,
        or its value set to NULL, since the query.
        """
        if small is not None:
            return _as_bytes(small)[:size], int(length)
        if size == 0:
            return b"", int(length)
        if isinstance(rowid, int):
            found = self._prefix_by_rowid(key, rowid, size)
            if found is not None:
                return found
        return self._prefix_by_key(key, size)

    def _prefix_by_rowid(self, key: object, rowid: int, size: int) -> tuple[bytes, int] | None:
        """Read the first ``size`` bytes through incremental blob I/O on the row ``rowid``.

        Blob I/O addresses the row by rowid alone.  So that a rowid that names
        another row can never pass that row's header off as this object's,
        the key of the same row is read in the same read transaction and must
        be ``key``.  None means that the key did not match or blob I/O could
        not open the value (a changed row, a virtual table), and the caller
        then reads by key.
        """
        with self._read_transaction():
            try:
                if not self._row_has_key(rowid, key):
                    return None
                with self._db.blobopen(
                    self.location.table, self.location.column, rowid, readonly=True
                ) as blob:
                    return blob.read(size), len(blob)
            except sqlite3.OperationalError:
                return None

    def _row_has_key(self, rowid: int, key: object) -> bool:
        """Return whether the row that blob I/O opens as ``rowid`` has the key ``key``."""
        if isinstance(key, str):
            # Read through blob I/O too, so that the check is right whatever names the rowid in SQL.
            with self._db.blobopen(
                self.location.table, self.location.key, rowid, readonly=True
            ) as blob:
                return blob.read() == _as_bytes(key)
        # Blob I/O opens no INTEGER or REAL value, so such a key is compared in SQL.
        row = self._db.execute(
            f"SELECT {self._key} FROM {self._table} WHERE {self._rowid} = ?", (rowid,)
        ).fetchone()
        return row is not None and type(row[0]) is type(key) and row[0] == key

    def _prefix_by_key(self, key: object, size: int) -> tuple[bytes, int] | None:
        """Read the first ``size`` bytes of the row with ``key``; SQLite loads the whole value."""
        row = self._db.execute(
            f"SELECT substr({self._column}, 1, ?), length({self._column}) "
            f"FROM {self._table} WHERE {self._key} = ?",
            (size, key),
        ).fetchone()
        if row is None or row[1] is None:
            return None
        return _as_bytes(row[0])[:size], int(row[1])

    @contextlib.contextmanager
    def _read_transaction(self) -> Iterator[None]:
        """Run the block in one read transaction, so that its reads see one state of the file."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def count(self) -> int:
        # count(column) leaves out NULL values, which are not objects.
        return int(
            self._db.execute(f"SELECT count({self._column}) FROM {self._table}").fetchone()[0]
        )

    # Writing.

    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        """Hold the agile writer lock of this database, then a write transaction.

        SQLite's own busy handler polls with sleeps of up to 100 ms, so two
        rotation workers committing in turn would mostly sleep.  A blocking
        ``flock`` on a file beside the database wakes the next writer as soon
        as the lock is released.  Writers outside agile still meet SQLite's
        lock and busy timeout.

        The first write of a connection switches the database to WAL mode,
        which SQLite keeps in the file, so that readers keep reading while
        rotation commits.  It is set here, outside a transaction as SQLite
        requires, and not at open, so that only a command that writes changes it.
        """
        if self._lock_fd is None:
            lock_path = self.path.with_name(f".{self.path.name}.agile-lock")
            try:
                self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                raise StoreError(
                    f"cannot open the lock file {str(lock_path)!r} of SQLite database "
                    f"{str(self.path)!r}: {error.strerror or error}",
                    fix=f"make the directory {str(self.path.parent)!r} writable for this user, "
                    "then run the command again",
                ) from None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            if not self._wal_mode_set:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._wal_mode_set = True
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                # SQLite rolls back by itself after some errors (a full disk, an I/O error).
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise  # put and swap_many name the row and the constraint
        except sqlite3.Error as error:
            # A read-only or full database, another writer past the busy
            # timeout, or a trigger of the user's table that fails.
            if _is_busy(error):
                # In rollback-journal mode an open read transaction blocks a writer too.
                fix = (
                    f"another program held a lock on the database (an open read or write "
                    f"transaction) for over {_BUSY_TIMEOUT_MS // 1000} s; let it end the "
                    "transaction, then run the command again"
                )
            else:
                fix = _writable_fix(self._unwritable_files())
            raise StoreError(
                f"cannot write to SQLite database {str(self.path)!r}: {error}", fix=fix
            ) from None
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _unwritable_files(self) -> list[Path]:
        """Return the database's directory and files that exist but this user cannot write.

        SQLite writes the -wal and -shm files beside the database in WAL mode,
        and the -journal file in rollback-journal mode, and it creates each with
        the mode of the database file.  So after a read-only database was
        opened, making only the database file writable is not enough.
        """
        candidates = [self.path.parent, self.path]
        candidates += [self.path.with_name(self.path.name + suffix) for suffix in _SIDE_FILES]
        return [path for path in candidates if path.exists() and not os.access(path, os.W_OK)]

    def put(self, object_id: str, data: bytes) -> None:
        check_object_id(object_id)
        # A str would be stored as TEXT, which later scans report as unreadable.
        check_data(data)
        # data_version does not count this connection's own commits.
        self._reads.pop(object_id, None)
        try:
            with self._writer():
                cursor = self._db.execute(
                    f"UPDATE {self._table} SET {self._column} = ? WHERE {self._key} = ?",
                    (data, object_id),
                )
                if cursor.rowcount == 0:
                    # No row has this key: raising here rolls the empty transaction back.
                    check_new_object_id(object_id)
                    self._db.execute(
                        f"INSERT INTO {self._table} ({self._key}, {self._column}) VALUES (?, ?)",
                        (object_id, data),
                    )
                self._check_stored_id(object_id)
        except sqlite3.IntegrityError as error:
            # A constraint of the user's table: an INTEGER PRIMARY KEY takes no text id.
            raise StoreError(
                f"cannot store object {object_id!r} in {self.describe(object_id)}: {error}",
                fix=f"use an id that the {self.location.key!r} column accepts, "
                "or a table whose key column is TEXT",
            ) from None

    def _check_stored_id(self, object_id: str) -> None:
        """Raise :class:`StoreError` (rolling back) when the row's key is not ``object_id``.

        A key column of INTEGER, REAL or NUMERIC affinity converts text that
        looks like a number ("Datatypes In SQLite", section 3, "Type Affinity"):
        "07" is stored as 7, and the scan then lists the object as "7".  Its
        associated data (with aad=id) and every later lookup would no longer
        match the id given.
        """
        row = self._db.execute(
            f"SELECT {self._key} FROM {self._table} WHERE {self._key} = ?", (object_id,)
        ).fetchone()
        stored = row[0] if row is not None else None
        if stored is None or str(stored) != object_id:
            raise StoreError(
                f"object id {object_id!r} would be stored as {stored!r} in column "
                f"{self.location.key!r} of table {self.location.table!r}",
                fix=f"use the id {str(stored)!r} as the column stores it, "
                "or a table whose key column is TEXT",
            )

    def compare_and_swap(self, object_id: str, expected: bytes, data: bytes | Joined) -> bool:
        return self.swap_many([Swap(object_id, expected, data)])[0]

    def swap_many(self, swaps: list[Swap], *, durable: bool = True) -> list[bool]:
        """Apply all swaps in one transaction; a row that changed since it was read is kept.

        A row whose expected bytes are the very object :meth:`read_many`
        returned, read when ``PRAGMA data_version`` had the value it still has
        inside this write transaction, cannot have changed: no other
        connection committed since.  It is updated by key alone, which spares
        SQLite loading and comparing the old value.  Every other row is
        compared in full in the ``WHERE`` clause.  Every commit is durable
        (``synchronous = FULL``), whatever the value of ``durable``.
        """
        check_swaps(swaps)
        results: list[bool] = []
        try:
            self._swap_all(swaps, results)
        except sqlite3.IntegrityError as error:
            raise StoreError(
                f"table {self.location.table!r} in {str(self.path)!r} rejected a migrated "
                f"envelope: {error}",
                fix="drop or relax the constraint or trigger that rejects updates of column "
                f"{self.location.column!r}, then run 'agile rotate --resume'",
            ) from None
        return results

    def _swap_all(self, swaps: list[Swap], results: list[bool]) -> None:
        with self._writer():
            version = self._data_version()
            for swap in swaps:
                # A bound parameter must be one buffer.
                data = bytes(swap.data) if isinstance(swap.data, Joined) else swap.data
                read = self._reads.pop(swap.object_id, None)
                if read is not None and read[0] == version and read[1] is swap.expected:
                    cursor = self._db.execute(
                        f"UPDATE {self._table} SET {self._column} = {self._new_value} "
                        f"WHERE {self._key} = ?",
                        (data, data, swap.object_id),
                    )
                else:
                    # CAST: a TEXT value never equals a BLOB parameter in SQLite,
                    # and an armoured envelope may be stored as TEXT.
                    cursor = self._db.execute(
                        f"UPDATE {self._table} SET {self._column} = {self._new_value} "
                        f"WHERE {self._key} = ? AND CAST({self._column} AS BLOB) = ?",
                        (data, data, swap.object_id, swap.expected),
                    )
                if cursor.rowcount > 1:
                    # The key check at open makes this unreachable; raising rolls back.
                    raise StoreError(
                        f"{cursor.rowcount} rows of {self.describe(swap.object_id)} share the key",
                        fix=f"make column {self.location.key!r} unique, then rotate again",
                    )
                results.append(cursor.rowcount == 1)

    @property
    def _new_value(self) -> str:
        """SQL for the new value: TEXT where the row held TEXT (armoured), else the bytes."""
        return f"CASE WHEN typeof({self._column}) = 'text' THEN CAST(? AS TEXT) ELSE ? END"

    def close(self) -> None:
        self._reads = {}
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _writable_fix(unwritable: list[Path]) -> str:
    """Return the fix for a failed write, naming the files and directory that are read-only."""
    if unwritable:
        names = ", ".join(repr(str(path)) for path in unwritable)
        return f"make {names} writable for this user, then run the command again"
    return (
        "make the database file, its -wal, -shm and -journal files if they exist, and its "
        "directory writable for this user, check the free disk space, then run the command again"
    )


def _decode_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _is_busy(error: sqlite3.Error) -> bool:
    """Return whether ``error`` means that another connection holds the lock (SQLITE_BUSY)."""
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or (
        "locked" in str(error)
    )


def _value_problem(value: object) -> str | None:
    """Return why a value is no envelope (it is a number), or None for any other value."""
    if not isinstance(value, (int, float)):
        return None
    kind = "an INTEGER" if isinstance(value, int) else "a REAL"
    return f"the value is {kind}, not an envelope (a BLOB, or TEXT for armour)"


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        # An armoured envelope stored as TEXT, in the bytes SQLite holds.
        return value.encode("utf-8", "surrogateescape")
    if value is None:
        return b""
    # An INTEGER or REAL is not an envelope.  Its text form, which is what
    # SQLite's CAST(value AS BLOB) gives, lets the scan report the row as
    # unreadable by its id instead of stopping the whole run.
    return str(value).encode()
