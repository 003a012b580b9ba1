"""A store that keeps one envelope per file under a directory tree.

Object ids are POSIX paths relative to the root.  Hidden files are objects
like any other.  Two kinds of names are never objects: the store's lock file
``.agile-store.lock`` at the root, and the temporary files of this store's
writes, ``.NAME.agile-XXXXXXXX.tmp``.  A file inside a hidden directory (such
as ``.git``) is an object only if it starts like an envelope, so that the
files of tools that keep their data there are not reported as unreadable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from ...envelope.armour import is_armoured
from ...envelope.format import MAGIC
from ...errors import KeyNotFound, StoreError
from ...fsio import atomic_write, fsync_directory, open_regular_file
from .base import (
    HEADER_PREFIX_SIZE,
    Joined,
    ObjectStore,
    Swap,
    check_new_object_id,
    check_object_id,
)
from .url import StoreURL

__all__ = ["DirectoryStore", "LOCK_NAME"]

LOCK_NAME = ".agile-store.lock"

#: Marker between an object's name and the 8 random characters of
#: tempfile.mkstemp in a temporary file's name.  Without it, a user's file
#: such as ``.db.backup01.tmp`` would look like a temporary file.
_TEMPORARY_MARKER = ".agile-"

#: Pattern of a temporary file's name, ``.NAME.agile-XXXXXXXX.tmp``, with the
#: characters that tempfile.mkstemp uses.
_TEMPORARY_NAME = re.compile(r"\.(.+)\.agile-[a-z0-9_]{8}\.tmp", re.DOTALL)

#: Number of byte-range lock slots; writers of different objects rarely share one.
_LOCK_SLOTS = 1 << 16


class DirectoryStore(ObjectStore):
    """Envelope files under ``root``; writes are temp file, fsync, rename, directory fsync."""

    scheme = "dir"

    def __init__(
        self, root: str | os.PathLike[str], *, create: bool = False, aad: str = ""
    ) -> None:
        self.root = Path(root)
        super().__init__(str(StoreURL("dir", self.root, aad=aad)), aad)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"store path {str(self.root)!r} is not a directory",
                fix="give a directory for a directory store, or sqlite:///PATH for a database",
            )
        if create:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.root.is_dir():
            raise StoreError(
                f"store directory {str(self.root)!r} does not exist",
                fix="create it, or give a path to an existing directory",
            )
        self._lock_fd: int | None = None
        self._thread_lock = threading.Lock()
        # Temporary files of atomic writes that the last scan saw (relative paths).
        self._leftovers: list[Path] = []
        # Reused by swap_many to read the current file: a fresh buffer per
        # object costs a page fault per 4 KiB page.
        self._scratch = bytearray()
        # Directories of renames made with durable=False and not fsync'ed yet.
        self._unsynced: set[Path] = set()
        # Why the last scan could not list or name an entry, by the id it was listed under.
        self._problems: dict[str, str] = {}

    # Paths.

    def path_of(self, object_id: str) -> Path:
        """Return the file of ``object_id``; raise :class:`StoreError` if it leaves the root."""
        check_object_id(object_id)
        parts = PurePosixPath(object_id).parts
        # The id must be the canonical form that iteration yields ("a//b" is not "a/b").
        if (
            not parts
            or object_id.startswith("/")
            or PurePosixPath(object_id).as_posix() != object_id
            or any(part in ("", ".", "..") for part in parts)
        ):
            raise StoreError(
                f"invalid object id {object_id!r} for a directory store",
                fix="use a relative path without '.' or '..' components",
            )
        if object_id == LOCK_NAME or any(_temporary_of(part) is not None for part in parts):
            raise StoreError(
                f"object id {object_id!r} is a name that the directory store keeps for "
                "its lock file or its temporary files",
                fix=f"choose another name; {LOCK_NAME!r} and names of the form "
                "'.NAME.agile-XXXXXXXX.tmp' are not objects",
            )
        return self.root.joinpath(*parts)

    def describe(self, object_id: str) -> str:
        return str(self.root / object_id)

    # Reading.

    def _object_ids(self) -> Iterator[str]:
        """Yield the ids of regular files, and of entries that need a report.

        Hidden files are objects too: a hidden envelope left out of the scan
        would stop decrypting once rotation disables its old key.  Only the
        lock file and this store's own temporary files are left out.  Inside
        a hidden directory (``.git``, ``.cache``) an entry counts only if it
        starts like an envelope, because such directories hold the files of
        other tools, which are not envelopes and would otherwise be reported
        as unreadable on every run.

        A FIFO, socket or device is not an object (opening a FIFO would block
        the scan).  A link to an object of this store is skipped, because the
        object is migrated under its own id and the link keeps pointing at it.
        os.walk does not descend into linked directories, so a linked
        directory is yielded too, for :meth:`scan_problem` to report.  So are
        a subdirectory that cannot be listed and a name that is not valid
        UTF-8: the objects they may hold would otherwise go unseen, and
        rotation would disable the keys those objects need.
        """
        self._leftovers = []
        self._problems = {}
        unlisted: list[OSError] = []
        for directory, subdirectories, files in os.walk(self.root, onerror=unlisted.append):
            yield from self._unlisted_ids(unlisted)
            relative = Path(directory).relative_to(self.root)
            in_hidden = any(part.startswith(".") for part in relative.parts)
            linked = [d for d in subdirectories if (Path(directory) / d).is_symlink()]
            subdirectories[:] = sorted(d for d in subdirectories if d not in linked)
            for name in sorted([*files, *linked]):
                # Agile writes only UTF-8 names.  A temporary name that is not
                # UTF-8 belongs to someone else and is reported like any such name.
                if _temporary_of(name) is not None and _is_utf8(str(relative / name)):
                    self._leftovers.append(relative / name)
                    continue
                if name == LOCK_NAME and relative == Path("."):
                    continue
                object_id = (relative / name).as_posix()
                try:
                    mode = os.lstat(self.root / object_id).st_mode
                except FileNotFoundError:
                    continue
                if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                    continue
                if in_hidden and not _starts_like_envelope(self.root / object_id):
                    continue
                if stat.S_ISLNK(mode) and self._link_problem(object_id) is None:
                    continue
                if not _is_utf8(object_id):
                    object_id = self._report_name(object_id)
                yield object_id
        yield from self._unlisted_ids(unlisted)

    def _unlisted_ids(self, errors: list[OSError]) -> Iterator[str]:
        """Yield an id for each directory that os.walk could not list; the root raises."""
        while errors:
            error = errors.pop(0)
            directory = Path(error.filename or self.root)
            if directory == self.root:
                raise StoreError(
                    f"cannot list store directory {str(self.root)!r}: {error.strerror}",
                    fix="check that the directory exists and that this user can read it",
                )
            if isinstance(error, (FileNotFoundError, NotADirectoryError)):
                continue  # removed or replaced since its parent was listed
            object_id = directory.relative_to(self.root).as_posix()
            if not _is_utf8(object_id):
                object_id = self._report_name(object_id)
            self._problems[object_id] = (
                f"cannot list directory {str(directory)!r}: {error.strerror}"
            )
            yield object_id

    def _report_name(self, object_id: str) -> str:
        """Return a printable id for a path that is not valid UTF-8, and record why it fails."""
        printable = os.fsencode(object_id).decode("utf-8", "backslashreplace")
        self._problems[printable] = (
            "the file name is not valid UTF-8, so it cannot serve as an object id"
        )
        return printable

    def iter_prefixes(self, size: int = HEADER_PREFIX_SIZE) -> Iterator[tuple[str, bytes]]:
        for object_id in self._object_ids():
            if self.scan_problem(object_id) is not None:
                # Listed with no bytes, so that the scan calls scan_problem and reports it.
                yield object_id, b""
                continue
            try:
                with open(self.root / object_id, "rb") as file:
                    yield object_id, file.read(size)
            except FileNotFoundError:
                # Removed by someone else since the directory was listed.
                continue

    def scan_problem(self, object_id: str) -> str | None:
        if object_id in self._problems:
            return self._problems[object_id]
        path = self.root / object_id
        if path.is_symlink():
            return self._link_problem(object_id)
        try:
            with open(path, "rb"):
                return None
        except FileNotFoundError:
            return None
        except OSError as error:
            return f"cannot open {str(path)!r}: {error.strerror}"

    def _link_problem(self, object_id: str) -> str | None:
        """Return why a symbolic link cannot be migrated, or None if it names an object here.

        Rotation replaces a file by rename, which would replace the link by a
        migrated copy and leave the target under the old key.  A link to a
        subdirectory of the store names objects that are migrated under their
        own ids, so it passes.  A link to a directory that contains the link,
        such as the store's root, is a loop for any tool that follows links,
        and is reported.
        """
        path = self.root / object_id
        try:
            target = path.resolve()
        except (OSError, RuntimeError):
            # Python 3.11 raises RuntimeError on a symbolic link loop.
            return f"{str(path)!r} is a symbolic link that cannot be resolved"
        folder = path.parent.resolve()
        if target.is_dir() and (target == folder or target in folder.parents):
            return (
                f"{str(path)!r} is a symbolic link to {str(target)!r}, a directory that "
                "contains the link, so following it loops"
            )
        with contextlib.suppress(ValueError, StoreError):
            inside = target.relative_to(self.root.resolve()).as_posix()
            if (target.is_file() or target.is_dir()) and self.path_of(inside):
                return None
        return (
            f"{str(path)!r} is a symbolic link to {str(target)!r}, which is not an object "
            "of this store, so rotation cannot migrate its target"
        )

    def read(self, object_id: str) -> bytes:
        path = self.path_of(object_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(
                f"object {object_id!r} not found in store {self.url!r}",
                fix="list the store's objects with 'agile store list --objects'",
            ) from None

    def read_prefixes(self, object_ids: Iterable[str], size: int) -> dict[str, tuple[bytes, int]]:
        """Return the first ``size`` bytes and the length of each file that exists.

        A path that is not a regular file raises :class:`OSError`.  O_NONBLOCK
        keeps a FIFO named like an object from blocking the open.
        """
        found = {}
        for object_id in object_ids:
            try:
                file, status = open_regular_file(self.path_of(object_id))
            except FileNotFoundError:
                continue
            with file:
                found[object_id] = (file.read(size), status.st_size)
        return found

    def count(self) -> int:
        return sum(1 for _ in self._object_ids())

    # Writing.

    def put(self, object_id: str, data: bytes) -> None:
        path = self.path_of(object_id)
        if not os.path.lexists(path):
            # Checked before mkdir, so that a rejected id leaves no folder behind.
            check_new_object_id(object_id)
        # Checked before mkdir too, which would create folders through a linked folder.
        outside = self._outside_problem(path)
        if outside is not None:
            raise StoreError(
                f"object id {object_id!r} would be written outside store directory "
                f"{str(self.root)!r}: {outside}",
                fix="choose an object id whose path has no symbolic link out of the store, "
                "or register the link's target as a store of its own",
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(
                f"object id {object_id!r} needs the directory {str(path.parent)!r}, "
                "but a file of that path exists in the store",
                fix="choose an object id whose folders are not objects",
            ) from None
        if path.is_dir():
            raise StoreError(
                f"object id {object_id!r} names the directory {str(path)!r} in the store",
                fix="choose an object id that is not a folder of other objects",
            )
        with self._object_lock(object_id):
            _write_object(path, data, self._mode_of(path))

    def compare_and_swap(self, object_id: str, expected: bytes, data: bytes | Joined) -> bool:
        return self.swap_many([Swap(object_id, expected, data)])[0]

    def swap_many(self, swaps: list[Swap], *, durable: bool = True) -> list[bool]:
        """Swap each object (temp file, fsync, rename), then fsync each directory once.

        A power cut before the directory fsync can undo a rename.  The old
        object is then back in place, still a whole envelope, and callers
        learn of success only after the directory fsync.  With
        ``durable=False`` the directory fsync waits for :meth:`sync`, so a
        caller that swaps one object at a time still fsyncs each directory
        once per batch.
        """
        results = []
        self.swap_errors = {}
        for swap in swaps:
            path = self.path_of(swap.object_id)
            # A folder replaced by a link since the scan would send the write out of the store.
            outside = self._outside_problem(path)
            if outside is not None:
                self.swap_errors[swap.object_id] = f"cannot write {str(path)!r}: {outside}"
                results.append(False)
                continue
            with self._object_lock(swap.object_id):
                if not self._holds(path, swap.expected):
                    results.append(False)
                    continue
                try:
                    _replace_file(path, swap.data, self._mode_of(path))
                except OSError as error:
                    # A read-only directory or a full disk fails this object
                    # only; the old file is untouched.
                    self.swap_errors[swap.object_id] = _write_failure(path, error)
                    results.append(False)
                    continue
            self._unsynced.add(path.parent)
            results.append(True)
        if durable:
            self.sync()
        return results

    def remove_leftovers(self) -> list[str]:
        """Remove the temporary files of writers that were killed, as the last scan found them.

        A temporary file ``.NAME.agile-XXXXXXXX.tmp`` exists only while a
        writer of NAME owns NAME's lock slot, from before the file is created
        until after its rename.  So a temporary file that is still present once
        this process has acquired that slot was left by a writer that died
        (SIGKILL, power cut), and it is removed.  The ``agile-`` marker keeps a
        file of the user named like ``.NAME.XXXXXXXX.tmp`` from being taken for
        one; such a file is an object like any other.
        """
        removed = []
        for relative in self._leftovers:
            object_id = (relative.parent / str(_temporary_of(relative.name))).as_posix()
            path = self.root / relative
            with self._object_lock(object_id), contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    path.unlink()
                    removed.append(str(path))
        self._leftovers = []
        return removed

    def sync(self) -> None:
        """Fsync every directory that got a rename from a swap since the last sync."""
        for directory in sorted(self._unsynced):
            try:
                fsync_directory(directory)
            except FileNotFoundError:
                self._unsynced.clear()
                raise StoreError(
                    f"directory {str(directory)!r} of store {str(self.root)!r} was removed "
                    "or moved while objects were written to it",
                    fix="put the store directory back, then run the command again, "
                    "which for a rotation is 'agile rotate --resume'",
                ) from None
        self._unsynced.clear()

    def _outside_problem(self, path: Path) -> str | None:
        """Return why a write to ``path`` would land outside the root, or None.

        Folders of ``path`` that do not exist yet resolve to where mkdir would
        create them.  A link as the last component is followed by
        :func:`_write_object`, so its target must be inside the root too.
        """
        root = self.root.resolve()
        parent = path.parent.resolve()
        if parent != root and root not in parent.parents:
            return (
                f"its folder {str(path.parent)!r} leads through a symbolic link to {str(parent)!r}"
            )
        if path.is_symlink():
            target = Path(os.path.realpath(path))
            if root not in target.parents:
                return f"{str(path)!r} is a symbolic link to {str(target)!r}"
        return None

    def _holds(self, path: Path, expected: bytes) -> bool:
        """Return whether the file at ``path`` contains exactly ``expected``."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            size = len(expected)
            if os.fstat(fd).st_size != size:
                return False
            if len(self._scratch) < size:
                self._scratch = bytearray(size)
            view = memoryview(self._scratch)[:size]
            offset = 0
            while offset < size:
                count = os.readv(fd, [view[offset:]])
                if count == 0:
                    return False  # truncated since the fstat
                offset += count
            if os.read(fd, 1):
                return False  # grown since the fstat
            # startswith runs memcmp; comparing two memoryviews goes item by item.
            return self._scratch.startswith(expected)
        finally:
            os.close(fd)

    @staticmethod
    def _mode_of(path: Path) -> int:
        try:
            return stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            return 0o600

    def _object_lock(self, object_id: str) -> _SlotLock:
        if self._lock_fd is None:
            self._lock_fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        slot = zlib.crc32(object_id.encode()) % _LOCK_SLOTS
        return _SlotLock(self._lock_fd, slot, self._thread_lock)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _is_utf8(name: str) -> bool:
    """Return whether a name from the file system decoded as UTF-8 (no escaped bytes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _temporary_of(name: str) -> str | None:
    """Return NAME for a temporary file ``.NAME.agile-XXXXXXXX.tmp`` of this store, else None."""
    match = _TEMPORARY_NAME.fullmatch(name)
    if match is None or match.group(1) in (".", ".."):
        return None
    return match.group(1)


def _starts_like_envelope(path: Path) -> bool:
    """Return whether the file at ``path`` starts with the envelope magic or an armour BEGIN line.

    Only a regular file can, reached through a link or not.  O_NONBLOCK keeps
    a link to a FIFO from blocking the scan in open().
    """
    try:
        file, _status = open_regular_file(path)
    except OSError:
        return False
    with file:
        prefix = file.read(HEADER_PREFIX_SIZE)
    return prefix.startswith(MAGIC) or is_armoured(prefix)


def _write_failure(path: Path, error: OSError) -> str:
    """Return why a file could not be written, naming its folder when the folder refuses writes.

    Replacing a file creates a temporary file in its folder and renames it,
    so a read-only folder fails the write even when the file itself is writable.
    """
    reason = error.strerror or str(error)
    folder_denied = error.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    if folder_denied and not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"cannot write {str(path)!r}, because its folder {str(path.parent)!r} does not "
            f"allow this user to create files ({reason})"
        )
    return f"cannot write {str(path)!r}: {reason}"


def _write_object(path: Path, data: bytes, mode: int) -> None:
    """Create or replace the object file at ``path`` atomically, then fsync its directory.

    As :func:`agile.fsio.atomic_write` does, a link is followed and the file
    it names is replaced, and a FIFO or device is written in place.  The
    temporary file carries the store's marker, so that a killed write leaves
    a file that the next scan recognises.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.exists() and not target.is_file():
        atomic_write(target, data, mode=mode)
        return
    _replace_file(target, data, mode)
    fsync_directory(target.parent)


def _replace_file(path: Path, data: bytes | Joined, mode: int) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it and rename it over ``path``."""
    fd, temporary = tempfile.mkstemp(
        prefix=f".{path.name}{_TEMPORARY_MARKER}", suffix=".tmp", dir=path.parent
    )
    try:
        os.fchmod(fd, mode)
        for part in data.parts if isinstance(data, Joined) else (data,):
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temporary, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class _SlotLock:
    """An exclusive POSIX byte-range lock on one byte of the store's lock file.

    Every agile writer takes the slot of an object before its check-then-rename,
    so two agile processes never interleave on one object.  A program that writes
    the files without agile does not take the lock.
    """

    def __init__(self, fd: int, slot: int, thread_lock: threading.Lock) -> None:
        self.fd = fd
        self.slot = slot
        self.thread_lock = thread_lock

    def __enter__(self) -> None:
        # POSIX record locks do not exclude threads of one process, hence the thread lock.
        self.thread_lock.acquire()
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, self.slot)
        except BaseException:
            self.thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, self.slot)
        finally:
            self.thread_lock.release()
