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
