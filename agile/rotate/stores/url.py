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

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ...errors import StoreError

__all__ = [
    "StoreURL",
    "parse_store_url",
    "check_identifier",
    "quote_identifier",
    "shares_objects",
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
            fix="use letters, digits and underscores, starting with a letter (at most 63)",
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
    path = Path(unquote(parts.path[1:])).expanduser().resolve()

    options = dict(_SQLITE_DEFAULTS)
    aad = ""
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name == "aad":
            aad = _check_aad(value, url)
            continue
        if name not in options:
            raise StoreError(
                f"unknown option {name!r} in store URL {url!r}",
                fix="the options are table, column, key and aad",
            )
        options[name] = check_identifier(value, name)
    return StoreURL("sqlite", path, options["table"], options["column"], options["key"], aad)


def _check_aad(value: str, url: str) -> str:
    if value not in AAD_MODES:
        raise StoreError(
            f"invalid aad={value!r} in store URL {url!r}",
            fix="use aad=id to bind each envelope to its object id, or leave the option out",
        )
    return value


def shares_objects(first: StoreURL, second: StoreURL) -> bool:
    """Return whether two store locations can contain the same objects.

    Two registrations of one SQLite table, or of one directory tree (or a tree
    inside another), would let rotation see each object twice, under two
    associated-data settings or two ids, and migrate it twice.
    """
    if first.scheme != second.scheme:
        return False
    a, b = first.path.resolve(), second.path.resolve()
    if first.scheme == "sqlite":
        # SQLite matches table names without regard to ASCII case.
        return a == b and first.table.lower() == second.table.lower()
    return a == b or a in b.parents or b in a.parents
