"""A store that keeps one envelope per file under a directory tree.

Object ids are POSIX paths relative to the root.  Hidden files are objects
like any other.  Two kinds of names are never objects: the store's lock file
``.agile-store.lock`` at the root, and the temporary files of this store's
writes, ``.NAME.agile-XXXXXXXX.tmp``.  A file inside a hidden directory (such
as ``.git``) is an object only if it starts like an envelope, so that the
files of tools that keep their data there are not reported as unreadable.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import os
import re
import stat
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ...envelope.armour import is_armoured
from ...envelope.format import MAGIC
from ...errors import KeyNotFound, StoreError
from ...fsio import NotRegularFile, fsync_directory, open_regular_file, regular_file_from
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
from .url import StoreURL

__all__ = ["DirectoryStore", "LOCK_NAME"]

LOCK_NAME = ".agile-store.lock"

#: Marker between an object's name and the 8 random characters of
#: tempfile.mkstemp in a temporary file's name.  Without it, a user's file
#: such as ``.db.backup01.tmp`` would look like a temporary file.
_TEMPORARY_MARKER = ".agile-"

#: Pattern of a temporary file's name, ``.NAME.agile-XXXXXXXX.tmp``, with the
#: characters that tempfile.mkstemp uses.  This store's writes draw the 8
#: characters from lowercase base32 (a-z, 2-7), a subset of those, so that
#: files left by versions that used mkstemp still match.
_TEMPORARY_NAME = re.compile(r"\.(.+)\.agile-[a-z0-9_]{8}\.tmp", re.DOTALL)

#: Names tried for a temporary file before giving up.  Each name carries 40
#: random bits, so a second attempt is already rare.
_TEMPORARY_ATTEMPTS = 100

#: Flags that open one folder of an object's path.  O_NOFOLLOW makes the open
#: fail (ENOTDIR or ELOOP on Linux) when the entry is a symbolic link.
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

#: Flags that open an object's file for reading.  O_NOFOLLOW makes the open fail
#: with ELOOP where the object's name is a symbolic link, which is then followed
#: only to a file of this store.  O_NONBLOCK keeps a FIFO put at the name from
#: blocking the open until some process writes to it.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

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
        if (self.root / LOCK_NAME).is_symlink():
            # Checked here too, not only when a write opens it, so that a rotation
            # stops before it changes any key rather than at its first write.
            raise _linked_lock_error(self.root)
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
        check_size(size)
        for object_id in self._object_ids():
            if self.scan_problem(object_id) is not None:
                # Listed with no bytes, so that the scan calls scan_problem and reports it.
                yield object_id, b""
                continue
            path = self.root / object_id
            try:
                file, _status = self._open_file(path)
            except (FileNotFoundError, NotADirectoryError):
                # Removed by someone else since the directory was listed.
                continue
            except OSError as error:
                # Replaced since it was listed (by a directory or a FIFO), or unreadable.
                self._problems[object_id] = _read_problem(path, error)
                yield object_id, b""
                continue
            with file:
                yield object_id, file.read(size)

    def scan_problem(self, object_id: str) -> str | None:
        if object_id in self._problems:
            return self._problems[object_id]
        path = self.root / object_id
        if path.is_symlink():
            return self._link_problem(object_id)
        try:
            file, _status = self._open_file(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            return _read_problem(path, error)
        file.close()
        return None

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
        """Return the object's file; raise :class:`StoreError` if it is no readable regular file.

        A missing file raises :class:`KeyNotFound`.  A directory, FIFO, device
        or socket at the object's path, a symbolic link that leads out of the
        store, and a file this user may not read raise :class:`StoreError`
        naming the path.
        """
        path = self.path_of(object_id)
        try:
            file, _status = self._open_file(path)
        except (FileNotFoundError, NotADirectoryError):
            raise KeyNotFound(
                f"object {object_id!r} not found in store {self.url!r}",
                fix="list the store's objects with 'agile store list --objects'",
            ) from None
        except OSError as error:
            raise _unreadable_error(path, error) from None
        with file:
            return file.read()

    def read_prefixes(self, object_ids: Iterable[str], size: int) -> dict[str, tuple[bytes, int]]:
        """Return the first ``size`` bytes and the length of each file that exists.

        A path that is not a readable regular file raises :class:`OSError`
        naming what is there, as :meth:`_open_file` does.
        """
        ids = check_object_ids(object_ids)
        check_size(size)
        found = {}
        for object_id in ids:
            try:
                file, status = self._open_file(self.path_of(object_id))
            except (FileNotFoundError, NotADirectoryError):
                continue
            with file:
                found[object_id] = (file.read(size), status.st_size)
        return found

    def _open_file(self, path: Path) -> tuple[BinaryIO, os.stat_result]:
        """Open the regular file at ``path`` for reading; return it and its status.

        Opening never blocks, and a symbolic link as the last component is
        followed only to a file of this store, as :meth:`put` follows it.
        Raises ``FileNotFoundError`` when nothing is there,
        ``NotADirectoryError`` when a folder on the path is a file,
        :class:`IsADirectoryError` or :class:`NotRegularFile` for a
        directory, FIFO, device or socket, and ``OSError`` with ELOOP for a
        link out of the store.

        NOTE: a folder on the path that is a link is followed wherever it
        leads, unlike in writes, which reach each folder without links.
        """
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError as error:
            if error.errno != errno.ELOOP or not path.is_symlink():
                raise
            target, parts = self._resolve_inside(path)
            if parts is None:
                raise OSError(
                    errno.ELOOP,
                    f"is a symbolic link to {str(target)!r}, which is outside the store",
                    str(path),
                ) from None
            # O_NOFOLLOW again: a link put at the target since realpath ran is not followed.
            fd = os.open(target, _READ_FLAGS)
        return regular_file_from(fd, path)

    def count(self) -> int:
        return sum(1 for _ in self._object_ids())

    # Writing.

    def put(self, object_id: str, data: bytes) -> None:
        """Create or replace ``object_id`` atomically, then fsync its folder.

        The folders are reached from the root one at a time without following
        a symbolic link (see :meth:`_open_folder`), and missing ones are
        created 0700.  A link as the last component is followed when it names
        a file of this store, and its target is reached the same way.  A FIFO
        or device is written in place, because it cannot be replaced.
        """
        path = self.path_of(object_id)
        check_data(data)
        if not os.path.lexists(path):
            # Checked before mkdir, so that a rejected id leaves no folder behind.
            check_new_object_id(object_id)
        parts = PurePosixPath(object_id).parts
        root_fd = self._open_root()
        try:
            folder_fd = self._open_folder_for_put(root_fd, parts[:-1], object_id, path)
            try:
                with self._object_lock(object_id):
                    self._put_at(root_fd, folder_fd, object_id, path, data)
            except _OutsideStore as outside:
                raise _outside_error(object_id, self.root, outside) from None
            finally:
                os.close(folder_fd)
        finally:
            os.close(root_fd)

    def _open_folder_for_put(
        self, root_fd: int, folder: tuple[str, ...], object_id: str, path: Path
    ) -> int:
        """Open, creating what is missing, the folder that ``put`` writes ``object_id`` into."""
        try:
            folder_fd, _ = self._open_folder(root_fd, folder, create=True)
        except _OutsideStore as outside:
            raise _outside_error(object_id, self.root, outside) from None
        except NotADirectoryError:
            raise StoreError(
                f"object id {object_id!r} needs the directory {str(path.parent)!r}, "
                "but a file of that path exists in the store",
                fix="choose an object id whose folders are not objects",
            ) from None
        return folder_fd

    def _put_at(
        self, root_fd: int, folder_fd: int, object_id: str, path: Path, data: bytes
    ) -> None:
        """Write the object ``path`` whose folder is open as ``folder_fd``; see :meth:`put`."""
        name = path.name
        status = _lstat_at(folder_fd, name)
        target_fd = None
        try:
            if status is not None and stat.S_ISLNK(status.st_mode):
                target_fd, name = self._open_link_target(root_fd, path)
                folder_fd = target_fd
                status = _lstat_at(folder_fd, name)
            if status is not None and stat.S_ISDIR(status.st_mode):
                raise StoreError(
                    f"object id {object_id!r} names the directory {str(path)!r} in the store",
                    fix="choose an object id that is not a folder of other objects",
                )
            if status is not None and not stat.S_ISREG(status.st_mode):
                _write_in_place(folder_fd, name, data)
                return
            mode = stat.S_IMODE(status.st_mode) if status is not None else 0o600
            _replace_at(folder_fd, name, data, mode)
            os.fsync(folder_fd)
        finally:
            if target_fd is not None:
                os.close(target_fd)

    def _open_link_target(self, root_fd: int, path: Path) -> tuple[int, str]:
        """Open the folder of the file that the link ``path`` names; return it and the file's name.

        Raise :class:`_OutsideStore` unless the target lies below the root.
        The target's folder is reached from the root without following links,
        so a link put in its path since the link was resolved is rejected too.
        """
        target, parts = self._resolve_inside(path)
        if not parts:
            raise _OutsideStore(f"{str(path)!r} is a symbolic link to {str(target)!r}")
        try:
            folder_fd = _walk(root_fd, parts[:-1], create=False)
        except _LinkFound:
            raise _OutsideStore(f"{str(path)!r} is a symbolic link to {str(target)!r}") from None
        status = _lstat_at(folder_fd, parts[-1])
        if status is not None and stat.S_ISLNK(status.st_mode):
            # The resolved path ends in a link only if one was put there after realpath ran.
            os.close(folder_fd)
            raise _OutsideStore(f"{str(path)!r} is a symbolic link to {str(target)!r}")
        return folder_fd, parts[-1]

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
        check_swaps(swaps)
        results = []
        self.swap_errors = {}
        root_fd = self._open_root()
        # Swaps come in id order, so neighbours mostly share a folder.  Only the
        # last folder stays open, so that a batch cannot run out of descriptors.
        open_folder: tuple[tuple[str, ...], int, tuple[str, ...]] | None = None
        try:
            for swap in swaps:
                path = self.path_of(swap.object_id)
                folder = PurePosixPath(swap.object_id).parts[:-1]
                if open_folder is None or open_folder[0] != folder:
                    if open_folder is not None:
                        os.close(open_folder[1])
                        open_folder = None
                    try:
                        folder_fd, reached = self._open_folder(root_fd, folder, create=False)
                    except _OutsideStore as outside:
                        self.swap_errors[swap.object_id] = f"cannot write {str(path)!r}: {outside}"
                        results.append(False)
                        continue
                    except (FileNotFoundError, NotADirectoryError):
                        # Removed since the scan: the caller reads the object again.
                        results.append(False)
                        continue
                    except OSError as error:
                        self.swap_errors[swap.object_id] = _write_failure(path, error)
                        results.append(False)
                        continue
                    open_folder = (folder, folder_fd, reached)
                results.append(self._swap_at(open_folder[1], open_folder[2], path, swap))
        finally:
            if open_folder is not None:
                os.close(open_folder[1])
            os.close(root_fd)
        if durable:
            self.sync()
        return results

    def _swap_at(self, folder_fd: int, folder: tuple[str, ...], path: Path, swap: Swap) -> bool:
        """Replace ``path`` in the open folder ``folder_fd`` if it contains ``swap.expected``."""
        with self._object_lock(swap.object_id):
            try:
                status = self._status_if_holds(folder_fd, path.name, swap.expected)
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                # A link since the scan: renaming over it would replace the link.
                target = os.path.realpath(path)
                self.swap_errors[swap.object_id] = (
                    f"cannot write {str(path)!r}: {str(path)!r} is a symbolic link to {target!r}"
                )
                return False
            if status is None:
                return False
            try:
                _replace_at(folder_fd, path.name, swap.data, stat.S_IMODE(status.st_mode))
            except OSError as error:
                # A read-only directory or a full disk fails this object
                # only; the old file is untouched.
                self.swap_errors[swap.object_id] = _write_failure(path, error)
                return False
        self._unsynced.add(self.root.joinpath(*folder))
        return True

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

    def _open_root(self) -> int:
        """Open the root directory, from which writes reach each object's folder."""
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            raise StoreError(
                f"cannot open store directory {str(self.root)!r}: {error.strerror}",
                fix="check that the directory exists and that this user can read it",
            ) from None

    def _open_folder(
        self, root_fd: int, folder: tuple[str, ...], *, create: bool
    ) -> tuple[int, tuple[str, ...]]:
        """Open ``folder`` below the root without following links; return it and its real parts.

        Each component is opened relative to its parent with O_NOFOLLOW, so
        a folder replaced by a symbolic link at any moment is never followed.
        A folder that is a link when reached is resolved.  If the target is
        below the root, the target's path is walked from the root, and a link
        found on that second walk is rejected.  Raises :class:`_OutsideStore`
        for a link out of the store, ``FileNotFoundError`` for a missing
        folder unless ``create`` is set, and ``NotADirectoryError`` where a
        folder is a file.
        """
        try:
            return _walk(root_fd, folder, create=create), folder
        except _LinkFound:
            pass
        path = self.root.joinpath(*folder)
        target, parts = self._resolve_inside(path)
        problem = f"its folder {str(path)!r} leads through a symbolic link to {str(target)!r}"
        if parts is None:
            raise _OutsideStore(problem)
        try:
            return _walk(root_fd, parts, create=create), parts
        except _LinkFound:
            raise _OutsideStore(problem) from None

    def _resolve_inside(self, path: Path) -> tuple[Path, tuple[str, ...] | None]:
        """Return where ``path`` resolves to, and its parts below the root (None if outside)."""
        target = Path(os.path.realpath(path))
        try:
            return target, target.relative_to(self.root.resolve()).parts
        except ValueError:
            return target, None

    def _status_if_holds(self, folder_fd: int, name: str, expected: bytes) -> os.stat_result | None:
        """Return the status of file ``name`` in ``folder_fd`` if it contains exactly ``expected``.

        Returns None when it does not or is missing.  A symbolic link raises
        ``OSError`` with ELOOP instead of being followed.
        """
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
        except FileNotFoundError:
            return None
        try:
            status = os.fstat(fd)
            size = len(expected)
            if status.st_size != size:
                return None
            if len(self._scratch) < size:
                self._scratch = bytearray(size)
            view = memoryview(self._scratch)[:size]
            offset = 0
            while offset < size:
                count = os.readv(fd, [view[offset:]])
                if count == 0:
                    return None  # truncated since the fstat
                offset += count
            if os.read(fd, 1):
                return None  # grown since the fstat
            # startswith runs memcmp; comparing two memoryviews goes item by item.
            return status if self._scratch.startswith(expected) else None
        finally:
            os.close(fd)

    def _object_lock(self, object_id: str) -> _SlotLock:
        if self._lock_fd is None:
            # O_NOFOLLOW: a symbolic link put at the lock file's name would
            # otherwise make this open create its target outside the store.
            try:
                self._lock_fd = os.open(
                    self.root / LOCK_NAME,
                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                )
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                raise _linked_lock_error(self.root) from None
        slot = zlib.crc32(object_id.encode()) % _LOCK_SLOTS
        return _SlotLock(self._lock_fd, slot, self._thread_lock)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _linked_lock_error(root: Path) -> StoreError:
    return StoreError(
        f"the lock file {str(root / LOCK_NAME)!r} of store directory {str(root)!r} "
        "is a symbolic link",
        fix="remove the link; agile creates the lock file again",
    )


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


def _read_problem(path: Path, error: OSError) -> str:
    """Return why the file at ``path`` cannot be read as an object, from ``error``."""
    return f"cannot read {str(path)!r}: {error.strerror or error}"


def _unreadable_error(path: Path, error: OSError) -> StoreError:
    """Return the :class:`StoreError` for an object whose file :meth:`_open_file` rejected."""
    if isinstance(error, (IsADirectoryError, NotRegularFile)):
        fix = "put the object's file back at that path, or move what is there out of the store"
    elif error.errno in (errno.EACCES, errno.EPERM):
        fix = "give this user read access to the file and its folders"
    elif error.errno == errno.ELOOP:
        fix = "replace the link by a copy of its target, or register the target's folder as a store"
    else:
        fix = "check the file and its folders, then run the command again"
    return StoreError(_read_problem(path, error), fix=fix)


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


class _OutsideStore(Exception):
    """A write that would leave the store through a symbolic link, with the link and its target."""


class _LinkFound(Exception):
    """A folder on the way to an object is a symbolic link."""


def _outside_error(object_id: str, root: Path, outside: _OutsideStore) -> StoreError:
    return StoreError(
        f"object id {object_id!r} would be written outside store directory "
        f"{str(root)!r}: {outside}",
        fix="choose an object id whose path has no symbolic link out of the store, "
        "or register the link's target as a store of its own",
    )


def _walk(root_fd: int, parts: tuple[str, ...], *, create: bool) -> int:
    """Open the folder ``parts`` below ``root_fd`` one component at a time; return a new descriptor.

    With ``create``, a missing folder is created 0700 first.  Raises
    :class:`_LinkFound` where a component is a symbolic link.
    """
    fd = os.dup(root_fd)
    try:
        for name in parts:
            child = _open_child(fd, name, create=create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(parent_fd: int, name: str, *, create: bool) -> int:
    """Open the folder ``name`` in ``parent_fd`` without following a link."""
    try:
        return os.open(name, _FOLDER_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link_at(parent_fd, name):
            raise _LinkFound(name) from None
        raise
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    # Opened again as above: what is there now may be a link put in since the mkdir.
    return _open_child(parent_fd, name, create=False)


def _lstat_at(folder_fd: int, name: str) -> os.stat_result | None:
    """Return the status of ``name`` in ``folder_fd`` without following a link, or None."""
    try:
        return os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _is_link_at(folder_fd: int, name: str) -> bool:
    status = _lstat_at(folder_fd, name)
    return status is not None and stat.S_ISLNK(status.st_mode)


def _write_in_place(folder_fd: int, name: str, data: bytes) -> None:
    """Write ``data`` to the FIFO or device ``name``, which a rename would destroy."""
    fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def _replace_at(folder_fd: int, name: str, data: bytes | Joined, mode: int) -> None:
    """Write ``data`` to a temporary file in ``folder_fd``, fsync it and rename it over ``name``.

    The temporary file is created 0600 with O_EXCL and O_NOFOLLOW, so it is
    always a new file, and gets ``mode`` once it exists.  It carries the
    store's marker, so that a killed write leaves a file the next scan
    recognises.  The caller fsyncs the folder.
    """
    fd, temporary = _create_temporary(folder_fd, name)
    try:
        os.fchmod(fd, mode)
        for part in data.parts if isinstance(data, Joined) else (data,):
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)
        raise


def _create_temporary(folder_fd: int, name: str) -> tuple[int, str]:
    """Create the new file ``.NAME.agile-XXXXXXXX.tmp`` in ``folder_fd``; return its fd and name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TEMPORARY_ATTEMPTS):
        suffix = base64.b32encode(os.urandom(5)).decode("ascii").lower()
        temporary = f".{name}{_TEMPORARY_MARKER}{suffix}.tmp"
        try:
            return os.open(temporary, flags, 0o600, dir_fd=folder_fd), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", f".{name}.agile-*.tmp")


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
