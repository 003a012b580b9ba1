"""Library API: encrypt, decrypt, sign and verify by keyset name.

These wrap :mod:`agile.envelope` for callers that name keysets and a
keystore directory instead of holding :class:`~agile.keys.Keystore` objects::

    import agile
    sealed = agile.encrypt(b"secret", to="files")            # default keystore
    plain = agile.decrypt(sealed)
    signature = agile.sign(b"release", keysets=["ed", "mldsa"])
    agile.verify(signature, b"release")

    with open("big.bin", "rb") as source, open("big.bin.agile", "wb") as sealed:
        agile.encrypt_stream(source, sealed, to="files")   # two chunks in memory at a time

``keystore`` is a :class:`Keystore`, a directory, or ``None`` for the default
(``$AGILE_HOME``, else the user data directory).  ``policy`` is a policy object,
a spec string, or ``None`` for the keystore's active policy.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, BinaryIO

from . import envelope
from .envelope import Header, Verified
from .envelope.armour import check_armor_flag
from .envelope.encrypted import check_encrypt_options
from .errors import InvalidArgument
from .keys import Key, Keyset, Keystore
from .keys.keystore import default_keystore_path

if TYPE_CHECKING:
    from .policy import Policy

__all__ = [
    "open_keystore",
    "encrypt",
    "decrypt",
    "encrypt_stream",
    "decrypt_stream",
    "sign",
    "verify",
    "inspect",
]

KeystoreLike = Keystore | str | os.PathLike[str] | None


# Keystores opened by directory, with the (device, inode) of their keystore.json.
# Opening a keystore creates and checks directories and reads its configuration, which
# costs more than a small envelope.  One object per directory stays current, because a
# Keystore re-reads a keyset file whenever that file changes.
_opened: dict[str, tuple[tuple[int, int], Keystore]] = {}
_OPENED_SIZE = 64


def open_keystore(keystore: KeystoreLike = None, *, create: bool = True) -> Keystore:
    """Return ``keystore`` when it is open already, else open the directory (or the default).

    A directory opened before is reused while its ``keystore.json`` is the same file.
    With ``create=False`` a missing keystore raises :class:`~agile.errors.KeystoreError`
    instead of being created.
    """
    if isinstance(keystore, Keystore):
        return keystore
    directory = os.path.expanduser(os.fspath(keystore)) if keystore is not None else None
    name = directory if directory is not None else str(default_keystore_path())
    try:
        status = os.stat(os.path.join(name, "keystore.json"))
    except OSError:
        status = None
    cached = _opened.get(name)
    if status is not None and cached is not None and cached[0] == (status.st_dev, status.st_ino):
        return cached[1]
    store = Keystore.open(directory, create=create)
    status = os.stat(os.path.join(name, "keystore.json"))
    if len(_opened) >= _OPENED_SIZE:
        _opened.clear()
    _opened[name] = ((status.st_dev, status.st_ino), store)
    return store


def _existing(keystore: KeystoreLike) -> Keystore:
    # Encrypting, decrypting, signing and verifying need keysets, so a mistyped directory
    # raises KeystoreError instead of leaving an empty keystore behind.
    return open_keystore(keystore, create=False)


# Argument checks at the boundary, so that a wrong type raises InvalidArgument naming the
# argument instead of an AttributeError or TypeError from deep inside.

_BYTES = (bytes, bytearray, memoryview)


def _check_data(value: Any, name: str, *, text: bool = False, stream: bool = True) -> None:
    if isinstance(value, _BYTES) or (text and isinstance(value, str)):
        return
    if stream and callable(getattr(value, "read", None)) and not isinstance(value, io.TextIOBase):
        return
    kinds = ["bytes"]
    if text:
        kinds.append("armoured text")
    if stream:
        kinds.append("a binary file")
    expected = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    raise InvalidArgument(
        f"{name} must be {expected}, got {type(value).__name__}",
        fix=f"pass {name} as bytes (for text, encode it first: value.encode())",
    )


def _check_options(keystore: Any, policy: Any, aad: Any = b"") -> None:
    if keystore is not None and not isinstance(keystore, (Keystore, str, os.PathLike)):
        raise InvalidArgument(
            f"keystore must be a Keystore, a directory path or None, got {type(keystore).__name__}",
            fix="pass keystore='DIR', or leave it out for $AGILE_HOME",
        )
    if policy is not None and not isinstance(policy, str) and not hasattr(policy, "enforce"):
        raise InvalidArgument(
            f"policy must be a Policy, a policy name or None, got {type(policy).__name__}",
            fix="pass policy='pq-hybrid' (a built-in name or a .toml/.rego path), or leave it out",
        )
    if not isinstance(aad, _BYTES):
        raise InvalidArgument(
            f"aad must be bytes, got {type(aad).__name__}",
            fix="pass the associated data as bytes, for example aad=record_id.encode()",
        )


def _names(value: Any, name: str, kinds: tuple[type, ...]) -> list[Any]:
    """Return ``value`` as a non-empty list of keyset names or objects of ``kinds``."""
    if isinstance(value, (str, *kinds)):
        return [value]
    items = list(value) if isinstance(value, Iterable) and not isinstance(value, _BYTES) else []
    if items and all(isinstance(item, (str, *kinds)) for item in items):
        return items
    raise InvalidArgument(
        f"{name} must be a keyset name or a list of names, got {value!r}",
        fix=f"pass {name}='files' or {name}=['files', 'backup']",
    )


def _recipients(store: Keystore, to: Any) -> list[Any]:
    items = _names(to, "to", (Keyset, Key))
    return [store.keyset(item) if isinstance(item, str) else item for item in items]


def encrypt(
    plaintext: bytes | BinaryIO,
    to: str | Keyset | Key | Iterable[str | Keyset | Key],
    *,
    keystore: KeystoreLike = None,
    policy: Policy | str | None = None,
    aad: bytes = b"",
    armor: bool = False,
    payload_algorithm: str | None = None,
) -> bytes:
    """Encrypt to the primary key of each keyset named in ``to``."""
    _check_data(plaintext, "plaintext")
    _check_options(keystore, policy, aad)
    check_encrypt_options(envelope.DEFAULT_CHUNK_SIZE, payload_algorithm, armor)
    store = _existing(keystore)
    return envelope.encrypt(
        plaintext,
        _recipients(store, to),
        policy=policy if policy is not None else store.policy(),
        aad=aad,
        armor=armor,
        payload_algorithm=payload_algorithm,
    )


def decrypt(
    sealed: bytes | str,
    *,
    keystore: KeystoreLike = None,
    policy: Policy | str | None = None,
    aad: bytes = b"",
) -> bytes:
    """Decrypt an envelope with whichever recipient key the keystore holds."""
    _check_data(sealed, "sealed", text=True, stream=False)
    _check_options(keystore, policy, aad)
    return envelope.decrypt(sealed, _existing(keystore), policy=policy, aad=aad)


def encrypt_stream(
    source: BinaryIO,
    destination: BinaryIO,
    to: str | Keyset | Key | Iterable[str | Keyset | Key],
    *,
    keystore: KeystoreLike = None,
    policy: Policy | str | None = None,
    aad: bytes = b"",
    armor: bool = False,
    payload_algorithm: str | None = None,
    chunk_size: int = envelope.DEFAULT_CHUNK_SIZE,
) -> int:
    """Encrypt the binary stream ``source`` into ``destination`` and return the bytes written.

    Memory use stays at about two chunks, whatever the size of ``source``.
    """
    _check_options(keystore, policy, aad)
    check_encrypt_options(chunk_size, payload_algorithm, armor)
    store = _existing(keystore)
    return envelope.encrypt_stream(
        source,
        destination,
        _recipients(store, to),
        policy=policy if policy is not None else store.policy(),
        aad=aad,
        chunk_size=chunk_size,
        payload_algorithm=payload_algorithm,
        armor=armor,
    )


def decrypt_stream(
    source: BinaryIO,
    destination: BinaryIO,
    *,
    keystore: KeystoreLike = None,
    policy: Policy | str | None = None,
    aad: bytes = b"",
) -> int:
    """Decrypt a binary or armoured stream into ``destination`` and return the plaintext size.

    Each chunk is written once its tag verified, so a failure in a later chunk
    leaves the earlier chunks in ``destination``: write to a temporary file and
    rename it on success when that matters.
    """
    _check_options(keystore, policy, aad)
    return envelope.decrypt_stream(source, destination, _existing(keystore), policy=policy, aad=aad)


def sign(
    message: bytes | BinaryIO,
    keysets: str | Keyset | Iterable[str | Keyset],
    *,
    keystore: KeystoreLike = None,
    policy: Policy | str | None = None,
    armor: bool = False,
) -> bytes:
    """Return a detached signature by the primary key of each named keyset."""
    _check_data(message, "message")
    _check_options(keystore, policy)
    check_armor_flag(armor)
    store = _existing(keystore)
    items = _names(keysets, "keysets", (Keyset,))
    signers = [store.keyset(item) if isinstance(item, str) else item for item in items]
    return envelope.sign(message, signers, policy=policy, armor=armor)


def verify(
    signature: bytes | str,
    message: bytes | BinaryIO,
    *,
    keystore: KeystoreLike = None,
    policy: Policy | str | None = None,
) -> list[Verified]:
    """Verify a detached signature; raise :class:`agile.errors.InvalidSignature` if one fails."""
    _check_data(signature, "signature", text=True, stream=False)
    _check_data(message, "message")
    _check_options(keystore, policy)
    return envelope.verify(signature, message, _existing(keystore), policy=policy)


def inspect(data: bytes | str | BinaryIO) -> Header:
    """Return an envelope's header (no key needed)."""
    _check_data(data, "data", text=True)
    return envelope.read_header(data)
