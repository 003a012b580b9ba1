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
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, InvalidPolicy
from .model import (
    NEW_USE,
    PURPOSES,
    SEAL,
    Decision,
    KeyMeta,
    Policy,
    PurposeRules,
    as_utc,
    format_duration,
    precheck,
)

__all__ = ["ProfilePolicy", "decide_with_rules"]


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
        if legacy is not None:
            old_operation = "verify" if rules.legacy_key == "verify_only" else "decrypt"
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
        canonical = json.dumps(self._content(), sort_keys=True, separators=(",", ":"))
        self.hash = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def _content(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "purposes": {purpose: self.rules[purpose].to_dict() for purpose in PURPOSES},
        }

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

    def preferred(self, purpose: str) -> str:
        if purpose not in self.rules:
            raise InvalidArgument(
                f"unknown purpose {purpose!r}", fix="use one of: " + ", ".join(PURPOSES)
            )
        # Validation guarantees at least one attainable id per purpose.
        return self.rules[purpose].attainable()[0]

    @property
    def sealers(self) -> list[str]:
        return list(self.rules[SEAL].allowed)

    def max_key_age(self, purpose: str) -> dt.timedelta | None:
        rules = self.rules.get(purpose)
        return rules.max_key_age if rules is not None else None

    def to_dict(self) -> dict[str, Any]:
        data = self._content()
        data["engine"] = "toml"
        data["source"] = self.source
        data["hash"] = self.hash
        data["preferred"] = {purpose: self.preferred(purpose) for purpose in PURPOSES}
        return data

    def __repr__(self) -> str:
        return f"ProfilePolicy({self.name!r}, {self.hash[:19]}...)"
