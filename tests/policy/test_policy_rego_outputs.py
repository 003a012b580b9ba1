"""Rego policies whose outputs have the wrong type are rejected at load, not read loosely."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.errors import InvalidPolicy
from agile.policy import load_policy
from agile.policy.loader import PROFILES_DIR

pytest.importorskip("regorus")

SHIPPED = (PROFILES_DIR / "pq-hybrid.rego").read_text()


def _write(tmp_path: Path, old: str, new: str) -> str:
    assert old in SHIPPED
    path = tmp_path / "edited.rego"
    path.write_text(SHIPPED.replace(old, new, 1))
    return str(path)


def test_deny_string_rejected(tmp_path: Path) -> None:
    # Every partial deny rule is renamed, and deny becomes one string.
    text = SHIPPED.replace("deny contains reason if", "unused_deny contains reason if")
    path = tmp_path / "edited.rego"
    path.write_text(text + '\ndeny := "no reason given"\n')

    with pytest.raises(InvalidPolicy, match="deny is 'no reason given', not a set of strings"):
        load_policy(str(path))


def test_allow_string_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "default allow := false", 'default allow := "yes"')

    with pytest.raises(InvalidPolicy, match="allow is 'yes', not a boolean"):
        load_policy(path)


def test_rules_number_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rules contains rule if some [rule, _] in failures",
        "rules contains rule if some [rule, _] in failures\n\nrules contains 42 if true",
    )

    with pytest.raises(InvalidPolicy, match="rules is .*42.*not a set of strings"):
        load_policy(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name := "pq-hybrid"', "name := 7", "name is 7, not a string"),
        ("description := ", 'description := ["a"]\n\nunused := ', "description is .* not a string"),
    ],
    ids=["name", "description"],
)
def test_text_rule_non_string_rejected(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _write(tmp_path, old, new)

    with pytest.raises(InvalidPolicy, match=message):
        load_policy(path)


def test_preferred_extra_key_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "preferred := {",
        'preferred := object.union(shipped_preferred, {"bogus": "x"})\n\nshipped_preferred := {',
    )

    with pytest.raises(InvalidPolicy, match="preferred has unknown purposes: 'bogus'"):
        load_policy(path)


def test_max_key_age_extra_key_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "max_key_age := {",
        'max_key_age := object.union(shipped_ages, {"kems": "1d"})\n\nshipped_ages := {',
    )

    with pytest.raises(InvalidPolicy, match="max_key_age has unknown purposes: 'kems'"):
        load_policy(path)
