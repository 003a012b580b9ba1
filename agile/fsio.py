"""Crash-safe file writes and advisory locks.

An atomic write goes to a temporary file in the target's directory, is flushed
and fsync'ed, renamed over the target, and the directory is fsync'ed.  A reader
therefore sees the old content or the new one and never a mixture, even after a
power cut (on file systems that honour fsync).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import KeystoreLocked

__all__ = [
    "atomic_write",
    "descriptor_of",
    "fsync_directory",
    "exclusive_lock",
    "open_private_append",
    "open_regular_file",
    "regular_file_from",
    "regular_file_status",
    "write_descriptor",
    "NotRegularFile",
    "SECRET_MODE",
]

#: Mode of every file agile writes that contains key material, sealed or not.
SECRET_MODE = 0o600


_FILE_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """The path names a FIFO, a device or a socket where a regular file is needed."""


def open_regular_file(path: str | os.PathLike[str]) -> tuple[BinaryIO, os.stat_result]:
    """Open the regular file at ``path`` (links followed) for reading; return it and its stat.

    Raises :class:`IsADirectoryError` for a directory, :class:`NotRegularFile` naming
    the kind for a FIFO, device or socket, and ``OSError`` when the open fails.
    O_NONBLOCK keeps the open of a FIFO from waiting for a writer.
    """
    return regular_file_from(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), path)


def regular_file_from(fd: int, path: str | os.PathLike[str]) -> tuple[BinaryIO, os.stat_result]:
    """Return ``fd`` as a binary file and its status, or close it and raise as below.

    Raises as :func:`regular_file_status` does when ``fd`` is not a regular file.
    """
    try:
        status = regular_file_status(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), status


def regular_file_status(fd: int, path: str | os.PathLike[str]) -> os.stat_result:
    """Return the status of ``fd``, opened from ``path``, if it is a regular file.

    Raises :class:`IsADirectoryError` for a directory and :class:`NotRegularFile`
    naming the kind for a FIFO, device or socket, both with ``path`` as the file name.
    """
    status = os.fstat(fd)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", os.fspath(path))
    if not stat.S_ISREG(status.st_mode):
        kind = next(
            (name for test, name in _FILE_KINDS if test(status.st_mode)), "not a regular file"
        )
        raise NotRegularFile(errno.EINVAL, f"is {kind}, not a regular file", os.fspath(path))
    return status


def open_private_append(path: str | os.PathLike[str]) -> int:
    """Open the regular file ``path`` to append to it, created 0600; return the descriptor.

    The descriptor is open read-write, so that the caller can read the file's
    last byte.  O_NOFOLLOW makes a symbolic link at ``path`` fail with ELOOP
    instead of sending the appended records to the link's target.  An
    existing file that group or others may access is set to 0600 when this
    user owns it, so that a file created by hand or by an older version gets
    the mode that a new one has.  Raises the errors of
    :func:`regular_file_status` where ``path`` is no regular file, which
    O_NONBLOCK lets the open of a FIFO reach.
    """
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags, SECRET_MODE)
    try:
        status = regular_file_status(fd, path)
        if stat.S_IMODE(status.st_mode) & 0o077 and status.st_uid == os.geteuid():
            os.fchmod(fd, stat.S_IMODE(status.st_mode) & 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


# Paths that name an open file descriptor: /dev/fd/N and /proc/self/fd/N (where
# /dev/stdout and /dev/stderr point), and /proc/PID/fd/N with this process's PID.
_DESCRIPTOR_PATH = re.compile(r"/(?:dev/fd|proc/(?:self|thread-self|(\d+))/fd)/(\d+)")
# Linux follows at most 40 symbolic links in one path lookup.
_MAX_LINKS = 40


def descriptor_of(path: str | os.PathLike[str]) -> int | None:
    """Return N when ``path`` names open file descriptor N of this process, else None.

    ``/dev/stdout``, ``/dev/fd/1`` and ``/proc/self/fd/1`` name standard output,
    and so does a symbolic link to one of them.  Following such a name leads to the
    file behind the descriptor, so an atomic write would replace that file (the log
    that ``>> log`` appends to) instead of writing to the descriptor.
    """
    current = os.path.abspath(os.fspath(path))
    for _ in range(_MAX_LINKS):
        found = _DESCRIPTOR_PATH.fullmatch(current)
        if found is not None:
            pid = found.group(1)
            return int(found.group(2)) if pid is None or int(pid) == os.getpid() else None
        try:
            link = os.readlink(current)
        except OSError:
            return None  # not a symbolic link, or missing
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    return None


def write_descriptor(descriptor: int, data: bytes) -> None:
    """Write all of ``data`` to an open descriptor at its position (or end, under O_APPEND)."""
    # Python's buffered stdout and stderr may hold earlier output that must come first.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if stream is not None and stream.fileno() == descriptor:
                stream.flush()
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = SECRET_MODE) -> None:
    """Replace ``path`` with ``data`` atomically; the file is created with ``mode``.

    An existing device or FIFO is written in place instead, since it cannot be
    replaced atomically, and so is an open descriptor named as ``/dev/stdout`` or
    ``/dev/fd/N`` (see :func:`descriptor_of`).  Another symbolic link is followed,
    and the file it names is replaced, because renaming over the link would
    replace the link itself.
    """
    descriptor = descriptor_of(path)
    if descriptor is not None:
        write_descriptor(descriptor, data)
        return
    try:
        kind = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        kind = None
    if kind is not None and stat.S_ISDIR(kind):
        raise IsADirectoryError(errno.EISDIR, "output path is a directory", os.fspath(path))
    if kind is not None and not stat.S_ISREG(kind):
        # A device or FIFO (/dev/null, /dev/stdout, a named pipe) cannot be replaced
        # atomically, and renaming over it would destroy the device node.  It is opened
        # by the name given: /dev/stdout resolves to /proc/PID/fd/pipe:[N], which no
        # open() finds.
        with open(path, "wb") as stream:
            stream.write(data)
        return
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    directory = target.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        # Name the path the caller gave, not the temporary file beside it.
        raise type(error)(error.errno, error.strerror, os.fspath(target)) from None
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temporary, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)


@contextlib.contextmanager
def exclusive_lock(
    path: str | os.PathLike[str], *, wait: bool = True, what: str = "keystore"
) -> Iterator[int]:
    """Hold an advisory ``flock`` on ``path`` (created 0600) for the duration of the block.

    With ``wait=False`` a held lock raises :class:`KeystoreLocked` at once.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, SECRET_MODE)
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise KeystoreLocked(
                    f"the {what} lock {os.fspath(path)!r} is held by another process",
                    fix="wait for the other agile process to finish, then retry",
                ) from None
            raise
        yield fd
    finally:
        os.close(fd)
