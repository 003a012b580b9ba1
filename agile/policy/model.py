"""The policy data model: decisions, key metadata, per-purpose rules and the Policy interface.

A policy decides, per purpose (an algorithm family, or ``seal`` for sealers),
which algorithms may be used for new work (``generate``, ``encrypt``,
``sign``, ``seal``) and which may still open old work (``decrypt``,
``verify``).  Two engines implement :class:`Policy`: TOML profiles
(:mod:`agile.policy.profile`) and Rego modules (:mod:`agile.policy.rego`).
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import AgileError, InvalidArgument, PolicyViolation, UnsupportedAlgorithm
from ..registry import BY_ID, Family
from ..seal.base import SEALERS
from ..seal.passphrase import choose_password_kdf, password_kdfs

__all__ = [
    "OPERATIONS",
    "NEW_USE",
    "OLD_USE",
    "PURPOSES",
    "SEAL",
    "VERIFY_REQUIRE_QUANTUM_SAFE",
    "Decision",
    "KeyMeta",
    "Finding",
    "SealerFinding",
    "PasswordKdfFinding",
    "LegacyEntry",
    "PurposeRules",
    "Policy",
    "purpose_of",
    "parse_duration",
    "format_duration",
    "utc_now",
    "check_keys",
    "check_sealers",
    "check_password_kdfs",
    "seal_blob_sealers",
]

log = logging.getLogger("agile.policy")

#: Purpose name of sealers; every other purpose is an algorithm family.
SEAL = "seal"

PURPOSES: tuple[str, ...] = tuple(family.value for family in Family) + (SEAL,)

#: Operations that start new use of an algorithm; they need the id in ``allowed``.
NEW_USE: tuple[str, ...] = ("generate", "encrypt", "sign", "seal")

#: Operations on existing data; ``decrypt_only`` / ``verify_only`` entries also admit them.
OLD_USE: tuple[str, ...] = ("decrypt", "verify")

OPERATIONS: tuple[str, ...] = NEW_USE + OLD_USE

#: Key of the ``[signature]`` rule that makes verify need a quantum-safe signature.
VERIFY_REQUIRE_QUANTUM_SAFE = "verify_require_quantum_safe"

#: Key statuses (as agile.keys names them) that only open old data.
OPENING_STATUSES = frozenset({"decrypt-only", "disabled"})

#: Key statuses that no longer protect anything and are left out of checks.
INACTIVE_STATUSES = frozenset({"destroyed"})

_DURATION = re.compile(r"^([1-9][0-9]*)([hdwy])\Z")
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}

#: Longest accepted duration (1000 years): a key's creation time plus its maximum age
#: must stay within the years 1 to 9999 that datetime can represent.
MAX_DURATION_SECONDS = 1000 * 365 * 86400

#: Maximum digits in a duration's count: 1000 years is 8,760,000 hours (7 digits), so a
#: longer count is over the limit in every unit.  Checking the length first keeps int()
#: from reaching Python's limit on digits converted (4300 by default).
_MAX_DURATION_DIGITS = len(str(MAX_DURATION_SECONDS // _UNIT_SECONDS["h"]))


def _abbreviate(text: object) -> str:
    """Return ``repr(text)``, shortened to its start and length when it is long."""
    shown = repr(text)
    if len(shown) <= 40:
        return shown
    return f"{shown[:24]}... ({len(str(text))} characters)"


def parse_duration(text: str) -> dt.timedelta:
    """Parse ``"365d"``-style durations (units h, d, w, y; a year is 365 days)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"malformed duration {_abbreviate(text)}")
    limit = f"{MAX_DURATION_SECONDS // 86400}d"
    if len(match.group(1)) > _MAX_DURATION_DIGITS:
        raise ValueError(f"duration {_abbreviate(text)} is longer than {limit}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {_abbreviate(text)} is longer than {limit}")
    return dt.timedelta(seconds=seconds)


def format_duration(value: dt.timedelta) -> str:
    """Format a duration in the largest unit that divides it exactly."""
    seconds = int(value.total_seconds())
    # Years are accepted on input only, so "365d" is shown as written.
    for unit in ("w", "d", "h"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds // 3600}h"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime | None) -> dt.datetime:
    """Return ``moment`` in UTC (now when ``None``); a naive datetime is rejected."""
    if moment is None:
        return utc_now()
    if moment.tzinfo is None:
        raise InvalidArgument(
            f"naive datetime {moment.isoformat()} has no time zone",
            fix="pass an aware datetime, for example datetime.now(timezone.utc)",
        )
    return moment.astimezone(dt.UTC)


def purpose_of(algorithm: str) -> str:
    """Return the purpose of an algorithm id or sealer name; raise if it is neither."""
    if isinstance(algorithm, str) and algorithm in BY_ID:
        return BY_ID[algorithm].family.value
    if isinstance(algorithm, str) and algorithm in SEALERS:
        return SEAL
    raise UnsupportedAlgorithm(
        f"unknown algorithm id or sealer name {algorithm!r}",
        fix="run 'agile algorithms' for the ids; sealers are " + ", ".join(SEALERS),
    )


def operation_applies(operation: str, purpose: str) -> bool:
    """Return whether ``operation`` makes sense for algorithms of ``purpose``."""
    if operation == "generate":
        return purpose != SEAL
    if operation == "seal":
        return purpose == SEAL
    if operation in ("sign", "verify"):
        return purpose == Family.SIGNATURE.value
    # encrypt/decrypt cover every non-signature family: KEMs and AEADs protect data,
    # KDFs, password KDFs, Paillier and secret sharing derive, hide or split it.
    return purpose not in (Family.SIGNATURE.value, SEAL)


def precheck(operation: str, algorithm: str, key: KeyMeta | None) -> tuple[str, str | None]:
    """Check the parts of a question that both engines treat alike.

    Return the purpose, and a denial reason when the operation does not fit the
    purpose (``sign`` with a KEM).  Unknown operations, unknown ids and a key of
    another algorithm raise.
    """
    if operation not in OPERATIONS:
        raise InvalidArgument(
            f"unknown operation {operation!r}",
            fix="use one of: " + ", ".join(OPERATIONS),
        )
    purpose = purpose_of(algorithm)
    if key is not None and key.algorithm != algorithm:
        raise InvalidArgument(
            f"key '{key.key_id}' is for {key.algorithm!r}, not {algorithm!r}",
            fix="pass the key that belongs to the algorithm in question",
        )
    if not operation_applies(operation, purpose):
        return (
            purpose,
            f"operation '{operation}' does not apply to {purpose} algorithm '{algorithm}'",
        )
    return purpose, None


@dataclass(frozen=True, slots=True)
class KeyMeta:
    """Metadata of one key, as the keystore records it (no key material)."""

    key_id: str
    algorithm: str
    created: dt.datetime
    status: str
    purpose: str | None = None
    keyset: str | None = None

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - as_utc(self.created)

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Return the JSON form; with ``now``, also ``age_seconds`` (the Rego input uses it)."""
        data: dict[str, Any] = {
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "created": rfc3339(as_utc(self.created)),
            "status": self.status,
            "purpose": self.purpose,
            "keyset": self.keyset,
        }
        if now is not None:
            data["age_seconds"] = int(self.age(now).total_seconds())
        return data


def rfc3339(moment: dt.datetime) -> str:
    """Format a UTC datetime as RFC 3339 with a ``Z`` suffix and whole seconds."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one policy question, with the rules that decided it."""

    allowed: bool
    #: Rule names (``"kem.allowed"``, ``"aead.min_category"``, ...) that allowed or denied.
    rules: list[str]
    #: Reasons for a denial; empty when allowed.
    reasons: list[str]
    operation: str
    algorithm: str
    policy_hash: str
    policy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "operation": self.operation,
            "algorithm": self.algorithm,
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "policy": self.policy,
            "policy_hash": self.policy_hash,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """A key that violates the policy or is due for rotation."""

    key_id: str
    algorithm: str
    status: str
    keyset: str | None
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyset": self.keyset,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "status": self.status,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class LegacyEntry:
    """A ``decrypt_only`` / ``verify_only`` entry: admitted for old data through ``until``."""

    id: str
    #: Last day (inclusive, UTC) on which old data may still be opened; ``None`` means no end.
    until: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "until": self.until.isoformat() if self.until else None}


@dataclass(frozen=True, slots=True)
class PurposeRules:
    """The rules of one purpose section (``[kem]``, ``[aead]``, ``[seal]``, ...)."""

    purpose: str
    allowed: tuple[str, ...] = ()
    legacy: tuple[LegacyEntry, ...] = ()
    min_category: int | None = None
    require_quantum_safe: bool = False
    require_hybrid: bool = False
    max_key_age: dt.timedelta | None = None
    #: ``[signature]`` only: a signature envelope verifies only if a quantum-safe
    #: signature is among the signatures that verified.
    verify_require_quantum_safe: bool = False

    @property
    def legacy_key(self) -> str:
        """TOML name of the old-data list: ``verify_only`` for signatures, else ``decrypt_only``."""
        return "verify_only" if self.purpose == Family.SIGNATURE.value else "decrypt_only"

    def legacy_entry(self, algorithm: str) -> LegacyEntry | None:
        for entry in self.legacy:
            if entry.id == algorithm:
                return entry
        return None

    def constraint_failures(self, algorithm: str) -> list[tuple[str, str]]:
        """Return ``(rule, reason)`` for each new-use constraint ``algorithm`` fails."""
        if self.purpose == SEAL:
            return []
        descriptor = BY_ID[algorithm]
        failures = []
        if self.min_category is not None and descriptor.category is not None:
            if descriptor.category < self.min_category:
                failures.append(
                    (
                        f"{self.purpose}.min_category",
                        f"'{algorithm}' has security category {descriptor.category}, "
                        f"below {self.purpose}.min_category {self.min_category}",
                    )
                )
        if self.require_quantum_safe and not descriptor.quantum_safe:
            failures.append(
                (
                    f"{self.purpose}.require_quantum_safe",
                    f"'{algorithm}' is not quantum-safe ({self.purpose}.require_quantum_safe)",
                )
            )
        if self.require_hybrid and not descriptor.hybrid:
            failures.append(
                (
                    f"{self.purpose}.require_hybrid",
                    f"'{algorithm}' is not a hybrid ({self.purpose}.require_hybrid)",
                )
            )
        return failures

    def attainable(self) -> list[str]:
        """Return the ``allowed`` ids that pass every new-use constraint, in order."""
        return [item for item in self.allowed if not self.constraint_failures(item)]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"allowed": list(self.allowed)}
        if self.purpose != SEAL:
            data[self.legacy_key] = [entry.to_dict() for entry in self.legacy]
            data["min_category"] = self.min_category
            data["require_quantum_safe"] = self.require_quantum_safe
            data["require_hybrid"] = self.require_hybrid
            data["max_key_age"] = (
                format_duration(self.max_key_age) if self.max_key_age is not None else None
            )
        if self.purpose == Family.SIGNATURE.value:
            data[VERIFY_REQUIRE_QUANTUM_SAFE] = self.verify_require_quantum_safe
        return data


class Policy(abc.ABC):
    """A named, hashed policy that decides which algorithm may do what.

    ``hash`` is ``"sha256:<hex>"`` over the policy's canonical content, so a
    logged decision names exactly the rules that produced it.
    """

    name: str
    hash: str
    #: Origin of the policy: a built-in spec or a file path.
    source: str

    @abc.abstractmethod
    def decide(
        self,
        operation: str,
        algorithm: str,
        *,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> Decision:
        """Decide whether ``operation`` may use ``algorithm`` (a sealer name for ``seal``)."""

    @abc.abstractmethod
    def preferred(self, purpose: str) -> str:
        """Return the algorithm (or sealer) new work of ``purpose`` should use."""

    @property
    @abc.abstractmethod
    def sealers(self) -> list[str]:
        """Sealer names allowed to protect new keysets, preferred first."""

    @abc.abstractmethod
    def max_key_age(self, purpose: str) -> dt.timedelta | None:
        """Return how long a key of ``purpose`` may be used for new work, or ``None``."""

    @property
    @abc.abstractmethod
    def verify_require_quantum_safe(self) -> bool:
        """True when verify needs a quantum-safe signature among the signatures that verified."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form shown by ``agile policy show --json``."""

    def allows_sealer(self, name: str) -> bool:
        return name in self.sealers

    def enforce(
        self,
        operation: str,
        algorithm: str,
        *,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """Raise :class:`PolicyViolation` unless the policy allows the operation."""
        self._log_and_raise(
            self.decide(operation, algorithm, key=key, now=now), operation, algorithm, key, now
        )

    def _log_and_raise(
        self,
        decision: Decision,
        operation: str,
        algorithm: str,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """Log ``decision`` and raise :class:`PolicyViolation` when it is a denial."""
        log.info(
            "policy %s (%s): %s %s -> %s %s",
            self.name,
            self.hash,
            operation,
            algorithm,
            "allow" if decision.allowed else "deny",
            ",".join(decision.rules),
        )
        if decision.allowed:
            return
        raise PolicyViolation(
            f"policy {self.name!r} does not allow {operation} with {algorithm!r}: "
            + "; ".join(decision.reasons),
            fix=self._fix_for(operation, algorithm, key, now),
            reasons=decision.reasons,
        )

    def enforce_quantum_safe_verify(self, verified: Sequence[tuple[str, str]]) -> None:
        """Raise :class:`PolicyViolation` if the rule is on and no signature is quantum-safe.

        The rule is ``signature.verify_require_quantum_safe``, and ``verified``
        lists the ``(key id, algorithm)`` of each signature that verified.  The
        caller has checked every signature it passes, classical ones included, so
        a dual-signed envelope keeps both guarantees.  The list of signatures in
        an envelope is not signed, so without this rule a copy stripped down to
        its classical signature would still verify.
        """
        if not self.verify_require_quantum_safe:
            return

        rule = f"{Family.SIGNATURE.value}.{VERIFY_REQUIRE_QUANTUM_SAFE}"
        signers = ", ".join(f"key {key_id} ({algorithm})" for key_id, algorithm in verified)
        quantum_safe = [
            algorithm
            for _, algorithm in verified
            if algorithm in BY_ID and BY_ID[algorithm].quantum_safe
        ]
        log.info(
            "policy %s (%s): verify with %s -> %s %s",
            self.name,
            self.hash,
            signers or "no signature",
            "allow" if quantum_safe else "deny",
            rule,
        )
        if quantum_safe:
            return
        reason = (
            f"policy {self.name!r} requires a quantum-safe signature ({rule}), "
            f"but only classical signatures verified: {signers or 'none'}"
        )
        raise PolicyViolation(
            reason,
            fix="sign the message again with a post-quantum key ('agile rotate' re-signs "
            "stored signatures), import the post-quantum public key of the signer if the "
            f"envelope carries its signature, or verify under a policy without {rule}",
            reasons=[reason],
        )

    def _fix_for(
        self,
        operation: str,
        algorithm: str,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        """Return the fix for a denied ``operation`` with ``algorithm``.

        Opening old data needs a policy that still admits the algorithm, so no
        other algorithm is suggested for it.  A key denied only for its age
        needs a new key, and an algorithm is named only if new keys use another.
        """
        try:
            purpose = purpose_of(algorithm)
            preferred = self.preferred(purpose)
        except AgileError:
            return "run 'agile policy explain' for details"

        if operation in OLD_USE:
            legacy_key = "verify_only" if purpose == Family.SIGNATURE.value else "decrypt_only"
            return (
                f"use a policy that still allows {operation} with {algorithm!r}, for example "
                f"one that lists it in {purpose}.{legacy_key}"
            )
        if key is not None and self.decide(operation, algorithm, now=now).allowed:
            if preferred == algorithm:
                return f"rotate key '{key.key_id}' to a new key with 'agile rotate'"
            return (
                f"rotate key '{key.key_id}' to a new {preferred!r} key (preferred by policy "
                f"{self.name!r}) with 'agile rotate'"
            )
        if preferred == algorithm:
            return (
                f"change policy {self.name!r}: it prefers {algorithm!r} for {purpose} but does "
                f"not allow {operation} with it"
            )
        return f"use {preferred!r} (preferred by policy {self.name!r}) or change the policy"

    def sealer_reasons(self, sealers: Iterable[str], now: dt.datetime | None = None) -> list[str]:
        """Return why the policy does not allow each of ``sealers`` to seal (empty if all may).

        This is the ``seal`` decision that ``create_keyset`` enforces for a new
        keyset's sealer and each member of an sss quorum.
        """
        reasons = []
        for name in dict.fromkeys(sealers):
            try:
                decision = self.decide("seal", name, now=now)
            except AgileError as error:
                reasons.append(str(error))
                continue
            reasons.extend(decision.reasons)
        return reasons

    def reseal_fix(self, keysets: Sequence[str]) -> str:
        """Return the command that moves ``keysets`` to the sealer the policy prefers."""
        try:
            sealer = self.preferred(SEAL)
        except AgileError:
            sealer = self.sealers[0] if self.sealers else "SEALER"
        if len(keysets) == 1:
            return (
                f"reseal it with a sealer that policy {self.name!r} allows: "
                f"'agile keyset reseal {keysets[0]} --seal {sealer}'"
            )
        return (
            f"reseal each with a sealer that policy {self.name!r} allows: "
            f"'agile keyset reseal NAME --seal {sealer}' for {', '.join(keysets)}"
        )

    def enforce_keyset_sealers(
        self, keyset: str, blob: Mapping[str, Any], action: str, now: dt.datetime | None = None
    ) -> None:
        """Raise :class:`PolicyViolation` unless new key material may go under ``blob``.

        ``blob`` is the sealed KEK of ``keyset``, and ``action`` names what the
        caller was about to do ("add a key to it").  The checks are those of
        :meth:`seal_blob_reasons`: every sealer, then ``decrypt`` and ``encrypt``
        with each password KDF.
        """
        reasons = self.sealer_reasons(seal_blob_sealers(blob), now)
        if reasons:
            log.info("policy %s (%s): sealer of keyset %s -> deny", self.name, self.hash, keyset)
            raise PolicyViolation(
                f"policy {self.name!r} does not allow the sealer of keyset {keyset!r}, so it "
                f"cannot {action}: " + "; ".join(reasons),
                fix=self.reseal_fix([keyset]),
                reasons=reasons,
            )

        self.enforce_keyset_open(keyset, blob, action, now)

        reasons = self.password_kdf_reasons(blob, "encrypt", now)
        if reasons:
            log.info(
                "policy %s (%s): password KDF of keyset %s, encrypt -> deny",
                self.name,
                self.hash,
                keyset,
            )
            raise PolicyViolation(
                f"policy {self.name!r} does not allow encrypt with the password KDF of keyset "
                f"{keyset!r}, so it cannot {action}: " + "; ".join(reasons),
                fix=self.password_kdf_fix(keyset, blob),
                reasons=reasons,
            )

    def password_kdf_reasons(
        self, blob: Mapping[str, Any], operation: str, now: dt.datetime | None = None
    ) -> list[str]:
        """Return why the policy denies ``operation`` with the password KDFs of ``blob``.

        ``blob`` is a sealed KEK, and its KDFs are those of its passphrase seals (sss
        members included).  Opening the KEK is ``decrypt`` and sealing under it is
        ``encrypt``.  The list is empty when the policy allows every KDF.
        """
        reasons = []
        for kdf in dict.fromkeys(password_kdfs(blob)):
            try:
                decision = self.decide(operation, kdf, now=now)
            except AgileError as error:
                # A KDF id missing from the registry comes from a damaged blob.
                reasons.append(f"the sealed KEK names the unknown password KDF {kdf!r}: {error}")
                continue
            reasons.extend(decision.reasons)
        return reasons

    def seal_blob_reasons(
        self, blob: Mapping[str, Any], now: dt.datetime | None = None
    ) -> list[str]:
        """Return why the policy does not allow new key material under the sealed KEK ``blob``.

        Adding a key opens the KEK and seals the new private key under it, so the
        ``[seal]`` rule must allow every sealer of ``blob`` and the
        ``[password-kdf]`` rule must allow ``decrypt`` and ``encrypt`` with each
        password KDF.  The list is empty when all of them are allowed.
        """
        reasons = self.sealer_reasons(seal_blob_sealers(blob), now)
        opening = self.password_kdf_reasons(blob, "decrypt", now)
        # Under a TOML policy a KDF denied for decrypt is denied for encrypt too, so only the
        # decrypt denial is reported.
        return reasons + (opening or self.password_kdf_reasons(blob, "encrypt", now))

    def password_kdf_fix(self, keyset: str, blob: Mapping[str, Any]) -> str:
        """Return the command that moves ``keyset`` to a password KDF the policy allows.

        ``agile keyset reseal`` opens the KEK with its current KDF, so the policy
        it runs under must allow ``decrypt`` with that KDF.  When this policy does
        not, the fix names the policy the reseal needs.  The reseal moves every
        passphrase seal to the new KDF, the passphrase members of an sss keyset too.
        """
        try:
            target = choose_password_kdf(self)
        except PolicyViolation:
            return (
                f"policy {self.name!r} allows no password KDF of the passphrase sealer, so "
                f"reseal keyset {keyset!r} with a device sealer under a policy that allows it: "
                f"'agile keyset reseal {keyset} --seal tpm2 --policy FILE'"
            )
        current = (
            ", ".join(kdf for kdf in dict.fromkeys(password_kdfs(blob)) if kdf != target)
            or "its current password KDF"
        )
        if not self.password_kdf_reasons(blob, "decrypt"):
            return (
                f"reseal it with {target}, which policy {self.name!r} allows: "
                f"'agile keyset reseal {keyset}{self._policy_option()}'"
            )
        return (
            f"reseal it with {target} under a policy that allows {target} in [password-kdf] "
            f"and lists {current} in password-kdf.decrypt_only: 'agile keyset reseal {keyset} "
            "--policy FILE' with such a policy FILE"
        )

    def _policy_option(self) -> str:
        """Return `` --policy SPEC`` that loads this policy again, or empty for a stored one.

        A policy stored in the keystore (``agile policy set``) is the active
        policy, which commands use without ``--policy``.
        """
        if " (stored from " in self.source or self.source.endswith("policy.json"):
            return ""
        return f" --policy {shlex.quote(self.source)}"

    def enforce_keyset_open(
        self,
        keyset: str,
        blob: Mapping[str, Any],
        action: str,
        now: dt.datetime | None = None,
    ) -> None:
        """Raise :class:`PolicyViolation` unless the policy lets ``blob`` be opened.

        ``blob`` is the sealed KEK of ``keyset``, and each of its password KDFs
        needs ``decrypt``.  ``action`` names what the caller was about to do
        ("split its KEK into shares").
        """
        reasons = self.password_kdf_reasons(blob, "decrypt", now)
        if not reasons:
            return
        log.info(
            "policy %s (%s): password KDF of keyset %s, decrypt -> deny",
            self.name,
            self.hash,
            keyset,
        )
        raise PolicyViolation(
            f"policy {self.name!r} does not allow decrypt with the password KDF of keyset "
            f"{keyset!r}, so it cannot open the keyset's key-encryption key to {action}: "
            + "; ".join(reasons),
            fix=self.password_kdf_fix(keyset, blob),
            reasons=reasons,
        )

    def due_for_rotation(self, key: KeyMeta, now: dt.datetime | None = None) -> list[str]:
        """Return why ``key`` needs attention (empty when it is fine).

        A key that may still protect new data (primary, enabled) needs rotation
        when its algorithm may no longer start new work, or when it is older than
        the purpose's ``max_key_age``.  NIST SP 800-57 Part 1 §5.3 ends a key's
        originator-usage period while its data may still be opened.  A key that
        only opens old data (decrypt-only, disabled) is reported when the policy
        no longer lets it decrypt or verify.
        """
        moment = as_utc(now)
        if key.status in INACTIVE_STATUSES:
            return []
        try:
            purpose = purpose_of(key.algorithm)
        except AgileError as error:
            return [str(error)]

        if key.status in OPENING_STATUSES and purpose != SEAL:
            operation = "verify" if purpose == Family.SIGNATURE.value else "decrypt"
            return list(self.decide(operation, key.algorithm, now=moment).reasons)

        operation = "seal" if purpose == SEAL else "generate"
        reasons = list(self.decide(operation, key.algorithm, now=moment).reasons)
        limit = self.max_key_age(purpose)
        if limit is not None and key.age(moment) > limit:
            reasons.append(
                f"key '{key.key_id}' is older than {purpose}.max_key_age "
                f"{format_duration(limit)} (created {rfc3339(as_utc(key.created))})"
            )
        return reasons


def seal_blob_sealers(blob: Mapping[str, Any]) -> list[str]:
    """Return the sealer names of a sealed KEK: its own, then those of sss members, nested too."""
    names: list[str] = []
    name = blob.get("sealer")
    if isinstance(name, str):
        names.append(name)
    members = blob.get("members") if name == "sss" else None
    for member in members if isinstance(members, list) else []:
        if isinstance(member, Mapping):
            names.extend(seal_blob_sealers(member))
    return names


@dataclass(frozen=True, slots=True)
class SealerFinding:
    """A keyset whose KEK is sealed with a sealer the policy does not allow."""

    keyset: str
    #: Every sealer of the keyset's sealed KEK (sss members included).
    sealers: list[str]
    reasons: list[str]
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyset": self.keyset,
            "sealers": list(self.sealers),
            "reasons": list(self.reasons),
            "fix": self.fix,
        }


def check_sealers(
    policy: Policy,
    keysets: Iterable[tuple[str, Mapping[str, Any]]],
    now: dt.datetime | None = None,
) -> list[SealerFinding]:
    """Return a finding for each ``(keyset name, sealed KEK)`` whose sealers ``policy`` denies."""
    findings = []
    for name, blob in keysets:
        sealers = seal_blob_sealers(blob)
        reasons = policy.sealer_reasons(sealers, now)
        if reasons:
            findings.append(SealerFinding(name, sealers, reasons, policy.reseal_fix([name])))
    return findings


@dataclass(frozen=True, slots=True)
class PasswordKdfFinding:
    """A keyset whose KEK is sealed with a password KDF the policy does not allow for new seals."""

    keyset: str
    #: Every password KDF of the keyset's sealed KEK (sss members included).
    password_kdfs: list[str]
    reasons: list[str]
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyset": self.keyset,
            "password_kdfs": list(self.password_kdfs),
            "reasons": list(self.reasons),
            "fix": self.fix,
        }


def check_password_kdfs(
    policy: Policy,
    keysets: Iterable[tuple[str, Mapping[str, Any]]],
    now: dt.datetime | None = None,
) -> list[PasswordKdfFinding]:
    """Return a finding for each ``(keyset name, sealed KEK)`` whose password KDF is denied.

    A KDF is denied when the policy does not allow ``encrypt`` with it, because
    a key added to the keyset (by ``add-key`` or rotation) is sealed under it.
    """
    findings = []
    for name, blob in keysets:
        reasons = policy.password_kdf_reasons(blob, "encrypt", now)
        if reasons:
            kdfs = list(dict.fromkeys(password_kdfs(blob)))
            findings.append(
                PasswordKdfFinding(name, kdfs, reasons, policy.password_kdf_fix(name, blob))
            )
    return findings


def check_keys(
    policy: Policy, keys: Iterable[KeyMeta], now: dt.datetime | None = None
) -> list[Finding]:
    """Return a finding for every key that violates ``policy`` or is due for rotation."""
    moment = as_utc(now)
    findings = []
    for key in keys:
        reasons = policy.due_for_rotation(key, moment)
        if reasons:
            findings.append(Finding(key.key_id, key.algorithm, key.status, key.keyset, reasons))
    return findings
