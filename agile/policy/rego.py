"""Policies written in Rego (OPA's policy language), evaluated in process with regorus.

The module must define one package.  agile sets ``input`` to::

    {"operation": "encrypt", "purpose": "kem",
     "algorithm": {... descriptor.to_dict() ..., or {"id": "tpm2", "family": "seal"}},
     "key": {"key_id", "algorithm", "created", "status", "purpose", "keyset",
             "age_seconds"} or null,
     "time": "2026-12-04T20:10:13Z"}

and reads these rules of the package: ``allow`` (boolean), ``deny`` (set of
reasons), ``rules`` (set of rule names), ``preferred`` (purpose -> id),
``sealers`` (array), and optionally ``max_key_age`` (purpose -> "365d"),
``verify_require_quantum_safe`` (boolean), ``name`` and ``description``.  An
operation is allowed when ``allow`` is true and ``deny`` is empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from typing import Any

from ..errors import InvalidArgument, InvalidPolicy
from ..registry import BY_ID, Family
from ..seal.base import SEALERS
from .model import (
    PURPOSES,
    SEAL,
    VERIFY_REQUIRE_QUANTUM_SAFE,
    Decision,
    KeyMeta,
    Policy,
    as_utc,
    format_duration,
    parse_duration,
    precheck,
    rfc3339,
)

__all__ = ["RegoPolicy", "rego_input"]

_REQUIRED = ("allow", "deny", "rules", "preferred", "sealers")


def rego_input(
    operation: str, algorithm: str, purpose: str, key: KeyMeta | None, now: dt.datetime
) -> dict[str, Any]:
    """Return the ``input`` document of a Rego evaluation for one question."""
    if purpose == SEAL:
        descriptor: dict[str, Any] = {"id": algorithm, "family": SEAL}
    else:
        descriptor = BY_ID[algorithm].to_dict()
    return {
        "operation": operation,
        "purpose": purpose,
        "algorithm": descriptor,
        "key": key.to_dict(now) if key is not None else None,
        "time": rfc3339(now),
    }


def _message(error: Exception) -> str:
    # regorus appends a Rust backtrace to its messages; the lines before it name the problem.
    text = str(error).split("Stack backtrace:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip() and line.strip() != "|"]
    return " ".join(lines) or type(error).__name__


class RegoPolicy(Policy):
    """A policy whose decisions come from a Rego module."""

    def __init__(self, text: str, *, source: str) -> None:
        try:
            import regorus
        except ImportError:
            raise InvalidPolicy(
                f"{source}: Rego policies need the regorus module",
                fix="pip install 'agile-crypto[rego]'",
            ) from None

        self.source = source
        self.text = text
        self.hash = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._lock = threading.Lock()
        self._engine = regorus.Engine()
        try:
            self._engine.add_policy(source, text)
            packages = self._engine.get_packages()
        except RuntimeError as error:
            raise InvalidPolicy(
                f"{source}: invalid Rego: {_message(error)}", fix="fix the Rego syntax"
            ) from None
        if len(packages) != 1:
            raise InvalidPolicy(
                f"{source}: expected one Rego package, found {len(packages)}",
                fix="put the policy in a single package, for example 'package agile.policy'",
            )
        self._package = packages[0]

        # The static outputs do not depend on the question; any valid input yields them.
        probe = rego_input("generate", "x25519", "kem", None, dt.datetime.now(dt.UTC))
        outputs = self._evaluate(probe)
        missing = [rule for rule in _REQUIRED if rule not in outputs]
        if missing:
            raise InvalidPolicy(
                f"{source}: package {self._package} does not define {', '.join(missing)}",
                fix="define allow, deny, rules, preferred and sealers (see docs/policy.md)",
            )
        self.name = str(outputs.get("name") or source)
        self.description = str(outputs.get("description") or "")
        self._preferred = self._check_preferred(outputs["preferred"])
        self._sealers = self._check_sealers(outputs["sealers"])
        self._max_key_age = self._check_ages(outputs.get("max_key_age") or {})
        self._verify_require_quantum_safe = self._check_verify_rule(
            outputs.get(VERIFY_REQUIRE_QUANTUM_SAFE, False)
        )

    def _evaluate(self, document: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                self._engine.set_input_json(json.dumps(document))
                # JSON output, because sets of arrays do not convert to Python sets.
                result = json.loads(self._engine.eval_query_as_json(self._package))
            except (RuntimeError, ValueError) as error:
                raise InvalidPolicy(
                    f"{self.source}: Rego evaluation failed: {_message(error)}",
                    fix="fix the rule named in the message",
                ) from None
        try:
            value = result["result"][0]["expressions"][0]["value"]
        except (KeyError, IndexError, TypeError):
            value = {}
        return value if isinstance(value, dict) else {}

    def _check_preferred(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise InvalidPolicy(
                f"{self.source}: preferred is not an object", fix="map purpose -> id"
            )
        for purpose in PURPOSES:
            choice = value.get(purpose)
            if purpose == SEAL:
                known = isinstance(choice, str) and choice in SEALERS
            else:
                known = isinstance(choice, str) and choice in BY_ID
                known = known and BY_ID[str(choice)].family.value == purpose
            if not known:
                raise InvalidPolicy(
                    f"{self.source}: preferred[{purpose!r}] is {choice!r}, not a {purpose} id",
                    fix=f"set preferred[{purpose!r}] to a {purpose} id",
                )
        return {purpose: str(value[purpose]) for purpose in PURPOSES}

    def _check_sealers(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not value or any(item not in SEALERS for item in value):
            raise InvalidPolicy(
                f"{self.source}: sealers is {value!r}",
                fix="list sealer names from: " + ", ".join(SEALERS),
            )
        return [str(item) for item in value]

    def _check_ages(self, value: Any) -> dict[str, dt.timedelta]:
        if not isinstance(value, dict):
            raise InvalidPolicy(
                f"{self.source}: max_key_age is not an object", fix='map purpose -> "365d"'
            )
        ages = {}
        for purpose, text in value.items():
            try:
                ages[purpose] = parse_duration(text)
            except ValueError as error:
                raise InvalidPolicy(
                    f"{self.source}: max_key_age[{purpose!r}]: {error}",
                    fix='write a count and a unit h, d, w or y of at most 1000y, such as "365d"',
                ) from None
        return ages

    def _check_verify_rule(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidPolicy(
                f"{self.source}: {VERIFY_REQUIRE_QUANTUM_SAFE} is {value!r}, not a boolean",
                fix=f"define {VERIFY_REQUIRE_QUANTUM_SAFE} as true or false",
            )
        # Rotation and new keysets use the preferred id, so their signatures must count.
        preferred = self._preferred[Family.SIGNATURE.value]
        if value and not BY_ID[preferred].quantum_safe:
            raise InvalidPolicy(
                f"{self.source}: {VERIFY_REQUIRE_QUANTUM_SAFE} is true, but "
                f"preferred['signature'] {preferred!r} is not quantum-safe",
                fix="prefer a quantum-safe signature id such as 'ml-dsa-65', "
                f"or set {VERIFY_REQUIRE_QUANTUM_SAFE} to false",
            )
        return value

    def decide(
        self,
        operation: str,
        algorithm: str,
        *,
        key: KeyMeta | None = None,
        now: dt.datetime | None = None,
    ) -> Decision:
        moment = as_utc(now)
        purpose, mismatch = precheck(operation, algorithm, key)
        if mismatch is not None:
            return Decision(
                False, ["operation"], [mismatch], operation, algorithm, self.hash, self.name
            )

        outputs = self._evaluate(rego_input(operation, algorithm, purpose, key, moment))
        reasons = sorted(self._strings(outputs, "deny"))
        rules = sorted(self._strings(outputs, "rules"))
        if not isinstance(outputs.get("allow", False), bool):
            raise InvalidPolicy(
                f"{self.source}: allow is {outputs['allow']!r}, not a boolean",
                fix="define allow as true or false, for example 'default allow := false'",
            )
        allowed = outputs.get("allow") is True and not reasons
        if not allowed and not reasons:
            reasons = [f"no rule of policy '{self.name}' allows {operation} with '{algorithm}'"]
        return Decision(allowed, rules, reasons, operation, algorithm, self.hash, self.name)

    def _strings(self, outputs: dict[str, Any], rule: str) -> list[str]:
        """Return the strings of the set rule ``rule``, which JSON renders as an array."""
        value = outputs.get(rule) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidPolicy(
                f"{self.source}: {rule} is {value!r}, not a set of strings",
                fix=f"define {rule} with 'contains': {rule} contains value if {{ ... }}",
            )
        return value

    def preferred(self, purpose: str) -> str:
        if purpose not in self._preferred:
            raise InvalidArgument(
                f"unknown purpose {purpose!r}", fix="use one of: " + ", ".join(PURPOSES)
            )
        return self._preferred[purpose]

    @property
    def sealers(self) -> list[str]:
        return list(self._sealers)

    def max_key_age(self, purpose: str) -> dt.timedelta | None:
        return self._max_key_age.get(purpose)

    @property
    def verify_require_quantum_safe(self) -> bool:
        return self._verify_require_quantum_safe

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "engine": "rego",
            "source": self.source,
            "hash": self.hash,
            "package": self._package,
            "preferred": dict(self._preferred),
            "sealers": list(self._sealers),
            "max_key_age": {p: format_duration(age) for p, age in self._max_key_age.items()},
            VERIFY_REQUIRE_QUANTUM_SAFE: self._verify_require_quantum_safe,
        }

    def __repr__(self) -> str:
        return f"RegoPolicy({self.name!r}, {self.hash[:19]}...)"
