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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    AgileError,
    InvalidArgument,
    KeyNotFound,
    KeysetError,
    KeystoreError,
    PolicyViolation,
)
from ..fsio import atomic_write, exclusive_lock
from .kek import seal_kek
from .keyset import PURPOSES, Keyset, check_family, generate_key
from .model import Key, KeyStatus, new_key_id, utc_now

if TYPE_CHECKING:
    from ..policy import Policy
    from .transfer import ImportedKey

__all__ = ["Keystore", "default_keystore_path", "KEYSTORE_FORMAT"]

log = logging.getLogger("agile.keys")

KEYSTORE_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

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


def _restrict(directory: Path) -> None:
    """Make an existing keystore directory 0700 when group or others can reach it."""
    status = directory.stat()
    if status.st_mode & 0o077 and status.st_uid == os.getuid():
        log.info("tightening keystore directory %s to mode 0700", directory)
        try:
            directory.chmod(0o700)
        except OSError as error:
            # A read-only copy (a mounted backup, the golden vectors) can still be read.
            log.warning("cannot make keystore directory %s mode 0700: %s", directory, error)


def _restrict_file(file: Path) -> None:
    """Make a keyset file that group or others can read mode 0600 again, with a warning."""
    log.warning("keyset file %s is readable by group or others; setting mode 0600", file)
    try:
        file.chmod(0o600)
    except OSError as error:
        # A read-only copy (a mounted backup, the golden vectors) can still be read.
        log.warning("cannot make keyset file %s mode 0600: %s", file, error)


class Keystore:
    """A directory of keysets; open it with :meth:`Keystore.open`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._root = str(path.resolve())
        self._cache: dict[str, tuple[tuple[int, int, int], Keyset]] = {}
        self._key_index: dict[str, str] = {}
        self._files: dict[str, Path] = {}

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
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            (directory / "keysets").mkdir(mode=0o700, exist_ok=True)
            _restrict(directory)
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
        """Hold the keystore's writer lock (re-entrant within this process)."""
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

    def add_store(self, name: str, url: str) -> None:
        check_name(name, "store")
        with self.lock():
            config = self._read_config()
            config.setdefault("stores", {})[name] = url
            self._write_config(config)
        log.info("registered store %s", name)

    def remove_store(self, name: str) -> None:
        with self.lock():
            config = self._read_config()
            if name not in config.get("stores", {}):
                raise KeyNotFound(
                    f"no store named {name!r}", fix="run 'agile store list' for the names"
                )
            del config["stores"][name]
            self._write_config(config)
        log.info("removed store %s", name)

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
            status = file.stat()
        except FileNotFoundError:
            raise KeyNotFound(
                f"no keyset named {name!r} in {str(self._path)!r}",
                fix="run 'agile keyset list' for the names, or 'agile keyset create' to add it",
            ) from None
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if status.st_mode & 0o077:
            _restrict_file(file)
        keyset = Keyset._load(self, file)
        self._cache[name] = (stamp, keyset)
        return keyset

    def keyset_names(self) -> list[str]:
        folder = self._path / "keysets"
        return sorted(p.stem for p in folder.glob("*.json") if _NAME.match(p.stem))

    def keysets(self) -> list[Keyset]:
        return [self.keyset(name) for name in self.keyset_names()]

    def find_key(self, key_id: str) -> tuple[Keyset, Key]:
        """Return the keyset and key with id ``key_id``; raise :class:`KeyNotFound`."""
        name = self._key_index.get(key_id)
        if name is not None:
            try:
                keyset = self.keyset(name)
                return keyset, keyset.key(key_id)
            except KeyNotFound:
                pass
        # The index is a hint only: rebuild it from disk when it misses.
        self._key_index = {}
        found = None
        for keyset in self.keysets():
            for key in keyset.keys:
                self._key_index[key.id] = keyset.name
                if key.id == key_id:
                    found = (keyset, key)
        if found is not None:
            return found
        raise KeyNotFound(
            f"no key with id {key_id!r} in keystore {str(self._path)!r}",
            fix="run 'agile keyset list' to see the key ids, or use the keystore that contains it",
        )

    def has_key_id(self, key_id: str) -> bool:
        try:
            self.find_key(key_id)
        except KeyNotFound:
            return False
        return True

    def claim_key_id(self, key_id: str | None) -> str:
        """Return ``key_id`` after checking it is free and well formed, or a new random id."""
        if key_id is None:
            return self.new_key_id()
        if not _KEY_ID.match(key_id):
            raise InvalidArgument(
                f"invalid key id {key_id!r}",
                fix="use 1 to 64 letters, digits, '.', '_' or '-' (on import, give another id "
                "with --key-id)",
            )
        if self.has_key_id(key_id):
            raise KeysetError(
                f"key id {key_id!r} is already in keystore {str(self._path)!r}",
                fix="the key is already imported; use the keyset that contains it",
            )
        return key_id

    def new_key_id(self) -> str:
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
            if file.exists():
                raise KeysetError(
                    f"keyset {name!r} already exists",
                    fix="choose another name, or add a key with 'agile keyset add-key'",
                )
            blob = seal_kek(self._root, name, uid, sealer, sealer_options)
            # An sss quorum seals the KEK with each member too, so each must be allowed.
            for member in _member_sealers(blob):
                active.enforce("seal", member)
            keyset = Keyset(self, file, name, uid, purpose, utc_now(), blob, [])
            key_id = self.claim_key_id(first_key.key_id if first_key is not None else None)
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


def _member_sealers(blob: dict[str, Any]) -> list[str]:
    """Return the sealer names inside an sss blob, nested quorums included."""
    names: list[str] = []
    for member in blob.get("members", []) if blob.get("sealer") == "sss" else []:
        if isinstance(member, dict) and isinstance(member.get("sealer"), str):
            names.append(member["sealer"])
            names.extend(_member_sealers(member))
    return names
