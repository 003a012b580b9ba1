"""Keystore backup and restore in sealed form.

A backup is one JSON document holding every file of the keystore directory
(keysets with their sealed private keys, ``keystore.json`` with the registered
stores, the stored policy, the audit log), base64-encoded.  Private keys stay
encrypted under their keyset's KEK and the KEK stays sealed, so the backup
needs the same passphrase or device to be useful.  The rotation journal and
lock files are left out: they describe a process on this machine, not keys.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import KeystoreError, KeystoreLocked, RotationInProgress
from ..fsio import atomic_write, exclusive_lock
from .journal import JOURNAL_NAME, Journal

__all__ = ["backup_keystore", "restore_keystore", "BACKUP_FORMAT"]

BACKUP_FORMAT = "agile-keystore-backup"
BACKUP_VERSION = 1

#: Files of the keystore directory that a backup leaves out.
_SKIPPED = {JOURNAL_NAME, JOURNAL_NAME + "-wal", JOURNAL_NAME + "-shm", "rotation.lock"}


def _files(root: Path) -> list[str]:
    names = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name in _SKIPPED:
                continue
            names.append((Path(directory) / name).relative_to(root).as_posix())
    return names


def backup_keystore(
    keystore_dir: str | os.PathLike[str], destination: str | os.PathLike[str]
) -> int:
    """Write a backup of the keystore to ``destination``; return the number of files."""
    root = Path(keystore_dir)
    if not (root / "keystore.json").is_file():
        raise KeystoreError(
            f"no keystore at {str(root)!r}", fix="point --keystore or AGILE_HOME at the keystore"
        )
    # The writer lock keeps a keyset change from landing half-way through the copy.
    with exclusive_lock(root / ".lock", what="keystore"):
        files = {
            name: base64.b64encode((root / name).read_bytes()).decode() for name in _files(root)
        }
    document = {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    atomic_write(destination, json.dumps(document, indent=1).encode() + b"\n")
    return len(files)


def _load_backup(source: Path) -> dict[str, bytes]:
    try:
        document: Any = json.loads(source.read_bytes())
    except (OSError, ValueError) as error:
        raise KeystoreError(f"cannot read backup {str(source)!r}: {error}") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != BACKUP_FORMAT
        or document.get("version") != BACKUP_VERSION
        or not isinstance(document.get("files"), dict)
    ):
        raise KeystoreError(
            f"{str(source)!r} is not an agile keystore backup (version {BACKUP_VERSION})",
            fix="give a file written by 'agile keystore backup'",
        )

    files: dict[str, bytes] = {}
    for name, encoded in document["files"].items():
        parts = PurePosixPath(name).parts
        if not isinstance(encoded, str):
            raise KeystoreError(
                f"backup {str(source)!r}: the content of file {name!r} is not a base64 string",
                fix="give a file written by 'agile keystore backup', unmodified",
            )
        if (
            PurePosixPath(name).as_posix() != name
            or name.startswith("/")
            or any(part in ("..", ".") or part.startswith(".") for part in parts)
            or name in _SKIPPED
        ):
            raise KeystoreError(
                f"backup {str(source)!r} contains an invalid file name {name!r}",
                fix="give a file written by 'agile keystore backup', unmodified",
            )
        try:
            files[name] = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise KeystoreError(
                f"backup {str(source)!r}: the content of file {name!r} is not base64",
                fix="give a file written by 'agile keystore backup', unmodified",
            ) from None
    if "keystore.json" not in files:
        raise KeystoreError(f"backup {str(source)!r} has no keystore.json")
    return files


def restore_keystore(
    keystore_dir: str | os.PathLike[str], source: str | os.PathLike[str], *, force: bool = False
) -> int:
    """Restore a backup into ``keystore_dir``; return the number of files written.

    Without ``force`` the target must hold no keysets.  Each file is replaced
    atomically, and ``keystore.json`` last; with ``force``, keyset files that
    the backup does not have are removed.
    """
    root = Path(keystore_dir)
    files = _load_backup(Path(source))
    root.mkdir(mode=0o700, parents=True, exist_ok=True)

    try:
        with exclusive_lock(root / "rotation.lock", wait=False, what="rotation"):
            with exclusive_lock(root / ".lock", what="keystore"):
                return _restore_locked(root, files, force)
    except KeystoreLocked:
        raise RotationInProgress(
            f"a rotation is running on keystore {str(root)!r}",
            fix="wait for it to finish before restoring",
        ) from None


def _restore_locked(root: Path, files: dict[str, bytes], force: bool) -> int:
    existing = sorted((root / "keysets").glob("*.json")) if (root / "keysets").is_dir() else []
    if existing and not force:
        raise KeystoreError(
            f"keystore {str(root)!r} already has {len(existing)} keysets",
            fix="restore into an empty directory, or add --force to replace them",
        )
    if (root / JOURNAL_NAME).exists():
        journal = Journal(root)
        try:
            unfinished = journal.unfinished_run()
        finally:
            journal.close()
        if unfinished is not None and not force:
            raise KeystoreError(
                f"keystore {str(root)!r} has an unfinished rotation run {unfinished.run_id}",
                fix="finish it with 'agile rotate --resume', or add --force",
            )

    ordered = sorted(name for name in files if name != "keystore.json") + ["keystore.json"]
    for name in ordered:
        target = root / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(target, files[name])
    if force:
        for path in existing:
            if f"keysets/{path.name}" not in files:
                path.unlink()
    return len(files)
