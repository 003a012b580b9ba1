"""Store URLs: a directory path, ``dir:PATH``, or ``sqlite:///PATH?table=T&column=C&key=ID``.

Both ``dir:`` and ``sqlite:`` URLs take ``aad=id``: every object of the store
is then encrypted with its own id (UTF-8) as the envelope's associated data,
so an envelope copied to another id, row or file no longer decrypts.

The SQLite form follows the SQLAlchemy convention: ``sqlite:///data.db`` is a
path relative to the current directory and ``sqlite:////srv/data.db`` is
absolute.  Relative paths are resolved when a URL is parsed, so a store
registered with the keystore keeps meaning the same file from any directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ...errors import StoreError

__all__ = [
    "StoreURL",
    "parse_store_url",
    "check_identifier",
    "quote_identifier",
    "shares_objects",
    "overlap_reason",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SQLITE_DEFAULTS = {"table": "secrets", "column": "envelope", "key": "id"}
#: Values of the ``aad`` option: what each object's envelope is bound to.
AAD_MODES = ("id",)


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL with an absolute path."""

    scheme: str
    path: Path
    table: str = "secrets"
    column: str = "envelope"
    key: str = "id"
    #: "id" when each object's id is its envelope's associated data, else "".
    aad: str = ""

    def __str__(self) -> str:
        if self.scheme == "sqlite":
            # An absolute path gives four slashes, as in SQLAlchemy.  The path is
            # percent-encoded, so that "?", "#" and "%" in it parse back unchanged.
            path = quote(str(self.path), safe="/")
            text = f"sqlite:///{path}?table={self.table}&column={self.column}&key={self.key}"
            return f"{text}&aad={self.aad}" if self.aad else text
        # parse_store_url splits a dir: URL at its last "?", so a "?" in the path survives.
        return f"dir:{self.path}?aad={self.aad}" if self.aad else str(self.path)


def check_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a plain SQL identifier; raise :class:`StoreError` otherwise."""
    if not _IDENTIFIER.fullmatch(value):
        raise StoreError(
            f"invalid SQL {what} name {value!r}",
            fix="use 1 to 63 ASCII letters, digits and underscores, not starting with a digit",
        )
    if what == "table" and value.lower().startswith("sqlite_"):
        # SQLite reserves these names for its own tables (sqlite_master, sqlite_sequence).
        raise StoreError(
            f"invalid SQL table name {value!r}: names starting with 'sqlite_' belong to SQLite",
            fix="give table= the name of a table of your own",
        )
    return value


def quote_identifier(value: str) -> str:
    """Return a checked identifier in double quotes (SQL standard quoting)."""
    return '"' + check_identifier(value, "identifier") + '"'


def parse_store_url(url: str) -> StoreURL:
    """Parse a store URL; raise :class:`StoreError` naming the URL when it is invalid."""
    if not url:
        raise StoreError("empty store URL", fix="give a directory or sqlite:///PATH?table=T")

    if url.startswith("sqlite:"):
        return _parse_sqlite(url)

    if url.startswith("dir:"):
        url = url[len("dir:") :]
        if url.startswith("//"):
            url = url[2:]
        path, _, query = url.rpartition("?") if "?" in url else (url, "", "")
        aad = ""
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name != "aad":
                raise StoreError(
                    f"unknown option {name!r} in store URL {url!r}",
                    fix="a directory store URL takes only aad=id",
                )
            if aad:
                raise StoreError(
                    f"option 'aad' is given more than once in store URL {url!r}",
                    fix="give aad= once",
                )
            aad = _check_aad(value, url)
        return StoreURL("dir", Path(path).expanduser().resolve(), aad=aad)
    elif "://" in url:
        scheme = url.split("://", 1)[0]
        raise StoreError(
            f"unsupported store URL scheme {scheme!r} in {url!r}",
            fix="use a directory path or sqlite:///PATH?table=T&column=C&key=ID",
        )
    return StoreURL("dir", Path(url).expanduser().resolve())


def _parse_sqlite(url: str) -> StoreURL:
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
        raise StoreError(
            f"invalid SQLite store URL {url!r}",
            fix="write sqlite:///relative.db or sqlite:////absolute/path.db",
        )
    if parts.fragment or url.endswith("#"):
        # Without this check, "sqlite:////srv/a#b.db" would name the database /srv/a.
        raise StoreError(
            f"invalid SQLite store URL {url!r}: '#' starts a URL fragment",
            fix="write a '#' in the database path as %23",
        )
    text_path = unquote(parts.path[1:])
    if "\x00" in text_path:
        # The operating system cannot open a path with a NUL byte, so none can name a database.
        raise StoreError(
            f"invalid SQLite store URL {url!r}: the database path contains a NUL byte (%00)",
            fix="remove %00 from the database path",
        )
    if text_path.endswith("/"):
        # Path() would drop the slash and make a database file of what names a directory.
        raise StoreError(
            f"invalid SQLite store URL {url!r}: the database path ends with '/'",
            fix="name a database file in the directory, as in sqlite:///DIR/app.db",
        )
    path = Path(text_path).expanduser().resolve()

    options = dict(_SQLITE_DEFAULTS)
    aad = ""
    seen: set[str] = set()
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name in seen:
            raise StoreError(
                f"option {name!r} is given more than once in store URL {url!r}",
                fix=f"give {name}= once",
            )
        seen.add(name)
        if name == "aad":
            aad = _check_aad(value, url)
            continue
        if name not in options:
            raise StoreError(
                f"unknown option {name!r} in store URL {url!r}",
                fix="the options are table, column, key and aad",
            )
        options[name] = check_identifier(value, name)
    if options["column"].lower() == options["key"].lower():
        # SQLite matches column names without regard to ASCII case.
        raise StoreError(
            f"column={options['column']} and key={options['key']} name the same column "
            f"in store URL {url!r}",
            fix="give column= the column that holds the envelopes and key= another column "
            "that holds the object ids",
        )
    return StoreURL("sqlite", path, options["table"], options["column"], options["key"], aad)


def _check_aad(value: str, url: str) -> str:
    if value not in AAD_MODES:
        raise StoreError(
            f"invalid aad={value!r} in store URL {url!r}",
            fix="use aad=id to bind each envelope to its object id, or leave the option out",
        )
    return value


def shares_objects(first: StoreURL, second: StoreURL) -> bool:
    """Return whether two store locations can contain the same objects or files.

    See :func:`overlap_reason` for the cases.
    """
    return overlap_reason(first, second) is not None


def overlap_reason(first: StoreURL, second: StoreURL) -> str | None:
    """Return why two store locations must not both be registered, or None when they may.

    Two registrations of one SQLite table, or of one directory tree (or a tree
    inside another), would let rotation see each object twice, under two
    associated-data settings or two ids, and migrate it twice.  A database
    inside a directory tree, unless it is in a hidden directory there, would
    have its files listed as objects of the directory store and reported as
    unreadable on every run, so no run would finish.  Paths are compared after
    resolving symbolic links, and by ``(st_dev, st_ino)`` too, so that a hard
    link to a database or a bind mount of a directory is caught.
    """
    a, b = first.path.resolve(), second.path.resolve()
    if first.scheme == "sqlite" and second.scheme == "sqlite":
        if a != b and _same_file(a, b):
            # SQLite names its -wal and -shm files after the path it opened, so
            # two names of one database get two write-ahead logs.
            return (
                f"{str(a)!r} and {str(b)!r} are hard links to one database file, and SQLite "
                "would keep a separate write-ahead log for each name"
            )
        # SQLite matches table names without regard to ASCII case.
        if a == b and first.table.lower() == second.table.lower():
            return (
                f"both name table {first.table!r} of database {str(a)!r}, so rotation would "
                "see its rows twice"
            )
        return None
    if first.scheme == "dir" and second.scheme == "dir":
        if _inside(a, b) or _inside(b, a):
            return (
                f"directories {str(a)!r} and {str(b)!r} share files, so rotation would see "
                "them twice"
            )
        return None
    directory, database = (a, b) if first.scheme == "dir" else (b, a)
    below = _path_below(database, directory)
    if below is None:
        return None
    if any(part.startswith(".") for part in below.parent.parts):
        # The directory store lists files in a hidden directory only when
        # they start like an envelope, which database files never do.
        return None
    return (
        f"database {str(database)!r} lies inside directory store {str(directory)!r}, "
        "whose scan would report the database files as unreadable objects, so no "
        "rotation could finish"
    )


def _same_file(first: Path, second: Path) -> bool:
    """Return whether two existing paths are one file, by ``(st_dev, st_ino)``."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _path_below(inner: Path, outer: Path) -> PurePath | None:
    """Return ``inner`` relative to the directory ``outer`` if it lies inside it, else None.

    A resolved ancestor of ``inner`` that is the same directory as ``outer``
    (a bind mount, for example) counts too.
    """
    if inner == outer or outer in inner.parents:
        return inner.relative_to(outer)
    try:
        target = os.stat(outer)
    except OSError:
        return None
    for ancestor in (inner, *inner.parents):
        try:
            status = os.stat(ancestor)
        except OSError:
            continue
        if (status.st_dev, status.st_ino) == (target.st_dev, target.st_ino):
            return inner.relative_to(ancestor)
    return None


def _inside(inner: Path, outer: Path) -> bool:
    """Return whether ``inner`` is the directory ``outer`` or lies below it."""
    return _path_below(inner, outer) is not None
