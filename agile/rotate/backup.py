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
import errno
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import KeystoreError, KeystoreLocked, RotationInProgress
from ..fsio import atomic_write, exclusive_lock
from ..keys.files import shared_lock
from .journal import JOURNAL_NAME, Journal

__all__ = ["backup_keystore", "write_backup", "restore_keystore", "BACKUP_FORMAT"]

BACKUP_FORMAT = "agile-keystore-backup"
BACKUP_VERSION = 1

#: Largest backup that a restore reads.  A backup contains the keyset files (a few
#: KiB each) and the audit log, so this leaves room for years of key changes, and a
#: wrong input (/dev/zero) fails before it fills memory.
MAX_BACKUP_SIZE = 256 << 20

#: Maximum length in bytes of one file name component on common Linux file systems (NAME_MAX).
_MAX_NAME_BYTES = 255

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
    """Write a backup of the keystore to ``destination``; return the number of files.

    The file is written atomically with mode 0600.
    """
    root = Path(keystore_dir)
    _check_keystore(root)
    target = Path(destination).expanduser().resolve()
    if root.resolve() in target.parents:
        # Every later backup would contain this one, and a restore would write it back.
        raise KeystoreError(
            f"backup file {str(target)!r} is inside the keystore {str(root)!r}",
            fix="write the backup to a path outside the keystore directory",
        )
    document, count = _backup_document(root)
    atomic_write(destination, document)
    return count


def write_backup(keystore_dir: str | os.PathLike[str], stream: BinaryIO) -> int:
    """Write a backup of the keystore to a binary stream; return the number of files.

    A stream such as standard output has no file mode, so the program that
    receives the backup decides who may read it.  The private keys in it stay sealed.
    """
    root = Path(keystore_dir)
    _check_keystore(root)
    document, count = _backup_document(root)
    stream.write(document)
    stream.flush()
    return count


def _check_keystore(root: Path) -> None:
    if not (root / "keystore.json").is_file():
        raise KeystoreError(
            f"no keystore at {str(root)!r}", fix="point --keystore or AGILE_HOME at the keystore"
        )


def _read_file(root: Path, name: str) -> bytes:
    """Return the content of a regular file of the keystore, refusing links, FIFOs and devices.

    A link would copy a file from outside the keystore into the backup, and a
    FIFO would block the backup until some program writes to it.
    """
    path = root / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise KeystoreError(
            f"keystore file {str(path)!r} is a symbolic link",
            fix="replace the link with a copy of the file it names, or remove it",
        ) from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeystoreError(
                f"keystore file {str(path)!r} is not a regular file (a FIFO, socket or device)",
                fix="remove it; a keystore holds regular files only",
            )
        return file.read()


def _backup_document(root: Path) -> tuple[bytes, int]:
    """Return the backup document of the keystore at ``root`` and its number of files."""
    # A shared hold of the writer lock keeps a keyset change from landing half-way
    # through the copy, and lets a backup read a read-only keystore.
    with shared_lock(root / ".lock"):
        files = {name: base64.b64encode(_read_file(root, name)).decode() for name in _files(root)}
    document = {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    encoded = json.dumps(document, indent=1).encode() + b"\n"
    if len(encoded) > MAX_BACKUP_SIZE:
        # Written anyway, it would be a backup that no restore reads.
        largest = max(files, key=lambda name: len(files[name]))
        raise KeystoreError(
            f"the backup of keystore {str(root)!r} would be {len(encoded) >> 20} MiB, more "
            f"than the {MAX_BACKUP_SIZE >> 20} MiB a restore reads; its largest file is "
            f"{largest!r}",
            fix="archive and truncate the audit log if it is the largest file, then back up again",
        )
    return encoded, len(files)


def _load_backup(source: Path | BinaryIO) -> dict[str, bytes]:
    """Read a backup file or stream and check it; return its files by name."""
    if isinstance(source, Path):
        label = str(source)
    else:
        stream_name = getattr(source, "name", None)
        label = (
            stream_name
            if isinstance(stream_name, str) and not stream_name.startswith("<")
            else "standard input"
        )
    try:
        if isinstance(source, Path):
            with source.open("rb") as file:
                raw = file.read(MAX_BACKUP_SIZE + 1)
        else:
            raw = source.read(MAX_BACKUP_SIZE + 1)
    except OSError as error:
        raise KeystoreError(
            f"cannot read backup {label!r}: {error}",
            fix="give a complete file written by 'agile keystore backup'",
        ) from None
    if len(raw) > MAX_BACKUP_SIZE:
        raise KeystoreError(
            f"backup {label!r} is larger than {MAX_BACKUP_SIZE // (1 << 20)} MiB, so it is "
            "not one that 'agile keystore backup' wrote",
            fix="check that the input is a keystore backup",
        )
    try:
        document: Any = json.loads(raw)
    except ValueError as error:
        raise KeystoreError(
            f"cannot read backup {label!r}: {error}",
            fix="give a complete file written by 'agile keystore backup'",
        ) from None
    if (
        not isinstance(document, dict)
        or document.get("format") != BACKUP_FORMAT
        or document.get("version") != BACKUP_VERSION
        or not isinstance(document.get("files"), dict)
    ):
        raise KeystoreError(
            f"{label!r} is not an agile keystore backup (version {BACKUP_VERSION})",
            fix="give a file written by 'agile keystore backup'",
        )

    files: dict[str, bytes] = {}
    for name, encoded in document["files"].items():
        parts = PurePosixPath(name).parts
        if not isinstance(encoded, str):
            raise KeystoreError(
                f"backup {label!r}: the content of file {name!r} is not a base64 string",
                fix="give a file written by 'agile keystore backup', unmodified",
            )
        if (
            PurePosixPath(name).as_posix() != name
            or name.startswith("/")
            or any(part in ("..", ".") or part.startswith(".") for part in parts)
            or name in _SKIPPED
            # A name that the file system cannot store, or a keyset file outside the
            # flat keysets/ directory, would fail half-way through the restore.
            or any(ord(char) < 0x20 for char in name)
            or any(len(part.encode()) > _MAX_NAME_BYTES for part in parts)
            or (parts[:1] == ("keysets",) and len(parts) != 2)
        ):
            raise KeystoreError(
                f"backup {label!r} contains an invalid file name {name!r}",
                fix="give a file written by 'agile keystore backup', unmodified",
            )
        try:
            files[name] = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise KeystoreError(
                f"backup {label!r}: the content of file {name!r} is not base64",
                fix="give a file written by 'agile keystore backup', unmodified",
            ) from None
    directories = {
        "/".join(name.split("/")[:depth])
        for name in files
        for depth in range(1, name.count("/") + 1)
    }
    clashes = sorted(directories & set(files))
    if clashes:
        raise KeystoreError(
            f"backup {label!r} names {clashes[0]!r} both as a file and as a directory",
            fix="give a file written by 'agile keystore backup', unmodified",
        )
    if "keystore.json" not in files:
        raise KeystoreError(
            f"backup {label!r} has no keystore.json",
            fix="give a file written by 'agile keystore backup', unmodified",
        )
    # Check the JSON files before anything is written, so that a damaged backup
    # cannot replace a working keystore with files that no command can open.
    for name, content in files.items():
        if name == "keystore.json" or name.startswith("keysets/"):
            try:
                parsed = json.loads(content)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict) or (
                name.startswith("keysets/") and not isinstance(parsed.get("keys"), list)
            ):
                raise KeystoreError(
                    f"backup {label!r}: file {name!r} is not a valid keystore file",
                    fix="give a file written by 'agile keystore backup', unmodified",
                )
    return files


def _live_key_ids(content: bytes) -> set[str]:
    """Return the ids of keys in a keyset file that are not destroyed (empty if unreadable)."""
    try:
        data = json.loads(content)
        return {
            str(key["id"])
            for key in data["keys"]
            if isinstance(key, dict) and key.get("status") != "destroyed"
        }
    except (ValueError, KeyError, TypeError):
        return set()


def _merge_audit(existing: bytes, restored: bytes) -> bytes:
    # The audit log is append-only: a restore keeps every record the keystore has and
    # adds the backup's records that it lacks, instead of going back to an older log.
    have = set(existing.splitlines())
    added = [line for line in restored.splitlines() if line and line not in have]
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    return existing + b"".join(line + b"\n" for line in added)


def restore_keystore(
    keystore_dir: str | os.PathLike[str],
    source: str | os.PathLike[str] | BinaryIO,
    *,
    force: bool = False,
) -> int:
    """Restore a backup into ``keystore_dir``; return the number of files written.

    ``source`` is the backup's path, or a binary stream such as standard input,
    which is read to its end and checked before any file is written.

    Without ``force`` the target must hold no keysets.  Each file is replaced
    atomically, and ``keystore.json`` last; with ``force``, keyset files that
    the backup does not have are removed.
    """
    root = Path(keystore_dir)
    files = _load_backup(Path(source) if isinstance(source, str | os.PathLike) else source)
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

    # Keys that exist only in this keystore would be lost, and with them every object
    # they protect (a rotation after the backup moved objects to such a key).
    restored_ids: set[str] = set()
    for name, content in files.items():
        if name.startswith("keysets/"):
            restored_ids |= _live_key_ids(content)
    lost = sorted(
        key_id for path in existing for key_id in _live_key_ids(path.read_bytes()) - restored_ids
    )
    if lost:
        raise KeystoreError(
            f"restoring would delete keys {', '.join(lost)} of keystore {str(root)!r}, "
            "which the backup does not have; objects protected by them would become unreadable",
            fix="restore into an empty directory, or back up this keystore first and destroy "
            "those keys ('agile keyset destroy') once no object needs them",
        )

    for name in files:
        if (root / name).is_dir():
            raise KeystoreError(
                f"cannot restore file {name!r}: {str(root / name)!r} is a directory",
                fix="move that directory out of the keystore, then restore again",
            )

    ordered = sorted(name for name in files if name != "keystore.json") + ["keystore.json"]
    for name in ordered:
        target = root / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        content = files[name]
        if name == "audit.log" and target.is_file():
            content = _merge_audit(target.read_bytes(), content)
        atomic_write(target, content)
    if force:
        for path in existing:
            if f"keysets/{path.name}" not in files:
                path.unlink()
    return len(files)
