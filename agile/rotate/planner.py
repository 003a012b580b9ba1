"""Planning a rotation: which keys retire, which keys replace them, what each object needs.

A key retires when the policy reports it due (its algorithm may no longer be
used for new work, or it is older than ``max_key_age``).  When a keyset's
primary retires, a new key of the policy's preferred algorithm for the keyset's
purpose replaces it in the same keyset.  Objects are found by reading headers
only, and each object that names a retiring key gets one action:

* ``rewrap``: the payload AEAD is still allowed for encryption, so only the
  recipient stanzas change and the payload bytes stay as they are;
* ``reencrypt``: the payload AEAD is no longer allowed, so a new data key
  encrypts the payload again with the preferred AEAD;
* ``resign``: a detached signature envelope ``NAME.sig`` gets a signature by
  the new key over the message ``NAME`` stored beside it, and signatures whose
  algorithm the policy no longer accepts for verification go.  A signature
  envelope to re-sign whose message is not a readable object of its store is
  reported as unreadable instead (see :func:`signed_message_problem`).

Rotation replaces only keys it owns.  An imported public key (no private
part, not destroyed) belongs to the holder of its private key: rotation never
retires it in favour of a key of ours, never generates a key in a keyset whose
primary is such a key, and leaves its stanzas and signatures as they are.
A due key of that kind is listed by :func:`awaiting_owner` until its owner
sends a public key of an allowed algorithm.  Once that key is imported and
promoted, the owner's older public keys retire to it like any other.

Before a run changes anything, :func:`check_key_plans` and
:func:`check_old_keys_open` reject a plan that the policy itself would stop
half-way: a new key the policy may not generate or seal, or objects whose old
key the policy may no longer decrypt with.
"""

from __future__ import annotations

import functools
import io
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..envelope.armour import is_armoured
from ..envelope.format import MAGIC, MAX_HEADER, PREAMBLE_SIZE
from ..errors import (
    AgileError,
    InvalidEnvelope,
    KeyNotFound,
    KeystoreError,
    PolicyViolation,
    StoreError,
)
from .stores import HEADER_PREFIX_SIZE, ObjectStore

if TYPE_CHECKING:
    from ..keys import Keystore
    from ..policy import Policy

__all__ = [
    "ACTIONS",
    "KeyPlan",
    "AwaitingOwner",
    "Finding",
    "Unreadable",
    "Plan",
    "plan_keys",
    "awaiting_owner",
    "is_public_only",
    "scan_store",
    "choose_action",
    "Migration",
    "needs_migration",
    "migration_block",
    "key_openers",
    "key_writers",
    "write_block",
    "retiring_statuses",
    "header_key_ids",
    "is_signature_envelope",
    "stale_key_ids",
    "SIGNATURE_SUFFIX",
    "signed_message_problem",
    "read_object_header",
    "is_signed_message",
    "plan",
    "known_key_ids",
    "check_key_plans",
    "undecryptable_old_keys",
    "keys_named_in",
    "check_old_keys_open",
]

log = logging.getLogger("agile.rotate")

#: Actions on objects, in report order.
ACTIONS = ("rewrap", "reencrypt", "resign")

#: A detached signature of the object ``NAME`` is stored as ``NAME.sig`` in the same store.
SIGNATURE_SUFFIX = ".sig"

#: Key statuses that can still protect or open data, so a due key in one of them retires.
retiring_statuses = frozenset({"primary", "enabled", "decrypt-only"})


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """The keys of one keyset that retire, and the key that replaces them.

    ``new_algorithm`` is set when the primary retires and a new key is needed;
    otherwise ``target_key_id`` is the primary that stays.
    """

    keyset: str
    purpose: str
    old_key_ids: tuple[str, ...]
    old_algorithms: dict[str, str]
    reasons: dict[str, list[str]]
    known_key_ids: tuple[str, ...]
    new_algorithm: str | None
    target_key_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyset": self.keyset,
            "purpose": self.purpose,
            "old_keys": [
                {
                    "id": key_id,
                    "algorithm": self.old_algorithms[key_id],
                    "reasons": self.reasons[key_id],
                }
                for key_id in self.old_key_ids
            ],
            "new_algorithm": self.new_algorithm,
            "target_key_id": self.target_key_id,
        }


@dataclass(frozen=True, slots=True)
class AwaitingOwner:
    """A due key that rotation leaves alone, because it cannot replace the key itself.

    Mostly an imported public key.  Its owner has the private key, so only
    the owner can make a replacement.  ``fix`` tells the user what to do.
    """

    keyset: str
    key_id: str
    algorithm: str
    status: str
    reasons: list[str]
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyset": self.keyset,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "status": self.status,
            "reasons": list(self.reasons),
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """An object whose header names a retiring key."""

    store: str
    object_id: str
    action: str
    old_key_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An object that rotation cannot migrate; it is reported and left untouched.

    Most have a header that could not be read.  ``blocked`` marks an object
    whose header is fine but which the policy does not let rotation decrypt.
    """

    store: str
    object_id: str
    location: str
    error: str
    blocked: bool = False


@dataclass
class Plan:
    """The plan of a rotation: key replacements and per-object actions."""

    policy_name: str
    policy_hash: str
    keys: list[KeyPlan]
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    scanned: Counter[str] = field(default_factory=Counter)
    #: Due keys that rotation leaves alone (see :func:`awaiting_owner`).
    awaiting_owner: list[AwaitingOwner] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        per_action = Counter(f.action for f in self.findings)
        per_old_key: Counter[str] = Counter()
        for finding in self.findings:
            per_old_key.update(finding.old_key_ids)
        target_of = {}
        for key_plan in self.keys:
            target = key_plan.target_key_id or f"new {key_plan.new_algorithm} key"
            for key_id in key_plan.old_key_ids:
                target_of[key_id] = {"keyset": key_plan.keyset, "replacement": target}
        return {
            "policy": self.policy_name,
            "policy_hash": self.policy_hash,
            "keys": [key_plan.to_dict() for key_plan in self.keys],
            "objects": {action: per_action.get(action, 0) for action in ACTIONS},
            # Objects that keep their keys: their payload AEAD or a stanza's HPKE suite retires.
            "payload_only": sum(1 for f in self.findings if not f.old_key_ids),
            "objects_per_old_key": {
                key_id: {"objects": per_old_key.get(key_id, 0), **target_of.get(key_id, {})}
                for key_id in sorted(set(per_old_key) | set(target_of))
            },
            "scanned": dict(self.scanned),
            "unreadable": [
                {
                    "store": u.store,
                    "object": u.object_id,
                    "location": u.location,
                    "error": u.error,
                    "blocked_by_policy": u.blocked,
                }
                for u in self.unreadable
            ],
            "awaiting_owner": [item.to_dict() for item in self.awaiting_owner],
        }


def _every_keyset(keystore: Keystore) -> list[Any]:
    """Return every keyset, or raise :class:`KeystoreError` that names the unreadable files.

    Rotation must see every key: objects under a key in a file it skipped would
    not be migrated, and a key id it does not know would look unused.
    """
    from ..keys.keystore import UNREADABLE_FIX

    scan = keystore.scan()
    if not scan.unreadable:
        return list(scan.keysets)
    first, others = scan.unreadable[0], scan.unreadable[1:]
    more = ""
    if others:
        more = f" (unreadable too: {', '.join(repr(str(item.file)) for item in others)})"
    raise KeystoreError(
        f"rotation needs every keyset, and {first.reason}{more}",
        fix=f"{UNREADABLE_FIX}; then run 'agile rotate' again",
    )


def plan_keys(keystore: Keystore, policy: Policy, now: datetime | None = None) -> list[KeyPlan]:
    """Return a plan for every keyset that has keys due for rotation under ``policy``.

    Due keys that rotation does not own are left out (see :func:`awaiting_owner`).
    An unreadable keyset file raises :class:`KeystoreError` that names it.
    """
    plans = []
    for keyset in _every_keyset(keystore):
        key_plan, _ = _plan_keyset(keyset, policy, now)
        if key_plan is not None:
            plans.append(key_plan)
    return plans


def awaiting_owner(
    keystore: Keystore, policy: Policy, now: datetime | None = None
) -> list[AwaitingOwner]:
    """Return the due keys that rotation leaves alone, with the fix for each.

    These are imported public keys, whose owner has the private key, unless
    the keyset's primary is such a key that complies with the policy and
    replaces them.  Own keys of a keyset whose primary is another party's
    public key are listed too: rotation moves no object from a key of ours to
    a key that we cannot decrypt with.
    """
    return [
        item for keyset in _every_keyset(keystore) for item in _plan_keyset(keyset, policy, now)[1]
    ]


def _plan_keyset(
    keyset: Any, policy: Policy, now: datetime | None
) -> tuple[KeyPlan | None, list[AwaitingOwner]]:
    """Return the plan of one keyset (or None) and its due keys that rotation leaves alone."""
    reasons: dict[str, list[str]] = {}
    for key in keyset.keys:
        if _status(key) not in retiring_statuses:
            continue
        due = list(policy.due_for_rotation(key.meta(), now))
        if not due and _status(key) == "decrypt-only":
            due = _leftover_reasons(key, policy, now)
        if due:
            reasons[key.id] = due
    if not reasons:
        return None, []

    primary = _primary(keyset)
    if _owned_elsewhere(keyset, primary):
        # A new key of ours cannot stand in for another party's key, so only a
        # compliant public primary (the owner's new key) replaces their older keys.
        replaceable = primary is not None and primary.id not in reasons
        retiring = [k for k in keyset.keys if k.id in reasons and replaceable and is_public_only(k)]
    else:
        retiring = [k for k in keyset.keys if k.id in reasons and not is_public_only(k)]
    retiring_ids = {key.id for key in retiring}
    left = [
        _awaiting(keyset, key, reasons[key.id], primary, policy)
        for key in keyset.keys
        if key.id in reasons and key.id not in retiring_ids
    ]
    if not retiring:
        return None, left

    replace_primary = primary is None or primary.id in reasons
    new_algorithm = policy.preferred(keyset.purpose) if replace_primary else None
    key_plan = KeyPlan(
        keyset=keyset.name,
        purpose=keyset.purpose,
        old_key_ids=tuple(key.id for key in retiring),
        old_algorithms={key.id: key.algorithm for key in retiring},
        reasons={key.id: reasons[key.id] for key in retiring},
        known_key_ids=tuple(key.id for key in keyset.keys),
        new_algorithm=new_algorithm,
        target_key_id=None if replace_primary or primary is None else primary.id,
    )
    return key_plan, left


def is_public_only(key: Any) -> bool:
    """Return whether ``key`` is a public key whose private part another party has."""
    return not key.has_private and _status(key) != "destroyed"


def _owned_elsewhere(keyset: Any, primary: Any) -> bool:
    """Return whether ``keyset`` protects data for another party, so rotation adds no key to it.

    That is a keyset whose primary is a public-only key, or, without a
    primary, one that contains no key with a private part.
    """
    if primary is not None:
        return is_public_only(primary)
    return not any(key.has_private for key in keyset.keys)


def _awaiting(
    keyset: Any, key: Any, reasons: list[str], primary: Any, policy: Policy
) -> AwaitingOwner:
    """Return the report entry of a due key that rotation leaves alone, with its fix."""
    if is_public_only(key):
        fix = (
            f"ask the owner of key {key.id} for a public key of an algorithm that policy "
            f"{policy.name!r} allows (such as {policy.preferred(keyset.purpose)!r}), import it "
            f"with 'agile keyset import {keyset.name} FILE --public --promote', and rotate again"
        )
    else:
        fix = (
            f"the primary of keyset {keyset.name!r} is the public key {primary.id} of another "
            f"party, so rotation does not move objects from key {key.id} to it: move those "
            "objects to a keyset of your own, or make a key with a private part the primary "
            f"with 'agile keyset promote {keyset.name} ID', and rotate again"
        )
    return AwaitingOwner(keyset.name, key.id, key.algorithm, _status(key), reasons, fix)


def _leftover_reasons(key: Any, policy: Policy, now: datetime | None) -> list[str]:
    """Return why a decrypt-only key should still retire (empty when it should not).

    The policy reports a decrypt-only key only when it may no longer decrypt
    or verify.  A key left decrypt-only by an incomplete run may still do so,
    but its algorithm may no longer start new work, and some objects may still
    name it.  Retiring it again lets the next run migrate those objects and
    disable it.  A decrypt-only key whose algorithm may still start new work
    (kept by --keep-old-keys, for example) stays as it is.
    """
    from ..policy.model import SEAL, purpose_of

    try:
        purpose = purpose_of(key.algorithm)
    except AgileError:
        return []
    operation = "seal" if purpose == SEAL else "generate"
    return list(policy.decide(operation, key.algorithm, now=now).reasons)


def _status(key: Any) -> str:
    status = key.status
    return str(getattr(status, "value", status))


def _primary(keyset: Any) -> Any:
    for key in keyset.keys:
        if _status(key) == "primary":
            return key
    return None


def known_key_ids(keystore: Keystore) -> set[str]:
    """Return the id of every key in the keystore, whatever its status."""
    return {key.id for keyset in _every_keyset(keystore) for key in keyset.keys}


def choose_action(header: Any, policy: Policy) -> str:
    """Return the action for an object with ``header`` under ``policy``."""
    if is_signature_envelope(header):
        return "resign"
    decision = policy.decide("encrypt", header.payload_algorithm)
    return "rewrap" if decision.allowed else "reencrypt"


@dataclass(frozen=True, slots=True)
class Migration:
    """The migration of one object: its action, the old keys it names, the stanzas to renew.

    ``refresh`` contains the ids of keys that stay, but whose HPKE stanza names
    a KDF or AEAD that the policy no longer allows for encryption.  Their
    stanza is written again with an allowed suite.
    """

    action: str
    old_key_ids: set[str]
    refresh: set[str]


def needs_migration(
    header: Any,
    targets: dict[str, str],
    policy: Policy,
    decisions: dict[Any, Any] | None = None,
    known_key_ids: Collection[str] | None = None,
) -> Migration | None:
    """Return what an object with ``header`` needs under ``policy``, or None.

    An object migrates when it names an old key (see :func:`stale_key_ids`).
    An encrypted envelope also migrates in two more cases.  The policy may no
    longer allow its payload AEAD for encryption, and then it is re-encrypted
    to the keys it names.  Or a stanza of a key in ``known_key_ids`` names an
    HPKE KDF or AEAD that the policy no longer allows for encryption, and then
    that stanza is written again.
    ``decisions`` caches the policy's decisions, which are the same for every object of a run.
    """
    named = stale_key_ids(header, targets, policy)
    if is_signature_envelope(header):
        return Migration("resign", named, set()) if named else None
    cache: dict[Any, Any] = decisions if decisions is not None else {}
    payload = header.payload_algorithm
    action = cache.get(("action", payload))
    if action is None:
        action = cache[("action", payload)] = choose_action(header, policy)
    refresh = set()
    if known_key_ids is not None:
        for stanza in header.recipients:
            if stanza.key_id not in known_key_ids or stanza.key_id in named:
                continue
            algorithms = _stanza_algorithms(stanza)
            if not all(_allowed(policy, "encrypt", a, cache) for a in algorithms):
                refresh.add(stanza.key_id)
    if named or refresh or action == "reencrypt":
        return Migration(action, named, refresh)
    return None


def _allowed(policy: Policy, operation: str, algorithm: str, cache: dict[Any, Any]) -> bool:
    return bool(_decision(policy, operation, algorithm, cache).allowed)


def _decision(policy: Policy, operation: str, algorithm: str, cache: dict[Any, Any]) -> Any:
    """Return the policy's decision on ``operation`` with ``algorithm``, cached in ``cache``."""
    decision = cache.get((operation, algorithm))
    if decision is None:
        decision = cache[(operation, algorithm)] = policy.decide(operation, algorithm)
    return decision


#: Message of an object that rotation cannot migrate, by (step that fails, policy is the cause).
_BLOCK_REASONS = {
    ("open", True): "policy {policy!r} does not allow decrypting it: {text}",
    ("open", False): "no key of this keystore can open it: {text}",
    ("write", True): "policy {policy!r} does not let rotation write its stanzas: {text}",
    ("write", False): "rotation cannot write its stanzas: {text}",
}

#: Why rotation cannot open stanzas with a key: the reason, and whether the policy is the cause.
Opener = tuple[str, bool] | None


def key_openers(keystore: Keystore, policy: Policy) -> dict[str, Opener]:
    """Return each key id of the keystore with why rotation cannot open its stanzas, or None.

    Rotation opens a stanza with the key's private (or symmetric) part, so a
    public-only, disabled or destroyed key opens nothing.  Opening also unseals
    the keyset's KEK, whose password KDF the policy must allow for decrypt.
    """
    openers: dict[str, Opener] = {}
    for keyset in _every_keyset(keystore):
        denied = policy.password_kdf_reasons(keyset.seal_blob, "decrypt")
        for key in keyset.keys:
            if not key.has_private or not key.status.can_open:
                state = key.status.value if not key.status.can_open else "public-only"
                openers[key.id] = (f"key {key.id} of keyset {keyset.name!r} is {state}", False)
            elif denied:
                reason = f"key {key.id}: keyset {keyset.name!r} opens with a denied password KDF"
                openers[key.id] = (f"{reason} ({'; '.join(denied)})", True)
            else:
                openers[key.id] = None
    return openers


def key_writers(keystore: Keystore, policy: Policy) -> dict[str, Opener]:
    """Return each KEM and aead key id with why rotation cannot write a stanza for it, or None.

    A stanza renewed for its HPKE suite, or kept through a re-encryption, is
    written again for the same key.  So the key must still encrypt (primary or
    enabled, and for an aead keyset its primary), and the policy must
    allow encrypting to it, with an HPKE suite or the fixed RSA-OAEP wrap.
    Each problem comes with whether the policy is its cause, as in
    :func:`key_openers`.
    """
    from ..envelope.recipients import Target, enforce_target

    writers: dict[str, Opener] = {}
    for keyset in _every_keyset(keystore):
        if keyset.purpose not in ("kem", "aead"):
            continue
        for key in keyset.keys:
            status = key.status.value
            if not key.status.can_protect or (keyset.purpose == "aead" and status != "primary"):
                writers[key.id] = (f"key {key.id} of keyset {keyset.name!r} is {status}", False)
                continue
            try:
                enforce_target(policy, Target(key.id, key.algorithm, key=key), key.meta())
            except PolicyViolation as violation:
                reason = f"key {key.id}: {violation}"
                if is_public_only(key):
                    # Only the key's owner can replace it, which the policy's reason does not say.
                    reason += (
                        f"; key {key.id} of keyset {keyset.name!r} is another party's public "
                        "key, so this object can migrate only once its owner's new public key "
                        "is imported and promoted"
                    )
                writers[key.id] = (reason, True)
            else:
                writers[key.id] = None
    return writers


def write_block(
    migration: Migration, header: Any, writers: Mapping[str, Opener]
) -> tuple[str, bool] | None:
    """Return why rotation cannot write the stanzas that ``migration`` keeps, and if by policy.

    A re-encryption writes a stanza again for every recipient that does not
    retire, so each must be a key of this keystore that can receive one.  A
    renewal writes one for each key in ``migration.refresh``.
    """
    if migration.action == "resign":
        return None
    if migration.action == "reencrypt":
        kept = {s.key_id for s in header.recipients} - migration.old_key_ids
    else:
        kept = set(migration.refresh)
    by_policy: list[str] = []
    other: list[str] = []
    for key_id in sorted(kept):
        if key_id not in writers:
            other.append(f"key {key_id} is not in this keystore, so its stanza cannot be written")
            continue
        problem = writers[key_id]
        if problem is not None:
            (by_policy if problem[1] else other).append(problem[0])
    if by_policy:
        return "; ".join(by_policy + other), True
    if other:
        return "; ".join(other), False
    return None


def migration_block(
    header: Any,
    policy: Policy,
    known_key_ids: Collection[str],
    decisions: dict[Any, Any] | None = None,
) -> tuple[str, bool] | None:
    """Return why rotation cannot open an encrypted envelope, and whether the policy is why.

    Migrating decrypts the data key (and, for a re-encryption, the payload)
    under the policy.  The policy checks the payload AEAD and, for an HPKE
    stanza, the KDF and AEAD that the stanza names.  When ``known_key_ids`` is
    a mapping from :func:`key_openers`, a stanza also needs a key that can open
    it.  An envelope that no stanza of this keystore opens would fail after
    the keys changed.  Whether the old key itself may decrypt is checked per
    key (:func:`undecryptable_old_keys`), so it is left out here.
    ``decisions`` caches the policy's decisions, as in :func:`needs_migration`.
    """
    if is_signature_envelope(header):
        return None
    cache: dict[Any, Any] = decisions if decisions is not None else {}
    decision = _decision(policy, "decrypt", header.payload_algorithm, cache)
    if not decision.allowed:
        return "; ".join(decision.reasons), True
    openers = known_key_ids if isinstance(known_key_ids, Mapping) else {}
    by_policy: list[str] = []
    other: list[str] = []
    for stanza in header.recipients:
        if stanza.key_id not in known_key_ids:
            continue
        problem = openers.get(stanza.key_id)
        if problem is not None:
            (by_policy if problem[1] else other).append(problem[0])
            continue
        denied = [
            decision
            for decision in (
                _decision(policy, "decrypt", a, cache) for a in _stanza_algorithms(stanza)
            )
            if not decision.allowed
        ]
        if not denied:
            return None
        by_policy.extend(reason for d in denied for reason in d.reasons)
    # No stanza of this keystore: reported as unreadable elsewhere, or opened by none.
    if by_policy:
        # Another policy could open it, so the policy is the cause.
        return "; ".join(dict.fromkeys(by_policy + other)), True
    if other:
        return "; ".join(dict.fromkeys(other)), False
    return None


def _stanza_algorithms(stanza: Any) -> tuple[str, ...]:
    """Return the KDF and AEAD ids that opening an HPKE ``stanza`` uses (empty for others)."""
    if len(stanza.body) < 4:
        return ()
    # Every stanza of a run names one of a few suites, and building an hpke.Suite
    # costs more than the rest of an object's scan.
    return _suite_algorithms(stanza.algorithm, bytes(stanza.body[:4]))


@functools.lru_cache(maxsize=256)
def _suite_algorithms(algorithm: str, codepoints: bytes) -> tuple[str, ...]:
    """Return the KDF and AEAD ids of the HPKE suite of KEM ``algorithm`` and ``codepoints``.

    ``codepoints`` are the 2-byte KDF and AEAD ids that start an HPKE stanza.
    Empty for a KEM without HPKE and for a suite that agile cannot build.
    """
    from .. import hpke, registry

    try:
        kem_id = registry.descriptor(algorithm).hpke_kem_id
        if kem_id is None:
            return ()
        suite = hpke.Suite.from_codepoints(
            kem_id, int.from_bytes(codepoints[0:2], "big"), int.from_bytes(codepoints[2:4], "big")
        )
    except AgileError:
        return ()  # a damaged stanza fails when it is opened, with its own error
    return (suite.kdf, suite.aead)


def is_signature_envelope(header: Any) -> bool:
    """Return whether ``header`` is the header of a signature envelope."""
    kind = getattr(header, "kind", "")
    return "sign" in str(getattr(kind, "value", kind))


def header_key_ids(header: Any) -> set[str]:
    """Return the key ids an envelope header names (recipients or signers)."""
    ids = {recipient.key_id for recipient in getattr(header, "recipients", ()) or ()}
    ids.update(signer.key_id for signer in getattr(header, "signatures", ()) or ())
    return ids


def stale_key_ids(header: Any, targets: dict[str, str], policy: Policy) -> set[str]:
    """Return the old key ids that still make this object need migration.

    An encrypted envelope needs it while any recipient is an old key.  A
    signature envelope needs it while an old key's signature has no signature
    by its replacement beside it, or while the policy no longer accepts the old
    signature's algorithm for verification (it is then dropped).
    """
    if not is_signature_envelope(header):
        return header_key_ids(header) & set(targets)

    present = {entry.key_id for entry in header.signatures}
    stale = set()
    for entry in header.signatures:
        if entry.key_id not in targets:
            continue
        if targets[entry.key_id] not in present:
            stale.add(entry.key_id)
        elif not policy.decide("verify", entry.algorithm).allowed:
            stale.add(entry.key_id)
    return stale


def signed_message_problem(store: ObjectStore, object_id: str) -> tuple[str, str] | None:
    """Return ``(reason, fix)`` when rotation cannot re-sign signature envelope ``object_id``.

    Re-signing reads the signed message ``NAME`` stored beside ``NAME.sig``,
    so the reason is a missing or unreadable message, or an id without the
    suffix.  None means the message exists; its bytes are not read here.
    """
    remove = "or remove the signature object"
    if not object_id.endswith(SIGNATURE_SUFFIX):
        return (
            f"its name does not end in {SIGNATURE_SUFFIX!r}, so its signed message cannot be found",
            f"rename it to NAME{SIGNATURE_SUFFIX} beside its signed message NAME, {remove}",
        )

    message_id = object_id[: -len(SIGNATURE_SUFFIX)]
    try:
        found = store.read_prefixes([message_id], 0)
    except OSError as error:
        # A directory, or a file this user may not read, named like the message.
        return (
            f"its signed message {message_id!r} cannot be read: {error.strerror or error}",
            f"make {message_id!r} a readable file that contains the signed message, {remove}",
        )
    except AgileError:
        # An id the store rejects, such as the empty one of an object named only ".sig".
        found = {}
    if message_id not in found:
        return (
            f"it has no signed message beside it: {message_id!r} is not in the store",
            f"store the signed message beside it as {message_id!r}, {remove}",
        )
    return None


def is_signed_message(store: ObjectStore, object_id: str) -> bool:
    """Return whether an object that is not an envelope has a detached signature ``NAME.sig``.

    Such an object is the message of that signature, not an unreadable
    envelope.  Only the existence of the signature is checked; none of its
    bytes are read.
    """
    if store.scan_problem(object_id) is not None:
        return False
    try:
        return object_id + SIGNATURE_SUFFIX in store.read_prefixes(
            [object_id + SIGNATURE_SUFFIX], 0
        )
    except (AgileError, OSError):
        # A directory, or a file this user may not read, named like the signature.
        return False


def read_object_header(store: ObjectStore, object_id: str, prefix: bytes) -> Any:
    """Parse the header from ``prefix``; read more of the object when the prefix was too short.

    Only an object that starts like an envelope (the binary magic, or an
    armour BEGIN line after whitespace) gets a second read, and that read is
    bounded by what its header can need (see :func:`_header_bound`).  A large
    file, envelope or not, is therefore never loaded into memory whole.
    """
    from ..envelope import read_header

    if not prefix:
        problem = store.scan_problem(object_id)
        if problem is not None:
            raise StoreError(
                problem,
                fix="replace a link by a copy of its target, rename a file whose name is not "
                "UTF-8, or give the rotating user read and write access, or remove the "
                "object; then rotate again",
            )
    try:
        return read_header(prefix)
    except AgileError:
        bound = _header_bound(prefix)
        if bound <= len(prefix):
            raise
    return _read_longer_header(store, object_id, bound)


#: Bytes of an object that starts with armour or whitespace that the scan reads at
#: most to find its header.  An armoured header of MAX_HEADER bytes takes about
#: 1.4 MiB with CRLF line ends, so about 0.6 MiB is left for whitespace before
#: the BEGIN line.
ARMOURED_HEADER_LIMIT = 2 * MAX_HEADER


def _header_bound(prefix: bytes) -> int:
    """Return how many leading bytes of an object its header can need, judged by ``prefix``.

    A prefix shorter than :data:`HEADER_PREFIX_SIZE` is the whole object.  A
    binary envelope states its header length in the preamble, and the parser
    rejects lengths above MAX_HEADER.  Armour states no length, so
    :data:`ARMOURED_HEADER_LIMIT` bounds it, and any amount of whitespace may
    come before the BEGIN line, so a prefix of only whitespace gets that bound
    too.  Anything else needs no more bytes than the prefix.
    """
    if len(prefix) < HEADER_PREFIX_SIZE:
        return len(prefix)
    if prefix.startswith(MAGIC):
        length = int.from_bytes(prefix[len(MAGIC) + 2 : PREAMBLE_SIZE], "big")
        return length if length <= MAX_HEADER else 0
    if is_armoured(prefix) or not prefix.strip():
        return ARMOURED_HEADER_LIMIT
    return 0


def _read_longer_header(store: ObjectStore, object_id: str, bound: int) -> Any:
    """Parse the header from the first ``bound`` bytes of an object."""
    from ..envelope import read_header

    found = store.read_prefixes([object_id], bound)
    if object_id not in found:
        raise KeyNotFound(f"object {object_id!r} was removed from the store during the scan")
    data, size = found[object_id]
    if data.startswith(MAGIC):
        return read_header(data)

    # The stream reader decodes armour only as far as the header, so the END
    # line, which lies beyond the bound in a large envelope, is not needed.
    try:
        return read_header(io.BytesIO(data))
    except AgileError as error:
        if size <= len(data):
            raise
        found_there = f"hold no complete armoured header ({error})"
        if not data.strip():
            found_there = "are all whitespace"
        raise InvalidEnvelope(
            f"the first {len(data)} bytes of this {size}-byte object {found_there}, and the "
            f"scan reads no more of an object that starts with armour or whitespace",
            fix="remove the whitespace before the BEGIN line, or move the file out of the store",
        ) from error


def scan_store(
    store_name: str,
    store: ObjectStore,
    targets: dict[str, str],
    policy: Policy,
    scanned: Counter[str] | None = None,
    known_key_ids: Collection[str] | None = None,
    writers: Mapping[str, Opener] | None = None,
) -> Iterator[Finding | Unreadable]:
    """Yield a finding for each object to migrate and each unreadable object.

    :func:`needs_migration` decides which objects migrate.
    ``scanned[store_name]`` counts every object read, when a counter is given.
    With ``known_key_ids`` (every key id of the keystore), an object that names
    none of them is reported as unreadable: no key here opens it, and a flipped
    bit in a key id looks the same.  So is an object to migrate that the policy
    does not let rotation open (:func:`migration_block`), with ``blocked`` set.
    A signature envelope to re-sign whose
    signed message the store lacks is reported as unreadable too.  Migrating it
    would fail, and the old signing key must stay decrypt-only while it waits.
    """
    decisions: dict[Any, Any] = {}
    for object_id, prefix in store.iter_prefixes():
        if scanned is not None:
            scanned[store_name] += 1
        try:
            header = read_object_header(store, object_id, prefix)
        except KeyNotFound:
            continue
        except (AgileError, ValueError) as error:
            if is_signed_message(store, object_id):
                continue
            log.warning("store %s: cannot read header of %s: %s", store_name, object_id, error)
            yield Unreadable(store_name, object_id, store.describe(object_id), str(error))
            continue

        if known_key_ids is not None and not any(
            k in known_key_ids for k in header_key_ids(header)
        ):
            ids = ", ".join(sorted(header_key_ids(header)))
            reason = f"names no key of this keystore ({ids})"
            log.warning("store %s: object %s %s", store_name, object_id, reason)
            yield Unreadable(store_name, object_id, store.describe(object_id), reason)
            continue

        try:
            needed = needs_migration(header, targets, policy, decisions, known_key_ids)
            block = (
                migration_block(header, policy, known_key_ids, decisions)
                if needed is not None and known_key_ids is not None
                else None
            )
            written = (
                write_block(needed, header, writers)
                if block is None and needed is not None and writers is not None
                else None
            )
        except AgileError as error:
            # A damaged algorithm id in the header, for example.
            log.warning("store %s: object %s: %s", store_name, object_id, error)
            yield Unreadable(store_name, object_id, store.describe(object_id), str(error))
            continue
        if needed is None:
            continue
        named, action = needed.old_key_ids, needed.action
        if written is not None or block is not None:
            kind = "write" if written is not None else "open"
            found = written if written is not None else block
            assert found is not None
            text, by_policy = found
            block = (
                _BLOCK_REASONS[kind, by_policy].format(policy=policy.name, text=text),
                by_policy,
            )
        if block is not None:
            reason, by_policy = block
            if by_policy:
                # The caller reports it: the dry run lists it, and a real run stops on it.
                log.debug("store %s: object %s: %s", store_name, object_id, reason)
            else:
                log.warning("store %s: object %s: %s", store_name, object_id, reason)
            yield Unreadable(
                store_name, object_id, store.describe(object_id), reason, blocked=by_policy
            )
            continue
        problem = signed_message_problem(store, object_id) if action == "resign" else None
        if problem is not None:
            reason = f"cannot re-sign this signature envelope, because {problem[0]} ({problem[1]})"
            log.warning("store %s: object %s: %s", store_name, object_id, reason)
            yield Unreadable(store_name, object_id, store.describe(object_id), reason)
            continue
        yield Finding(store_name, object_id, action, tuple(sorted(named)))


def plan(
    keystore: Keystore,
    policy: Policy,
    stores: Iterable[tuple[str, ObjectStore]],
    now: datetime | None = None,
) -> Plan:
    """Return the full plan (keys and objects) without changing anything."""
    result = Plan(policy.name, policy.hash, plan_keys(keystore, policy, now))
    result.awaiting_owner = awaiting_owner(keystore, policy, now)
    # The dry run has no new key ids yet; a placeholder target per keyset is enough
    # to tell which objects need work.
    old_ids = {
        key_id: key_plan.target_key_id or f"new:{key_plan.keyset}"
        for key_plan in result.keys
        for key_id in key_plan.old_key_ids
    }
    for name, store in stores:
        result.scanned[name] += 0
        for item in scan_store(
            name,
            store,
            old_ids,
            policy,
            result.scanned,
            key_openers(keystore, policy),
            key_writers(keystore, policy),
        ):
            if isinstance(item, Unreadable):
                result.unreadable.append(item)
            else:
                result.findings.append(item)
    return result


#: Operation that puts a new primary key of each purpose to work (as promotion checks it).
_PROTECT_OPERATION = {"signature": "sign"}


def check_key_plans(keystore: Keystore, policy: Policy, key_plans: Iterable[KeyPlan]) -> None:
    """Raise :class:`PolicyViolation` when the policy forbids a new key that the plan needs.

    A new key is generated, promoted and sealed under its keyset's KEK, so the
    policy must allow ``generate`` and ``encrypt`` (``sign`` for signature keys)
    with the new algorithm and every sealer of the keyset.  Found only when the
    key is created, either denial would stop the run after it was journaled,
    and every resume would stop at the same point.
    """
    from ..policy.model import seal_blob_sealers

    needs_key = [key_plan for key_plan in key_plans if key_plan.new_algorithm is not None]

    sealer_reasons: dict[str, list[str]] = {}
    for key_plan in needs_key:
        blob = keystore.keyset(key_plan.keyset).seal_blob
        reasons = policy.sealer_reasons(seal_blob_sealers(blob))
        if reasons:
            sealer_reasons[key_plan.keyset] = reasons
    if sealer_reasons:
        names = list(sealer_reasons)
        details = "; ".join(
            f"keyset {name!r}: {'; '.join(reasons)}" for name, reasons in sealer_reasons.items()
        )
        raise PolicyViolation(
            f"policy {policy.name!r} does not allow the sealer of {_keysets(names)} that "
            f"rotation would add new keys to, so nothing was changed: {details}",
            fix=policy.reseal_fix(names) + ", then rotate again",
            reasons=[reason for reasons in sealer_reasons.values() for reason in reasons],
        )

    # A new key goes under the keyset's KEK, which its passphrase seal opens with a
    # password KDF: the policy must allow decrypt with it, and encrypt for new material.
    kdf_denials: dict[str, tuple[list[str], str]] = {}
    for key_plan in needs_key:
        blob = keystore.keyset(key_plan.keyset).seal_blob
        reasons = policy.password_kdf_reasons(blob, "decrypt") or policy.password_kdf_reasons(
            blob, "encrypt"
        )
        if reasons:
            kdf_denials[key_plan.keyset] = (reasons, policy.password_kdf_fix(key_plan.keyset, blob))
    if kdf_denials:
        details = "; ".join(
            f"keyset {name!r}: {'; '.join(reasons)}" for name, (reasons, _) in kdf_denials.items()
        )
        raise PolicyViolation(
            f"policy {policy.name!r} does not allow the password KDF of "
            f"{_keysets(list(kdf_denials))} that rotation would add new keys to, so nothing "
            f"was changed: {details}",
            fix="; ".join(fix for _, fix in kdf_denials.values()) + ", then rotate again",
            reasons=[reason for reasons, _ in kdf_denials.values() for reason in reasons],
        )

    denied: dict[str, list[str]] = {}
    for key_plan in needs_key:
        assert key_plan.new_algorithm is not None
        operations = ("generate", _PROTECT_OPERATION.get(key_plan.purpose, "encrypt"))
        for operation in operations:
            decision = policy.decide(operation, key_plan.new_algorithm)
            if not decision.allowed:
                denied.setdefault(key_plan.keyset, []).extend(decision.reasons)
    # generate and encrypt are often denied for the same reason.
    denied = {name: list(dict.fromkeys(reasons)) for name, reasons in denied.items()}
    if denied:
        algorithms = sorted({p.new_algorithm or "" for p in needs_key if p.keyset in denied})
        details = "; ".join(
            f"keyset {name!r}: {'; '.join(reasons)}" for name, reasons in denied.items()
        )
        raise PolicyViolation(
            f"policy {policy.name!r} prefers {', '.join(repr(a) for a in algorithms)} for the "
            f"new keys of {_keysets(list(denied))} but does not allow them, so nothing was "
            f"changed: {details}",
            fix="correct the policy so that its preferred algorithm passes its own rules "
            "('agile policy explain --operation generate --algorithm ID' shows why not)",
            reasons=[reason for reasons in denied.values() for reason in reasons],
        )


def undecryptable_old_keys(policy: Policy, key_plans: Iterable[KeyPlan]) -> dict[str, list[str]]:
    """Return ``{key id: reasons}`` for retiring keys the policy does not let decrypt.

    Migrating an object decrypts its data key with the old key under the
    policy.  Signature keys are left out: re-signing checks old signatures
    whatever the policy decides for their algorithm, and drops those it no
    longer accepts for verify.
    """
    denied = {}
    for key_plan in key_plans:
        if key_plan.purpose == "signature":
            continue
        for key_id in key_plan.old_key_ids:
            algorithm = key_plan.old_algorithms[key_id]
            decision = policy.decide("decrypt", algorithm)
            if not decision.allowed:
                denied[key_id] = list(decision.reasons)
    return denied


def keys_named_in(
    stores: Iterable[tuple[str, ObjectStore]], key_ids: Iterable[str], policy: Policy
) -> set[str]:
    """Return which of ``key_ids`` (keys that encrypt, not sign) objects in ``stores`` name."""
    requested = set(key_ids)
    targets = {key_id: key_id for key_id in requested}
    named: set[str] = set()
    for name, store in stores:
        for item in scan_store(name, store, targets, policy):
            if isinstance(item, Finding):
                named.update(item.old_key_ids)
        if named == requested:
            break
    return named


def check_old_keys_open(
    policy: Policy, key_plans: Iterable[KeyPlan], denied: dict[str, list[str]], named: set[str]
) -> None:
    """Raise :class:`PolicyViolation` when objects name an old key the policy may not decrypt with.

    ``denied`` comes from :func:`undecryptable_old_keys` and ``named`` contains the
    key ids that stored objects name.  Every object of such a key would fail
    after the keys changed.  An old key that no object names retires without
    a decrypt, so it is no reason to stop.
    """
    blocking = [key_id for key_id in denied if key_id in named]
    if not blocking:
        return
    where = {}
    for key_plan in key_plans:
        for key_id in key_plan.old_key_ids:
            where[key_id] = (key_plan.keyset, key_plan.purpose, key_plan.old_algorithms[key_id])
    keys = ", ".join(f"{where[k][0]}/{k} ({where[k][2]})" for k in blocking)
    entries = sorted({f"{where[k][2]!r} in {where[k][1]}.decrypt_only" for k in blocking})
    raise PolicyViolation(
        f"policy {policy.name!r} does not allow decrypting with old keys that stored objects "
        f"name, so rotation could not migrate those objects and nothing was changed: {keys}",
        fix="rotate under a policy that still allows decrypt with the old algorithm while the "
        f"objects migrate (list {', '.join(entries)}), then tighten the policy",
        reasons=[reason for key_id in blocking for reason in denied[key_id]],
    )


def _keysets(names: list[str]) -> str:
    quoted = ", ".join(repr(name) for name in names)
    return f"keyset {quoted}" if len(names) == 1 else f"keysets {quoted}"
