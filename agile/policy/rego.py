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

regorus (gordon-to-regorus 0.13) has no execution time or memory limit in its
Python API, and a recursive function overflows its native stack, which kills
the process.  So every module is checked for recursion before it is
evaluated, and a module from a file is first parsed and evaluated for every
question without a key and with a fresh and an old key in a child process
with a time and memory limit (:func:`check_isolated`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import AgileError, InvalidArgument, InvalidPolicy
from ..registry import BY_ID, Family
from ..seal.base import SEALERS
from .model import (
    OPERATIONS,
    PURPOSES,
    SEAL,
    VERIFY_REQUIRE_QUANTUM_SAFE,
    Decision,
    KeyMeta,
    Policy,
    as_utc,
    format_duration,
    operation_applies,
    parse_duration,
    precheck,
    rfc3339,
)

__all__ = [
    "CHECK_MEMORY_BYTES",
    "CHECK_TIMEOUT_SECONDS",
    "RegoPolicy",
    "check_isolated",
    "find_recursion",
    "rego_input",
]

_REQUIRED = ("allow", "deny", "rules", "preferred", "sealers")

#: Wall-clock limit of the isolated check, in seconds.  The check starts Python,
#: imports agile and makes about 440 decisions, which took 0.25 to 0.5 s on 2 vCPUs.
CHECK_TIMEOUT_SECONDS = 10.0

#: Memory the isolated check may allocate beyond what the child uses after its imports.
CHECK_MEMORY_BYTES = 512 * 1024 * 1024

#: Ages of the keys in the questions of the isolated check: a new key and one older
#: than the usual one-year max_key_age.
_CHECK_KEY_AGES = (dt.timedelta(0), dt.timedelta(days=400))

# SHA-256 digests of the module texts that passed the isolated
# check in this process, so that loading a file twice, as 'agile policy set' does,
# starts one child.
_passed_checks: set[str] = set()
_PASSED_CHECKS_SIZE = 64


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


def _ref_path(node: Any) -> tuple[list[str | None], list[Any]]:
    """Split a reference such as ``data.agile.policy.f`` or ``x[i]`` into its segments.

    Return the segments, with ``None`` for a computed one, and the expressions
    inside brackets (and a root that is no name), which the caller still visits.
    """
    segments: list[str | None] = []
    inner: list[Any] = []
    while isinstance(node, dict):
        if "RefDot" in node:
            segments.append(node["RefDot"]["field"][1])
            node = node["RefDot"]["refr"]
        elif "RefBrack" in node:
            index = node["RefBrack"]["index"]
            segments.append(index["String"]["value"] if "String" in index else None)
            inner.append(index)
            node = node["RefBrack"]["refr"]
        elif "Var" in node:
            segments.append(node["Var"]["value"])
            break
        else:
            segments.append(None)
            inner.append(node)
            break
    segments.reverse()
    return segments, inner


def _var_names(node: Any) -> Iterator[str]:
    """Yield the names of the variables in a pattern such as ``[a, {"k": b}]``."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "Var" in item and isinstance(item["Var"], dict):
                yield item["Var"]["value"]
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class _RuleGraph:
    """The rules and functions of one parsed module, and the ones each refers to.

    Names are resolved as far as the text shows: ``f(x)``, ``data.<package>.f(x)``
    and calls through an import alias.  A plain name counts unless the same rule
    or function declares a local of that name (``:=``, ``some``, ``every``, an
    argument).  A call always counts, because a local cannot be called.
    """

    def __init__(self, module: dict[str, Any]) -> None:
        self._text = module["source"]["contents"].encode("utf-8")
        ast = module["ast"]
        self._package = _ref_path(ast["package"]["refr"])[0]
        self._aliases: dict[str, list[str | None]] = {}
        for item in ast.get("imports") or []:
            path = _ref_path(item["refr"])[0]
            if path and path[0] == "data":
                alias = self._span_text(item["as"]) if item.get("as") else path[-1]
                if alias is not None:
                    self._aliases[alias] = path[1:]

        heads = [(self._head_name(rule), rule) for rule in ast["rules"]]
        self.names = {name for name, _ in heads if name is not None}
        self.edges: dict[str, set[str]] = {name: set() for name in self.names}
        for name, rule in heads:
            if name is not None:
                self.edges[name] |= self._references(rule)

    def _span_text(self, span: dict[str, Any]) -> str:
        # Spans count bytes of the UTF-8 source.
        return self._text[span["start"] : span["end"]].decode("utf-8", "replace")

    @staticmethod
    def _head(rule: dict[str, Any]) -> dict[str, Any]:
        kind, body = next(iter(rule.items()))
        if kind == "Spec":
            return dict(next(iter(body["head"].values())))
        return dict(body)

    def _head_name(self, rule: dict[str, Any]) -> str | None:
        return _ref_path(self._head(rule)["refr"])[0][0]

    def _package_rule(self, path: list[str | None]) -> str | None:
        """Return the rule of this package that a ``data.`` or alias path names, if any."""
        if path[0] == "data":
            rest = path[1:]
        elif path[0] in self._aliases:
            rest = self._aliases[str(path[0])] + path[1:]
        else:
            return None
        depth = len(self._package)
        if rest[:depth] == self._package and len(rest) > depth:
            return rest[depth]
        return None

    def _references(self, rule: dict[str, Any]) -> set[str]:
        """Return the rules and functions of the package that ``rule`` refers to."""
        kind, body = next(iter(rule.items()))
        head = self._head(rule)
        _, head_inner = _ref_path(head.pop("refr"))
        local_names = set(_var_names(head.pop("args", None) or []))
        fixed: set[str] = set()  # calls and data. paths, which no local shadows
        plain: set[str] = set()

        stack: list[Any] = [head, head_inner]
        if kind == "Spec":
            stack.append(body["bodies"])
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            if "Call" in node:
                path, inner = _ref_path(node["Call"]["fcn"])
                name = self._package_rule(path) or (path[0] if len(path) == 1 else None)
                if name is not None:
                    fixed.add(name)
                stack.extend([inner, node["Call"]["params"]])
            elif "RefDot" in node or "RefBrack" in node or "Var" in node:
                path, inner = _ref_path(node)
                qualified = self._package_rule(path)
                if qualified is not None:
                    fixed.add(qualified)
                elif path[0] is not None:
                    plain.add(path[0])
                stack.append(inner)
            else:
                self._note_locals(node, local_names)
                stack.extend(node.values())
        return (fixed | (plain - local_names)) & self.names

    def _note_locals(self, node: dict[str, Any], local_names: set[str]) -> None:
        """Add the names that the statement ``node`` declares to ``local_names``."""
        if "AssignExpr" in node and node["AssignExpr"]["op"] == "ColEq":
            local_names.update(_var_names(node["AssignExpr"]["lhs"]))
        elif "SomeIn" in node:
            local_names.update(_var_names([node["SomeIn"]["key"], node["SomeIn"]["value"]]))
        elif "SomeVars" in node:
            local_names.update(self._span_text(span) for span in node["SomeVars"]["vars"])
        elif "Every" in node:
            spans = [node["Every"]["key"], node["Every"]["value"]]
            local_names.update(self._span_text(span) for span in spans if span)


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """Return one cycle of ``edges`` as ``[a, b, ..., a]``, or ``None`` if there is none."""
    done: set[str] = set()
    for start in sorted(edges):
        if start in done:
            continue
        # Depth-first search without recursion, because a module can chain many rules.
        path = [start]
        branches = [iter(sorted(edges[start]))]
        while branches:
            child = next(branches[-1], None)
            if child is None:
                done.add(path.pop())
                branches.pop()
            elif child in path:
                return path[path.index(child) :] + [child]
            elif child not in done:
                path.append(child)
                branches.append(iter(sorted(edges[child])))
    return None


def find_recursion(ast_json: str) -> list[str] | None:
    """Return a cycle of rules or functions that depend on themselves, or ``None``.

    ``ast_json`` is ``Engine.get_ast_as_json()``.  Rego forbids recursion (OPA
    rejects it at compile time), and regorus 0.13 detects it only for rules, at
    evaluation, while a recursive function crashes the process.
    """
    for module in json.loads(ast_json):
        cycle = _find_cycle(_RuleGraph(module).edges)
        if cycle is not None:
            return cycle
    return None


def _check_questions(now: dt.datetime) -> Iterator[tuple[str, str, KeyMeta | None]]:
    """Yield the questions of the isolated check: each operation with each id that it fits."""
    for algorithm in [*BY_ID, *SEALERS]:
        for operation in OPERATIONS:
            if precheck(operation, algorithm, None)[1] is not None:
                continue
            yield operation, algorithm, None
            if operation in ("generate", "seal"):
                continue
            for age in _CHECK_KEY_AGES:
                yield operation, algorithm, KeyMeta("check", algorithm, now - age, "primary")


def _limit_memory(extra_bytes: int) -> None:
    """Cap this process's address space at its current size plus ``extra_bytes``."""
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as file:
            pages = int(file.read().split()[0])
    except (ImportError, OSError):
        # NOTE: without /proc (not Linux) the isolated check runs with a time limit only.
        return
    limit = pages * os.sysconf("SC_PAGE_SIZE") + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _check_child() -> None:
    """Run in the child of :func:`check_isolated`: load the module, decide every question.

    Reads ``{"text", "source"}`` from stdin and prints one JSON line: ``{"ok": true}``
    or ``{"error", "fix"}``.
    """
    request = json.loads(sys.stdin.read())
    _limit_memory(CHECK_MEMORY_BYTES)
    try:
        policy = RegoPolicy(request["text"], source=request["source"], isolate=False)
        now = dt.datetime.now(dt.UTC)
        for operation, algorithm, key in _check_questions(now):
            policy.decide(operation, algorithm, key=key, now=now)
        result: dict[str, Any] = {"ok": True}
    except AgileError as error:
        result = {"error": str(error), "fix": error.fix}
    except MemoryError:
        result = {"error": "memory", "fix": None}
    print(json.dumps(result))


def check_isolated(text: str, source: str) -> None:
    """Load and evaluate a Rego module in a child process with a time and memory limit.

    The child parses the module, checks it as :class:`RegoPolicy` does and decides
    every question of :func:`_check_questions`.  A module that passes
    parses and evaluates those questions in bounded time in this process too.
    Raises :class:`InvalidPolicy` with the child's error, or when the child
    runs past :data:`CHECK_TIMEOUT_SECONDS`, runs out of memory or crashes.
    """
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest in _passed_checks:
        return

    # The child must import this agile, wherever it is installed or checked out.
    root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [root, *filter(None, [environment.get("PYTHONPATH")])]
    )
    command = [sys.executable, "-c", "from agile.policy.rego import _check_child; _check_child()"]
    memory_mib = CHECK_MEMORY_BYTES // (1024 * 1024)
    memory_fix = (
        "remove large comprehensions such as numbers.range over millions of numbers; "
        f"a policy decision may use at most {memory_mib} MiB"
    )
    try:
        completed = subprocess.run(
            command,
            input=json.dumps({"text": text, "source": source}),
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InvalidPolicy(
            f"{source}: Rego evaluation timed out after {CHECK_TIMEOUT_SECONDS:g} s",
            fix="remove unbounded iteration such as numbers.range over millions of numbers "
            "and deeply nested arrays or objects; a policy decision should take milliseconds",
        ) from None
    except OSError as error:
        raise InvalidPolicy(
            f"{source}: cannot start {sys.executable!r} to check the Rego module: {error}",
            fix="run agile with a Python interpreter that can start itself",
        ) from None

    try:
        result = json.loads(completed.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = None
    if completed.returncode == 0 and isinstance(result, dict):
        if result.get("ok"):
            if len(_passed_checks) >= _PASSED_CHECKS_SIZE:
                _passed_checks.clear()
            _passed_checks.add(digest)
            return
        if result.get("error") == "memory":
            raise InvalidPolicy(
                f"{source}: Rego evaluation needs more than {memory_mib} MiB", fix=memory_fix
            )
        raise InvalidPolicy(str(result["error"]), fix=result.get("fix"))
    if "memory allocation of" in completed.stderr:
        # regorus aborts the process when an allocation fails.
        raise InvalidPolicy(
            f"{source}: Rego evaluation needs more than {memory_mib} MiB", fix=memory_fix
        )
    if completed.returncode < 0:
        try:
            name = signal.Signals(-completed.returncode).name
        except ValueError:
            name = f"signal {-completed.returncode}"
        raise InvalidPolicy(
            f"{source}: the Rego engine crashed with {name} on this module",
            fix="simplify the module; deep nesting can crash regorus",
        )
    last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
    raise InvalidPolicy(
        f"{source}: the isolated Rego check failed with exit code {completed.returncode}: {last}",
        fix="check that agile and gordon-to-regorus import in this Python",
    )


class RegoPolicy(Policy):
    """A policy whose decisions come from a Rego module.

    With ``isolate`` (the default), the module is first loaded and evaluated by
    :func:`check_isolated`.  Pass ``isolate=False`` only for text that passed that
    check before, such as a keystore's stored policy or a shipped module.
    """

    def __init__(self, text: str, *, source: str, isolate: bool = True) -> None:
        try:
            import regorus
        except ImportError:
            raise InvalidPolicy(
                f"{source}: Rego policies need the regorus module",
                fix="pip install 'agile-crypto[rego]'",
            ) from None
        if isolate:
            check_isolated(text, source)

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
        self._reject_recursion()

        # The static outputs do not depend on the question; any valid input yields them.
        probe = rego_input("generate", "x25519", "kem", None, dt.datetime.now(dt.UTC))
        outputs = self._evaluate(probe)
        missing = [rule for rule in _REQUIRED if rule not in outputs]
        if missing:
            raise InvalidPolicy(
                f"{source}: package {self._package} does not define {', '.join(missing)}",
                fix="define allow, deny, rules, preferred and sealers (see docs/policy.md)",
            )
        self.name = self._check_text(outputs, "name") or source
        self.description = self._check_text(outputs, "description")
        self._preferred = self._check_preferred(outputs["preferred"])
        self._sealers = self._check_sealers(outputs["sealers"])
        self._max_key_age = self._check_ages(outputs.get("max_key_age") or {})
        self._verify_require_quantum_safe = self._check_verify_rule(
            outputs.get(VERIFY_REQUIRE_QUANTUM_SAFE, False)
        )
        self._check_preferred_allowed()

    def _reject_recursion(self) -> None:
        try:
            cycle = find_recursion(self._engine.get_ast_as_json())
        except RuntimeError:
            # json.loads raises RecursionError, a RuntimeError, on a deeply nested syntax tree.
            raise InvalidPolicy(
                f"{self.source}: the Rego module is nested too deeply to analyse",
                fix="split deeply nested expressions into separate rules",
            ) from None
        if cycle is not None:
            raise InvalidPolicy(
                f"{self.source}: recursive Rego rules: {' -> '.join(cycle)}",
                fix="rewrite the rules without recursion, as Rego requires",
            )

    def _check_preferred_allowed(self) -> None:
        """Reject a preferred id that the module itself denies for new work.

        Rotation and new keysets use the preferred ids, so each must pass the
        module's own decision for generate and for encrypt or sign (seal for sealers).
        """
        for purpose in PURPOSES:
            choice = self._preferred[purpose]
            operations = ["seal"] if purpose == SEAL else ["generate", "encrypt", "sign"]
            for operation in operations:
                if not operation_applies(operation, purpose):
                    continue
                decision = self.decide(operation, choice)
                if decision.allowed:
                    continue
                raise InvalidPolicy(
                    f"{self.source}: preferred[{purpose!r}] is {choice!r}, but the module "
                    f"denies {operation} with it: {'; '.join(decision.reasons)}",
                    fix=f"set preferred[{purpose!r}] to an id that allow accepts for "
                    f"{' and '.join(op for op in operations if operation_applies(op, purpose))}",
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

    def _check_text(self, outputs: dict[str, Any], rule: str) -> str:
        """Return the optional string rule ``rule``, or ``""`` when the module leaves it out."""
        value = outputs.get(rule, "")
        if not isinstance(value, str):
            raise InvalidPolicy(
                f"{self.source}: {rule} is {value!r}, not a string",
                fix=f'define {rule} as a string, for example {rule} := "..."',
            )
        return value

    def _check_purposes(self, rule: str, value: dict[str, Any]) -> None:
        """Reject keys of the object rule ``rule`` that are not purposes."""
        unknown = sorted(str(key) for key in value if key not in PURPOSES)
        if unknown:
            raise InvalidPolicy(
                f"{self.source}: {rule} has unknown purposes: {', '.join(map(repr, unknown))}",
                fix=f"use only purposes as keys of {rule}: " + ", ".join(PURPOSES),
            )

    def _check_preferred(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise InvalidPolicy(
                f"{self.source}: preferred is not an object", fix="map purpose -> id"
            )
        self._check_purposes("preferred", value)
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
        self._check_purposes("max_key_age", value)
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
