"""The store interface: where protected objects (envelope bytes) live.

A store maps object ids (strings) to envelope bytes.  Rotation reads only the
leading bytes of each object to find the keys its header names.  It rewrites
objects with compare-and-swap on the old bytes, so a concurrent writer's change
made after rotation read the object is never overwritten.  The swap fails
instead, and rotation reads the object again.
"""

from __future__ import annotations

import abc
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ...errors import InvalidArgument

__all__ = [
    "ObjectStore",
    "Swap",
    "Joined",
    "HEADER_PREFIX_SIZE",
    "check_object_id",
    "check_object_ids",
    "check_new_object_id",
    "check_data",
    "check_size",
    "check_swaps",
    "object_id_problem",
]

#: Bytes read from the start of each object when scanning headers.  Envelope
#: headers are usually a few KiB; a longer header is read whole on demand.
HEADER_PREFIX_SIZE = 16 * 1024


class Joined:
    """Object bytes given as parts, such as a new header and the unchanged payload after it.

    A store that can write the parts one after the other (the directory store)
    never joins them.  Joining a 1 MiB payload costs a fresh 1 MiB buffer, and
    its page faults cost more than the copy.
    """

    __slots__ = ("parts", "_length")

    def __init__(self, *parts: bytes | memoryview) -> None:
        self.parts = parts
        self._length = sum(len(part) for part in parts)

    def __len__(self) -> int:
        return self._length

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)

    def prefix(self, size: int) -> bytes:
        """Return the first ``size`` bytes (all of them when the object is shorter)."""
        pieces = []
        for part in self.parts:
            if size <= 0:
                break
            pieces.append(bytes(part[:size]))
            size -= len(pieces[-1])
        return b"".join(pieces)


def check_object_id(object_id: str) -> str:
    """Return ``object_id`` if it is valid Unicode text; raise :class:`StoreError` otherwise.

    Object ids are written to the journal and used as associated data in UTF-8.
    A command-line argument that is not valid UTF-8 reaches Python as a string
    with lone surrogates, which cannot be encoded.  An id that is not a str
    raises :class:`InvalidArgument`.
    """
    from ...errors import StoreError

    if not isinstance(object_id, str):
        raise _wrong_id_type(object_id)
    try:
        object_id.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(
            f"object id {object_id!r} is not valid UTF-8",
            fix="use an object id that is valid UTF-8 (rename a file whose name is not)",
        ) from None
    return object_id


def _wrong_id_type(object_id: object) -> InvalidArgument:
    return InvalidArgument(
        f"object id must be a str, got {type(object_id).__name__}",
        fix="pass the object id as text, for example 'invoices/2026-01.agile' "
        "(decode a bytes id first)",
    )


def check_object_ids(object_ids: Iterable[str]) -> list[str]:
    """Return ``object_ids`` as a list; raise :class:`InvalidArgument` unless each is a str."""
    if isinstance(object_ids, (str, bytes, bytearray, memoryview)) or not isinstance(
        object_ids, Iterable
    ):
        raise InvalidArgument(
            f"object_ids must be an iterable of str, got {type(object_ids).__name__}",
            fix="pass a list of object ids, for example ['a.agile'] for one object",
        )
    ids = list(object_ids)
    for object_id in ids:
        if not isinstance(object_id, str):
            raise _wrong_id_type(object_id)
    return ids


def check_data(data: object, name: str = "data", *, parts: bool = False) -> None:
    """Raise :class:`InvalidArgument` unless ``data`` is bytes, a bytearray or a byte memoryview.

    With ``parts`` a :class:`Joined` is accepted too.  A memoryview must be
    C-contiguous with one-byte items, because stores write and compare it as
    one run of ``len(data)`` bytes.
    """
    if isinstance(data, (bytes, bytearray)) or (parts and isinstance(data, Joined)):
        return
    if isinstance(data, memoryview):
        if data.c_contiguous and data.itemsize == 1:
            return
        raise InvalidArgument(
            f"{name} is a memoryview that is not a contiguous run of bytes",
            fix=f"pass bytes({name}) for a contiguous copy",
        )
    raise InvalidArgument(
        f"{name} must be bytes, bytearray or a contiguous memoryview, got {type(data).__name__}",
        fix=f"pass the envelope as bytes, and encode text first with {name}.encode()",
    )


def check_size(size: object) -> int:
    """Return ``size`` if it is an int of at least 0; raise :class:`InvalidArgument` otherwise."""
    if not isinstance(size, int) or isinstance(size, bool):
        raise InvalidArgument(
            f"size must be an int, got {type(size).__name__}",
            fix="pass the number of leading bytes to read, for example HEADER_PREFIX_SIZE",
        )
    if size < 0:
        raise InvalidArgument(f"size {size} is negative", fix="pass a size of 0 or more")
    return size


def check_swaps(swaps: object) -> None:
    """Raise :class:`InvalidArgument` unless ``swaps`` is a list of valid :class:`Swap` requests.

    It makes a few isinstance calls per swap, which cost far less than the write of the swap.
    """
    if not isinstance(swaps, (list, tuple)):
        raise InvalidArgument(
            f"swaps must be a list of Swap, got {type(swaps).__name__}",
            fix="pass [Swap(object_id, expected, data), ...]",
        )
    for swap in swaps:
        if not isinstance(swap, Swap):
            raise InvalidArgument(
                f"swaps must contain Swap objects, got {type(swap).__name__}",
                fix="build each request as Swap(object_id, expected, data)",
            )
        if not isinstance(swap.object_id, str):
            raise _wrong_id_type(swap.object_id)
        check_data(swap.expected, "expected")
        check_data(swap.data, "data", parts=True)


def object_id_problem(object_id: str) -> str | None:
    """Return why ``object_id`` cannot name a new object, or None when it can.

    An id is printed one per line by 'agile store list --objects' and in
    rotation reports, so an empty id or one with a control character (a line
    break, a tab, an escape sequence) would make that text ambiguous.  Unicode
    line and paragraph separators count as line breaks too.
    """
    if not object_id:
        return "is empty"
    for character in object_id:
        if unicodedata.category(character) in ("Cc", "Zl", "Zp"):
            return f"contains the control character U+{ord(character):04X}"
    return None


def check_new_object_id(object_id: str) -> str:
    """Return ``object_id`` if a new object may take it; raise :class:`StoreError` otherwise.

    This is stricter than :func:`check_object_id`, which the stores apply when
    they read.  :meth:`ObjectStore.put` applies it only when it creates an
    object.  An object that exists under such an id (a file name in a
    directory store, a row written by another program) therefore stays
    readable and writable, and 'agile store get' and rotation still reach it.
    """
    from ...errors import StoreError

    check_object_id(object_id)
    problem = object_id_problem(object_id)
    if problem is not None:
        raise StoreError(
            f"object id {object_id!r} {problem}",
            fix="use a non-empty object id without line breaks, tabs or other control characters",
        )
    return object_id


def prefix_of(data: bytes | Joined, size: int) -> bytes:
    """Return the first ``size`` bytes of ``data``."""
    return data.prefix(size) if isinstance(data, Joined) else data[:size]


@dataclass(frozen=True, slots=True)
class Swap:
    """One compare-and-swap request: replace ``expected`` by ``data`` at ``object_id``."""

    object_id: str
    expected: bytes
    data: bytes | Joined


class ObjectStore(abc.ABC):
    """A collection of envelope objects addressed by string ids."""

    #: The URL scheme this store serves ("dir", "sqlite").
    scheme: str = ""

    #: Whether :meth:`swap_many` applies all its swaps in one transaction, so
    #: that callers pass a whole batch at once.  Otherwise they may pass one
    #: swap at a time with ``durable=False`` and call :meth:`sync` at the end.
    transactional: bool = False

    def __init__(self, url: str, aad: str = "") -> None:
        self.url = url
        #: Why swaps of the last :meth:`swap_many` call failed, by object id,
        #: when the reason is not that the object changed (a file that cannot
        #: be written, for example).  Such a swap returned False.
        self.swap_errors: dict[str, str] = {}
        #: Why objects of the last :meth:`read_many` call could not be read, by
        #: object id, as text for people (a directory or FIFO where the file
        #: was, a value that is no envelope).  Such an object exists but is
        #: left out of the result, like an absent one.
        self.read_errors: dict[str, str] = {}
        #: "id" when each object's envelope has the object id as associated data (the
        #: store URL's ``aad=id``), else "".
        self.aad = aad

    def associated_data(self, object_id: str) -> bytes:
        """Return the associated data that the envelope at ``object_id`` is bound to."""
        return object_id.encode("utf-8") if self.aad == "id" else b""

    @abc.abstractmethod
    def iter_prefixes(self, size: int = HEADER_PREFIX_SIZE) -> Iterator[tuple[str, bytes]]:
        """Yield ``(object_id, first size bytes)`` for every object, in a stable order."""

    @abc.abstractmethod
    def read(self, object_id: str) -> bytes:
        """Return the whole object; raise :class:`agile.errors.KeyNotFound` if it is absent."""

    def read_many(self, object_ids: Iterable[str]) -> dict[str, bytes]:
        """Return the objects that exist among ``object_ids`` and can be read.

        Absent ids are left out.  So are objects that :meth:`read` rejects
        with :class:`StoreError`, whose reasons go to :attr:`read_errors`, so
        that one unreadable object does not stop a batch.
        """
        from ...errors import KeyNotFound, StoreError

        ids = check_object_ids(object_ids)
        self.read_errors = {}
        found: dict[str, bytes] = {}
        for object_id in ids:
            try:
                found[object_id] = self.read(object_id)
            except KeyNotFound:
                continue
            except StoreError as error:
                self.read_errors[object_id] = error.diagnostics()
        return found

    def read_prefixes(self, object_ids: Iterable[str], size: int) -> dict[str, tuple[bytes, int]]:
        """Return ``{object_id: (first size bytes, total length)}`` of the objects that exist."""
        check_size(size)
        return {
            object_id: (data[:size], len(data))
            for object_id, data in self.read_many(object_ids).items()
        }

    @abc.abstractmethod
    def put(self, object_id: str, data: bytes) -> None:
        """Create or replace an object unconditionally and atomically.

        Raise :class:`StoreError` when ``object_id`` names no object yet and
        :func:`check_new_object_id` rejects it.  An existing object is replaced
        whatever its id.
        """

    @abc.abstractmethod
    def compare_and_swap(self, object_id: str, expected: bytes, data: bytes | Joined) -> bool:
        """Replace the object by ``data`` if it still equals ``expected``; return whether it did."""

    def swap_many(self, swaps: list[Swap], *, durable: bool = True) -> list[bool]:
        """Apply several swaps (one transaction where the store has them); one result each.

        With ``durable=False`` a store may leave the last step that makes the
        writes survive a power cut to :meth:`sync`.
        """
        check_swaps(swaps)
        return [self.compare_and_swap(s.object_id, s.expected, s.data) for s in swaps]

    def sync(self) -> None:
        """Make every swap made with ``durable=False`` durable."""
        return None

    @abc.abstractmethod
    def count(self) -> int:
        """Return the number of objects."""

    def scan_problem(self, object_id: str) -> str | None:
        """Return why rotation cannot migrate an object that the scan listed with no bytes.

        None means that the object is simply empty.
        """
        return None

    def describe(self, object_id: str) -> str:
        """Return where an object lives, for reports (a path or a row id)."""
        return f"{self.url}#{object_id}"

    def remove_leftovers(self) -> list[str]:
        """Remove what killed writers left beside the objects; return what was removed."""
        return []

    def close(self) -> None:
        """Release connections and file handles."""
        return None

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
