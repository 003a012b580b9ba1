"""Parsing, validation and resolution of TOML profiles, modules and ``base:module`` specs.

A profile file names rules per purpose and may inherit from ``base``.  A module
file (under ``profiles/modules/``) has the same sections without ``base``, and it
edits whatever policy precedes it in a spec such as ``default:pq:no-rsa``.
Besides replacing a key, a section may edit inherited lists with ``prepend``,
``append``, ``remove`` and ``demote`` (move from ``allowed`` to
``decrypt_only`` / ``verify_only``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InvalidPolicy
from ..fsio import NotRegularFile, open_regular_file
from ..registry import BY_ID, Family
from ..seal.base import SEALERS
from .model import (
    PURPOSES,
    SEAL,
    VERIFY_REQUIRE_QUANTUM_SAFE,
    LegacyEntry,
    Policy,
    PurposeRules,
    parse_duration,
)
from .profile import ProfilePolicy

__all__ = [
    "PROFILES_DIR",
    "MODULES_DIR",
    "builtin_profiles",
    "builtin_modules",
    "load_policy",
    "parse_profile_text",
    "policy_file",
    "policy_from_text",
    "read_policy_text",
    "read_regular_file",
    "MAX_NESTING",
    "MAX_POLICY_BYTES",
    "RejectedFile",
]

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
MODULES_DIR = PROFILES_DIR / "modules"

_TOP_KEYS = ("name", "description", "base")
_EDIT_KEYS = ("prepend", "append", "remove", "demote")
_MAX_BASE_DEPTH = 8

#: Maximum nesting of tables and arrays in a policy file.  A policy needs four levels: the
#: document, a [section], a list and an inline {id, until} entry.  The limit keeps deeply
#: nested input from exhausting the recursion of tomllib and of this module.
MAX_NESTING = 10

#: Largest policy file read, in bytes.  The shipped profiles are under 7 KiB, and the limit
#: keeps a wrong path (a log, an image) from being read whole.
MAX_POLICY_BYTES = 1024 * 1024


def builtin_profiles() -> list[str]:
    """Return the names of the shipped profiles."""
    return sorted(path.stem for path in PROFILES_DIR.glob("*.toml"))


def builtin_modules() -> list[str]:
    """Return the names of the shipped modules usable as ``base:module``."""
    return sorted(path.stem for path in MODULES_DIR.glob("*.toml"))


def _suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def _toml(value: Any) -> str:
    """Show a value read from a policy file as TOML writes it, not as a Python repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"
    if isinstance(value, int) and value.bit_length() > 64:
        # A hex, octal or binary literal can be longer than str() converts (4300 digits).
        return f"an integer of {value.bit_length()} bits"
    return str(value)


@dataclass
class _Section:
    """One purpose section of one document, checked but not yet merged."""

    values: dict[str, Any] = field(default_factory=dict)
    edits: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class _Document:
    source: str
    name: str | None
    description: str | None
    base: str | None
    sections: dict[str, _Section]


class _Checker:
    """Type and id checks that name the file, the key and the fix."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str, fix: str) -> InvalidPolicy:
        return InvalidPolicy(f"{self.source}: {where}: {problem}", fix=fix)

    def ident(self, purpose: str, where: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected an id string, got {_toml(value)}", "quote the id")
        if purpose == SEAL:
            if value not in SEALERS:
                raise self.fail(
                    where,
                    f"unknown sealer {value!r}",
                    _suggest(value, list(SEALERS)) + "sealers are " + ", ".join(SEALERS),
                )
            return value
        if value not in BY_ID:
            choices = list(BY_ID) + list(SEALERS)
            raise self.fail(
                where,
                f"unknown algorithm id {value!r}",
                _suggest(value, choices) + f"run 'agile algorithms --family {purpose}'",
            )
        family = BY_ID[value].family.value
        if family != purpose:
            raise self.fail(
                where,
                f"{value!r} is in the {family} family, not in {purpose}",
                f"move it to the [{family}] section",
            )
        return value

    def ident_list(self, purpose: str, where: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(
                where, f"expected a list of ids, got {_toml(value)}", 'write ["id", ...]'
            )
        items = [self.ident(purpose, where, item) for item in value]
        duplicates = sorted({item for item in items if items.count(item) > 1})
        if duplicates:
            raise self.fail(where, f"{', '.join(duplicates)} listed twice", "list each id once")
        return items

    def until(self, where: str, value: Any) -> dt.date:
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
            raise self.fail(
                where, f"malformed date {_toml(value)}", "write a date such as until = 2027-06-30"
            )
        if isinstance(value, dt.date):
            return value
        try:
            # fromisoformat also takes compact forms such as 20270630; only YYYY-MM-DD counts.
            if len(value) != 10:
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.fail(
                where, f"malformed date {_toml(value)}", "write a date such as until = 2027-06-30"
            ) from None

    def legacy_list(self, purpose: str, where: str, value: Any) -> list[LegacyEntry]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {_toml(value)}", 'write ["id", ...]')
        entries = []
        for item in value:
            if isinstance(item, dict):
                unknown = sorted(set(item) - {"id", "until"})
                if unknown or "id" not in item:
                    raise self.fail(
                        where,
                        f"malformed entry {_toml(item)}",
                        'write {id = "...", until = 2027-06-30}',
                    )
                until = (
                    self.until(f"{where} {item['id']}.until", item["until"])
                    if ("until" in item)
                    else None
                )
                entries.append(LegacyEntry(self.ident(purpose, where, item["id"]), until))
            else:
                entries.append(LegacyEntry(self.ident(purpose, where, item)))
        ids = [entry.id for entry in entries]
        duplicates = sorted({item for item in ids if ids.count(item) > 1})
        if duplicates:
            raise self.fail(where, f"{', '.join(duplicates)} listed twice", "list each id once")
        return entries


def _legacy_key(purpose: str) -> str | None:
    if purpose == SEAL:
        return None
    return "verify_only" if purpose == Family.SIGNATURE.value else "decrypt_only"


def _section_keys(purpose: str) -> list[str]:
    """Return the keys a ``[purpose]`` section accepts."""
    if purpose == SEAL:
        return ["allowed", "prepend", "append", "remove"]
    constraints = ["min_category", "require_quantum_safe", "require_hybrid", "max_key_age"]
    if purpose == Family.SIGNATURE.value:
        constraints.append(VERIFY_REQUIRE_QUANTUM_SAFE)
    return ["allowed", str(_legacy_key(purpose)), *constraints, *_EDIT_KEYS]


def _parse_section(check: _Checker, purpose: str, table: Any) -> _Section:
    where_section = f"[{purpose}]"
    if not isinstance(table, dict):
        raise check.fail(where_section, "expected a table", f"write [{purpose}] with keys below")
    section = _Section()
    keys = _section_keys(purpose)
    for key, value in table.items():
        where = f"[{purpose}] {key}"
        if key not in keys:
            other = _legacy_key(purpose)
            fix = _suggest(key, keys)
            if key in ("decrypt_only", "verify_only") and other:
                fix = f"[{purpose}] takes {other} instead; "
            if key == VERIFY_REQUIRE_QUANTUM_SAFE:
                fix = f"{key} applies to signatures only, so move it to [signature]; "
            raise check.fail(where, f"unknown key {key!r}", fix + "keys are " + ", ".join(keys))
        if key in ("allowed", "prepend", "append", "remove"):
            section_list = check.ident_list(purpose, where, value)
            (section.values if key == "allowed" else section.edits)[key] = section_list
        elif key in ("decrypt_only", "verify_only"):
            section.values["legacy"] = check.legacy_list(purpose, where, value)
        elif key == "demote":
            section.edits[key] = check.legacy_list(purpose, where, value)
        elif key == "min_category":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
                raise check.fail(
                    where,
                    f"expected a NIST security category 0 to 5, got {_toml(value)}",
                    "write min_category = 1 (AES-128 strength) up to 5 (AES-256)",
                )
            section.values[key] = value
        elif key in ("require_quantum_safe", "require_hybrid", VERIFY_REQUIRE_QUANTUM_SAFE):
            if not isinstance(value, bool):
                raise check.fail(
                    where, f"expected true or false, got {_toml(value)}", f"{key} = true"
                )
            section.values[key] = value
        else:
            try:
                section.values[key] = parse_duration(value)
            except ValueError as error:
                raise check.fail(
                    where,
                    str(error),
                    "write a count and a unit h, d, w or y of at most 1000y, such as "
                    'max_key_age = "365d"',
                ) from None

    both = set(section.values.get("allowed", [])) & {
        entry.id for entry in section.values.get("legacy", [])
    }
    if both:
        raise check.fail(
            where_section,
            f"{', '.join(sorted(both))} in both allowed and {_legacy_key(purpose)}",
            "keep each id in one list",
        )
    return section


def _nested_too_deeply(data: Any, limit: int) -> bool:
    """Return whether ``data`` nests dicts and lists more than ``limit`` levels deep."""
    # An explicit stack, because the point is input too deep for recursion.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _load_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text, raising :class:`InvalidPolicy` for anything tomllib rejects."""
    too_deep = InvalidPolicy(
        f"{source}: tables or arrays nested more than {MAX_NESTING} levels deep",
        fix="a policy needs at most 4 levels: the file, a [section], a list and an "
        "{id, until} entry",
    )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicy(f"{source}: invalid TOML: {error}", fix="fix the TOML syntax") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise too_deep from None
    except ValueError:
        # tomllib passes on int()'s ValueError for an integer longer than Python's limit.
        raise InvalidPolicy(
            f"{source}: invalid TOML: an integer has more than "
            f"{sys.get_int_max_str_digits()} digits",
            fix="policy values are small numbers such as min_category = 3",
        ) from None
    if _nested_too_deeply(data, MAX_NESTING):
        raise too_deep
    return data


def _parse_document(text: str, source: str, *, module: bool) -> _Document:
    check = _Checker(source)
    data = _load_toml(text, source)

    top_keys = [key for key in _TOP_KEYS if not (module and key == "base")]
    sections = {}
    for key, value in data.items():
        if key in PURPOSES:
            sections[key] = _parse_section(check, key, value)
        elif key not in top_keys:
            choices = top_keys + list(PURPOSES)
            fix = _suggest(key, choices)
            if key == VERIFY_REQUIRE_QUANTUM_SAFE:
                fix = f"{key} belongs in the [signature] section; "
            raise check.fail(
                key, f"unknown key {key!r}", fix + "top-level keys are " + ", ".join(choices)
            )
    for key in top_keys:
        if key in data and not isinstance(data[key], str):
            raise check.fail(
                key, f"expected a string, got {_toml(data[key])}", f'write {key} = "..."'
            )
    return _Document(source, data.get("name"), data.get("description"), data.get("base"), sections)


def _apply(rules: PurposeRules, section: _Section) -> PurposeRules:
    """Return ``rules`` edited by one document's section (values first, then list edits)."""
    allowed = list(rules.allowed)
    legacy = list(rules.legacy)
    values = dict(section.values)

    # An explicitly set list wins over what the base put in the other list.
    if "allowed" in values:
        allowed = list(values.pop("allowed"))
        legacy = [entry for entry in legacy if entry.id not in allowed]
    if "legacy" in values:
        legacy = list(values.pop("legacy"))
        moved = {entry.id for entry in legacy}
        allowed = [item for item in allowed if item not in moved]

    edits = section.edits
    for item in edits.get("remove", []):
        allowed = [other for other in allowed if other != item]
        legacy = [entry for entry in legacy if entry.id != item]
    # Demoting an id that new work may not use is a no-op, because adding it to the
    # old-data list would let a stricter base decrypt what it never allowed.
    for entry in edits.get("demote", []):
        if entry.id in allowed:
            allowed = [other for other in allowed if other != entry.id]
            legacy = [other for other in legacy if other.id != entry.id] + [entry]
    if "prepend" in edits:
        first = edits["prepend"]
        allowed = first + [item for item in allowed if item not in first]
        legacy = [entry for entry in legacy if entry.id not in first]
    for item in edits.get("append", []):
        legacy = [entry for entry in legacy if entry.id != item]
        if item not in allowed:
            allowed.append(item)

    return replace(rules, allowed=tuple(allowed), legacy=tuple(legacy), **values)


def _merge(base: dict[str, PurposeRules], document: _Document) -> dict[str, PurposeRules]:
    merged = dict(base)
    for purpose, section in document.sections.items():
        merged[purpose] = _apply(merged.get(purpose, PurposeRules(purpose)), section)
    return merged


def _validate(rules: dict[str, PurposeRules], source: str) -> None:
    for purpose in PURPOSES:
        if purpose not in rules:
            raise InvalidPolicy(
                f"{source}: missing section [{purpose}]",
                fix=f"add [{purpose}] with an allowed list, or set base = 'default' to inherit it",
            )
        section = rules[purpose]
        if not section.allowed:
            raise InvalidPolicy(
                f"{source}: [{purpose}] allowed is empty",
                fix=f"list at least one {purpose} id that new work may use",
            )
        if not section.attainable():
            reasons = "; ".join(
                reason for _, reason in section.constraint_failures(section.allowed[0])
            )
            raise InvalidPolicy(
                f"{source}: [{purpose}] allowed has no id that meets the section's "
                f"requirements ({reasons})",
                fix="add a stronger id to allowed or relax min_category/require_* ",
            )
    _check_signing_meets_verify(rules[Family.SIGNATURE.value], source)


def _check_signing_meets_verify(rules: PurposeRules, source: str) -> None:
    """Reject a policy whose own new signatures would fail its verify rule.

    Keysets created without an explicit algorithm and keys made by ``agile
    rotate`` use the preferred id.  With ``verify_require_quantum_safe`` on and a
    classical preferred id, rotation would re-sign with a key whose signatures
    do not count, so no stored signature could reach the rule.
    """
    if not rules.verify_require_quantum_safe:
        return
    preferred = rules.attainable()[0]
    if not BY_ID[preferred].quantum_safe:
        raise InvalidPolicy(
            f"{source}: [signature] {VERIFY_REQUIRE_QUANTUM_SAFE} is true, but the preferred "
            f"signature algorithm {preferred!r} is not quantum-safe",
            fix="put a quantum-safe id such as 'ml-dsa-65' first in [signature] allowed, "
            f"or set {VERIFY_REQUIRE_QUANTUM_SAFE} = false",
        )


class RejectedFile(ValueError):
    """The path names no regular file, or a file over the size limit."""


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Return the bytes of the regular file at ``path`` (links followed), at most ``max_bytes``.

    Raises :class:`RejectedFile` for a directory, FIFO, device or socket and for a
    larger file, and ``OSError`` when the file cannot be opened or read.
    """
    try:
        file, _status = open_regular_file(path)
    except (IsADirectoryError, NotRegularFile) as error:
        raise RejectedFile(error.strerror) from None
    with file:
        # Read one byte more than allowed: the size in fstat can change before the read.
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RejectedFile(f"is larger than {max_bytes} bytes")
    return data


def _read(path: Path) -> str:
    try:
        data = read_regular_file(path, MAX_POLICY_BYTES)
        return data.decode("utf-8")
    except FileNotFoundError:
        raise InvalidPolicy(
            f"policy file {str(path)!r} not found",
            fix="check the path, or name a built-in profile: " + ", ".join(builtin_profiles()),
        ) from None
    except RejectedFile as error:
        raise InvalidPolicy(
            f"policy file {str(path)!r} {error}",
            fix=f"name a regular .toml or .rego file of at most {MAX_POLICY_BYTES // 1024} KiB, "
            "or a built-in profile",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidPolicy(
            f"policy file {str(path)!r} is unreadable: {error}",
            fix="name a readable UTF-8 .toml or .rego file, or a built-in profile",
        ) from None


def _resolve_builtin(spec: str, depth: int) -> tuple[dict[str, PurposeRules], str]:
    """Return the merged rules and description of ``profile[:module...]``."""
    if depth > _MAX_BASE_DEPTH:
        raise InvalidPolicy(
            f"policy base chain through {spec!r} is deeper than {_MAX_BASE_DEPTH}",
            fix="check for a base that names itself",
        )
    name, *modules = spec.split(":")
    if name not in builtin_profiles():
        known = (
            _suggest(name, builtin_profiles())
            + "built-in profiles are "
            + ", ".join(builtin_profiles())
        )
        if depth > 0:
            raise InvalidPolicy(
                f"unknown base policy {name!r}",
                fix=known + "; base names a built-in profile, not a file",
            )
        if Path(spec).is_dir():
            raise InvalidPolicy(
                f"{spec!r} is a directory, not a policy",
                fix="name a .toml or .rego file, or a built-in profile",
            )
        if Path(spec).exists():
            # A file without an extension gets its own message, not "unknown policy".
            raise InvalidPolicy(
                f"{spec!r} is a file, but not a policy name: policy files end in .toml or .rego",
                fix=f"rename it to {spec}.toml or {spec}.rego, or name a built-in profile",
            )
        raise InvalidPolicy(
            f"unknown policy {name!r}",
            fix=known + "; or give a path to a .toml or .rego file",
        )
    path = PROFILES_DIR / f"{name}.toml"
    document = _parse_document(_read(path), str(path), module=False)
    rules, description = _resolve_document(document, depth)
    for module in modules:
        if module not in builtin_modules():
            raise InvalidPolicy(
                f"unknown policy module {module!r} in {spec!r}",
                fix=_suggest(module, builtin_modules())
                + "modules are "
                + ", ".join(builtin_modules()),
            )
        module_path = MODULES_DIR / f"{module}.toml"
        module_document = _parse_document(_read(module_path), str(module_path), module=True)
        rules = _merge(rules, module_document)
        description += f" Module {module}: {module_document.description or ''}".rstrip()
    _validate(rules, spec)
    return rules, description


def _resolve_document(document: _Document, depth: int) -> tuple[dict[str, PurposeRules], str]:
    base: dict[str, PurposeRules] = {}
    if document.base is not None:
        base, _ = _resolve_builtin(document.base, depth + 1)
    rules = _merge(base, document)
    _validate(rules, document.source)
    return rules, document.description or ""


@functools.lru_cache(maxsize=64)
def _load_builtin(spec: str) -> ProfilePolicy:
    rules, description = _resolve_builtin(spec, 0)
    return ProfilePolicy(spec, description, rules, source=spec)


def parse_profile_text(text: str, source: str, *, default_name: str | None = None) -> ProfilePolicy:
    """Parse and validate a TOML profile; ``source`` names it in errors.

    A profile without ``name`` is named ``default_name``, or else after the stem of ``source``.
    """
    document = _parse_document(text, source, module=False)
    rules, description = _resolve_document(document, 0)
    name = document.name or default_name or Path(source).stem
    return ProfilePolicy(name, description, rules, source=source)


def policy_file(spec: str | os.PathLike[str]) -> Path | None:
    """Return the file a spec names, or ``None`` for a built-in ``profile[:module]`` spec."""
    if isinstance(spec, os.PathLike):
        return Path(spec)
    if spec.endswith((".toml", ".rego")) or os.sep in spec or "/" in spec:
        path = Path(spec).expanduser()
        shipped = PROFILES_DIR / spec
        if not path.exists() and os.sep not in spec and shipped.is_file():
            return shipped
        return path
    return None


def load_policy(spec: str | os.PathLike[str] | Policy) -> Policy:
    """Load a policy from a built-in name, ``base:module``, or a ``.toml`` / ``.rego`` path.

    A bare file name such as ``pq-hybrid.rego`` that does not exist in the
    current directory names the shipped file of that name.
    """
    if isinstance(spec, Policy):
        return spec
    if not isinstance(spec, str | os.PathLike) or not str(spec):
        raise InvalidPolicy(
            f"invalid policy spec {spec!r}",
            fix="name a built-in profile, base:module, or a .toml/.rego file",
        )
    path = policy_file(spec)
    if path is None:
        return _load_builtin(str(spec))
    return policy_from_text(read_policy_text(path), path)


def read_policy_text(path: Path) -> str:
    """Return the text of a policy file, raising :class:`InvalidPolicy` if it is unreadable."""
    return _read(path)


def policy_from_text(text: str, path: Path) -> Policy:
    """Parse the text of the policy file ``path``: Rego for ``.rego``, else TOML."""
    if path.suffix == ".rego":
        from .rego import RegoPolicy

        # A shipped module is known to be safe, so only other files pay for the isolated check.
        shipped = path.resolve().parent == PROFILES_DIR
        return RegoPolicy(text, source=str(path), isolate=not shipped)
    return parse_profile_text(text, str(path))
