"""Signature envelopes: detached signatures by one or more keys over a message.

Layout: preamble (kind 2), the digest algorithm id, ``u16`` count, and per
signature ``key id || algorithm || u32 len || signature``.  Each signature is
over ``"agile v1 signature" || 0 || digest id || SHA-512(message) || key id ||
algorithm`` (ids length-prefixed), so a signature cannot be moved to another
key id or algorithm.  The list of signatures itself is not signed, because
rotation adds a new signature and later drops an old one.  A verifier decides
from its policy which algorithms count and whether a quantum-safe one must be
among them (see :func:`verify`).
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import registry
from ..errors import (
    InvalidArgument,
    InvalidSignature,
    KeyNotFound,
    KeysetError,
    NoAcceptableSignature,
    PolicyViolation,
)
from .armour import armour as to_armour
from .armour import check_armor_flag, dearmour_if_armoured
from .encrypted import enforce_unseal
from .format import (
    KIND_SIGNATURE,
    MAX_SIGNATURES,
    PREAMBLE_SIZE,
    SignatureEntry,
    check_buffer,
    encode_id,
    parse_header,
    preamble,
    read_block,
)
from .messages import join_limited

if TYPE_CHECKING:
    from ..keys import Keyset, Keystore
    from ..policy import Policy

__all__ = [
    "sign",
    "verify",
    "check_signatures",
    "add_signatures",
    "remove_signatures",
    "Verified",
    "Ignored",
    "VerifyReport",
    "verify_report",
    "message_digest",
]

log = logging.getLogger("agile.envelope")

DIGEST_ALGORITHM = "sha-512"
_LABEL = b"agile v1 signature\x00"
_READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class Verified:
    """A signature that verified: its key id, algorithm and keyset."""

    key_id: str
    algorithm: str
    keyset: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A signature that did not count, and why: its key is unknown, unusable or not allowed."""

    key_id: str
    algorithm: str
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The signatures that verified, and those that were not checked, with the reason."""

    verified: list[Verified]
    ignored: list[Ignored]


def message_digest(message: bytes | bytearray | memoryview | BinaryIO) -> bytes:
    """Return SHA-512 of the message, reading a stream in 1 MiB pieces."""
    digest = hashlib.sha512()
    if isinstance(message, (bytes, bytearray, memoryview)):
        check_buffer(message, "message")
        digest.update(message)
        return digest.digest()
    while True:
        piece = read_block(message, _READ_SIZE, "message")
        if not piece:
            return digest.digest()
        digest.update(piece)


def _to_be_signed(digest: bytes, key_id: str, algorithm: str) -> bytes:
    return _LABEL + encode_id(DIGEST_ALGORITHM) + digest + encode_id(key_id) + encode_id(algorithm)


def _encode(entries: list[SignatureEntry]) -> bytes:
    if not 1 <= len(entries) <= MAX_SIGNATURES:
        raise InvalidArgument(
            f"a signature envelope contains 1 to {MAX_SIGNATURES} signatures, got {len(entries)}"
        )
    body = encode_id(DIGEST_ALGORITHM) + struct.pack(">H", len(entries))
    for entry in entries:
        body += (
            encode_id(entry.key_id)
            + encode_id(entry.algorithm)
            + struct.pack(">I", len(entry.signature))
            + entry.signature
        )
    return preamble(KIND_SIGNATURE, PREAMBLE_SIZE + len(body)) + body


def _policy_for(policy: Any, keystore: Keystore) -> Policy:
    if policy is not None and not isinstance(policy, str):
        return policy  # type: ignore[no-any-return]
    return keystore.policy(policy)


def _signers(keysets: Any) -> list[Keyset]:
    from ..keys import Keyset

    if isinstance(keysets, Keyset):
        return [keysets]
    items = list(keysets)
    for item in items:
        if not isinstance(item, Keyset):
            raise InvalidArgument(f"cannot sign with a {type(item).__name__}; pass Keysets")
    if not items:
        raise InvalidArgument("no signing keyset given", fix="name at least one signature keyset")
    return items


def _sign_entries(digest: bytes, keysets: list[Keyset], policy: Policy) -> list[SignatureEntry]:
    entries = []
    for keyset in keysets:
        if keyset.purpose != "signature":
            raise KeysetError(
                f"keyset {keyset.name!r} has purpose {keyset.purpose} and cannot sign",
                fix="sign with a signature keyset",
            )
        key = keyset.primary
        policy.enforce("sign", key.algorithm, key=key.meta())
        enforce_unseal(policy, keyset)
        scheme = registry.signature(key.algorithm)
        signature = scheme.sign(
            keyset.private_key(key.id), _to_be_signed(digest, key.id, key.algorithm)
        )
        entries.append(SignatureEntry(key.id, key.algorithm, signature))
        log.debug("signed with key %s of keyset %s", key.id, keyset.name)
    return entries


def sign(
    message: bytes | bytearray | memoryview | BinaryIO,
    keysets: Any,
    *,
    policy: Policy | str | None = None,
    armor: bool = False,
) -> bytes:
    """Return a detached signature envelope with one signature per keyset's primary key."""
    check_armor_flag(armor)
    signers = _signers(keysets)
    active = _policy_for(policy, signers[0].keystore)
    entries = _sign_entries(message_digest(message), signers, active)
    data = _encode(entries)
    return to_armour(data) if armor else data


def add_signatures(
    signature: bytes | str,
    message: bytes | bytearray | memoryview | BinaryIO,
    keysets: Any,
    *,
    policy: Policy | str | None = None,
) -> bytes:
    """Return ``signature`` with signatures by ``keysets`` added (replacing their key ids)."""
    header = parse_header(dearmour_if_armoured(signature))
    _require_signature(header.kind)
    signers = _signers(keysets)
    active = _policy_for(policy, signers[0].keystore)
    added = _sign_entries(message_digest(message), signers, active)
    ids = {entry.key_id for entry in added}
    kept = [entry for entry in header.signatures if entry.key_id not in ids]
    return _encode(kept + added)


def remove_signatures(signature: bytes | str, key_ids: Any) -> bytes:
    """Return ``signature`` without the signatures of ``key_ids`` (at least one must remain)."""
    header = parse_header(dearmour_if_armoured(signature))
    _require_signature(header.kind)
    dropped = set(key_ids)
    kept = [entry for entry in header.signatures if entry.key_id not in dropped]
    if not kept:
        raise InvalidArgument(
            "removing these signatures would leave none", fix="add a new signature first"
        )
    return _encode(kept)


def _require_signature(kind: str) -> None:
    if kind != "signature":
        from ..errors import InvalidEnvelope

        raise InvalidEnvelope(
            f"this is an {kind} envelope, not a signature envelope",
            fix="use 'agile decrypt' for encrypted envelopes",
        )


def verify(
    signature: bytes | str,
    message: bytes | bytearray | memoryview | BinaryIO,
    keystore: Keystore,
    *,
    policy: Policy | str | None = None,
) -> list[Verified]:
    """Verify a signature envelope against ``message``; return the signatures that verified.

    :func:`verify_report` does the same and also lists the signatures that did
    not count.

    Each signature whose key is in the keystore and whose algorithm the policy
    allows for ``verify`` (including ``verify_only`` entries) must verify,
    otherwise :class:`InvalidSignature` is raised.  Signatures by unknown keys
    or by algorithms the policy rejects are ignored, and at least one must
    verify.  With none, the error is :class:`KeyNotFound` (no known key),
    :class:`KeysetError` (known keys, all disabled or destroyed) or
    :class:`NoAcceptableSignature` (known keys, but no allowed algorithm).  A
    policy with ``signature.verify_require_quantum_safe`` also raises
    :class:`NoAcceptableSignature` when every signature that verified is
    classical.  :class:`NoAcceptableSignature` is both an
    :class:`InvalidSignature` and a :class:`PolicyViolation`.
    """
    return verify_report(signature, message, keystore, policy=policy).verified


def verify_report(
    signature: bytes | str,
    message: bytes | bytearray | memoryview | BinaryIO,
    keystore: Keystore,
    *,
    policy: Policy | str | None = None,
) -> VerifyReport:
    """Verify as :func:`verify` does; also return the signatures that did not count, and why."""
    header = parse_header(dearmour_if_armoured(signature))
    _require_signature(header.kind)
    _require_digest(header.digest_algorithm)
    _reject_duplicates(header.signatures)
    active = _policy_for(policy, keystore)
    digest = message_digest(message)

    verified: list[Verified] = []
    ignored: list[Ignored] = []
    violations: list[PolicyViolation] = []
    unusable: list[tuple[str, str, str]] = []
    known: set[str] = set()
    for entry, keyset, key in _known_entries(header.signatures, keystore):
        known.add(entry.key_id)
        if not key.status.can_open:
            unusable.append((keyset.name, key.id, key.status.value))
            ignored.append(
                Ignored(
                    key.id, key.algorithm, f"key of keyset {keyset.name!r} is {key.status.value}"
                )
            )
            continue
        try:
            active.enforce("verify", key.algorithm, key=key.meta())
        except PolicyViolation as violation:
            violations.append(violation)
            ignored.append(Ignored(key.id, key.algorithm, str(violation)))
            log.info("ignoring signature by %s: %s", key.id, violation)
            continue
        _check_entry(entry, keyset, key, digest)
        verified.append(Verified(key.id, key.algorithm, keyset.name))
    ignored.extend(
        Ignored(entry.key_id, entry.algorithm, "key not in this keystore")
        for entry in header.signatures
        if entry.key_id not in known
    )

    if verified:
        # The signature list is unsigned, so a stripped copy may keep only its classical
        # signatures.  The rule rejects such a copy after every signature has been checked.
        try:
            active.enforce_quantum_safe_verify([(v.key_id, v.algorithm) for v in verified])
        except PolicyViolation as violation:
            raise NoAcceptableSignature(
                str(violation), fix=violation.fix, reasons=violation.reasons
            ) from None
        return VerifyReport(verified, ignored)
    if violations:
        # A downgrade: the envelope carries only signatures that this policy does not let
        # verify, for example a copy stripped of its post-quantum signature under pq-only.
        raise NoAcceptableSignature(
            f"policy {active.name!r} allows none of the signature algorithms: "
            + join_limited([str(v) for v in violations], "; "),
            fix=violations[0].fix,
            reasons=[reason for v in violations for reason in v.reasons],
        )
    if unusable:
        raise _unusable_keys(unusable)
    raise KeyNotFound(
        f"no signature is by a key in keystore {str(keystore.path)!r} "
        f"(signature key ids: {join_limited([e.key_id for e in header.signatures])})",
        fix="import the signer's public key with 'agile keyset import'",
    )


def _unusable_keys(unusable: list[tuple[str, str, str]]) -> KeysetError:
    """Return the error for signatures whose known keys are all disabled or destroyed.

    The fix differs by state: a disabled key can verify again, a destroyed one cannot.
    """
    states = join_limited([f"key {k} of keyset {n!r} is {st}" for n, k, st in unusable], "; ")
    fixes: dict[str, str] = {}
    for name, key_id, status in unusable:
        if status in fixes:
            continue
        if status == "disabled":
            fixes[status] = (
                f"if signatures by key {key_id} should count again, run "
                f"'agile keyset decrypt-only {name} {key_id}'"
            )
        elif status == "destroyed":
            # A destroyed key keeps its public part, but its status can never change again.
            # Only a new copy of the public key, under the same id, verifies its signatures.
            fixes[status] = (
                "a destroyed key no longer verifies: ask the signer to sign the message again "
                f"with a current key, or, if signatures by key {key_id} should still count, "
                f"remove it ('agile keyset remove-key {name} {key_id}') and import the "
                "signer's public key again ('agile keyset import')"
            )
        else:
            fixes[status] = "ask the signer to sign the message again with a current key"
    return KeysetError(
        f"no key in the keystore may verify these signatures: {states}",
        fix="; or ".join(fixes.values()),
    )


def _require_digest(algorithm: str | None) -> None:
    if algorithm != DIGEST_ALGORITHM:
        from ..errors import UnsupportedAlgorithm

        raise UnsupportedAlgorithm(
            f"signature digest {algorithm!r} is not supported",
            fix=f"this agile reads {DIGEST_ALGORITHM}",
        )


def _known_entries(
    entries: Any, keystore: Keystore
) -> Iterator[tuple[SignatureEntry, Keyset, Any]]:
    """Yield ``(entry, keyset, key)`` for each signature by a key of ``keystore``.

    A signature whose algorithm differs from its key's raises InvalidSignature.
    """
    for entry in entries:
        try:
            keyset, key = keystore.find_key(entry.key_id)
        except KeyNotFound:
            continue
        if key.algorithm != entry.algorithm:
            raise InvalidSignature(
                f"signature names algorithm {entry.algorithm} but key {key.id} is {key.algorithm}",
                fix="do not trust the message: the signature envelope was modified, so ask the "
                "signer to sign the message again",
            )
        yield entry, keyset, key


def _reject_duplicates(entries: Any) -> None:
    # agile writes one signature per key id (add_signatures replaces an old one), so
    # a repeated key id means the unsigned list was edited.  Counting it twice would
    # let one key pass for two signers.
    seen: set[str] = set()
    for entry in entries:
        if entry.key_id in seen:
            raise InvalidSignature(
                f"the signature envelope contains more than one signature by key {entry.key_id}",
                fix="the signature envelope was modified; sign the message again",
            )
        seen.add(entry.key_id)


def _check_entry(entry: SignatureEntry, keyset: Keyset, key: Any, digest: bytes) -> None:
    """Verify one signature with its key's public key, naming the key when it fails."""
    scheme = registry.signature(key.algorithm)
    try:
        scheme.verify(
            keyset.public_key(key.id),
            _to_be_signed(digest, key.id, key.algorithm),
            entry.signature,
        )
    except InvalidSignature:
        raise InvalidSignature(
            f"{key.algorithm} signature by key {key.id} (keyset {keyset.name!r}) is invalid",
            fix="check that the message is the exact file that was signed and that the signature "
            "belongs to it; if both are right, do not trust the message and ask the signer to "
            "sign it again",
        ) from None


def check_signatures(
    signature: bytes | str,
    message: bytes | bytearray | memoryview | BinaryIO,
    keystore: Keystore,
) -> list[Verified]:
    """Check every signature by a key of ``keystore``, whatever the policy and key status.

    Rotation calls this before it re-signs: a signature it is about to drop
    must first prove that the message is the one that was signed, otherwise
    re-signing would give a changed message a valid signature by the new key.
    This is a check of authenticity only; whether a signature *counts* is what
    :func:`verify` decides by policy.  Raises :class:`InvalidSignature` if one
    of them does not verify, and :class:`KeyNotFound` if no key is known.
    """
    header = parse_header(dearmour_if_armoured(signature))
    _require_signature(header.kind)
    _require_digest(header.digest_algorithm)
    _reject_duplicates(header.signatures)
    digest = message_digest(message)
    checked: list[Verified] = []
    for entry, keyset, key in _known_entries(header.signatures, keystore):
        _check_entry(entry, keyset, key, digest)
        checked.append(Verified(key.id, key.algorithm, keyset.name))
    if not checked:
        raise KeyNotFound(
            f"no signature is by a key in keystore {str(keystore.path)!r} "
            f"(signature key ids: {join_limited([e.key_id for e in header.signatures])})",
            fix="import the signer's public key with 'agile keyset import'",
        )
    return checked
