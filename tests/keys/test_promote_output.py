"""`agile keyset promote` prints the status change of each key it touches."""

from __future__ import annotations

import pytest

from agile.keys import Keyset, Keystore
from tests.cli_helpers import run_agile


@pytest.fixture
def team(store: Keystore) -> Keyset:
    """Return a kem keyset with an x25519 primary key and a second, enabled x25519 key."""
    keyset = store.create_keyset("team", "kem", "x25519", policy="default")
    keyset.add_key("x25519", policy="default")
    return keyset


def _ids(team: Keyset) -> tuple[str, str]:
    """Return the ids of the primary key and of the other key."""
    primary = team.primary.id
    other = next(key.id for key in team.keys if key.id != primary)
    return primary, other


def _promote(store: Keystore, key_id: str) -> list[str]:
    result = run_agile(store.path, "keyset", "promote", "team", key_id)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_promote_prints_both_changes(store: Keystore, team: Keyset) -> None:
    old, new = _ids(team)

    lines = _promote(store, new)

    assert lines == [
        f"key {new} of keyset team: enabled -> primary",
        f"key {old} of keyset team: primary -> enabled",
    ]


def test_promote_decrypt_only_key(store: Keystore, team: Keyset) -> None:
    old, new = _ids(team)
    team.change_status(new, "decrypt-only")

    lines = _promote(store, new)

    assert lines == [
        f"key {new} of keyset team: decrypt-only -> primary",
        f"key {old} of keyset team: primary -> enabled",
    ]


def test_promote_back_names_previous(store: Keystore, team: Keyset) -> None:
    first, second = _ids(team)
    team.change_status(second, "decrypt-only")
    _promote(store, second)

    lines = _promote(store, first)

    # The previous primary becomes enabled, not the decrypt-only it was before.
    assert lines == [
        f"key {first} of keyset team: enabled -> primary",
        f"key {second} of keyset team: primary -> enabled",
    ]
    assert store.keyset("team").key(second).status.value == "enabled"


def test_promote_primary_unchanged(store: Keystore, team: Keyset) -> None:
    primary, _ = _ids(team)

    lines = _promote(store, primary)

    assert lines == [f"key {primary} of keyset team: already primary"]


def test_promote_disabled_rejected(store: Keystore, team: Keyset) -> None:
    _, other = _ids(team)
    team.disable(other)

    result = run_agile(store.path, "keyset", "promote", "team", other)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot become primary" in result.stderr
