"""Recipient stanzas: how each recipient gets the message's data key.

Three kinds, chosen by the recipient key's algorithm:

* HPKE (RFC 9180 base mode) for every KEM with an HPKE codepoint (``x25519``,
  ``p256``, ``p384``, ``ml-kem-*``, ``x-wing``).  Body:
  ``u16 kdf_id || u16 aead_id || u16 len(enc) || enc || ct``; the data key is
  the HPKE plaintext and ``info`` binds the payload context and the key id.
  The writer uses the KEM's default KDF and AES-256-GCM unless the policy
  denies them for ``encrypt``.  Then it picks another HPKE KDF or AEAD that
  the policy allows (:func:`choose_hpke_suite`).
* KEM transport for KEMs without an HPKE codepoint (``rsa-oaep-2048/3072``,
  RSAES-OAEP of RFC 8017 with SHA-256).  Body: ``u16 len(c) || c || w`` where
  the KEM's shared secret keys HKDF-SHA256 with the same binding as ``info``,
  and ``w`` is the data key sealed with AES-256-GCM under that one-time key.
  Format v1 fixes both, so the policy must allow both to write or read one.
* Symmetric, for AEAD keysets.  Body: ``nonce || AEAD(key, nonce, data key,
  ad = binding)`` with a random nonce.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import hpke, registry
from ..errors import (
    AgileError,
    AuthenticationFailed,
    InvalidArgument,
    KeysetError,
    PolicyViolation,
)
from ..keys import Key, Keyset
from ..registry import Family, PrivateKey, PublicKey
from .format import MAX_RECIPIENTS, Stanza, encode_id
from .stream import aead_implementation

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = [
    "Target",
    "resolve_targets",
    "enforce_target",
    "choose_hpke_suite",
    "wrap",
    "unwrap",
    "binding",
    "fingerprint",
    "KEM_WRAP_KDF",
    "KEM_WRAP_AEAD",
    "stanza_suite",
]

_HPKE_INFO = b"agile v1 recipient\x00"
_KEM_INFO = b"agile v1 kem recipient\x00"
_SYMMETRIC_AD = b"agile v1 symmetric recipient\x00"

#: Default HPKE KDF per KEM, the hash that matches the KEM's strength, and the default AEAD.
_HPKE_KDF = {"p384": "hkdf-sha384", "ml-kem-1024": "hkdf-sha384"}
_HPKE_AEAD = "aes-256-gcm"

#: The KDF and AEAD of a KEM transport stanza, fixed by format v1.
KEM_WRAP_KDF = "hkdf-sha256"
KEM_WRAP_AEAD = "aes-256-gcm"

_suites: dict[tuple[str, str, str], Any] = {}

# Family values as plain strings: reading ``Family.AEAD.value`` goes through the enum's
# descriptor machinery on every call.
_AEAD = Family.AEAD.value
_KEM = Family.KEM.value

#: Stanza kind by algorithm id: "aead", "hpke", "kem" or "none" (cannot receive).
_kinds: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved recipient: id, algorithm, and either a public key or a symmetric key.

    ``hpke_kdf`` and ``hpke_aead`` are the HPKE KDF and AEAD ids that
    :func:`enforce_target` chose under a policy; ``None`` means the KEM's default.
    """

    key_id: str
    algorithm: str
    public_key: PublicKey | None = None
    secret_key: bytes | None = field(default=None, repr=False)
    key: Key | None = None
    hpke_kdf: str | None = None
    hpke_aead: str | None = None


def fingerprint(public_key: PublicKey) -> str:
    """Return the key id used for a bare public key: 16 hex digits of SHA-256(alg, key)."""
    digest = hashlib.sha256(public_key.algorithm.encode() + b"\x00" + public_key.data)
    return digest.hexdigest()[:16]


def resolve_targets(recipients: Any) -> list[Target]:
    """Turn Keysets, Keys, PublicKeys or ``(key_id, PublicKey)`` pairs into :class:`Target`s."""
    if isinstance(recipients, (Keyset, Key, PublicKey)):
        recipients = [recipients]
    elif not isinstance(recipients, Iterable) or isinstance(recipients, (str, bytes)):
        raise InvalidArgument(
            f"recipients must be a Keyset, Key, PublicKey or a list of them, "
            f"got {type(recipients).__name__}",
            fix="pass keystore.keyset(NAME), or call agile.encrypt, which takes keyset names",
        )
    targets: list[Target] = []
    for item in recipients:
        if isinstance(item, Keyset):
            targets.append(_keyset_target(item, item.primary))
        elif isinstance(item, Key):
            if item.purpose == _AEAD:
                raise InvalidArgument(
                    f"symmetric key {item.id} must be given through its Keyset",
                    fix="pass the Keyset, whose primary key then wraps the data key",
                )
            _check_protect(item)
            public = registry.get(item.algorithm).load_public(item.public)  # type: ignore[attr-defined]
            targets.append(Target(item.id, item.algorithm, public_key=public, key=item))
        elif isinstance(item, PublicKey):
            targets.append(Target(fingerprint(item), item.algorithm, public_key=item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], PublicKey):
            encode_id(str(item[0]))  # a key id that readers would reject raises here
            targets.append(Target(str(item[0]), item[1].algorithm, public_key=item[1]))
        else:
            raise InvalidArgument(
                f"cannot encrypt to a {type(item).__name__}",
                fix="pass Keyset, Key or PublicKey objects",
            )
    if not targets:
        raise InvalidArgument("no recipients given", fix="name at least one recipient keyset")
    if len(targets) == 1:
        return targets
    seen: set[str] = set()
    unique = []
    for target in targets:
        if target.key_id not in seen:
            seen.add(target.key_id)
            unique.append(target)
    if len(unique) > MAX_RECIPIENTS:
        # Checked here too, so that no KEM runs for an envelope that cannot be written.
        raise InvalidArgument(
            f"an envelope needs 1 to {MAX_RECIPIENTS} recipients, got {len(unique)}",
            fix=f"encrypt to at most {MAX_RECIPIENTS} recipients, and split larger groups",
        )
    return unique


def _check_protect(key: Key) -> None:
    if not key.status.can_protect:
        raise KeysetError(
            f"key {key.id} of keyset {key.keyset!r} is {key.status.value} and cannot encrypt",
            fix="encrypt to the keyset's primary key or an enabled key",
        )


def _keyset_target(keyset: Keyset, key: Key) -> Target:
    _check_protect(key)
    if keyset.purpose == _AEAD:
        return Target(key.id, key.algorithm, secret_key=keyset.secret_key(key.id), key=key)
    if keyset.purpose != _KEM:
        raise KeysetError(
            f"keyset {keyset.name!r} is a {keyset.purpose} keyset and cannot receive envelopes",
            fix="encrypt to a kem or aead keyset",
        )
    return Target(key.id, key.algorithm, public_key=keyset.public_key(key.id), key=key)


def binding(label: bytes, payload_context: bytes, key_id: str) -> bytes:
    """Return the string that ties a stanza to one envelope's payload and one key id."""
    key_bytes = key_id.encode("ascii")
    return (
        label
        + struct.pack(">I", len(payload_context))
        + payload_context
        + struct.pack(">B", len(key_bytes))
        + key_bytes
    )


def _suite(kem: str, kdf: str | None = None, aead: str | None = None) -> Any:
    names = (kem, kdf or _HPKE_KDF.get(kem, "hkdf-sha256"), aead or _HPKE_AEAD)
    suite = _suites.get(names)
    if suite is None:
        suite = hpke.Suite.from_ids(kem=names[0], kdf=names[1], aead=names[2])
        _suites[names] = suite
    return suite


def _suite_from_codepoints(kem: str, kdf_id: int, aead_id: int) -> Any:
    suite = _suite(kem)
    if (suite.kdf_id, suite.aead_id) == (kdf_id, aead_id):
        return suite
    other = hpke.Suite.from_codepoints(suite.kem_id, kdf_id, aead_id)
    if other.kem != kem:
        raise AuthenticationFailed(f"HPKE stanza names KEM {other.kem}, key is {kem}")
    return other


def _kind(algorithm: str) -> str:
    """Return how stanzas of ``algorithm`` work: "aead", "hpke", "kem" or "none"."""
    kind = _kinds.get(algorithm)
    if kind is None:
        descriptor = registry.descriptor(algorithm)
        if descriptor.family == Family.AEAD:
            kind = "aead"
        elif descriptor.family != Family.KEM:
            kind = "none"
        elif descriptor.hpke_kem_id is not None:
            kind = "hpke"
        else:
            kind = "kem"
        _kinds[algorithm] = kind
    return kind


#: Registry ids by HPKE codepoint (RFC 9180 §7.2, §7.3), for reading stanzas without a key.
_HPKE_KDF_IDS = {
    d.hpke_kdf_id: d.id for d in registry.descriptors(Family.KDF) if d.hpke_kdf_id is not None
}
_HPKE_AEAD_IDS = {
    d.hpke_aead_id: d.id for d in registry.descriptors(Family.AEAD) if d.hpke_aead_id is not None
}


def stanza_suite(stanza: Stanza) -> tuple[str, str] | None:
    """Return the ids of the KDF and AEAD that protect the data key in ``stanza``.

    An HPKE stanza names them by codepoint, and a codepoint without a registry
    id comes back as four hex digits such as ``"0x0004"``.  A KEM transport
    stanza has the fixed :data:`KEM_WRAP_KDF` and :data:`KEM_WRAP_AEAD`.
    Returns None for a symmetric stanza, an algorithm the registry does not
    know, and an HPKE body too short to hold the codepoints.  Nothing is
    authenticated here: only decryption checks the stanza.
    """
    try:
        kind = _kind(stanza.algorithm)
    except AgileError:
        return None
    if kind == "kem":
        return KEM_WRAP_KDF, KEM_WRAP_AEAD
    if kind != "hpke" or len(stanza.body) < 4:
        return None
    kdf_id, aead_id = struct.unpack(">HH", stanza.body[:4])
    return (
        _HPKE_KDF_IDS.get(kdf_id, f"0x{kdf_id:04x}"),
        _HPKE_AEAD_IDS.get(aead_id, f"0x{aead_id:04x}"),
    )


def wrap(target: Target, data_key: bytes, payload_context: bytes) -> Stanza:
    """Return the stanza that gives ``data_key`` to ``target``."""
    kind = _kind(target.algorithm)
    if kind == "aead":
        assert target.secret_key is not None
        implementation = aead_implementation(target.algorithm)
        nonce = os.urandom(implementation.nonce_size)
        ad = binding(_SYMMETRIC_AD, payload_context, target.key_id)
        sealed = implementation.new(target.secret_key).encrypt(nonce, data_key, ad)
        return Stanza(target.key_id, target.algorithm, nonce + sealed)
    if kind == "none" or target.public_key is None:
        raise InvalidArgument(
            f"{target.algorithm!r} key {target.key_id} cannot receive an envelope",
            fix="encrypt to a KEM public key or an AEAD keyset",
        )
    if kind == "hpke":
        suite = _suite(target.algorithm, target.hpke_kdf, target.hpke_aead)
        info = binding(_HPKE_INFO, payload_context, target.key_id)
        enc, ciphertext = hpke.seal(suite, target.public_key, data_key, info=info)
        body = struct.pack(">HHH", suite.kdf_id, suite.aead_id, len(enc)) + enc + ciphertext
        return Stanza(target.key_id, target.algorithm, body)
    ciphertext, shared = registry.kem(target.algorithm).encapsulate(target.public_key)
    wrap_key = _kem_wrap_key(shared, payload_context, target.key_id)
    # The wrap key is fresh for every stanza, so a fixed nonce is used once per key.
    wrapped = AESGCM(wrap_key).encrypt(b"\x00" * 12, data_key, None)
    body = struct.pack(">H", len(ciphertext)) + ciphertext + wrapped
    return Stanza(target.key_id, target.algorithm, body)


def _hpke_candidates(policy: Policy, family: Family, default: str) -> list[str]:
    """Return the HPKE ids of ``family`` in the order a writer tries them.

    The order is the KEM's default, then the policy's preferred id, then the
    rest from the strongest (highest security category) down.
    """
    attribute = "hpke_kdf_id" if family == Family.KDF else "hpke_aead_id"
    supported = [d for d in registry.descriptors(family) if getattr(d, attribute) is not None]
    strongest_first = sorted(supported, key=lambda d: -(d.category or 0))
    order = [default, policy.preferred(family.value)] + [d.id for d in strongest_first]
    ids = {d.id for d in supported}
    return [item for item in dict.fromkeys(order) if item in ids]


def _choose_hpke(policy: Policy, family: Family, default: str, target: Target) -> str:
    """Return the first HPKE id of ``family`` that ``policy`` allows to encrypt with.

    Raise :class:`PolicyViolation` with the reason for each denied id when none is allowed.
    """
    # The default goes through enforce(), which caches allow decisions, so the common
    # case costs a dictionary lookup.
    try:
        policy.enforce("encrypt", default)
        return default
    except PolicyViolation as violation:
        reasons = list(violation.reasons) or [str(violation)]

    candidates = _hpke_candidates(policy, family, default)
    for candidate in candidates[1:]:
        decision = policy.decide("encrypt", candidate)
        if decision.allowed:
            policy.enforce("encrypt", candidate)  # logs the decision that is used
            return candidate
        reasons.extend(decision.reasons)
    raise PolicyViolation(
        f"policy {policy.name!r} allows none of the HPKE {family.value.upper()}s "
        f"{', '.join(candidates)} for encrypt, so {target.algorithm} key {target.key_id} "
        f"cannot receive an envelope: " + "; ".join(dict.fromkeys(reasons)),
        fix=f"allow one of {', '.join(candidates)} in [{family.value}] of the policy, or "
        "encrypt to a KEM or aead keyset that the policy allows",
        reasons=reasons,
    )


def choose_hpke_suite(policy: Policy, target: Target) -> tuple[str, str]:
    """Return the ``(KDF id, AEAD id)`` of the HPKE stanza for ``target`` under ``policy``.

    Each is the KEM's default while the policy allows it for ``encrypt``, else
    the policy's preferred id if HPKE has a codepoint for it (RFC 9180 §7.2,
    §7.3), else the strongest allowed HPKE id.
    """
    kdf = _choose_hpke(policy, Family.KDF, _HPKE_KDF.get(target.algorithm, "hkdf-sha256"), target)
    aead = _choose_hpke(policy, Family.AEAD, _HPKE_AEAD, target)
    return kdf, aead


def _enforce_kem_wrap(
    allow: Callable[[str], None], key_id: str, operation: str, hpke_kems: list[str] | None = None
) -> None:
    """Check the fixed HKDF-SHA256 and AES-256-GCM of a KEM transport stanza with ``allow``.

    No other KDF or AEAD can take their place, so the fix of a denied one is to
    allow it for ``operation``, or to encrypt to one of ``hpke_kems``, whose
    stanzas take the KDF and AEAD that the policy allows.
    """
    for algorithm in (KEM_WRAP_KDF, KEM_WRAP_AEAD):
        try:
            allow(algorithm)
        except PolicyViolation as violation:
            section = "kdf" if algorithm == KEM_WRAP_KDF else "aead"
            fix = f"allow {algorithm!r} for {operation} in [{section}] of the policy"
            if operation != "encrypt":
                fix += f", for example in {section}.decrypt_only"
            elif hpke_kems:
                fix += (
                    ", or encrypt to a keyset of an HPKE KEM that the policy allows, whose "
                    f"stanzas use an allowed KDF and AEAD: {', '.join(hpke_kems)}"
                )
            raise PolicyViolation(
                f"a KEM transport stanza (key {key_id}) wraps the data key with "
                f"{KEM_WRAP_KDF} and {KEM_WRAP_AEAD}, fixed by format v1, so a policy "
                f"cannot choose others: {violation}",
                fix=fix,
                reasons=violation.reasons,
            ) from None


def _hpke_kems(policy: Policy) -> list[str]:
    """Return the KEMs with an HPKE codepoint that ``policy`` allows to encrypt with."""
    return [
        d.id
        for d in registry.descriptors(Family.KEM)
        if d.hpke_kem_id is not None and policy.decide("encrypt", d.id).allowed
    ]


def enforce_target(policy: Policy, target: Target, key_meta: Any = None) -> Target:
    """Check that ``policy`` allows encrypting to ``target``; return it with its HPKE suite.

    The target's algorithm must be allowed for ``encrypt`` (``key_meta`` adds the
    key's age).  An HPKE target gets the KDF and AEAD of :func:`choose_hpke_suite`,
    and a KEM transport target needs the policy to allow its fixed HKDF-SHA256
    and AES-256-GCM.
    """
    policy.enforce("encrypt", target.algorithm, key=key_meta)
    kind = _kind(target.algorithm)
    if kind == "hpke":
        kdf, aead = choose_hpke_suite(policy, target)
        # The constructor, not dataclasses.replace, which costs a few us per message.
        return Target(
            target.key_id,
            target.algorithm,
            target.public_key,
            target.secret_key,
            target.key,
            kdf,
            aead,
        )
    if kind == "kem":
        allow = partial(policy.enforce, "encrypt")
        try:
            _enforce_kem_wrap(allow, target.key_id, "encrypt")
        except PolicyViolation:
            # Only a denied stanza pays for the list of KEMs in the fix.
            _enforce_kem_wrap(allow, target.key_id, "encrypt", _hpke_kems(policy))
    return target


def _kem_wrap_key(shared: bytes, payload_context: bytes, key_id: str) -> bytes:
    info = binding(_KEM_INFO, payload_context, key_id)
    return HKDF(SHA256(), 32, salt=None, info=info).derive(shared)


def unwrap(
    stanza: Stanza,
    payload_context: bytes,
    *,
    private_key: PrivateKey | None = None,
    secret_key: bytes | None = None,
    allow: Callable[[str], None] | None = None,
) -> bytes:
    """Return the data key from ``stanza``; raise :class:`AuthenticationFailed` on any failure.

    The message names the stanza's key id and the reason, in one line.
    ``allow`` is called with the registry id of the KDF and of the AEAD that an
    HPKE stanza names, or of the fixed HKDF-SHA256 and AES-256-GCM of a KEM
    transport stanza, before they are used.  It raises
    :class:`~agile.errors.PolicyViolation` (passed on) to reject one: the
    codepoints come from the envelope, so a policy check of the KEM alone
    would let the envelope choose a KDF or AEAD that the policy denies.
    """
    try:
        return _unwrap(stanza, payload_context, private_key, secret_key, allow)
    except PolicyViolation:
        raise
    except (AgileError, InvalidTag, ValueError) as error:
        # InvalidTag has no message of its own.
        reason = str(error) or "authentication tag did not verify"
        raise AuthenticationFailed(
            f"recipient stanza for key {stanza.key_id} did not open: {reason}",
            fix="the envelope was modified or the key is not the one it was encrypted to",
        ) from None


def _check_body_size(stanza: Stanza, minimum: int, layout: str) -> None:
    """Raise AuthenticationFailed when the stanza body is shorter than its fixed fields."""
    if len(stanza.body) < minimum:
        raise AuthenticationFailed(
            f"{stanza.algorithm} stanza body is {len(stanza.body)} bytes, shorter than the "
            f"{minimum} bytes of {layout}"
        )


def _unwrap(
    stanza: Stanza,
    payload_context: bytes,
    private_key: PrivateKey | None,
    secret_key: bytes | None,
    allow: Callable[[str], None] | None,
) -> bytes:
    body = stanza.body
    kind = _kind(stanza.algorithm)
    if kind == "aead":
        if secret_key is None:
            raise AuthenticationFailed("no symmetric key was given")
        implementation = aead_implementation(stanza.algorithm)
        size = implementation.nonce_size
        _check_body_size(stanza, size, "its nonce")
        ad = binding(_SYMMETRIC_AD, payload_context, stanza.key_id)
        return implementation.new(secret_key).decrypt(body[:size], body[size:], ad)
    if private_key is None:
        raise AuthenticationFailed("no private key was given")
    if kind == "hpke":
        _check_body_size(stanza, 6, "its KDF id, AEAD id and enc length")
        kdf_id, aead_id, enc_size = struct.unpack(">HHH", body[:6])
        enc = body[6 : 6 + enc_size]
        ciphertext = body[6 + enc_size :]
        if len(enc) != enc_size:
            raise AuthenticationFailed(
                f"HPKE stanza is truncated: enc needs {enc_size} bytes, {len(enc)} present"
            )
        suite = _suite_from_codepoints(stanza.algorithm, kdf_id, aead_id)
        if allow is not None:
            allow(suite.kdf)
            allow(suite.aead)
        info = binding(_HPKE_INFO, payload_context, stanza.key_id)
        return bytes(hpke.open(suite, enc, private_key, ciphertext, info=info))
    if allow is not None:
        _enforce_kem_wrap(allow, stanza.key_id, "decrypt")
    _check_body_size(stanza, 2, "its ciphertext length")
    (size,) = struct.unpack(">H", body[:2])
    ciphertext = body[2 : 2 + size]
    wrapped = body[2 + size :]
    if len(ciphertext) != size:
        raise AuthenticationFailed(
            f"KEM stanza is truncated: the ciphertext needs {size} bytes, {len(ciphertext)} present"
        )
    shared = registry.kem(stanza.algorithm).decapsulate(private_key, ciphertext)
    wrap_key = _kem_wrap_key(shared, payload_context, stanza.key_id)
    return AESGCM(wrap_key).decrypt(b"\x00" * 12, wrapped, None)
