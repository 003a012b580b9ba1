"""Encrypted envelopes: encrypt, decrypt, rewrap and re-encrypt.

Header authentication is split in two so that rotation can replace recipients
without touching the payload:

* every payload chunk is bound (as AEAD associated data) to the immutable
  *payload context*: magic, version, kind, payload AEAD id, chunk size, salt
  and key commitment, plus the caller's associated data;
* the whole header, recipient stanzas included, is covered by an HMAC-SHA256
  keyed from the data key, which :func:`rewrap` recomputes.

A reader unwraps the data key from a stanza, checks the key commitment, then
the header MAC, and only then decrypts chunks.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import (
    AgileError,
    AuthenticationFailed,
    InvalidArgument,
    InvalidEnvelope,
    KeyNotFound,
    KeysetError,
    KeystoreError,
    PolicyViolation,
    SealError,
)
from ..keys import Key, Keyset, Keystore
from ..registry import PrivateKey
from ..seal.passphrase import enforce_password_kdf_ids
from .armour import ArmourWriter, check_armor_flag, dearmour_if_armoured
from .armour import armour as to_armour
from .format import (
    DEFAULT_CHUNK_SIZE,
    KIND_ENCRYPTED,
    MAC_SIZE,
    MAGIC,
    MAX_CHUNK_SIZE,
    MAX_HEADER,
    MIN_CHUNK_SIZE,
    PREAMBLE_SIZE,
    SALT_SIZE,
    VERSION,
    Header,
    Stanza,
    check_binary_stream,
    check_buffer,
    check_open,
    encode_payload_section,
    encode_stanzas,
    parse_header,
    preamble,
    read_stream_header,
    write_all,
)
from .messages import join_limited
from .recipients import Target, enforce_target, resolve_targets, unwrap, wrap
from .schedule import (
    DATA_KEY_SIZE,
    SCHEDULE_KDF,
    Schedule,
    derive_schedule,
    payload_associated_data,
)
from .stream import PayloadOpener, PayloadSealer, parameters

if TYPE_CHECKING:
    from ..policy import KeyMeta, Policy

__all__ = [
    "encrypt",
    "encrypt_stream",
    "decrypt",
    "decrypt_stream",
    "rewrap",
    "reencrypt",
]

log = logging.getLogger("agile.envelope")


# Policy resolution.


def _policy_for(policy: Any, keystore: Keystore | None = None, recipients: Any = None) -> Policy:
    if policy is not None and not isinstance(policy, str):
        if not callable(getattr(policy, "enforce", None)):
            raise InvalidArgument(
                f"policy must be a Policy, a policy name or None, got {type(policy).__name__}",
                fix="pass policy='pq-hybrid' (a built-in name or a .toml/.rego path), or leave "
                "it out",
            )
        return policy  # type: ignore[no-any-return]
    if keystore is None and recipients is not None:
        items = recipients if isinstance(recipients, (list, tuple)) else [recipients]
        keystore = next((r.keystore for r in items if isinstance(r, Keyset)), None)
    if keystore is not None:
        return keystore.policy(policy)
    from .. import policy as policies

    return policies.load_policy(policy or "default")


# KeyMeta by key id, with the Key it was made from.  A Key is immutable, so the same
# object always gives the same metadata.  The entry keeps a reference to the Key, so no
# other object can reuse its identity while the entry exists.
_metas: dict[str, tuple[Key, KeyMeta]] = {}
_METAS_SIZE = 4096


def _meta(key: Key) -> KeyMeta:
    """Return ``key.meta()``, made once per Key object."""
    entry = _metas.get(key.id)
    if entry is not None and entry[0] is key:
        return entry[1]
    meta = key.meta()
    if len(_metas) >= _METAS_SIZE:
        _metas.clear()
    _metas[key.id] = (key, meta)
    return meta


def enforce_schedule_kdf(policy: Policy, operation: str) -> None:
    """Raise :class:`PolicyViolation` unless ``policy`` allows HKDF-SHA256 for ``operation``.

    Format v1 derives every message key from the data key with HKDF-SHA256 (and
    MACs the header with HMAC-SHA256), whatever the recipients and payload AEAD.
    """
    try:
        policy.enforce(operation, SCHEDULE_KDF)
    except PolicyViolation as violation:
        raise PolicyViolation(
            f"envelope format v1 derives its message keys with {SCHEDULE_KDF}, so a policy "
            f"that denies it cannot {operation} format v1 envelopes: {violation}",
            fix=f"allow {SCHEDULE_KDF} in [kdf] of the policy"
            + (" (decrypt_only is enough to open old envelopes)" if operation == "decrypt" else ""),
            reasons=violation.reasons,
        ) from None


def enforce_unseal(policy: Policy, keyset: Keyset) -> None:
    """Raise :class:`PolicyViolation` unless ``policy`` lets the keyset's sealer open its KEK.

    A passphrase sealer (alone or as an sss member) opens the KEK with a password
    KDF, which the policy must allow for ``decrypt``.
    """
    # Keyset.password_kdfs reads the blob without the copy that seal_blob makes.
    enforce_password_kdf_ids(policy, keyset.password_kdfs, "decrypt", f"keyset {keyset.name!r}")


def _enforce_targets(policy: Policy, targets: list[Target]) -> list[Target]:
    """Check that ``policy`` allows encrypting to each target; return them ready to wrap.

    The returned targets carry the HPKE KDF and AEAD chosen under ``policy``
    (see :func:`~agile.envelope.recipients.enforce_target`), so pass those to
    :func:`~agile.envelope.recipients.wrap`.
    """
    if targets:
        enforce_schedule_kdf(policy, "encrypt")
    checked = []
    for target in targets:
        meta = _meta(target.key) if target.key is not None else None
        checked.append(enforce_target(policy, target, meta))
    return checked


# Header construction.


@dataclass(frozen=True, slots=True)
class _Opened:
    header: Header
    data_key: bytes = field(repr=False)
    schedule: Schedule = field(repr=False)


def _check_chunk_size(chunk_size: int) -> None:
    # bool is a subclass of int, but chunk_size=True is a mistake, not 1 byte.
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise InvalidArgument(
            f"chunk_size must be an int, got {type(chunk_size).__name__}",
            fix=f"pass the chunk size in bytes as an int in range {MIN_CHUNK_SIZE}.."
            f"{MAX_CHUNK_SIZE} (the default is 256 KiB)",
        )
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise InvalidArgument(
            f"chunk size {chunk_size!r} is out of range {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}",
            fix="choose a chunk size in range (the default is 256 KiB)",
        )


def _schedule(data_key: bytes, salt: bytes, payload_algorithm: str) -> Schedule:
    found = parameters(payload_algorithm)
    return derive_schedule(data_key, salt, payload_algorithm, found.key_size, found.nonce_size)


def _assemble(
    payload_section: bytes, stanzas: list[Stanza] | tuple[Stanza, ...], schedule: Schedule
) -> bytes:
    stanza_bytes = encode_stanzas(stanzas)
    length = PREAMBLE_SIZE + len(payload_section) + len(stanza_bytes) + MAC_SIZE
    if length > MAX_HEADER:
        raise InvalidEnvelope(
            f"header of {length} bytes exceeds the limit of {MAX_HEADER}",
            fix="encrypt to fewer recipients",
        )
    authenticated = preamble(KIND_ENCRYPTED, length) + payload_section + stanza_bytes
    return authenticated + schedule.header_mac(authenticated)


def _payload_context(payload_section: bytes) -> bytes:
    return MAGIC + bytes([VERSION, KIND_ENCRYPTED]) + payload_section


def _new_header(
    targets: list[Target], payload_algorithm: str, chunk_size: int
) -> tuple[bytes, Schedule, bytes]:
    # One call to the OS CSPRNG for both: its output bytes are independent.
    randomness = os.urandom(DATA_KEY_SIZE + SALT_SIZE)
    data_key = randomness[:DATA_KEY_SIZE]
    salt = randomness[DATA_KEY_SIZE:]
    schedule = _schedule(data_key, salt, payload_algorithm)
    section = encode_payload_section(payload_algorithm, chunk_size, salt, schedule.commitment)
    context = _payload_context(section)
    stanzas = [wrap(target, data_key, context) for target in targets]
    return _assemble(section, stanzas, schedule), schedule, context


def _check_payload_algorithm(payload_algorithm: Any) -> None:
    if payload_algorithm is not None and not isinstance(payload_algorithm, str):
        raise InvalidArgument(
            "payload_algorithm must be a str (an algorithm id such as 'aes-256-gcm'), "
            f"got {type(payload_algorithm).__name__}",
            fix="pass an AEAD id such as payload_algorithm='aes-256-gcm', or None for the "
            "policy's preferred one",
        )


def check_encrypt_options(chunk_size: Any, payload_algorithm: Any, armor: Any) -> None:
    """Raise :class:`InvalidArgument` when an option of :func:`encrypt` has the wrong type.

    A chunk size out of range is rejected too.  :mod:`agile.api` calls this before it
    opens the keystore, so that a wrong option fails before any keyset is read.
    """
    _check_chunk_size(chunk_size)
    _check_payload_algorithm(payload_algorithm)
    check_armor_flag(armor)


def _prepare(
    recipients: Any, policy: Any, payload_algorithm: str | None, chunk_size: int
) -> tuple[Policy, list[Target], str]:
    _check_chunk_size(chunk_size)
    active = _policy_for(policy, recipients=recipients)
    payload_algorithm = payload_algorithm or active.preferred("aead")
    parameters(payload_algorithm)
    active.enforce("encrypt", payload_algorithm)
    for keyset in _keysets(recipients):
        if keyset.purpose == "aead":
            # Resolving a symmetric recipient unseals its keyset to read the key.
            enforce_unseal(active, keyset)
    targets = _enforce_targets(active, resolve_targets(recipients))
    return active, targets, payload_algorithm


def _keysets(recipients: Any) -> list[Keyset]:
    """Return the Keysets among ``recipients`` (one recipient or an iterable of them)."""
    if isinstance(recipients, Keyset):
        return [recipients]
    if isinstance(recipients, (list, tuple)):
        return [item for item in recipients if isinstance(item, Keyset)]
    return []


# Opening a header.


# Fixes for a recipient key that cannot decrypt, by the key's status.
_REMEDY_PRIVATE = "use the keystore that contains the private key"
_REMEDIES = {
    "disabled": "let a disabled key decrypt again with 'agile keyset decrypt-only KEYSET KEY_ID'",
    "destroyed": "a destroyed key's private part is erased: restore the keystore from a "
    "backup made before it was destroyed ('agile keystore restore')",
}


@dataclass
class _Attempts:
    """The reasons that stanzas with keys in the keystore did not open, in stanza order."""

    found: int = 0
    reasons: list[str] = field(default_factory=list)
    sealer_failures: list[SealError] = field(default_factory=list)
    authentication_failures: int = 0
    violations: list[PolicyViolation] = field(default_factory=list)
    remedies: dict[str, None] = field(default_factory=dict)  # fixes for unusable keys, in order

    def skip(self, key_id: str, reason: str) -> None:
        self.reasons.append(reason)
        log.info("recipient stanza for key %s did not open, trying the next: %s", key_id, reason)

    def error(self, header: Header, keystore: Keystore) -> AgileError:
        """Return the error for an envelope that no stanza opened: the most actionable cause."""
        if self.found == 0:
            ids = join_limited([s.key_id for s in header.recipients])
            unreadable = keystore.scan().unreadable
            if unreadable:
                # The key may be in a keyset file that could not be read, so naming another
                # keystore as the fix would send the user to look in the wrong place.
                files = join_limited([f"{u.file.name} ({u.reason})" for u in unreadable], "; ")
                return KeystoreError(
                    f"none of the envelope's recipient keys ({ids}) is in a readable keyset "
                    f"of keystore {str(keystore.path)!r}, and these keyset files could not "
                    f"be read: {files}",
                    fix="restore the unreadable keyset files from a backup "
                    "('agile keystore restore'), then decrypt again",
                )
            return KeyNotFound(
                f"none of the envelope's recipient keys ({ids}) is in keystore "
                f"{str(keystore.path)!r}",
                fix="use the keystore that contains one of these keys (--keystore or AGILE_HOME)",
            )
        # Stanzas that fail for one reason (a policy that denies the AEAD that all of
        # them name) would repeat it once per stanza.
        reasons = list(dict.fromkeys(self.reasons))
        message = "the envelope did not open: " + join_limited(reasons, "; ")
        if self.sealer_failures:
            # A wrong passphrase or a missing device is the user's to fix, and it hides
            # whether that keyset's stanza would have opened.  Any one keyset that opens is
            # enough, so the fix of the first one is given.  Failures of one kind keep it,
            # with its exit code and fields (a broker's refusal is a failed check, code 1).
            first = self.sealer_failures[0]
            if all(type(e) is type(first) for e in self.sealer_failures):
                # Built without __init__, whose arguments differ between the classes.
                same = type(first).__new__(type(first), message)
                same.__dict__.update(first.__dict__)
                return same
            return SealError(message, fix=first.fix)
        if self.authentication_failures:
            return AuthenticationFailed(
                message, fix="the envelope was modified or was not encrypted to these keys"
            )
        if self.violations:
            reasons = [r for v in self.violations for r in v.reasons] or [str(self.violations[0])]
            reasons = list(dict.fromkeys(reasons))
            return PolicyViolation(message, fix=self.violations[0].fix, reasons=reasons)
        return KeysetError(message, fix="; or ".join(self.remedies))


def _open(header: Header, keystore: Keystore, policy: Policy) -> _Opened:
    """Find a stanza this keystore can open and authenticate the header with it.

    Stanzas are tried in header order, and a stanza that fails for any reason,
    a sealer that does not release its keyset's KEK included, moves on to the
    next one.  A keyset whose sealer failed is not unsealed again for its other
    stanzas, so a wrong passphrase costs one Argon2id run per keyset.
    """
    if header.kind != "encrypted":
        raise InvalidEnvelope(
            f"this is a {header.kind} envelope, not an encrypted one",
            fix="use 'agile verify' for signature envelopes",
        )
    assert header.payload_algorithm is not None
    parameters(header.payload_algorithm)
    policy.enforce("decrypt", header.payload_algorithm)
    enforce_schedule_kdf(policy, "decrypt")

    attempts = _Attempts()
    sealed_keysets: dict[str, str] = {}  # keyset name -> why its sealer failed
    for stanza in header.recipients:
        try:
            keyset, key = keystore.find_key(stanza.key_id)
        except KeyNotFound:
            continue
        attempts.found += 1
        if key.algorithm != stanza.algorithm:
            attempts.authentication_failures += 1
            attempts.skip(
                key.id, f"stanza for {key.id} names {stanza.algorithm}, key is {key.algorithm}"
            )
            continue
        if not key.status.can_open or not key.has_private:
            state = key.status.value if not key.status.can_open else "public-only"
            attempts.skip(key.id, f"key {key.id} of keyset {keyset.name!r} is {state}")
            remedy = _REMEDIES.get(key.status.value, _REMEDY_PRIVATE)
            attempts.remedies.setdefault(remedy)
            continue
        try:
            policy.enforce("decrypt", key.algorithm, key=_meta(key))
        except PolicyViolation as violation:
            attempts.violations.append(violation)
            attempts.skip(key.id, str(violation))
            continue
        if keyset.name in sealed_keysets:
            attempts.skip(key.id, sealed_keysets[keyset.name])
            continue
        try:
            enforce_unseal(policy, keyset)
        except PolicyViolation as violation:
            attempts.violations.append(violation)
            attempts.skip(key.id, str(violation))
            continue

        secret_key: bytes | None = None
        private_key: PrivateKey | None = None
        try:
            if keyset.purpose == "aead":
                secret_key = keyset.secret_key(key.id)
            else:
                private_key = keyset.private_key(key.id)
        except SealError as error:
            sealed_keysets[keyset.name] = str(error)
            attempts.sealer_failures.append(error)
            attempts.skip(key.id, str(error))
            continue
        try:
            data_key = unwrap(
                stanza,
                header.payload_context,
                private_key=private_key,
                secret_key=secret_key,
                allow=partial(policy.enforce, "decrypt"),
            )
        except PolicyViolation as violation:
            # The stanza's HPKE KDF or AEAD; the envelope chose it, the policy denies it.
            attempts.violations.append(violation)
            attempts.skip(key.id, str(violation))
            continue
        except AuthenticationFailed as error:
            attempts.authentication_failures += 1
            attempts.skip(key.id, str(error))  # the message names the key id
            continue
        schedule = _schedule(data_key, header.salt, header.payload_algorithm)
        try:
            schedule.check_commitment(header.commitment)
        except AuthenticationFailed as error:
            attempts.authentication_failures += 1
            attempts.skip(key.id, f"key {key.id}: {error}")
            continue
        schedule.check_header_mac(header.authenticated, header.mac)
        log.debug("opened envelope header with key %s of keyset %s", key.id, keyset.name)
        return _Opened(header, data_key, schedule)

    raise attempts.error(header, keystore)


def _check_aad(aad: Any) -> None:
    if not isinstance(aad, (bytes, bytearray, memoryview)):
        raise InvalidArgument(
            f"aad must be bytes, got {type(aad).__name__}",
            fix="pass the associated data as bytes, for example aad=record_id.encode()",
        )
    check_buffer(aad, "aad")


def _check_writable(destination: Any) -> None:
    if isinstance(destination, io.TextIOBase) or not callable(getattr(destination, "write", None)):
        kind = (
            "a text stream"
            if isinstance(destination, io.TextIOBase)
            else type(destination).__name__
        )
        raise InvalidArgument(
            f"destination must be a binary file object, got {kind}",
            fix="open the destination in binary mode ('wb'), or pass an io.BytesIO",
        )
    check_open(destination, "destination")


def _check_keystore(keystore: Any) -> None:
    if not isinstance(keystore, Keystore):
        raise InvalidArgument(
            f"keystore must be a Keystore, got {type(keystore).__name__}",
            fix="open one with agile.keys.Keystore.open(DIR), or call agile.decrypt, which "
            "takes a directory",
        )


def _as_bytes(envelope: Any) -> bytes:
    if type(envelope) is bytes and envelope.startswith(MAGIC):
        # A binary envelope, the common case: armour starts with a BEGIN line instead.
        return envelope
    if isinstance(envelope, (bytes, bytearray, memoryview, str)):
        check_buffer(envelope, "envelope")
        return dearmour_if_armoured(envelope)
    raise InvalidArgument(
        f"envelope must be bytes or armoured text, got {type(envelope).__name__}",
        fix="use decrypt_stream for file objects",
    )


# Public API.


def encrypt(
    plaintext: bytes | bytearray | memoryview | BinaryIO,
    recipients: Any,
    *,
    policy: Policy | str | None = None,
    aad: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    payload_algorithm: str | None = None,
    armor: bool = False,
) -> bytes:
    """Encrypt to one or more recipients and return the envelope bytes.

    ``recipients`` are Keysets (their primary key), Keys, PublicKeys or
    ``(key_id, PublicKey)`` pairs.  The payload AEAD is the policy's preferred
    one unless ``payload_algorithm`` names another the policy allows.
    """
    check_encrypt_options(chunk_size, payload_algorithm, armor)
    if not isinstance(plaintext, (bytes, bytearray, memoryview)):
        check_binary_stream(plaintext, "plaintext")
        output = io.BytesIO()
        encrypt_stream(
            plaintext,
            output,
            recipients,
            policy=policy,
            aad=aad,
            chunk_size=chunk_size,
            payload_algorithm=payload_algorithm,
            armor=armor,
        )
        return output.getvalue()

    check_buffer(plaintext, "plaintext")
    _check_aad(aad)
    _active, targets, algorithm = _prepare(recipients, policy, payload_algorithm, chunk_size)
    header, schedule, context = _new_header(targets, algorithm, chunk_size)
    sealer = PayloadSealer(
        algorithm,
        schedule.payload_key,
        schedule.nonce_prefix,
        payload_associated_data(context, aad),
    )
    data = sealer.seal_all(header, plaintext, chunk_size)
    return to_armour(data) if armor else data


def encrypt_stream(
    source: BinaryIO,
    destination: BinaryIO,
    recipients: Any,
    *,
    policy: Policy | str | None = None,
    aad: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    payload_algorithm: str | None = None,
    armor: bool = False,
) -> int:
    """Encrypt ``source`` into ``destination``, holding at most two chunks in memory.

    With ``armor`` the envelope is written as ASCII armour, still chunk by chunk.
    Returns the number of bytes written.
    """
    check_binary_stream(source, "source")
    _check_writable(destination)
    _check_aad(aad)
    check_encrypt_options(chunk_size, payload_algorithm, armor)
    _active, targets, algorithm = _prepare(recipients, policy, payload_algorithm, chunk_size)
    header, schedule, context = _new_header(targets, algorithm, chunk_size)
    sealer = PayloadSealer(
        algorithm,
        schedule.payload_key,
        schedule.nonce_prefix,
        payload_associated_data(context, aad),
    )
    if armor:
        armoured = ArmourWriter(destination, KIND_ENCRYPTED)
        armoured.write(header)
        for sealed in sealer.seal_stream(source, chunk_size):
            armoured.write(sealed)
        armoured.close()
        return armoured.written
    write_all(destination, header)
    written = len(header)
    for sealed in sealer.seal_stream(source, chunk_size):
        write_all(destination, sealed)
        written += len(sealed)
    return written


def decrypt(
    envelope: bytes | bytearray | memoryview | str,
    keystore: Keystore,
    *,
    policy: Policy | str | None = None,
    aad: bytes = b"",
) -> bytes:
    """Decrypt an envelope (binary or armoured) with a key from ``keystore``."""
    _check_keystore(keystore)
    _check_aad(aad)
    data = _as_bytes(envelope)
    header = parse_header(data)
    opened = _open(header, keystore, _policy_for(policy, keystore))
    payload = memoryview(data)[header.length :]
    return _opener(opened, aad).open_all(payload, header.chunk_size)


def _opener(opened: _Opened, aad: bytes) -> PayloadOpener:
    header = opened.header
    assert header.payload_algorithm is not None
    return PayloadOpener(
        header.payload_algorithm,
        opened.schedule.payload_key,
        opened.schedule.nonce_prefix,
        payload_associated_data(header.payload_context, aad),
    )


def decrypt_stream(
    source: BinaryIO,
    destination: BinaryIO,
    keystore: Keystore,
    *,
    policy: Policy | str | None = None,
    aad: bytes = b"",
) -> int:
    """Decrypt ``source`` (binary or armoured) into ``destination``, chunk by chunk.

    Only authenticated chunks are written, but on a failure in a later chunk
    the chunks before it have already been written.  Callers that must not
    expose partial output write to a temporary file and rename it on success
    (as ``agile decrypt -o`` does).
    """
    check_binary_stream(source, "source")
    _check_writable(destination)
    _check_keystore(keystore)
    _check_aad(aad)
    head, source = read_stream_header(source)
    header = parse_header(head)
    opened = _open(header, keystore, _policy_for(policy, keystore))
    written = 0
    for plaintext in _opener(opened, aad).open_stream(source, header.chunk_size):
        write_all(destination, plaintext)
        written += len(plaintext)
    return written


def rewrap(
    envelope: bytes | bytearray | memoryview | str,
    keystore: Keystore,
    *,
    old_key_ids: Iterable[str] | None = None,
    new_recipients: Any = (),
    policy: Policy | str | None = None,
) -> bytes:
    """Replace recipient stanzas, keeping the payload bytes identical.

    Stanzas of ``old_key_ids`` are removed (all stanzas when it is ``None``)
    and stanzas for ``new_recipients`` are added; only the data key is
    decrypted.  The payload AEAD must still be allowed for encryption,
    otherwise use :func:`reencrypt`.
    """
    _check_keystore(keystore)
    data = _as_bytes(envelope)
    header = parse_header(data)
    active = _policy_for(policy, keystore)
    opened = _open(header, keystore, active)
    assert header.payload_algorithm is not None
    try:
        active.enforce("encrypt", header.payload_algorithm)
    except PolicyViolation as violation:
        raise PolicyViolation(
            f"cannot rewrap: {violation}",
            fix="re-encrypt the envelope (reencrypt) with an allowed payload AEAD",
            reasons=violation.reasons,
        ) from None

    # The new header MAC is HMAC-SHA256 under a key from the HKDF-SHA256 schedule.
    enforce_schedule_kdf(active, "encrypt")
    targets = _enforce_targets(active, resolve_targets(new_recipients) if new_recipients else [])
    dropped = None if old_key_ids is None else set(old_key_ids)
    kept = [s for s in header.recipients if dropped is not None and s.key_id not in dropped]
    present = {s.key_id for s in kept}
    added = [
        wrap(t, opened.data_key, header.payload_context) for t in targets if t.key_id not in present
    ]
    stanzas = kept + added
    if not stanzas:
        raise InvalidArgument(
            "rewrap would leave the envelope without recipients",
            fix="pass new_recipients, or keep at least one old key",
        )
    section = header.payload_context[len(MAGIC) + 2 :]
    new_header = _assemble(section, stanzas, opened.schedule)
    # bytes + memoryview copies the payload once.
    return new_header + memoryview(data)[header.length :]


def reencrypt(
    envelope: bytes | bytearray | memoryview | str,
    keystore: Keystore,
    *,
    new_recipients: Any,
    policy: Policy | str | None = None,
    payload_algorithm: str | None = None,
    aad: bytes = b"",
    chunk_size: int | None = None,
) -> bytes:
    """Decrypt and encrypt again with a new data key, payload AEAD and recipients."""
    _check_keystore(keystore)
    data = _as_bytes(envelope)
    header = parse_header(data)
    active = _policy_for(policy, keystore)
    plaintext = decrypt(data, keystore, policy=active, aad=aad)
    return encrypt(
        plaintext,
        new_recipients,
        policy=active,
        aad=aad,
        chunk_size=chunk_size or header.chunk_size,
        payload_algorithm=payload_algorithm,
    )
