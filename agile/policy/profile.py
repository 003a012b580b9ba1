"""The decision engine of TOML profiles.

New work (``generate``, ``encrypt``, ``sign``, ``seal``) needs the id in the
purpose's ``allowed`` list and must pass ``min_category``,
``require_quantum_safe`` and ``require_hybrid``.  A key older than
``max_key_age`` may not start new work.  Old work (``decrypt``, ``verify``)
accepts ``allowed`` ids and ``decrypt_only`` / ``verify_only`` entries whose
``until`` day has not passed.  Nothing falls back to another algorithm: a
denied decision names its reasons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, InvalidPolicy
from ..registry import Family
from .model import (
    NEW_USE,
    PURPOSES,
    SEAL,
    VERIFY_REQUIRE_QUANTUM_SAFE,
    Decision,
    KeyMeta,
    Policy,
    PurposeRules,
    as_utc,
    format_duration,
    log,
    precheck,
    purpose_of,
)

__all__ = ["ProfilePolicy", "decide_with_rules"]

#: Cached allow decisions per policy object; the table is emptied when it is full.
_ALLOW_CACHE_SIZE = 1024
#: Seconds by which a cached allow decision expires before the instant its rule would flip,
#: so that float rounding of timestamps can only make the cache expire early.
_EXPIRY_MARGIN = 1.0
_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Allowed:
    """A cached allow decision: valid for every instant before ``expires`` (POSIX seconds)."""

    expires: float
    #: The purpose's rules object the decision was computed from (checked by identity).
    rules: PurposeRules
    rule_names: str


@dataclass(frozen=True, slots=True)
class _Verdict:
    allowed: bool
    rules: list[str]
    reasons: list[str]


def _needs(operation: str, rules: PurposeRules) -> str:
    choices = rules.attainable() or list(rules.allowed)
    return f"{operation} needs one of: {', '.join(choices)}"


def _new_use(
    operation: str,
    algorithm: str,
    rules: PurposeRules,
    policy_name: str,
    key: KeyMeta | None,
    now: dt.datetime,
) -> _Verdict:
    purpose = rules.purpose
    if algorithm not in rules.allowed:
        legacy = rules.legacy_entry(algorithm)
        old_operation = "verify" if rules.legacy_key == "verify_only" else "decrypt"
        if legacy is not None and legacy.until is not None and now.date() > legacy.until:
            # Past its last day the entry admits nothing, so "only for decrypt" would be false.
            reason = (
                f"'{algorithm}' was allowed only for {old_operation} under policy "
                f"'{policy_name}' until {legacy.until.isoformat()} "
                f"({purpose}.{rules.legacy_key}), which has passed; {_needs(operation, rules)}"
            )
        elif legacy is not None:
            reason = (
                f"'{algorithm}' is only allowed for {old_operation} under policy "
                f"'{policy_name}' ({purpose}.{rules.legacy_key}); {_needs(operation, rules)}"
            )
        else:
            reason = (
                f"'{algorithm}' is not in {purpose}.allowed of policy '{policy_name}'; "
                f"{_needs(operation, rules)}"
            )
        return _Verdict(False, [f"{purpose}.allowed"], [reason])

    failures = rules.constraint_failures(algorithm)

    # NIST SP 800-57 Part 1 §5.3: past its originator-usage period a key may
    # still open old data but must not protect new data.
    if key is not None and rules.max_key_age is not None and key.age(now) > rules.max_key_age:
        failures.append(
            (
                f"{purpose}.max_key_age",
                f"key '{key.key_id}' is older than {purpose}.max_key_age "
                f"{format_duration(rules.max_key_age)}; rotate it",
            )
        )
    if failures:
        return _Verdict(
            False, sorted({rule for rule, _ in failures}), sorted(r for _, r in failures)
        )
    return _Verdict(True, [f"{purpose}.allowed"], [])


def _old_use(algorithm: str, rules: PurposeRules, policy_name: str, now: dt.datetime) -> _Verdict:
    purpose = rules.purpose
    if algorithm in rules.allowed:
        return _Verdict(True, [f"{purpose}.allowed"], [])

    legacy_rule = f"{purpose}.{rules.legacy_key}"
    entry = rules.legacy_entry(algorithm)
    if entry is None:
        return _Verdict(
            False,
            sorted([f"{purpose}.allowed", legacy_rule]),
            [
                f"'{algorithm}' is not in {purpose}.allowed or {legacy_rule} "
                f"of policy '{policy_name}'"
            ],
        )

    # ``until`` is the last day, inclusive, in UTC.
    if entry.until is not None and now.date() > entry.until:
        old_operation = "verify" if rules.legacy_key == "verify_only" else "decrypt"
        return _Verdict(
            False,
            [legacy_rule],
            [
                f"'{algorithm}' was allowed for {old_operation} until "
                f"{entry.until.isoformat()} ({legacy_rule}), which has passed"
            ],
        )
    return _Verdict(True, [legacy_rule], [])


def decide_with_rules(
    rules_by_purpose: dict[str, PurposeRules],
    policy_name: str,
    operation: str,
    algorithm: str,
    key: KeyMeta | None,
    now: dt.datetime,
) -> tuple[bool, list[str], list[str]]:
    """Return ``(allowed, rules, reasons)`` for one question against parsed rules."""
    purpose, mismatch = precheck(operation, algorithm, key)
    if mismatch is not None:
        return False, ["operation"], [mismatch]

    rules = rules_by_purpose[purpose]
    if operation in NEW_USE:
        verdict = _new_use(operation, algorithm, rules, policy_name, key, now)
    else:
        verdict = _old_use(algorithm, rules, policy_name, now)
    return verdict.allowed, verdict.rules, verdict.reasons


def allow_expiry(operation: str, algorithm: str, rules: PurposeRules, key: KeyMeta | None) -> float:
    """Return the POSIX instant before which an allow decision of ``rules`` stays an allow.

    Only two rules read the clock, and both only ever turn an allow into a deny
    as time goes forward:

    * ``max_key_age`` (new use with a key): allowed while ``now - created <= max_key_age``;
    * a ``decrypt_only`` / ``verify_only`` entry with ``until`` (old use of an id
      not in ``allowed``): allowed while ``now.date() <= until`` in UTC.

    So if the decision at some instant was an allow, it is an allow at every
    instant before the first of these deadlines, earlier instants included (a
    clock set back cannot turn it into a deny).  Every other input of the
    decision (operation, algorithm, key metadata, the purpose's rules) is part of
    the cache key.  Returns ``inf`` when no rule reads the clock.
    """
    deadline = math.inf
    if operation in NEW_USE:
        if key is not None and rules.max_key_age is not None:
            try:
                deadline = (as_utc(key.created) + rules.max_key_age).timestamp()
            except OverflowError:
                pass  # past the year 9999, so the deadline never comes
    elif algorithm not in rules.allowed:
        entry = rules.legacy_entry(algorithm)
        if entry is not None and entry.until is not None:
            midnight = dt.datetime.combine(entry.until + _ONE_DAY, dt.time(), tzinfo=dt.UTC)
            deadline = midnight.timestamp()
    return deadline - _EXPIRY_MARGIN


class ProfilePolicy(Policy):
    """A policy parsed from TOML: one :class:`PurposeRules` per purpose."""

    def __init__(
        self,
        name: str,
        description: str,
        rules: dict[str, PurposeRules],
        *,
        source: str,
    ) -> None:
        missing = [purpose for purpose in PURPOSES if purpose not in rules]
        if missing:
            raise InvalidPolicy(
                f"{source}: policy {name!r} has no section for {', '.join(missing)}",
                fix="add the sections or set base = 'default' to inherit them",
            )
        self.name = name
        self.description = description
        self.rules = dict(rules)
        self.source = source
        canonical = json.dumps(self._hashed_content(), sort_keys=True, separators=(",", ":"))
        self.hash = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        # Decision caches; see enforce() and preferred() for why they are exact.
        self._allowed: dict[tuple[str, str, KeyMeta | None], _Allowed] = {}
        self._preferred: dict[str, tuple[PurposeRules, str]] = {}

    def _content(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "purposes": {purpose: self.rules[purpose].to_dict() for purpose in PURPOSES},
        }

    def _hashed_content(self) -> dict[str, Any]:
        """Return the content the hash covers: ``_content()`` without a rule that is off.

        ``verify_require_quantum_safe`` was added after hashes had been recorded in
        rotation journals and audit logs.  Leaving it out while it is false keeps
        the hash of every policy that does not use it as it was.
        """
        content = self._content()
        signature = content["purposes"][Family.SIGNATURE.value]
        if not signature[VERIFY_REQUIRE_QUANTUM_SAFE]:
            del signature[VERIFY_REQUIRE_QUANTUM_SAFE]
        return content

    def decide(
        self,
        operation: str,
        algorithm: str,
        *,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> Decision:
        allowed, rules, reasons = decide_with_rules(
            self.rules, self.name, operation, algorithm, key, as_utc(now)
        )
        return Decision(allowed, rules, reasons, operation, algorithm, self.hash, self.name)

    def enforce(
        self,
        operation: str,
        algorithm: str,
        *,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """Raise :class:`PolicyViolation` unless the policy allows the operation.

        Allow decisions are cached.  A decision is a pure function of the
        operation, the algorithm, the key metadata, the purpose's
        :class:`PurposeRules` and the time (the policy name appears only in
        denial reasons).  The first three are the cache key, the rules object is
        compared by identity (so replacing an entry of ``rules`` invalidates
        it), and :func:`allow_expiry` bounds the time.  Denials are never cached,
        and a subclass that overrides :meth:`decide` bypasses the cache.
        """
        if type(self).decide is not ProfilePolicy.decide:
            super().enforce(operation, algorithm, key=key, now=now)
            return
        cache_key = (operation, algorithm, key)
        moment = time.time() if now is None else as_utc(now).timestamp()
        cached = self._allowed.get(cache_key)
        if cached is not None and moment < cached.expires:
            purpose = cached.rules.purpose
            if self.rules.get(purpose) is cached.rules:
                log.info(
                    "policy %s (%s): %s %s -> allow %s",
                    self.name,
                    self.hash,
                    operation,
                    algorithm,
                    cached.rule_names,
                )
                return
        # decide() on a snapshot of the rules, so that the cached entry names the rules
        # object the decision was made from even if an entry is replaced meanwhile.
        snapshot = dict(self.rules)
        allowed, rule_names, reasons = decide_with_rules(
            snapshot, self.name, operation, algorithm, key, as_utc(now)
        )
        decision = Decision(
            allowed, rule_names, reasons, operation, algorithm, self.hash, self.name
        )
        if decision.allowed:
            # An allowed decision passed precheck, so the algorithm has a purpose.
            rules = snapshot[purpose_of(algorithm)]
            expires = allow_expiry(operation, algorithm, rules, key)
            if len(self._allowed) >= _ALLOW_CACHE_SIZE:
                self._allowed.clear()
            self._allowed[cache_key] = _Allowed(expires, rules, ",".join(decision.rules))
        self._log_and_raise(decision, operation, algorithm, key, now)

    def preferred(self, purpose: str) -> str:
        if purpose not in self.rules:
            raise InvalidArgument(
                f"unknown purpose {purpose!r}", fix="use one of: " + ", ".join(PURPOSES)
            )
        # The choice depends on the purpose's rules only (no clock), so it is cached
        # per rules object.
        rules = self.rules[purpose]
        cached = self._preferred.get(purpose)
        if cached is not None and cached[0] is rules:
            return cached[1]
        # Validation guarantees at least one attainable id per purpose.
        choice = rules.attainable()[0]
        self._preferred[purpose] = (rules, choice)
        return choice

    @property
    def sealers(self) -> list[str]:
        return list(self.rules[SEAL].allowed)

    def max_key_age(self, purpose: str) -> dt.timedelta | None:
        rules = self.rules.get(purpose)
        return rules.max_key_age if rules is not None else None

    @property
    def verify_require_quantum_safe(self) -> bool:
        return self.rules[Family.SIGNATURE.value].verify_require_quantum_safe

    def to_dict(self) -> dict[str, Any]:
        data = self._content()
        data["engine"] = "toml"
        data["source"] = self.source
        data["hash"] = self.hash
        data["preferred"] = {purpose: self.preferred(purpose) for purpose in PURPOSES}
        return data

    def __repr__(self) -> str:
        return f"ProfilePolicy({self.name!r}, {self.hash[:19]}...)"
