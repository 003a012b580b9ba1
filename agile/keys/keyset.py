"""Keysets: a named set of versioned keys for one purpose.

A keyset has exactly one primary key, which encrypts or signs new data; other
keys decrypt or verify what older keys protected (see :class:`KeyStatus`).
Rotation adds a key, promotes it, and moves the old one to ``decrypt-only``,
then ``disabled``, then ``destroyed``.

Every mutating method re-reads the keyset file under the keystore's writer
lock, applies its change and writes the file atomically before it returns, so
there is no separate save step and concurrent processes never lose updates.
A :class:`Keyset` object is a snapshot between its own changes: to see changes
made by other processes, ask the keystore again (``keystore.keyset(name)``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import registry
from ..errors import (
    DuplicateKey,
    InvalidArgument,
    KeyNotFound,
    KeysetError,
    KeystoreError,
    UnsupportedAlgorithm,
    WrongPassphrase,
)
from ..fsio import atomic_write
from ..registry import Family, KeyForm, PrivateKey, PublicKey
from ..seal.base import describe_blob
from .audit import AuditLog, record_key_changes
from .files import read_keyset_file
from .kek import _derived_caches, unseal_kek, unwrap_private, wrap_private
from .model import Key, KeyStatus, check_key_id, format_time, parse_time, utc_now, valid_key_id

if TYPE_CHECKING:
    from ..policy import Policy
    from .keystore import Keystore

__all__ = ["Keyset", "PURPOSES", "KEYSET_FORMAT", "generate_key"]

log = logging.getLogger("agile.keys")

KEYSET_FORMAT = 1
PURPOSES: tuple[str, ...] = ("kem", "signature", "aead", "homomorphic")

#: The operation a primary key performs, per purpose, as the policy names it.
_PROTECT_OPERATION = {
    "kem": "encrypt",
    "aead": "encrypt",
    "homomorphic": "encrypt",
    "signature": "sign",
}

#: The operation a key that only opens old data performs, per purpose.
_OPEN_OPERATION = {
    "kem": "decrypt",
    "aead": "decrypt",
    "homomorphic": "decrypt",
    "signature": "verify",
}


_private_cache_lock = threading.Lock()
_private_cache: dict[tuple[str, str, str], PrivateKey | bytes] = {}


def _forget_private_keys() -> None:
    with _private_cache_lock:
        _private_cache.clear()


_derived_caches.append(_forget_private_keys)


def check_family(algorithm: str, purpose: str) -> None:
    family = registry.descriptor(algorithm).family
    if family.value != purpose:
        article = "an" if family.value[0] in "aeiou" else "a"
        raise UnsupportedAlgorithm(
            f"{algorithm!r} is {article} {family.value} algorithm; this keyset's purpose is "
            f"{purpose}",
            fix=f"run 'agile algorithms --family {purpose}' for the algorithms of this purpose",
        )


def _check_stored_family(file: Path, algorithm: str, purpose: str) -> None:
    """Raise KeystoreError when a stored key's algorithm does not fit its keyset's purpose."""
    try:
        family = registry.descriptor(algorithm).family.value
    except UnsupportedAlgorithm:
        return  # An id this version does not know fails with its own error when the key is used.
    if family != purpose:
        raise KeystoreError(
            f"keyset file {str(file)!r} is malformed: its {purpose} keyset contains "
            f"the {family} algorithm {algorithm!r}",
            fix="restore the keyset from a backup",
        )


#: Fields of a keyset file, and of each key in it, that must be JSON strings.
_KEYSET_STRINGS = ("name", "uid", "purpose", "created")
_KEY_STRINGS = ("id", "algorithm", "created", "status", "public")
#: Every field that format 1 defines. _warn_unknown_fields reports the others.
_KEYSET_FIELDS = frozenset({"format", *_KEYSET_STRINGS, "seal", "keys"})
_KEY_FIELDS = frozenset({*_KEY_STRINGS, "private"})

#: (file, unknown fields) pairs already warned about in this process (one warning each).
_warned_unknown: set[tuple[str, tuple[str, ...]]] = set()


def _warn_unknown_fields(file: Path, data: dict[str, Any]) -> None:
    """Log a warning naming fields that format 1 does not define (they are not an error).

    A field that changes what a keyset means would come with a new format number, which
    this version rejects. An unknown field in a format 1 file is a hand edit or a
    misspelling, and the next change to the keyset drops it.
    """
    unknown = sorted(set(data) - _KEYSET_FIELDS)
    for item in data["keys"]:
        unknown += sorted(f"keys[].{name}" for name in set(item) - _KEY_FIELDS)
    found = tuple(dict.fromkeys(unknown))
    if not found or (str(file), found) in _warned_unknown:
        return
    _warned_unknown.add((str(file), found))
    log.warning(
        "keyset file %s has fields that format 1 does not define, which agile ignores and drops at "
        "the next change to the keyset: %s (check them for a misspelling, or upgrade agile "
        "if a newer version wrote them)",
        file,
        ", ".join(found),
    )


def _check_stored_fields(file: Path, data: Any) -> None:
    """Raise KeystoreError for a keyset file whose fields have the wrong JSON type.

    Also rejects a key id that appears twice and more than one primary key, which
    agile never writes, so that a damaged file fails when it is read and not later.
    """
    problem = None
    wrong = [name for name in _KEYSET_STRINGS if not isinstance(data[name], str)]
    if wrong:
        problem = f"{wrong[0]!r} is not a string"
    elif not isinstance(data["seal"], dict):
        problem = "'seal' is not an object"
    elif not isinstance(data["keys"], list) or not all(isinstance(k, dict) for k in data["keys"]):
        problem = "'keys' is not a list of objects"
    else:
        ids: set[str] = set()
        for item in data["keys"]:
            wrong = [name for name in _KEY_STRINGS if not isinstance(item[name], str)]
            if wrong:
                problem = f"key field {wrong[0]!r} is not a string"
                break
            if not valid_key_id(item["id"]):
                # The same rule as on import, because the id is written into envelopes.
                problem = (
                    f"key id {item['id'][:80]!r} is not 1 to 64 letters, digits, '.', '_' or '-'"
                )
                break
            if item["id"] in ids:
                problem = f"key id {item['id']!r} appears twice"
                break
            ids.add(item["id"])
        primaries = [k for k in data["keys"] if k.get("status") == KeyStatus.PRIMARY.value]
        if problem is None and len(primaries) > 1:
            problem = f"{len(primaries)} keys are primary"
    if problem is not None:
        raise KeystoreError(
            f"keyset file {str(file)!r} is malformed: {problem}",
            fix="restore the keyset from a backup",
        )


def _wrong_passphrase_fix(keyset: Keyset, error: WrongPassphrase) -> str | None:
    """Return the fix for a keyset that its passphrase (or PIN) did not open."""
    if keyset.sealer != "passphrase":
        return error.fix
    # AGILE_PASSPHRASE is one value for every keyset a command opens. There is no
    # per-keyset passphrase, so keysets used together need the same passphrase.
    return (
        f"set AGILE_PASSPHRASE to the passphrase of keyset {keyset.name!r}; a command that "
        "opens several keysets uses one AGILE_PASSPHRASE for all of them, so give them one "
        f"passphrase: AGILE_PASSPHRASE='ITS PASSPHRASE' AGILE_NEW_PASSPHRASE='THE SHARED "
        f"ONE' agile keyset reseal {keyset.name}; if the passphrase is right, the keyset "
        "file was modified: restore it from a backup"
    )


def generate_key(algorithm: str, purpose: str) -> tuple[str, bytes, bytes]:
    """Return ``(form, private bytes, public bytes)`` of a fresh key of ``algorithm``."""
    check_family(algorithm, purpose)
    if purpose == Family.AEAD.value:
        size = registry.descriptor(algorithm).sizes.key or 32
        registry.aead(algorithm)
        return KeyForm.RAW.value, os.urandom(size), b""
    implementation = registry.get(algorithm)
    private = implementation.generate()  # type: ignore[attr-defined]
    return private.form.value, private.data, private.public_key.data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _access_fix(file: Path) -> str:
    """Return the fix for a keyset file that this user is not permitted to read."""
    return (
        f"correct the mode or owner of {str(file)!r} and its folder so that this user can "
        f"read them, for example 'chmod 600 {file}' as the file's owner; keep the file, "
        "since a permission error does not mean it is damaged"
    )


class Keyset:
    """A named, versioned set of keys for one purpose: kem, signature, aead or homomorphic."""

    # NOTE: private parts are authenticated under the sealed KEK, but public keys and
    # statuses in the keyset file rely on file permissions only (see docs/security.md).

    def __init__(
        self,
        keystore: Keystore,
        file: Path,
        name: str,
        uid: str,
        purpose: str,
        created: datetime,
        seal: dict[str, Any],
        keys: list[Key],
    ) -> None:
        self._keystore = keystore
        self._file = file
        self.name = name
        self.uid = uid
        self.purpose = purpose
        self.created = created
        self._seal = seal
        self._password_kdfs: tuple[Any, tuple[str, ...]] | None = None
        self._keys = keys
        # Parsed public keys by key id: parsing an ML-KEM key costs about as much as using it.
        self._public_cache: dict[str, PublicKey] = {}

    def __repr__(self) -> str:
        return f"<Keyset {self.name} {self.purpose} keys={len(self._keys)}>"

    # Reading.

    @property
    def keystore(self) -> Keystore:
        return self._keystore

    @property
    def keys(self) -> list[Key]:
        return list(self._keys)

    @property
    def sealer(self) -> str:
        return str(self._seal.get("sealer", ""))

    @property
    def seal_blob(self) -> dict[str, Any]:
        """A copy of the sealed KEK (public facts and ciphertext only)."""
        return json.loads(json.dumps(self._seal))  # type: ignore[no-any-return]

    @property
    def password_kdfs(self) -> tuple[str, ...]:
        """The password KDFs that open the KEK's passphrase seals (sss members included).

        Read without copying the blob, because every decrypt checks them.
        """
        cached = self._password_kdfs
        if cached is None or cached[0] is not self._seal:
            # Imported here, after the cache check: an import statement costs more than
            # the rest of a cache hit.
            from ..seal.passphrase import password_kdfs

            cached = self._password_kdfs = (self._seal, tuple(password_kdfs(self._seal)))
        return cached[1]

    def replace_seal(self, blob: dict[str, Any]) -> None:
        """Store a new sealed form of the same KEK (after resealing it), save, and audit it.

        The ``keyset-resealed`` audit record names the previous and the new sealer
        and the password KDFs of both, never a passphrase, PIN or sealed field.
        """
        if not isinstance(blob, dict) or not isinstance(blob.get("sealer"), str):
            raise InvalidArgument("a sealed blob must be a dict that names its 'sealer'")

        def change(current: Keyset) -> tuple[str, tuple[str, ...]]:
            previous = (current.sealer, current.password_kdfs)
            current._seal = blob
            return previous

        with self._keystore.lock():
            previous_sealer, previous_kdfs = self._mutate(change)
            AuditLog(self._keystore.path).record(
                "keyset-resealed",
                keyset=self.name,
                previous_sealer=previous_sealer,
                sealer=blob["sealer"],
                previous_password_kdfs=list(previous_kdfs),
                password_kdfs=list(self.password_kdfs),
                policy_hash=self._keystore.policy_hash(),
            )
        log.info("keyset %s: KEK resealed with %s", self.name, blob["sealer"])

    @property
    def primary(self) -> Key:
        for key in self._keys:
            if key.status == KeyStatus.PRIMARY:
                return key
        raise KeysetError(
            f"keyset {self.name!r} has no primary key",
            fix=f"promote a key with 'agile keyset promote {self.name} KEY_ID'",
        )

    def key(self, key_id: str) -> Key:
        for key in self._keys:
            if key.id == key_id:
                return key
        raise KeyNotFound(
            f"keyset {self.name!r} has no key {key_id!r}",
            fix=f"run 'agile keyset show {self.name}' for its key ids",
        )

    def public_key(self, key_id: str) -> PublicKey:
        """Return the parsed public key (not available for AEAD keysets)."""
        key = self.key(key_id)
        if self.purpose == Family.AEAD.value:
            raise KeysetError(
                f"keyset {self.name!r} contains symmetric keys, which have no public part",
                fix="use Keyset.secret_key for AEAD keys",
            )
        cached = self._public_cache.get(key.id)
        if cached is not None and cached.data == key.public:
            return cached
        implementation = registry.get(key.algorithm)
        public = implementation.load_public(key.public)  # type: ignore[attr-defined]
        self._public_cache[key.id] = public
        return public  # type: ignore[no-any-return]

    def _private_bytes(self, key: Key) -> tuple[str, bytes]:
        if key.sealed is None:
            raise KeysetError(
                f"key {key.id} of keyset {self.name!r} has no private part "
                f"(status {key.status.value})",
                fix="use another key; a destroyed or public-only key cannot decrypt or sign",
            )
        kek = self._unseal_kek()
        return unwrap_private(kek, self.name, self.uid, key.id, key.algorithm, key.sealed)

    def _unseal_kek(self) -> bytes:
        """Return the keyset's KEK, and name this keyset in a wrong passphrase or PIN error."""
        try:
            return unseal_kek(self._keystore.root, self.name, self.uid, self._seal)
        except WrongPassphrase as error:
            # A command may open several keysets (sign --keyset A --keyset B) with one
            # AGILE_PASSPHRASE, so the error must name the keyset that did not open.
            # The tpm2 sealer names it already.
            prefix = f"keyset {self.name!r}: "
            message = str(error) if str(error).startswith(prefix) else prefix + str(error)
            raise WrongPassphrase(message, fix=_wrong_passphrase_fix(self, error)) from None

    def private_key(self, key_id: str) -> PrivateKey:
        """Return the parsed private key, unsealing the KEK on first use (cached per process)."""
        key = self.key(key_id)
        if self.purpose == Family.AEAD.value:
            raise KeysetError(
                f"keyset {self.name!r} contains symmetric keys", fix="use Keyset.secret_key"
            )
        cache_key = (self._keystore.root, self.uid, key.id)
        with _private_cache_lock:
            cached = _private_cache.get(cache_key)
        if isinstance(cached, PrivateKey):
            private = cached
        else:
            form, data = self._private_bytes(key)
            implementation = registry.get(key.algorithm)
            private = implementation.load_private(data, form)  # type: ignore[attr-defined]
        if private.public_key.data != key.public:
            # Only the private part is authenticated, so a mismatch means the file was changed.
            if self.purpose == Family.SIGNATURE.value:
                harm = "signatures made with their own key may verify as this key's"
            else:
                harm = "envelopes encrypted to it may be readable by them"
            raise KeysetError(
                f"the public key stored for key {key.id} of keyset {self.name!r} does not "
                "belong to its private key",
                fix="restore the keyset file from a backup; someone with write access to the "
                f"keystore changed it, so {harm}",
            )
        if cached is private:
            return private
        with _private_cache_lock:
            _private_cache[cache_key] = private
        return private  # type: ignore[no-any-return]

    def secret_key(self, key_id: str) -> bytes:
        """Return the symmetric key of an AEAD keyset (cached per process)."""
        key = self.key(key_id)
        if self.purpose != Family.AEAD.value:
            raise KeysetError(
                f"keyset {self.name!r} is a {self.purpose} keyset, not an aead one",
                fix="use Keyset.private_key",
            )
        cache_key = (self._keystore.root, self.uid, key.id)
        with _private_cache_lock:
            cached = _private_cache.get(cache_key)
        if isinstance(cached, bytes):
            return cached
        _form, data = self._private_bytes(key)
        with _private_cache_lock:
            _private_cache[cache_key] = data
        return data

    # Serialization.

    @classmethod
    def _load(cls, keystore: Keystore, file: Path) -> Keyset:
        try:
            data = json.loads(read_keyset_file(file))
        except PermissionError as error:
            # EACCES or EPERM: the file may be intact, so removing it could lose keys.
            raise KeystoreError(
                f"cannot read keyset file {str(file)!r}: {error.strerror}",
                fix=_access_fix(file),
            ) from error
        except (OSError, ValueError, RecursionError) as error:
            # RecursionError: json.loads gives up on deeply nested arrays, as in a damaged file.
            raise KeystoreError(
                f"cannot read keyset file {str(file)!r}: {error}",
                fix="restore the keyset from a backup",
            ) from None
        if not isinstance(data, dict):
            raise KeystoreError(
                f"keyset file {str(file)!r} is malformed: it is not a JSON object",
                fix="restore the keyset from a backup",
            )
        try:
            if data["format"] != KEYSET_FORMAT:
                raise KeystoreError(
                    f"keyset file {str(file)!r} has format {data['format']!r}, "
                    f"expected {KEYSET_FORMAT}",
                    fix="upgrade agile",
                )
            name, purpose = data["name"], data["purpose"]
            if name != file.stem:
                # A copied or renamed file would list one keyset under two names.
                raise KeystoreError(
                    f"keyset file {str(file)!r} contains keyset {name!r}",
                    fix=f"rename the file to {name}.json, or restore it from a backup",
                )
            _check_stored_fields(file, data)
            _warn_unknown_fields(file, data)
            for item in data["keys"]:
                _check_stored_family(file, item["algorithm"], purpose)
            keys = [
                Key(
                    id=item["id"],
                    algorithm=item["algorithm"],
                    created=parse_time(item["created"]),
                    status=KeyStatus(item["status"]),
                    public=base64.b64decode(item["public"], validate=True),
                    sealed=item.get("private"),
                    keyset=name,
                    purpose=purpose,
                )
                for item in data["keys"]
            ]
            return cls(
                keystore,
                file,
                name,
                data["uid"],
                purpose,
                parse_time(data["created"]),
                data["seal"],
                keys,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise KeystoreError(
                f"keyset file {str(file)!r} is malformed ({type(error).__name__}: {error})",
                fix="restore the keyset from a backup",
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """Return the keyset file's content (private parts stay sealed)."""
        return {
            "format": KEYSET_FORMAT,
            "name": self.name,
            "uid": self.uid,
            "purpose": self.purpose,
            "created": format_time(self.created),
            "seal": self._seal,
            "keys": [
                {
                    "id": key.id,
                    "algorithm": key.algorithm,
                    "created": format_time(key.created),
                    "status": key.status.value,
                    "public": _b64(key.public),
                    "private": key.sealed,
                }
                for key in self._keys
            ],
        }

    def describe(self) -> dict[str, Any]:
        """Return public facts for ``agile keyset show`` (no key material)."""
        primary = next((k.id for k in self._keys if k.status == KeyStatus.PRIMARY), None)
        return {
            "name": self.name,
            "purpose": self.purpose,
            "created": format_time(self.created),
            "sealer": self.sealer,
            "seal": describe_blob(self._seal),
            "primary": primary,
            "keys": [key.to_public_dict() for key in self._keys],
        }

    def _save(self) -> None:
        atomic_write(self._file, json.dumps(self.to_dict(), indent=2).encode() + b"\n")

    def _audit(self, before: dict[str, str]) -> None:
        """Append an audit record for each key whose status differs from ``before``."""
        after = {key.id: (key.algorithm, key.status.value) for key in self._keys}
        record_key_changes(
            AuditLog(self._keystore.path), self.name, before, after, self._keystore.policy_hash
        )

    def _mutate(self, change: Callable[[Keyset], Any]) -> Any:
        """Re-read the file under the writer lock, apply ``change``, write it, adopt the result."""
        with self._keystore.lock():
            current = Keyset._load(self._keystore, self._file)
            if current.uid != self.uid:
                raise KeysetError(
                    f"keyset {self.name!r} was replaced on disk by another keyset",
                    fix="open the keystore again",
                )
            before = {key.id: key.status.value for key in current._keys}
            result = change(current)
            current._save()
            current._audit(before)
        self._keys = current._keys
        self._seal = current._seal
        return result

    def _append(
        self,
        key_id: str,
        algorithm: str,
        form: str,
        private: bytes | None,
        public: bytes,
        status: KeyStatus,
    ) -> Key:
        sealed = None
        if private is not None:
            kek = self._unseal_kek()
            sealed = wrap_private(kek, self.name, self.uid, key_id, algorithm, form, private)
        if status == KeyStatus.PRIMARY:
            self._demote_primary()
        key = Key(
            id=key_id,
            algorithm=algorithm,
            created=utc_now(),
            status=status,
            public=public,
            sealed=sealed,
            keyset=self.name,
            purpose=self.purpose,
        )
        self._keys.append(key)
        return key

    def _demote_primary(self) -> None:
        self._keys = [
            replace(k, status=KeyStatus.ENABLED) if k.status == KeyStatus.PRIMARY else k
            for k in self._keys
        ]

    def _replace(self, key_id: str, **changes: Any) -> Key:
        for index, key in enumerate(self._keys):
            if key.id == key_id:
                self._keys[index] = replace(key, **changes)
                return self._keys[index]
        raise KeyNotFound(
            f"keyset {self.name!r} has no key {key_id!r}",
            fix=f"run 'agile keyset show {self.name}' for its key ids",
        )

    # Operations (each saves itself under the lock).

    def add_key(
        self,
        algorithm: str | None = None,
        promote: bool = False,
        *,
        policy: Policy | str | None = None,
    ) -> Key:
        """Generate a key and save it.

        ``algorithm`` defaults to the primary key's algorithm while the policy
        allows new keys of it, else to the policy's preferred one, so that a
        post-quantum keyset does not turn classical because the policy prefers
        a classical algorithm.  The policy's ``[seal]`` rule must allow the
        keyset's sealer, as at creation, because the new private key is sealed
        under the keyset's KEK.  A passphrase seal's password KDF needs
        ``decrypt`` (to open the KEK) and ``encrypt`` (to seal under it).
        """
        active = self._keystore.policy(policy)
        active.enforce_keyset_sealers(self.name, self._seal, "add a key to it")
        if algorithm is None:
            primaries = [key for key in self._keys if key.status == KeyStatus.PRIMARY]
            current = primaries[0].algorithm if primaries else None
            if current is not None and active.decide("generate", current).allowed:
                algorithm = current
            else:
                algorithm = active.preferred(self.purpose)
        active.enforce("generate", algorithm)
        if promote:
            active.enforce(_PROTECT_OPERATION[self.purpose], algorithm)
        form, private, public = generate_key(algorithm, self.purpose)
        key_id = self._keystore.new_key_id()
        status = KeyStatus.PRIMARY if promote else KeyStatus.ENABLED

        key = self._mutate(
            lambda current: current._append(key_id, algorithm, form, private, public, status)
        )
        log.info("keyset %s: added key %s (%s, %s)", self.name, key_id, algorithm, status.value)
        return key  # type: ignore[no-any-return]

    def add_imported(
        self,
        algorithm: str,
        form: str,
        private: bytes | None,
        public: bytes,
        *,
        promote: bool = False,
        policy: Policy | str | None = None,
        key_id: str | None = None,
    ) -> Key:
        """Add a key whose bytes came from outside (see :mod:`agile.keys.transfer`).

        ``key_id`` keeps the id the key has elsewhere, so envelopes encrypted to
        it here name a key that its owner's keystore finds.  A private key is
        sealed under the keyset's KEK, so the policy checks the KEK's sealers and
        password KDFs as :meth:`add_key` does.
        """
        check_family(algorithm, self.purpose)
        if key_id is not None:
            # Checked here too, because the keystore's check lets a trailing newline through.
            check_key_id(key_id)
        for existing in self._keys:
            if existing.algorithm == algorithm and existing.public == public:
                # The same key under two ids would split its envelopes between them.
                raise DuplicateKey(
                    f"this {algorithm} key is already in keyset {self.name!r} as key {existing.id}",
                    fix="use the existing key id; nothing was imported",
                )
        active = self._keystore.policy(policy)
        if private is not None:
            active.enforce_keyset_sealers(self.name, self._seal, "import a private key into it")
        if promote:
            active.enforce(_PROTECT_OPERATION[self.purpose], algorithm)
            status = KeyStatus.PRIMARY
        elif active.decide("generate", algorithm).allowed:
            status = KeyStatus.ENABLED
        else:
            # A legacy key (rsa-oaep-2048 under 'default') may still come in to open old
            # data, so it is stored decrypt-only when the policy allows that.
            active.enforce(_OPEN_OPERATION[self.purpose], algorithm)
            status = KeyStatus.DECRYPT_ONLY
        if promote and private is None and self.purpose == "signature":
            raise KeysetError(
                "a public-only signature key cannot be the primary key",
                fix="import the private key, or import without --promote",
            )
        requested_id = key_id

        def change(current: Keyset) -> Key:
            # Checked under the writer lock, so that two imports of one key into two
            # keysets cannot both pass.
            claimed = self._keystore.claim_key_id(requested_id, public=public, algorithm=algorithm)
            return current._append(claimed, algorithm, form, private, public, status)

        key = self._mutate(change)
        log.info("keyset %s: imported key %s (%s, %s)", self.name, key.id, algorithm, status.value)
        return key  # type: ignore[no-any-return]

    def import_key(
        self,
        data: bytes,
        *,
        format: str | None = None,
        algorithm: str | None = None,
        public: bool | None = None,
        promote: bool = False,
        policy: Policy | str | None = None,
        key_id: str | None = None,
    ) -> Key:
        """Parse a PEM, JWK, raw or seed key (see :mod:`agile.keys.transfer`) and add it.

        The key keeps ``key_id``, else the file's id (a JWK's ``kid``, a PEM ``Key-Id:`` line),
        else gets a new random id.
        """
        from .transfer import parse_key

        imported = parse_key(data, self.purpose, format=format, algorithm=algorithm, public=public)
        return self.add_imported(
            imported.algorithm,
            imported.form,
            imported.private,
            imported.public,
            promote=promote,
            policy=policy,
            key_id=imported.key_id if key_id is None else key_id,
        )

    def export_public(self, key_id: str | None = None, format: str = "pem") -> bytes:
        """Return a key's public part (the primary key's by default) as PEM, JWK or raw bytes."""
        from .transfer import export_public

        if self.purpose == Family.AEAD.value:
            raise KeysetError(
                f"keyset {self.name!r} contains symmetric keys, which have no public part",
                fix="AEAD keys have no export; share an envelope encrypted to a kem keyset instead",
            )
        key = self.primary if key_id is None else self.key(key_id)
        return export_public(key.algorithm, key.public, format, key_id=key.id)

    def promote(self, key_id: str, *, policy: Policy | str | None = None) -> Key:
        """Make ``key_id`` the primary key; the previous primary becomes ``enabled``."""
        key = self.key(key_id)
        if key.status in (KeyStatus.DISABLED, KeyStatus.DESTROYED):
            raise KeysetError(
                f"key {key_id} is {key.status.value} and cannot become primary",
                fix="choose an enabled or decrypt-only key, or add a new one",
            )
        if self.purpose == "signature" and key.sealed is None:
            raise KeysetError(f"key {key_id} has no private part and cannot sign")
        self._keystore.policy(policy).enforce(
            _PROTECT_OPERATION[self.purpose], key.algorithm, key=key.meta()
        )

        def change(current: Keyset) -> Key:
            current._demote_primary()
            return current._replace(key_id, status=KeyStatus.PRIMARY)

        promoted = self._mutate(change)
        log.info("keyset %s: promoted key %s", self.name, key_id)
        return promoted  # type: ignore[no-any-return]

    def set_status(self, key_id: str, status: KeyStatus | str, *, force: bool = False) -> Key:
        """Set a key's status; the primary key cannot leave ``primary`` this way.

        Setting the status a key already has changes nothing and is no error, except
        for ``destroyed``, which goes through :meth:`destroy`.  ``force`` skips the
        checks of :meth:`change_status`.
        """
        if status == KeyStatus.DESTROYED or status == KeyStatus.DESTROYED.value:
            return self.destroy(key_id, force=force)
        return self.change_status(key_id, status, force=force)[1]

    def change_status(
        self, key_id: str, status: KeyStatus | str, *, force: bool = False
    ) -> tuple[KeyStatus, Key]:
        """Set a key's status and return ``(status before, key after)``.

        A key that already has ``status`` stays as it is (the two statuses are then
        equal), so repeating ``disable`` or ``destroy`` is no error.

        Without ``force``, ``destroyed`` needs a disabled key and the checks of
        :meth:`remove_key`: no object in a registered store names the key, every
        such store is readable, and no unfinished rotation run retires or promotes
        it.  ``disabled`` needs only the last of these, because it can be undone.
        A failed check raises :class:`KeysetError`.  ``force`` skips them all, so
        objects that only this key opens can become unreadable.  The keystore's
        writer lock is held from the checks to the write.
        """
        try:
            status = KeyStatus(status)
        except ValueError:
            raise InvalidArgument(
                f"unknown key status {status!r}",
                fix=f"use one of: {', '.join(item.value for item in KeyStatus)}",
            ) from None
        if status == KeyStatus.PRIMARY:
            before = self.key(key_id).status
            return before, self.promote(key_id)
        previous: list[KeyStatus] = []

        def change(current: Keyset) -> Key:
            key = current.key(key_id)
            previous.append(key.status)
            if key.status == status:
                return key
            if key.status == KeyStatus.PRIMARY:
                fix = "promote another key first"
                if status == KeyStatus.DESTROYED:
                    fix = "promote another key, disable this one, then destroy it"
                raise KeysetError(
                    f"key {key_id} is the primary key of keyset {self.name!r}", fix=fix
                )
            if key.status == KeyStatus.DESTROYED:
                raise KeysetError(
                    f"key {key_id} of keyset {self.name!r} is destroyed and cannot become "
                    f"{status.value}",
                    fix="its private part is gone; add a new key with 'agile keyset add-key'",
                )
            if status == KeyStatus.DESTROYED:
                if key.status != KeyStatus.DISABLED and not force:
                    raise KeysetError(
                        f"key {key_id} is {key.status.value}; only a disabled key can be destroyed",
                        fix=f"disable it first ('agile keyset disable {self.name} {key_id}') "
                        "or pass --force",
                    )
                if not force:
                    current._check_unneeded(key_id, status)
                return current._replace(key_id, status=KeyStatus.DESTROYED, sealed=None)
            if status == KeyStatus.DISABLED and not force:
                current._check_unneeded(key_id, status)
            return current._replace(key_id, status=status)

        updated = self._mutate(change)
        before = previous[-1]
        if status == KeyStatus.DESTROYED:
            with _private_cache_lock:
                _private_cache.pop((self._keystore.root, self.uid, key_id), None)
        if before == status:
            log.info("keyset %s: key %s is already %s", self.name, key_id, status.value)
        elif force and status == KeyStatus.DESTROYED:
            log.warning(
                "keyset %s: key %s is now destroyed, without checking its status, the stores "
                "or the rotation journal (force)",
                self.name,
                key_id,
            )
        else:
            log.info("keyset %s: key %s is now %s", self.name, key_id, status.value)
        return before, updated

    def _check_unneeded(self, key_id: str, status: KeyStatus) -> None:
        """Raise :class:`KeysetError` when something still needs the key that becomes ``status``.

        ``destroyed`` scans the registered stores and the rotation journal,
        ``disabled`` reads only the journal.
        """
        # Imported here: the store scan reads envelope headers, a layer above keysets.
        from ..rotate.usage import check_key_not_in_run, check_key_unused, find_key_usage

        if status == KeyStatus.DESTROYED:
            check_key_unused(find_key_usage(self._keystore, key_id), self.name, action="destroy")
        elif status == KeyStatus.DISABLED:
            check_key_not_in_run(self._keystore, key_id, self.name)

    def disable(self, key_id: str, *, force: bool = False) -> Key:
        """Make ``key_id`` unusable (reversible); see :meth:`change_status` for ``force``."""
        return self.set_status(key_id, KeyStatus.DISABLED, force=force)

    def destroy(self, key_id: str, force: bool = False) -> Key:
        """Erase a key's private part; never the primary key.

        Without ``force`` the key must be disabled, and no stored object or
        unfinished rotation run may need it (see :meth:`change_status`).
        Raises :class:`KeysetError` when the key is destroyed already, so that a caller
        learns that its private part was gone before; :meth:`change_status` treats that
        as no error.
        """
        if self.key(key_id).status == KeyStatus.DESTROYED:
            # Checked on this snapshot. change_status checks again under the lock.
            raise KeysetError(
                f"key {key_id} of keyset {self.name!r} is already destroyed",
                fix="nothing to do: its private part was erased before",
            )
        return self.change_status(key_id, KeyStatus.DESTROYED, force=force)[1]

    def remove_key(self, key_id: str, *, force: bool = False) -> Key:
        """Delete key ``key_id`` from the keyset file and return it as it was before.

        The primary key is never removed, not even with ``force``.
        Without ``force`` the key must be ``disabled`` or ``destroyed``, no object in
        a store registered with the keystore may name it, every such store must be
        readable, and no unfinished rotation run may retire or promote it (see
        :mod:`agile.rotate.usage`).  Each failed check raises :class:`KeysetError`, and
        a key id that the keyset does not contain raises :class:`KeyNotFound`.
        ``force`` skips these checks, so data that only this key opens becomes
        unreadable.  The keystore's writer lock is held from the checks to the write,
        so no other agile process changes the key's status in between, and other
        writers wait for the store scan.  Once removed, the same key material can be
        imported again, under any id.
        """
        # Imported here: the store scan reads envelope headers, a layer above keysets.
        from ..rotate.usage import check_key_unused, find_key_usage

        with self._keystore.lock():
            key = Keyset._load(self._keystore, self._file)._removable(key_id, force)
            if not force:
                check_key_unused(find_key_usage(self._keystore, key_id), self.name)

            def change(current: Keyset) -> Key:
                removed = current._removable(key_id, force)
                current._keys = [item for item in current._keys if item.id != key_id]
                return removed

            removed = self._mutate(change)
            AuditLog(self._keystore.path).record(
                "key-removed",
                keyset=self.name,
                key_id=key_id,
                algorithm=removed.algorithm,
                previous=removed.status.value,
                forced=force,
                policy_hash=self._keystore.policy_hash(),
            )

        with _private_cache_lock:
            _private_cache.pop((self._keystore.root, self.uid, key_id), None)
        self._public_cache.pop(key_id, None)
        if force:
            log.warning(
                "keyset %s: removed %s key %s without checking its status, the stores or the "
                "rotation journal (force)",
                self.name,
                key.status.value,
                key_id,
            )
        else:
            log.info("keyset %s: removed key %s (%s)", self.name, key_id, key.status.value)
        return removed  # type: ignore[no-any-return]

    def _removable(self, key_id: str, force: bool) -> Key:
        """Return key ``key_id`` if its status lets it be removed; raise KeysetError if not."""
        key = self.key(key_id)
        if key.status == KeyStatus.PRIMARY:
            raise KeysetError(
                f"key {key_id} is the primary key of keyset {self.name!r} and cannot be removed",
                fix=f"promote another key first with 'agile keyset promote {self.name} KEY_ID', "
                "then disable this one and remove it",
            )
        if not force and key.status not in (KeyStatus.DISABLED, KeyStatus.DESTROYED):
            raise KeysetError(
                f"key {key_id} of keyset {self.name!r} is {key.status.value}; only a disabled "
                "or destroyed key can be removed",
                fix=f"disable it first with 'agile keyset disable {self.name} {key_id}', or "
                "pass --force",
            )
        return key

    def check_algorithm(self, algorithm: str) -> None:
        if not isinstance(algorithm, str):
            raise InvalidArgument(f"algorithm must be a string, got {type(algorithm).__name__}")
        check_family(algorithm, self.purpose)
