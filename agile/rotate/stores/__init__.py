"""Stores of protected objects: a directory tree and a SQLite column, behind one interface."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...errors import StoreError
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
    "check_registrable",
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


def check_registrable(
    location: StoreURL, name: str, registered: Mapping[str, str], keystore_dir: Path
) -> None:
    """Raise :class:`StoreError` when ``location`` may not be registered as store ``name``.

    It may not overlap another registered store (a rotation would reach the
    same objects twice), nor hold the keystore's own files, which no rotation
    could read as envelopes.  ``registered`` maps the keystore's store names to
    their URLs.
    """
    for other_name, other_url in registered.items():
        if other_name == name:
            continue
        reason = overlap_reason(location, parse_store_url(other_url))
        if reason is not None:
            raise StoreError(
                f"store {other_name!r} ({other_url}) already covers {str(location)!r}: {reason}",
                fix="register each directory tree, table or database once, and keep a "
                "database out of a directory store's tree unless it is in a hidden folder "
                f"there; run 'agile store remove {other_name}' first to change how it is "
                "registered",
            )
    if location.scheme != "dir":
        return
    # A keystore below a hidden directory (such as ~/.local/share/agile) is not listed.
    root, keystore = location.path.resolve(), keystore_dir.expanduser().resolve()
    inside = root == keystore or root in keystore.parents
    hidden = inside and any(part.startswith(".") for part in keystore.relative_to(root).parts)
    if keystore in root.parents or inside and not hidden:
        raise StoreError(
            f"store directory {str(root)!r} overlaps the keystore {str(keystore)!r}",
            fix="keep envelope files in a directory outside the keystore",
        )
