"""Key-encryption keys: sealing, the per-process cache, and wrapping private keys.

Each keyset has a random 32-byte KEK.  A sealer protects the KEK at rest. The
private keys of the keyset are encrypted under it with AES-256-GCM (NIST SP
800-38D) and a random 96-bit nonce per key. The associated data binds the
keyset's name and uid, the key id, the algorithm and the key's form.  A wrapped
key copied into another keyset, or relabelled with another id or algorithm,
fails its tag check.

Unsealed KEKs stay in a per-process cache keyed by keystore directory and
keyset uid, so a passphrase sealer runs Argon2id once per keyset and process.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import KeystoreError
from ..seal.base import KEK_SIZE, SealedBlob, sealer_class, unseal

__all__ = ["seal_kek", "unseal_kek", "wrap_private", "unwrap_private", "forget_keks"]

_NONCE_SIZE = 12

_cache_lock = threading.Lock()
_kek_cache: dict[tuple[str, str], bytes] = {}


def kek_associated_data(keyset: str, uid: str) -> bytes:
    return b"agile keyset kek v1\x00" + keyset.encode() + b"\x00" + uid.encode()


def _private_associated_data(
    keyset: str, uid: str, key_id: str, algorithm: str, form: str
) -> bytes:
    fields = (keyset, uid, key_id, algorithm, form)
    return b"agile keyset private key v1\x00" + b"\x00".join(f.encode() for f in fields)


def seal_kek(
    root: str, keyset: str, uid: str, sealer: str, options: dict[str, Any] | None = None
) -> SealedBlob:
    """Create a KEK for a new keyset, seal it with ``sealer`` and cache it."""
    kek = os.urandom(KEK_SIZE)
    blob = sealer_class(sealer)(**(options or {})).seal(kek, kek_associated_data(keyset, uid))
    with _cache_lock:
        _kek_cache[(root, uid)] = kek
    return blob


def unseal_kek(
    root: str, keyset: str, uid: str, blob: SealedBlob, options: dict[str, Any] | None = None
) -> bytes:
    """Return the keyset's KEK, unsealing it on first use in this process."""
    with _cache_lock:
        cached = _kek_cache.get((root, uid))
    if cached is not None:
        return cached
    if options and blob.get("sealer") is not None:
        kek = sealer_class(blob["sealer"])(**options).unseal(blob, kek_associated_data(keyset, uid))
    else:
        kek = unseal(blob, kek_associated_data(keyset, uid))
    if len(kek) != KEK_SIZE:
        raise KeystoreError(
            f"keyset {keyset!r}: unsealed KEK is {len(kek)} bytes, expected {KEK_SIZE}",
            fix="restore the keyset file from a backup",
        )
    with _cache_lock:
        _kek_cache[(root, uid)] = kek
    return kek


#: Caches of values derived from KEKs (parsed private keys), cleared with them.
_derived_caches: list[Callable[[], None]] = []


def forget_keks() -> None:
    """Drop every cached KEK of this process, and the private keys parsed with them.

    For tests, and for callers that must make the next use unseal again (and
    so ask for the passphrase or the device again).
    """
    with _cache_lock:
        _kek_cache.clear()
    for clear in _derived_caches:
        clear()


def wrap_private(
    kek: bytes, keyset: str, uid: str, key_id: str, algorithm: str, form: str, data: bytes
) -> dict[str, str]:
    nonce = os.urandom(_NONCE_SIZE)
    associated = _private_associated_data(keyset, uid, key_id, algorithm, form)
    ciphertext = AESGCM(kek).encrypt(nonce, data, associated)
    return {
        "form": form,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }


def unwrap_private(
    kek: bytes, keyset: str, uid: str, key_id: str, algorithm: str, sealed: dict[str, Any]
) -> tuple[str, bytes]:
    """Return ``(form, private key bytes)``; raise :class:`KeystoreError` on a bad tag."""
    try:
        form = str(sealed["form"])
        nonce = base64.b64decode(sealed["nonce"], validate=True)
        ciphertext = base64.b64decode(sealed["ciphertext"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise KeystoreError(
            f"keyset {keyset!r}: the private part of key {key_id} is malformed",
            fix="restore the keyset file from a backup",
        ) from None
    associated = _private_associated_data(keyset, uid, key_id, algorithm, form)
    try:
        return form, AESGCM(kek).decrypt(nonce, ciphertext, associated)
    except (InvalidTag, ValueError):
        raise KeystoreError(
            f"keyset {keyset!r}: the private part of key {key_id} failed its integrity check",
            fix="the keyset file was modified; restore it from a backup",
        ) from None
