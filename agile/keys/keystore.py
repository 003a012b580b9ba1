"""The keystore: a directory with one JSON file per keyset.

Layout (directories 0700, files 0600, every write atomic)::

    DIR/keystore.json        format version and registered stores
    DIR/keysets/NAME.json    one keyset: metadata, sealed KEK, keys
    DIR/.lock                advisory writer lock (flock)

Readers never take the lock, because every file is replaced atomically.
Writers take it around read-modify-write, so concurrent processes that add
keys or keysets never lose each other's changes.  The lock is re-entrant within
one process, so a caller may hold :meth:`Keystore.lock` around several keyset
operations that each take it too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    AgileError,
    DuplicateKey,
    InvalidArgument,
    KeyNotFound,
    KeysetError,
    KeystoreError,
    PolicyViolation,
)
from ..fsio import atomic_write, exclusive_lock
from ..seal.base import sealer_class
from ..seal.passphrase import choose_password_kdf, enforce_password_kdfs
from ..seal.sss import accepted_options
from .audit import AuditLog
from .files import restrict_directory
from .kek import seal_kek
from .keyset import PURPOSES, Keyset, check_family, generate_key
from .model import Key, KeyStatus, new_key_id, utc_now

if TYPE_CHECKING:
    from ..policy import Policy
    from .transfer import ImportedKey

__all__ = [
    "Keystore",
    "KeystoreScan",
    "UnreadableKeyset",
    "DuplicateKey",
    "default_keystore_path",
    "KEYSTORE_FORMAT",
]

log = logging.getLogger("agile.keys")

#: Minimum age, in ns, of the keysets folder's mtime at the start of a scan for that mtime
#: to vouch for the scan.  Linux file systems take times from the kernel's coarse clock,
#: whose tick is 1 to 10 ms, so 50 ms covers it.
#: NOTE: FAT stores mtimes in two-second steps, so there a change within the same two
#: seconds can go unseen until the next change.
_RACY_NS = 50_000_000

KEYSTORE_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")

# One re-entrant lock state per keystore directory and process: flock locks
# belong to an open file description, so a second flock from the same process
# on a new descriptor would wait for itself.
_held: dict[str, tuple[threading.RLock, list[int]]] = {}
_held_guard = threading.Lock()


def default_keystore_path() -> Path:
    """Return ``$AGILE_HOME``, else the platform's user data directory for agile."""
    if os.environ.get("AGILE_HOME"):
        return Path(os.environ["AGILE_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("agile", appauthor=False))


def check_name(name: str, what: str = "keyset") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"invalid {what} name {name!r}",
            fix="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


#: Entries of a keystore directory that agile writes: one of them marks a keystore.
_KEYSTORE_ENTRIES = frozenset(
    {"keystore.json", "keysets", ".lock", "audit.log", "policy.json", "rotation.lock"}
)


def _check_not_foreign(directory: Path) -> None:
    """Raise KeystoreError when ``directory`` contains files but no keystore.

    Creating a keystore there would make a shared folder (a mistyped ``--keystore
    /tmp`` or ``.``) mode 0700 and mix keys with other files.
    """
    try:
        entries = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError:
        return  # mkdir below reports a folder that cannot be read
    if not entries or _KEYSTORE_ENTRIES.intersection(entries):
        return
    shown = ", ".join(repr(entry) for entry in sorted(entries)[:3])
    more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    raise KeystoreError(
        f"directory {str(directory)!r} is not a keystore (no keystore.json or keysets folder) "
        f"and is not empty: it contains {shown}{more}",
        fix="point --keystore or AGILE_HOME at an existing keystore, a new path or an empty "
        "directory",
    )


#: Fix text for a keyset file that cannot be read, for callers that do not know why.
UNREADABLE_FIX = (
    "if this user may not read it, correct its mode or owner, for example with 'chmod 600 "
    "FILE' run by its owner, and keep it; if it is damaged, restore it from a backup with "
    "'agile keystore restore' into an empty directory and copy the file back, or remove it"
)

#: Fix text for a keyset file that is damaged, not only unreadable by this user.
_DAMAGED_FIX = (
    "restore it from a backup with 'agile keystore restore' into an empty directory and "
    "copy the file back, or remove it"
)

#: Fix text for a key that two keysets of a keystore on disk contain.
_DUPLICATE_FIX = (
    "a key must belong to one keyset: remove it from the keyset that should not hold it, by "
    "restoring that keyset file from a backup made before the key was added or by deleting "
    "the key's entry from the file"
)


@dataclass(frozen=True, slots=True)
class UnreadableKeyset:
    """A keyset file that :meth:`Keystore.scan` could not read, and why."""

    name: str
    file: Path
    error: KeystoreError

    @property
    def reason(self) -> str:
        return str(self.error)

    @property
    def fix(self) -> str:
        if isinstance(self.error.__cause__, PermissionError) and self.error.fix:
            return self.error.fix
        return _DAMAGED_FIX


@dataclass(frozen=True, slots=True)
class KeystoreScan:
    """The keysets of a keystore that could be read, and the keyset files that could not."""

    keysets: tuple[Keyset, ...]
    unreadable: tuple[UnreadableKeyset, ...]


@dataclass(frozen=True, slots=True)
class _KeyIndex:
    """The locations of each key id and each public key in the readable keysets of one scan."""

    keysets: tuple[Keyset, ...]
    ids: dict[str, list[tuple[Keyset, Key]]] = field(default_factory=dict)
    publics: dict[bytes, list[tuple[Keyset, Key]]] = field(default_factory=dict)
    #: For a key id whose public key another keyset also contains: that keyset and key.
    twins: dict[str, tuple[Keyset, Key]] = field(default_factory=dict)


def _index(keysets: tuple[Keyset, ...]) -> _KeyIndex:
    index = _KeyIndex(keysets)
    for keyset in keysets:
        for key in keyset.keys:
            index.ids.setdefault(key.id, []).append((keyset, key))
            # AEAD keys have no public part, so an empty one names no key.
            if key.public:
                index.publics.setdefault(key.public, []).append((keyset, key))
    for holders in index.publics.values():
        for keyset, key in holders:
            other = next((h for h in holders if h[0].name != keyset.name), None)
            if other is not None:
                index.twins[key.id] = other
    return index


class Keystore:
    """A directory of keysets; open it with :meth:`Keystore.open`.

    A key belongs to exactly one keyset: its status there decides what it may
    do.  Importing a key id or a public key that another keyset already contains
    raises :class:`DuplicateKey`, and :meth:`find_key` raises
    :class:`KeystoreError` for such a duplicate that a keystore already has on
    disk (made by hand or by an older agile) instead of picking one copy.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._root = str(path.resolve())
        self._folder = str(path / "keysets")
        self._cache: dict[str, tuple[tuple[int, int, int], Keyset]] = {}
        self._key_index: _KeyIndex | None = None
        self._last_scan: KeystoreScan | None = None
        # (inode, mtime) of the keysets folder when the index was built, if it was old
        # enough to trust: see _indexed.
        self._folder_stamp: tuple[int, int] | None = None
        self._files: dict[str, Path] = {}
        self._file_names: dict[str, str] = {}
        # Unreadable keyset files already logged, so a run that looks up many keys warns once.
        self._reported: set[tuple[str, str]] = set()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Keystore:
        """Open the keystore at ``path`` or the default place.

        With ``create`` (the default) a missing keystore is created with mode 0700;
        without it, a missing keystore raises :class:`KeystoreError`, so that a
        command that only reads does not leave an empty keystore behind a typo.
        """
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise InvalidArgument(
                f"keystore path must be a directory path, got {type(path).__name__}",
                fix="pass a str or pathlib.Path, or None for $AGILE_HOME",
            )
        directory = Path(path).expanduser() if path is not None else default_keystore_path()
        if not create and not (directory / "keystore.json").is_file():
            raise KeystoreError(
                f"no keystore at {str(directory)!r}",
                fix="check --keystore or AGILE_HOME, or create a keyset there with "
                "'agile keyset create'",
            )
        if directory.exists() and not directory.is_dir():
            raise KeystoreError(
                f"keystore path {str(directory)!r} is not a directory",
                fix="point --keystore or AGILE_HOME at a directory (it is created if missing)",
            )
        _check_not_foreign(directory)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            (directory / "keysets").mkdir(mode=0o700, exist_ok=True)
            restrict_directory(directory, "keystore directory")
            restrict_directory(directory / "keysets", "keysets folder")
        except OSError as error:
            raise KeystoreError(
                f"cannot create keystore directory {str(directory)!r}: {error.strerror}",
                fix="choose a writable directory with --keystore or AGILE_HOME",
            ) from None
        store = cls(directory)
        if not (directory / "keystore.json").exists():
            with store.lock():
                if not (directory / "keystore.json").exists():
                    store._write_config({"format": KEYSTORE_FORMAT, "stores": {}})
        store._read_config()
        return store

    @property
    def path(self) -> Path:
        return self._path

    @property
    def root(self) -> str:
        """The resolved directory, used as the cache key of unsealed KEKs."""
        return self._root

    # Locking.

    @contextlib.contextmanager
    def lock(self, *, wait: bool = True) -> Iterator[None]:
        """Hold the keystore's writer lock (re-entrant within this process).

        Taking the lock raises :class:`KeystoreError` when the audit log exists
        but cannot be opened to append (see :meth:`AuditLog.check_writable`).
        """
        with _held_guard:
            state = _held.setdefault(self._root, (threading.RLock(), [0]))
        thread_lock, depth = state
        with thread_lock:
            if depth[0] > 0:
                depth[0] += 1
                try:
                    yield
                finally:
                    depth[0] -= 1
                return
            with exclusive_lock(self._path / ".lock", wait=wait, what="keystore"):
                # Every keystore writer holds this lock, so checking the audit log here
                # stops a change that could not be recorded before it is saved.
                AuditLog(self._path).check_writable()
                depth[0] = 1
                try:
                    yield
                finally:
                    depth[0] = 0

    # keystore.json.

    def _read_config(self) -> dict[str, Any]:
        try:
            data = json.loads((self._path / "keystore.json").read_text("utf-8"))
        except (OSError, ValueError) as error:
            raise KeystoreError(
                f"cannot read {str(self._path / 'keystore.json')!r}: {error}",
                fix="restore the keystore from a backup",
            ) from None
        if not isinstance(data, dict):
            raise KeystoreError(
                f"{str(self._path / 'keystore.json')!r} is not a JSON object",
                fix="restore the keystore from a backup",
            )
        if data.get("format") != KEYSTORE_FORMAT:
            raise KeystoreError(
                f"keystore {str(self._path)!r} has format {data.get('format')!r}, "
                f"this agile reads format {KEYSTORE_FORMAT}",
                fix="upgrade agile or point --keystore at another directory",
            )
        return data

    def _write_config(self, data: dict[str, Any]) -> None:
        atomic_write(self._path / "keystore.json", json.dumps(data, indent=2).encode() + b"\n")

    def stores(self) -> dict[str, str]:
        """Return the registered stores, name -> URL."""
        return dict(self._read_config().get("stores", {}))

    def add_store(
        self, name: str, url: str | os.PathLike[str], *, replace: bool = False
    ) -> str | None:
        """Register ``url`` as store ``name``; return the URL it had before, or None.

        ``url`` is a directory or ``sqlite:///PATH?table=T``.  It is stored in
        its full form, a relative path made absolute against the current
        directory, so that a rotation started elsewhere finds the same objects.
        A missing directory or table is created.  A URL that overlaps another
        registered store or contains the keystore's files raises
        :class:`StoreError` (see :func:`agile.rotate.stores.check_registrable`).
        A name that is registered with another URL raises :class:`StoreError`
        unless ``replace`` is true.  Re-pointing a store by mistake hides its
        objects from the next rotation, which then disables the keys they need.
        Registering the same URL again changes nothing.
        """
        from ..errors import StoreError
        from ..rotate.stores import check_registrable, open_store, parse_store_url

        check_name(name, "store")
        if not isinstance(url, str | os.PathLike):
            raise InvalidArgument(
                f"store url must be a str or path, got {type(url).__name__}",
                fix="pass a directory or 'sqlite:///PATH?table=T'",
            )
        location = parse_store_url(os.fspath(url))
        normalized = str(location)
        with self.lock():
            config = self._read_config()
            stores = config.setdefault("stores", {})
            previous = stores.get(name)
            if previous == normalized:
                return previous
            if previous is not None and not replace:
                raise StoreError(
                    f"store {name!r} is already registered as {previous}",
                    fix=f"run 'agile store remove {name}' first, or pass --replace to point "
                    "it at the new URL",
                )
            check_registrable(location, name, stores, self.path)
            open_store(location, create=True).close()
            stores[name] = normalized
            self._write_config(config)
        if previous is None:
            log.info("registered store %s", name)
        else:
            log.info("store %s moved from %s to %s", name, previous, url)
        return previous

    def remove_store(self, name: str) -> str:
        """Unregister store ``name`` and return its URL; its objects stay where they are."""
        with self.lock():
            config = self._read_config()
            if name not in config.get("stores", {}):
                raise KeyNotFound(
                    f"no store named {name!r}", fix="run 'agile store list' for the names"
                )
            url = str(config["stores"].pop(name))
            self._write_config(config)
        log.info("removed store %s", name)
        return url

    # Policy.

    def policy(self, policy: Policy | str | None = None) -> Policy:
        """Return ``policy`` loaded if it is a spec string, or the keystore's active policy."""
        from .. import policy as policies

        if policy is None:
            return policies.active_policy(self._path)
        if isinstance(policy, str):
            return policies.load_policy(policy)
        return policy

    def policy_hash(self) -> str | None:
        """Return the hash of the active policy for audit records, or None if it does not load."""
        try:
            return self.policy().hash
        except AgileError as error:
            log.warning("audit record without policy hash: %s", error)
            return None

    # Keysets.

    def _file_name(self, name: str) -> str:
        file_name = self._file_names[name] = str(self._keyset_file(name))
        return file_name

    def _keyset_file(self, name: str) -> Path:
        file = self._files.get(name)
        if file is None:
            file = self._path / "keysets" / f"{check_name(name)}.json"
            self._files[name] = file
        return file

    def keyset(self, name: str) -> Keyset:
        """Return the keyset ``name``, re-read from disk when its file changed."""
        file = self._keyset_file(name)
        try:
            # lstat: a symbolic link is reported by _load, never followed.
            status = os.lstat(self._file_names.get(name) or self._file_name(name))
        except FileNotFoundError:
            raise KeyNotFound(
                f"no keyset named {name!r} in {str(self._path)!r}",
                fix="run 'agile keyset list' for the names, or 'agile keyset create' to add it",
            ) from None
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        keyset = Keyset._load(self, file)
        self._cache[name] = (stamp, keyset)
        return keyset

    def keyset_names(self) -> list[str]:
        # os.listdir rather than Path.glob: find_key lists the folder on every lookup.
        try:
            entries = os.listdir(self._path / "keysets")
        except FileNotFoundError:
            return []
        stems = (entry[: -len(".json")] for entry in entries if entry.endswith(".json"))
        return sorted(stem for stem in stems if _NAME.match(stem))

    def keysets(self) -> list[Keyset]:
        """Return every keyset; raise :class:`KeystoreError` if one keyset file is unreadable.

        Use :meth:`scan` to get the readable keysets and a report of the others.
        """
        return [self.keyset(name) for name in self.keyset_names()]

    def scan(self) -> KeystoreScan:
        """Return the keysets that can be read, and each keyset file that cannot, with why."""
        keysets: list[Keyset] = []
        unreadable: list[UnreadableKeyset] = []
        for name in self.keyset_names():
            try:
                keysets.append(self.keyset(name))
            except KeyNotFound:
                continue  # Removed since the directory was listed.
            except KeystoreError as error:
                unreadable.append(UnreadableKeyset(name, self._keyset_file(name), error))
        return KeystoreScan(tuple(keysets), tuple(unreadable))

    def _indexed(self, *, rescan: bool = False) -> tuple[KeystoreScan, _KeyIndex]:
        """Return the last scan and the key index, scanning again when the keysets changed.

        Every keyset write renames a file into the keysets folder, which changes
        the folder's mtime, so one ``stat`` of the folder shows whether a keyset
        was added, removed or rewritten since the last scan.  A scan that found
        an unreadable file is not reused, since the file may be repaired in place.

        A change in the same timestamp tick as the scan leaves the mtime as it
        was.  So a folder changed less than :data:`_RACY_NS` before the scan
        began does not vouch for it, and the next lookup scans again.  Git
        treats its "racily clean" index entries the same way.

        A keyset file edited in place, not renamed, leaves the folder as it was
        too.  Neither case can return a wrong key, because :meth:`find_key`
        checks the file of the keyset it returns and scans again on a miss, and
        :meth:`claim_key_id` always scans.  An edit in place can only delay the
        detection of a key copied by hand into a second keyset, until the
        folder changes again.
        """
        try:
            status = os.stat(self._folder)
            stamp: tuple[int, int] | None = (status.st_ino, status.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        last, index = self._last_scan, self._key_index
        if (
            not rescan
            and stamp is not None
            and stamp == self._folder_stamp
            and last is not None
            and index is not None
        ):
            return last, index
        started = time.time_ns()
        scan = self.scan()
        # keyset() returns the same object until its file changes, and the index keeps
        # the objects it was built from alive, so identity shows that nothing changed.
        if (
            index is None
            or len(index.keysets) != len(scan.keysets)
            or any(old is not new for old, new in zip(index.keysets, scan.keysets, strict=True))
        ):
            index = _index(scan.keysets)
            self._key_index = index
        self._last_scan = scan
        settled = stamp is not None and started - stamp[1] > _RACY_NS
        self._folder_stamp = stamp if settled and not scan.unreadable else None
        return scan, index

    def _report_unreadable(self, scan: KeystoreScan) -> None:
        for item in scan.unreadable:
            if (item.name, item.reason) not in self._reported:
                self._reported.add((item.name, item.reason))
                log.warning(
                    "skipping unreadable keyset %s: %s (%s)", item.name, item.reason, item.fix
                )

    def find_key(self, key_id: str) -> tuple[Keyset, Key]:
        """Return the keyset and key with id ``key_id``; raise :class:`KeyNotFound`.

        Keyset files that cannot be read are skipped with a logged warning, so keys of
        the other keysets still work.  A key contained in two keysets (the same id, or the
        same public key under another id) raises :class:`KeystoreError` naming both.
        """
        scan, index = self._indexed()
        holders = index.ids.get(key_id, [])
        if len(holders) != 1 or self._changed(holders[0][0]):
            # A miss, a duplicate or a keyset file changed in place: decide on a fresh scan.
            scan, index = self._indexed(rescan=True)
            holders = index.ids.get(key_id, [])
        self._report_unreadable(scan)
        if not holders:
            skipped = ""
            if scan.unreadable:
                names = ", ".join(repr(item.name) for item in scan.unreadable)
                skipped = f" (unreadable keysets not searched: {names})"
            raise KeyNotFound(
                f"no key with id {key_id!r} in keystore {str(self._path)!r}{skipped}",
                fix="run 'agile keyset list' to see the key ids, or use the keystore that "
                "contains it",
            )
        if len(holders) > 1:
            names = " and ".join(repr(keyset.name) for keyset, _key in holders)
            raise KeystoreError(
                f"key id {key_id!r} is in keysets {names} of keystore {str(self._path)!r}, "
                "so its status is ambiguous",
                fix=_DUPLICATE_FIX,
            )
        keyset, key = holders[0]
        found = index.twins.get(key_id)
        if found is not None:
            other, twin = found
            raise KeystoreError(
                f"key {key_id} of keyset {keyset.name!r} is the same {key.algorithm} key as "
                f"key {twin.id} of keyset {other.name!r}, so disabling or destroying one "
                "leaves the other usable",
                fix=_DUPLICATE_FIX,
            )
        return keyset, key

    def _changed(self, keyset: Keyset) -> bool:
        """Return whether the file of ``keyset`` changed since it was read."""
        try:
            return self.keyset(keyset.name) is not keyset
        except AgileError:
            return True

    def has_key_id(self, key_id: str) -> bool:
        """Return whether a readable keyset contains a key with id ``key_id``."""
        _scan, index = self._indexed()
        return key_id in index.ids

    def claim_key_id(self, key_id: str | None, *, public: bytes = b"", algorithm: str = "") -> str:
        """Return ``key_id`` after checking it is free and well formed, or a new random id.

        With ``public`` (an imported key), also check that no keyset contains that public
        key.  Both checks raise :class:`DuplicateKey` naming the keyset that contains
        the key.  While a keyset file is unreadable they raise :class:`KeystoreError`,
        because the key could be in that file.
        """
        if key_id is not None and not _KEY_ID.match(key_id):
            raise InvalidArgument(
                f"invalid key id {key_id!r}",
                fix="use 1 to 64 letters, digits, '.', '_' or '-' (on import, give another id "
                "with --key-id)",
            )
        if key_id is None and not public:
            return self.new_key_id()
        # An import is rare and must see every keyset as it is now: always scan.
        scan, index = self._indexed(rescan=True)
        if scan.unreadable:
            item = scan.unreadable[0]
            raise KeystoreError(
                f"cannot check that the key is not already in keyset {item.name!r}: {item.reason}",
                fix=f"{item.fix}; nothing was imported",
            )
        if key_id is not None and key_id in index.ids:
            holder = index.ids[key_id][0][0].name
            raise DuplicateKey(
                f"key id {key_id!r} is already in keystore {str(self._path)!r}, "
                f"in keyset {holder!r}",
                fix=f"the key is already imported: use keyset {holder!r}, or give a different "
                "key another id with --key-id; nothing was imported",
            )
        if public and public in index.publics:
            holder_keyset, holder_key = index.publics[public][0]
            what = f"{algorithm} key" if algorithm else "key"
            raise DuplicateKey(
                f"this {what} is already in keyset {holder_keyset.name!r} as key {holder_key.id}",
                fix=f"use keyset {holder_keyset.name!r}: a key belongs to one keyset, so that "
                "disabling or destroying it there takes effect; nothing was imported",
            )
        return key_id if key_id is not None else self.new_key_id()

    def new_key_id(self) -> str:
        """Return a random key id that no readable keyset uses."""
        while True:
            key_id = new_key_id()
            if not self.has_key_id(key_id):
                return key_id

    def create_keyset(
        self,
        name: str,
        purpose: str,
        algorithm: str | None = None,
        sealer: str = "passphrase",
        policy: Policy | str | None = None,
        *,
        sealer_options: dict[str, Any] | None = None,
        first_key: ImportedKey | None = None,
    ) -> Keyset:
        """Create a keyset with one primary key; ``algorithm`` defaults to the policy's choice.

        ``first_key`` makes an imported key the primary one instead of a new key.
        """
        check_name(name)
        if purpose not in PURPOSES:
            raise InvalidArgument(
                f"unknown keyset purpose {purpose!r}", fix=f"use one of: {', '.join(PURPOSES)}"
            )
        active = self.policy(policy)
        if first_key is not None:
            algorithm = first_key.algorithm
        algorithm = algorithm or active.preferred(purpose)
        check_family(algorithm, purpose)
        if first_key is not None and not active.decide("generate", algorithm).allowed:
            _reject_legacy_first_key(active, name, purpose, algorithm)
        active.enforce("generate", algorithm)
        active.enforce("seal", sealer)
        file = self._keyset_file(name)
        uid = os.urandom(16).hex()
        private: bytes | None
        if first_key is None:
            form, private, public = generate_key(algorithm, purpose)
        else:
            form, private, public = first_key.form, first_key.private, first_key.public

        with self.lock():
            # lexists: a dangling symbolic link there would make the write create its target.
            if os.path.lexists(file):
                raise KeysetError(
                    f"keyset {name!r} already exists",
                    fix="choose another name, or add a key with 'agile keyset add-key'",
                )
            blob = seal_kek(
                self._root, name, uid, sealer, _with_password_kdf(active, sealer, sealer_options)
            )
            # An sss quorum seals the KEK with each member too, so each must be allowed.
            for member in _member_sealers(blob):
                active.enforce("seal", member)
            enforce_password_kdfs(active, blob, "encrypt", f"keyset {name!r}")
            keyset = Keyset(self, file, name, uid, purpose, utc_now(), blob, [])
            if first_key is None:
                key_id = self.claim_key_id(None)
            else:
                key_id = self.claim_key_id(
                    first_key.key_id, public=first_key.public, algorithm=algorithm
                )
            keyset._append(key_id, algorithm, form, private, public, KeyStatus.PRIMARY)
            keyset._save()
            keyset._audit({})
        log.info("created keyset %s (%s, %s)", name, purpose, algorithm)
        return self.keyset(name)


def _reject_legacy_first_key(active: Policy, name: str, purpose: str, algorithm: str) -> None:
    """Raise PolicyViolation for an imported key that may only open old data.

    Such a key cannot be a new keyset's primary key, but it can join a keyset as
    decrypt-only, so the error explains that route.
    """
    operation = "verify" if purpose == "signature" else "decrypt"
    if not active.decide(operation, algorithm).allowed:
        return  # The caller's enforce() then explains the denial.
    raise PolicyViolation(
        f"policy {active.name!r} allows {algorithm!r} only to {operation} old data, so it "
        f"cannot be the primary key of new keyset {name!r}",
        fix=f"create {name!r} with an allowed algorithm ('agile keyset create {name} --purpose "
        f"{purpose}'), then import this key into it, where it becomes decrypt-only",
        reasons=[f"{purpose} {algorithm}: {operation} only"],
    )


def _with_password_kdf(
    active: Policy, sealer: str, options: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Return ``options`` with the password KDF that ``active`` prefers, for passphrase sealers.

    The option reaches the passphrase sealer and the passphrase members of an
    sss sealer.  Other sealers do not take it, and an option the caller set wins.
    """
    if not _takes_password_kdf(sealer):
        return options
    try:
        kdf = choose_password_kdf(active)
    except PolicyViolation:
        # Sealing then uses the default, and the check after sealing reports the denial
        # only if a passphrase was used (an sss quorum of devices needs no password KDF).
        return options
    return {"password_kdf": kdf, **(options or {})}


def _takes_password_kdf(sealer: str) -> bool:
    return bool(accepted_options(sealer_class(sealer), {"password_kdf": None}))


def _member_sealers(blob: dict[str, Any]) -> list[str]:
    """Return the sealer names inside an sss blob, nested quorums included."""
    names: list[str] = []
    for member in blob.get("members", []) if blob.get("sealer") == "sss" else []:
        if isinstance(member, dict) and isinstance(member.get("sealer"), str):
            names.append(member["sealer"])
            names.extend(_member_sealers(member))
    return names
