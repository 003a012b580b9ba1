"""Check every key of a keystore against its sealed private part.

Only the private part of a key is authenticated (by its sealer); the public
key, the key id and the status in a keyset file are not.  So someone who can
write to the keystore can swap a public key: envelopes are then encrypted to
them, and signatures by them verify.  Decrypting and signing already notice
such a swap for the key they use (:meth:`agile.keys.Keyset.private_key`).
This check unseals every key at once, for example after a restore or before a
keystore is trusted for ``verify``.

For each key that still has a private part it runs a pairwise consistency
test, like the one FIPS 140-3 modules run after generating a key pair: the
public key derived from the private key must equal the stored one, and one
operation with the private key must round-trip with the stored public key
(encapsulate and decapsulate, sign and verify, encrypt and decrypt).  An AEAD
key is unsealed and used for one encryption and decryption.

A keyset sealed with ``sss`` opens with any quorum of its members, so a broken
member goes unnoticed there.  :func:`check_seal_members` tries every member
and returns one result per member.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .. import registry
from ..errors import (
    AgileError,
    InvalidKey,
    KeyNotFound,
    KeysetError,
    KeystoreError,
    PolicyViolation,
    SealError,
)
from ..registry.interfaces import AEAD, KEM, HomomorphicScheme, SignatureScheme
from ..seal.passphrase import enforce_password_kdf_ids
from ..seal.sss import SSSSealer
from .import_checks import check_public
from .kek import kek_associated_data
from .keyset import Keyset
from .keystore import UNREADABLE_FIX, Keystore
from .model import Key

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = [
    "UNREADABLE",
    "KeyCheck",
    "MemberCheck",
    "check_keyset",
    "check_keystore",
    "check_seal_members",
]

log = logging.getLogger(__name__)

#: The status of the one result that :func:`check_keystore` gives for an unreadable keyset file.
UNREADABLE = "unreadable"

#: The message signed and the value encrypted by the self-tests; any fixed value will do.
_PROBE = b"agile keystore check"


class _Outcome:
    """Methods shared by the result dataclasses, whose ``result`` field is the outcome."""

    result: str

    @property
    def failed(self) -> bool:
        return self.result == "failed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class KeyCheck(_Outcome):
    """The result for one key (``ok``, ``failed`` or ``skipped``) or an unreadable keyset file."""

    keyset: str
    key_id: str
    algorithm: str
    status: str
    result: str
    detail: str = ""


@dataclass(frozen=True)
class MemberCheck(_Outcome):
    """The result for one member of an sss-sealed keyset: ``ok`` or ``failed``, with the reason."""

    keyset: str
    #: The member's position in the sealed blob, from 1; ``"2.1"`` inside a nested sss member.
    member: str
    sealer: str
    result: str
    detail: str = ""


def check_keystore(
    keystore: Keystore, names: Iterable[str] | None = None, policy: Policy | None = None
) -> list[KeyCheck]:
    """Check the keys of the keysets ``names`` (every keyset when None); one result per key.

    Unsealing needs each keyset's sealer (the passphrase, the TPM, the token).
    A keyset whose sealer does not open gives ``failed`` results with the
    sealer's error, and the other keysets are still checked.  So does a keyset
    file that cannot be read: it gives one ``failed`` result with status
    ``unreadable``, an empty key id and algorithm, and the reason and fix as
    detail.  With ``policy``, so does a keyset whose password KDF the policy
    does not allow for decrypt: its KEK is not opened.  An unknown name raises
    :class:`agile.errors.KeyNotFound`.
    """
    results: list[KeyCheck] = []
    for name in _selected(keystore, names):
        try:
            keyset = keystore.keyset(name)
        except KeyNotFound:
            if names is not None:
                raise
            continue  # Removed since the directory was listed.
        except KeystoreError as error:
            log.info("keyset %s is unreadable: %s", name, error)
            detail = f"{error}; {UNREADABLE_FIX}"
            results.append(KeyCheck(name, "", "", UNREADABLE, "failed", detail))
            continue
        results.extend(check_keyset(keyset, policy))
    return results


def _selected(keystore: Keystore, names: Iterable[str] | None) -> list[str]:
    return keystore.keyset_names() if names is None else list(dict.fromkeys(names))


def check_keyset(keyset: Keyset, policy: Policy | None = None) -> list[KeyCheck]:
    """Check each key of ``keyset``; see the module documentation.

    Each key unseals the keyset's KEK again, so after the first
    :class:`agile.errors.SealError` the other keys are reported with the same
    error instead of being tried: a wrong TPM PIN would otherwise count
    towards the TPM's lockout once per key.  When ``policy`` does not allow
    the password KDF that opens the KEK, no key is tried.
    """
    results: list[KeyCheck] = []
    unseal_failure = None if policy is None else _denied_unseal(keyset, policy)
    for key in keyset.keys:
        if unseal_failure is not None and key.has_private:
            results.append(_result(keyset, key, "failed", unseal_failure))
            continue
        try:
            results.append(_check_key(keyset, key))
        except SealError as error:
            # Info, not a warning: the result carries the reason, and callers such as
            # 'agile keystore check' print it, so a warning would show it twice.
            log.info("keyset %s did not unseal: %s", keyset.name, error)
            unseal_failure = f"the keyset did not unseal: {error.diagnostics()}"
            results.append(_result(keyset, key, "failed", unseal_failure))
    return results


def _denied_unseal(keyset: Keyset, policy: Policy) -> str | None:
    """Return why ``policy`` does not let the KEK of ``keyset`` be opened, with the fix."""
    try:
        enforce_password_kdf_ids(policy, keyset.password_kdfs, "decrypt", f"keyset {keyset.name!r}")
    except PolicyViolation as violation:
        fix = policy.password_kdf_fix(keyset.name, keyset.seal_blob)
        return f"the keyset was not unsealed: {violation} (fix: {fix})"
    return None


def _result(keyset: Keyset, key: Key, outcome: str, detail: str = "") -> KeyCheck:
    return KeyCheck(keyset.name, key.id, key.algorithm, key.status.value, outcome, detail)


def check_seal_members(
    keystore: Keystore, names: Iterable[str] | None = None, policy: Policy | None = None
) -> list[MemberCheck]:
    """Try every member of each sss-sealed keyset in ``names`` (all when None); one result each.

    Keysets with another sealer give no results: their KEK opens with its one
    sealer or not at all, which :func:`check_keystore` reports.  Keyset files
    that cannot be read give none either: :func:`check_keystore` reports them,
    and so are keysets whose password KDF ``policy`` does not allow.
    Each member needs its secret (AGILE_PASSPHRASE, the PINs) and its device,
    else it is reported as failed with the reason.  A member whose PIN already
    failed in this process is not tried again (each wrong PIN counts towards a
    lockout).
    """
    results: list[MemberCheck] = []
    for name in _selected(keystore, names):
        try:
            keyset = keystore.keyset(name)
        except KeyNotFound:
            if names is not None:
                raise
            continue
        except KeystoreError:
            continue
        blob = keyset.seal_blob
        if blob.get("sealer") != SSSSealer.name:
            continue
        if policy is not None and _denied_unseal(keyset, policy) is not None:
            continue
        associated_data = kek_associated_data(keyset.name, keyset.uid)
        for member in SSSSealer.from_blob(blob).check_members(blob, associated_data):
            if member.ok:
                results.append(MemberCheck(keyset.name, member.position, member.sealer, "ok"))
                continue
            log.info(
                "sss member %s (%s) of keyset %s: %s",
                member.position,
                member.sealer,
                keyset.name,
                member.error,
            )
            results.append(
                MemberCheck(
                    keyset.name, member.position, member.sealer, "failed", member.error or ""
                )
            )
    return results


def _check_key(keyset: Keyset, key: Key) -> KeyCheck:
    """Return the result for ``key``; a :class:`SealError` (the KEK did not unseal) propagates.

    A wrong passphrase, a missing device and a changed sealed KEK all fail there,
    since GCM cannot tell them apart, so :func:`check_keyset` reports them per keyset.
    """
    if not key.has_private:
        try:
            # A public key imported before import checked it may still be unusable.
            if key.public:
                check_public(key.algorithm, key.public)
        except InvalidKey as error:
            return _result(keyset, key, "failed", error.diagnostics())
        except ValueError as error:
            return _result(keyset, key, "failed", f"the stored public key does not load: {error}")
        return _result(
            keyset, key, "skipped", "no private part (destroyed or imported public only)"
        )
    try:
        detail = _probe(keyset, key)
    except SealError:
        raise
    except AgileError as error:
        log.info("key %s of keyset %s: %s", key.id, keyset.name, error)
        return _result(keyset, key, "failed", error.diagnostics())
    except ValueError as error:
        # A provider's own parser rejecting stored bytes is a damaged key, not a crash.
        return _result(keyset, key, "failed", f"the stored key does not load: {error}")
    return _result(keyset, key, "ok", detail)


def _probe(keyset: Keyset, key: Key) -> str:
    """Run the consistency test of one key; return what was checked or raise."""
    implementation = registry.get(key.algorithm)
    if isinstance(implementation, AEAD):
        context = implementation.new(keyset.secret_key(key.id))
        nonce = os.urandom(implementation.nonce_size)
        if context.decrypt(nonce, context.encrypt(nonce, _PROBE)) != _PROBE:
            raise _mismatch(keyset, key, "an encryption did not decrypt to its message")
        return "unsealed; encrypt and decrypt agree"
    # private_key compares the public key derived from the private one with the stored one.
    private = keyset.private_key(key.id)
    public = keyset.public_key(key.id)
    if isinstance(implementation, KEM):
        ciphertext, shared = implementation.encapsulate(public)
        if not hmac.compare_digest(implementation.decapsulate(private, ciphertext), shared):
            raise _mismatch(keyset, key, "decapsulation gave another shared secret")
        return "public key matches; encapsulate and decapsulate agree"
    if isinstance(implementation, SignatureScheme):
        implementation.verify(public, _PROBE, implementation.sign(private, _PROBE))
        return "public key matches; a signature verifies with it"
    if isinstance(implementation, HomomorphicScheme):
        value = int.from_bytes(_PROBE, "big")
        if implementation.raw_decrypt(private, implementation.raw_encrypt(public, value)) != value:
            raise _mismatch(keyset, key, "decryption gave another value")
        return "public key matches; encrypt and decrypt agree"
    return "public key matches"


def _mismatch(keyset: Keyset, key: Key, problem: str) -> KeysetError:
    return KeysetError(
        f"key {key.id} of keyset {keyset.name!r}: {problem}",
        fix="restore the keyset file from a backup made before it was changed",
    )
