"""Destroying and disabling a key that stored objects or an unfinished rotation still need."""

from __future__ import annotations

from pathlib import Path

import pytest

import agile
from agile.errors import KeysetError
from agile.keys import Keyset, Keystore
from agile.rotate import RotateOptions, open_store, rotate
from agile.rotate.journal import Journal, KeyChange
from agile.rotate.stores import ObjectStore
from tests.cli_helpers import run_agile


@pytest.fixture
def team(store: Keystore) -> Keyset:
    """Return a kem keyset with an x25519 primary key and a second, enabled x25519 key "old"."""
    keyset = store.create_keyset("team", "kem", "x25519", policy="default")
    old = keyset.add_key("x25519", policy="default")
    keyset.promote(old.id, policy="default")
    return keyset


@pytest.fixture
def old_id(team: Keyset) -> str:
    """Return the id of the team key that is not primary."""
    return next(key.id for key in team.keys if key.status.value != "primary")


@pytest.fixture
def objects(store: Keystore, tmp_path: Path) -> ObjectStore:
    """Return an empty directory store registered with the keystore as "objects"."""
    opened = open_store(str(tmp_path / "objects"), create=True)
    store.add_store("objects", opened.url)
    return opened


def _encrypt_to(store: Keystore, objects: ObjectStore, keyset: Keyset, key_id: str) -> None:
    objects.put("secret", agile.encrypt(b"kept", to=keyset.key(key_id), keystore=store))


def _unfinished_run(store: Keystore, old_key_id: str, new_key_id: str) -> str:
    journal = Journal(store.path)
    try:
        change = KeyChange(
            keyset="team",
            old_key_ids=(old_key_id,),
            known_key_ids=(old_key_id, new_key_id),
            new_algorithm=None,
            new_key_id=new_key_id,
            state="old-decrypt-only",
            reasons={old_key_id: ["test"]},
        )
        return journal.create_run("default", "sha256:0", {}, [change]).run_id
    finally:
        journal.close()


def _private_part(store: Keystore, key_id: str) -> object:
    return store.keyset("team").key(key_id).sealed


# Destroy: the checks of remove-key.


def test_destroy_rejected_object_names_key(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    _encrypt_to(store, objects, team, old_id)
    team.disable(old_id)
    with pytest.raises(KeysetError, match="1 stored object names key") as raised:
        team.destroy(old_id)
    assert "destroying the key would lose access" in str(raised.value)
    assert "objects:secret" in str(raised.value)
    assert "--force to destroy" in str(raised.value.fix)
    assert _private_part(store, old_id) is not None
    assert store.keyset("team").key(old_id).status.value == "disabled"


def test_destroy_rejected_unfinished_run(store: Keystore, team: Keyset, old_id: str) -> None:
    run_id = _unfinished_run(store, old_id, team.primary.id)
    team.disable(old_id, force=True)
    with pytest.raises(KeysetError, match=f"rotation run {run_id}") as raised:
        team.destroy(old_id)
    assert "agile rotate --resume" in str(raised.value.fix)
    assert _private_part(store, old_id) is not None


def _add_missing_store(store: Keystore) -> None:
    """Register a directory store, then remove its directory so that it cannot be read."""
    folder = store.path.parent / "gone"
    store.add_store("gone", str(folder))
    folder.rmdir()  # registering created it


def test_destroy_rejected_unreadable_store(store: Keystore, team: Keyset, old_id: str) -> None:
    _add_missing_store(store)
    team.disable(old_id)
    with pytest.raises(KeysetError, match="cannot check that no stored object") as raised:
        team.destroy(old_id)
    assert "store 'gone'" in str(raised.value)
    assert _private_part(store, old_id) is not None


def test_destroy_force_skips_checks(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    _encrypt_to(store, objects, team, old_id)
    team.disable(old_id)
    destroyed = team.destroy(old_id, force=True)
    assert destroyed.status.value == "destroyed"
    assert _private_part(store, old_id) is None


def test_destroy_unused_key(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    _encrypt_to(store, objects, team, team.primary.id)
    team.disable(old_id)
    assert team.destroy(old_id).status.value == "destroyed"
    assert _private_part(store, old_id) is None


def test_set_status_destroyed_checked(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    _encrypt_to(store, objects, team, old_id)
    team.disable(old_id)
    with pytest.raises(KeysetError, match="stored object names key"):
        team.set_status(old_id, "destroyed")
    with pytest.raises(KeysetError, match="stored object names key"):
        team.change_status(old_id, "destroyed")
    assert _private_part(store, old_id) is not None


def test_destroy_positional_force(store: Keystore, team: Keyset, old_id: str) -> None:
    """The force argument of Keyset.destroy stays positional, as before the checks."""
    _unfinished_run(store, old_id, team.primary.id)
    assert team.destroy(old_id, True).status.value == "destroyed"


def test_destroy_enabled_key_rejected_before_scan(
    store: Keystore, team: Keyset, old_id: str
) -> None:
    _add_missing_store(store)
    with pytest.raises(KeysetError, match="only a disabled key can be destroyed"):
        team.destroy(old_id)


# Disable: the journal only.


def test_disable_rejected_unfinished_run(store: Keystore, team: Keyset, old_id: str) -> None:
    run_id = _unfinished_run(store, old_id, team.primary.id)
    with pytest.raises(KeysetError, match=f"unfinished rotation run {run_id}") as raised:
        team.disable(old_id)
    assert "agile rotate --resume" in str(raised.value.fix)
    assert "agile rotate --abandon" in str(raised.value.fix)
    assert "--force" in str(raised.value.fix)
    assert store.keyset("team").key(old_id).status.value == "enabled"


def test_disable_force_with_unfinished_run(store: Keystore, team: Keyset, old_id: str) -> None:
    _unfinished_run(store, old_id, team.primary.id)
    assert team.disable(old_id, force=True).status.value == "disabled"


def test_disable_after_finished_run(store: Keystore, team: Keyset, old_id: str) -> None:
    run_id = _unfinished_run(store, old_id, team.primary.id)
    journal = Journal(store.path)
    journal.set_run_state(run_id, "abandoned", {})
    journal.close()
    assert team.disable(old_id).status.value == "disabled"


def test_disable_ignores_stores(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    """Disabling can be undone, so objects that name the key do not stop it."""
    _encrypt_to(store, objects, team, old_id)
    _add_missing_store(store)
    assert team.disable(old_id).status.value == "disabled"


def test_disable_during_rotation_rejected(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    """A key that a running rotation retires cannot be disabled under it."""
    for index in range(6):
        objects.put(
            f"obj{index}",
            agile.encrypt(b"data", to=team.primary, keystore=store, policy="default"),
        )
    retiring = team.primary.id
    errors: list[KeysetError] = []

    def disable_during_run(done: int, total: int) -> None:
        if errors:
            return
        with pytest.raises(KeysetError) as raised:
            Keystore.open(store.path).keyset("team").disable(retiring)
        errors.append(raised.value)

    report = rotate(
        str(store.path), RotateOptions(policy="pq-hybrid", batch_size=1), disable_during_run
    )
    assert "unfinished rotation run" in str(errors[0])
    assert report["state"] == "done"
    assert report["failed"] == 0
    assert retiring in report["disabled_key_ids"]


# The CLI.


def test_cli_destroy_rejected(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    _encrypt_to(store, objects, team, old_id)
    team.disable(old_id)
    result = run_agile(store.path, "keyset", "destroy", "team", old_id)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "destroying the key would lose access" in result.stderr
    assert _private_part(store, old_id) is not None


def test_cli_destroy_force(
    store: Keystore, team: Keyset, old_id: str, objects: ObjectStore
) -> None:
    _encrypt_to(store, objects, team, old_id)
    team.disable(old_id)
    result = run_agile(store.path, "keyset", "destroy", "team", old_id, "--force")
    assert result.returncode == 0
    assert result.stdout.strip() == f"key {old_id} of keyset team: disabled -> destroyed"


def test_cli_disable_rejected(store: Keystore, team: Keyset, old_id: str) -> None:
    run_id = _unfinished_run(store, old_id, team.primary.id)
    result = run_agile(store.path, "keyset", "disable", "team", old_id)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert run_id in result.stderr
    assert "agile rotate --abandon" in result.stderr
    assert store.keyset("team").key(old_id).status.value == "enabled"


def test_cli_disable_force(store: Keystore, team: Keyset, old_id: str) -> None:
    _unfinished_run(store, old_id, team.primary.id)
    result = run_agile(store.path, "keyset", "disable", "team", old_id, "--force")
    assert result.returncode == 0
    assert result.stdout.strip() == f"key {old_id} of keyset team: enabled -> disabled"


def test_cli_help_names_checks() -> None:
    from click.testing import CliRunner

    from cli.keyset import keyset

    destroy_help = CliRunner().invoke(keyset, ["destroy", "--help"]).output
    disable_help = CliRunner().invoke(keyset, ["disable", "--help"]).output
    assert "stored objects or an unfinished rotation" in " ".join(destroy_help.split())
    assert "unfinished rotation run" in " ".join(disable_help.split())
