"""Stores of protected objects: a directory tree and a SQLite column, behind one interface."""

from __future__ import annotations

from .base import HEADER_PREFIX_SIZE, Joined, ObjectStore, Swap, prefix_of
from .directory import DirectoryStore
from .sqlite import SQLiteStore
from .url import StoreURL, overlap_reason, parse_store_url, shares_objects

__all__ = [
    "HEADER_PREFIX_SIZE",
    "DirectoryStore",
    "Joined",
    "ObjectStore",
    "SQLiteStore",
    "StoreURL",
    "Swap",
    "open_store",
    "overlap_reason",
    "parse_store_url",
    "prefix_of",
    "shares_objects",
]


def open_store(url: str | StoreURL, *, create: bool = False) -> ObjectStore:
    """Open the store that ``url`` names; ``create`` makes a missing directory or table."""
    location = url if isinstance(url, StoreURL) else parse_store_url(url)
    if location.scheme == "sqlite":
        return SQLiteStore(location, create=create)
    return DirectoryStore(location.path, create=create, aad=location.aad)
