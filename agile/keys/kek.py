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
import hmac
import json
import os
import threading
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import KeystoreError, SealError
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
    """Return the keyset's KEK, unsealing it on first use in this process.

    Without ``options`` the sealer takes its settings (PIN, device, broker)
    from the environment.  If it fails, the same settings are not tried on
    the same blob again in this process: the error is raised again at once.
    A wrong TPM PIN counts towards the TPM's lockout, and a token locks its
    PIN after a few failures, so a rotation over many objects must not try
    the PIN once per object.  A device that does not respond would likewise
    cost its timeout per object.  :func:`forget_keks` allows a new attempt.
    """
    with _cache_lock:
        cached = _kek_cache.get((root, uid))
    if cached is not None:
        return cached
    if options and blob.get("sealer") is not None:
        kek = sealer_class(blob["sealer"])(**options).unseal(blob, kek_associated_data(keyset, uid))
    else:
        kek = _unseal_once(root, uid, blob, kek_associated_data(keyset, uid))
    if len(kek) != KEK_SIZE:
        raise KeystoreError(
            f"keyset {keyset!r}: unsealed KEK is {len(kek)} bytes, expected {KEK_SIZE}",
            fix="restore the keyset file from a backup",
        )
    with _cache_lock:
        _kek_cache[(root, uid)] = kek
    return kek


#: Errors of failed unseals, by :func:`_failure_key`; cleared by :func:`forget_keks`.
_failures: dict[bytes, SealError] = {}
#: Keys the digests in _failures, so that no plain digest of a PIN stays in memory.
_FAILURE_KEY = os.urandom(32)


def _failure_key(root: str, uid: str, blob: SealedBlob, sealer: Any) -> bytes:
    """Return the key of an unseal attempt: the keyset, its blob and the sealer's settings.

    The settings are the sealer's attributes and every ``AGILE_*`` environment
    variable, because the passphrase sealer reads ``AGILE_PASSPHRASE`` only
    when it unseals.  Another PIN, passphrase, device or broker gives another
    key, so a changed environment is tried again.
    """
    settings = sorted((name, repr(value)) for name, value in vars(sealer).items())
    environment = sorted((k, v) for k, v in os.environ.items() if k.startswith("AGILE_"))
    text = json.dumps(
        [root, uid, blob, sealer.name, settings, environment], sort_keys=True, default=repr
    )
    return hmac.new(_FAILURE_KEY, text.encode("utf-8", "surrogateescape"), "sha256").digest()


def _unseal_once(root: str, uid: str, blob: SealedBlob, associated_data: bytes) -> bytes:
    """Unseal ``blob``, unless the same attempt already failed in this process."""
    if not isinstance(blob, dict) or not isinstance(blob.get("sealer"), str):
        return unseal(blob, associated_data)  # raises the malformed-blob error
    sealer = sealer_class(blob["sealer"]).from_blob(blob)
    key = _failure_key(root, uid, blob, sealer)
    with _cache_lock:
        earlier = _failures.get(key)
    if earlier is not None:
        raise _repeated(earlier)
    try:
        return sealer.unseal(blob, associated_data)
    except SealError as error:
        with _cache_lock:
            _failures[key] = error
        raise


def _repeated(error: SealError) -> SealError:
    """Return a copy of ``error`` of the same class, saying that it was not tried again."""
    message = f"{error} (not tried again: this attempt already failed in this process)"
    # Built without __init__, whose arguments differ between the classes.
    copy = type(error).__new__(type(error), message)
    copy.__dict__.update(error.__dict__)
    return copy


#: Caches of values derived from KEKs (parsed private keys), cleared with them.
_derived_caches: list[Callable[[], None]] = []


def forget_keks() -> None:
    """Drop every cached KEK of this process, the private keys parsed with them, and failures.

    For tests, and for callers that must make the next use unseal again (and
    so ask for the passphrase or the device again), also after a failure.
    """
    with _cache_lock:
        _kek_cache.clear()
        _failures.clear()
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
