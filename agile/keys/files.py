"""Reading keyset files without following links, and tightening keystore modes safely.

A keystore that another account can write may hold a symbolic link, a hard link
or a FIFO where a keyset file belongs.  Following the link, or changing the mode
of what it names, would let that account make agile read or change the mode of
any file, and opening a FIFO would wait forever.  So a keyset file is opened
relative to the keysets folder, without following a link and without blocking,
and its mode is changed through that descriptor only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import KeystoreError

__all__ = ["read_keyset_file", "restrict_directory", "shared_lock"]

log = logging.getLogger("agile.keys")

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def describe_kind(mode: int) -> str:
    """Return the kind of a non-regular file for messages, such as ``a symbolic link``."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _not_regular(file: Path, mode: int) -> KeystoreError:
    return KeystoreError(
        f"keyset file {str(file)!r} is {describe_kind(mode)}, not a regular file, so agile "
        "does not read it",
        fix="replace it with the keyset file itself (a regular file), or remove it",
    )


def _open_folder(folder: Path) -> tuple[int, bool]:
    """Open the keysets folder; return the descriptor and whether no link was followed."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        return os.open(folder, flags | os.O_NOFOLLOW), True
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    # A keysets folder that is a symbolic link is still read, but nothing in it is chmod'ed.
    return os.open(folder, flags), False


def read_keyset_file(file: Path) -> bytes:
    """Read the keyset file ``file`` and return its bytes.

    A symbolic link, a directory, a FIFO, a socket or a device raises
    :class:`KeystoreError` and is left as it is, and other failures raise
    ``OSError``.  A file that group or others can read is made mode 0600, with
    a warning, only when it is safe.  The current user must own the file and
    the keysets folder, the folder must be reached without following a link,
    and the file must have one hard link, since another link could name any
    file of the file system.  Otherwise the mode stays, and the warning gives the reason.
    """
    folder_fd, folder_direct = _open_folder(file.parent)
    try:
        try:
            # O_NONBLOCK keeps the open of a FIFO from waiting for a writer, and
            # reads of a regular file ignore it.
            fd = os.open(
                file.name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=folder_fd,
            )
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise _not_regular(file, stat.S_IFLNK) from None
            raise
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            raise _not_regular(file, status.st_mode)
        with os.fdopen(fd, "rb") as stream:
            if status.st_mode & 0o077:
                _tighten(file, fd, status, os.fstat(folder_fd), folder_direct)
            return stream.read()
    finally:
        os.close(folder_fd)


def _tighten(
    file: Path,
    fd: int,
    status: os.stat_result,
    folder: os.stat_result,
    folder_direct: bool,
) -> None:
    """Make an open keyset file mode 0600 when that is safe, else only warn."""
    uid = os.getuid()
    reason = None
    if status.st_uid != uid:
        reason = "another user owns it"
    elif status.st_nlink != 1:
        reason = f"it has {status.st_nlink} hard links"
    elif not folder_direct:
        reason = "its keysets folder is a symbolic link"
    elif folder.st_uid != uid:
        reason = "another user owns its keysets folder"
    if reason is not None:
        log.warning(
            "keyset file %s is readable by group or others; not changing its mode because %s",
            file,
            reason,
        )
        return
    log.warning("keyset file %s is readable by group or others; setting mode 0600", file)
    try:
        os.fchmod(fd, 0o600)
    except OSError as error:
        # A read-only copy (a mounted backup, the golden vectors) can still be read.
        log.warning("cannot make keyset file %s mode 0600: %s", file, error)


def restrict_directory(directory: Path, what: str) -> None:
    """Make ``directory`` mode 0700 when group or others can reach it and this user owns it.

    A symbolic link is not followed: its target keeps its mode, with a warning.
    """
    status = directory.lstat()
    if stat.S_ISLNK(status.st_mode):
        target = directory.stat()
        if target.st_mode & 0o077:
            log.warning(
                "%s %s is a symbolic link to a folder that group or others can reach; "
                "not changing its mode",
                what,
                directory,
            )
        return
    if not status.st_mode & 0o077 or status.st_uid != os.getuid():
        return
    log.info("tightening %s %s to mode 0700", what, directory)
    try:
        directory.chmod(0o700)
    except OSError as error:
        # A read-only copy (a mounted backup, the golden vectors) can still be read.
        log.warning("cannot make %s %s mode 0700: %s", what, directory, error)


#: Errors of opening a lock file on a file system that cannot create or write it.
_READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def shared_lock(path: Path) -> Iterator[bool]:
    """Hold a shared ``flock`` on ``path`` for the block; yield whether a lock is held.

    Writers hold the exclusive lock on the same file, so a shared lock keeps
    them out while readers run side by side.  On a read-only file system the
    lock file is opened read-only, because ``flock`` works on such a descriptor.
    When it cannot be opened at all (missing there, or not readable), the block
    runs without a lock.  No writer can use that mount, but a writer on another,
    writable mount of the same files is not excluded.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        if error.errno not in _READ_ONLY_ERRORS:
            raise
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as second:
            if second.errno not in (*_READ_ONLY_ERRORS, errno.ENOENT):
                raise
            log.info("reading %s without a lock: %s", path.parent, error.strerror)
            yield False
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield True
    finally:
        os.close(fd)
