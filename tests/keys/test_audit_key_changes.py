"""Every key status change is in the audit log: from the CLI, the library or a rotation."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agile.keys import Keystore
from agile.keys.audit import AuditLog
from agile.rotate import RotateOptions, open_store, rotate


def _changes(store: Keystore) -> list[tuple[str, str | None, str]]:
    return [
        (r["key_id"], r["previous"], r["status"])
        for r in AuditLog(store.path).records()
        if r["event"] == "key-status" and "run_id" not in r
    ]


def test_create_recorded(store: Keystore) -> None:
    key = store.create_keyset("team", "kem", "x25519").primary
    assert _changes(store) == [(key.id, None, "primary")]


def test_promote_recorded(store: Keystore) -> None:
    keyset = store.create_keyset("team", "kem", "x25519")
    old = keyset.primary.id
    new = keyset.add_key("x-wing", promote=True).id
    assert _changes(store)[1:] == [(old, "primary", "enabled"), (new, None, "primary")]


def test_disable_destroy_recorded(store: Keystore) -> None:
    keyset = store.create_keyset("team", "kem", "x25519")
    old = keyset.primary.id
    keyset.add_key(promote=True)
    keyset.disable(old)
    keyset.destroy(old)
    assert _changes(store)[-2:] == [(old, "enabled", "disabled"), (old, "disabled", "destroyed")]


def test_policy_hash_recorded(store: Keystore) -> None:
    store.create_keyset("team", "kem", "x25519")
    (record,) = AuditLog(store.path).records()
    assert record["policy_hash"] == store.policy().hash


def test_unchanged_status_not_recorded(store: Keystore) -> None:
    keyset = store.create_keyset("team", "kem", "x25519")
    keyset.promote(keyset.primary.id)
    assert len(_changes(store)) == 1


@pytest.fixture
def rotated(store: Keystore, tmp_path: Path) -> list[dict]:
    keyset = store.create_keyset("team", "kem", "x25519", policy="default")
    objects = open_store(str(tmp_path / "objects"), create=True)
    store.add_store("objects", objects.url)
    from agile.envelope import encrypt

    objects.put("a", encrypt(b"secret", keyset, policy="default"))
    report = rotate(str(store.path), RotateOptions(policy="pq-hybrid"))
    return [r for r in AuditLog(store.path).records() if r.get("run_id") == report["run_id"]]


def test_rotation_changes_tagged(rotated: list[dict]) -> None:
    statuses = [r["status"] for r in rotated if r["event"] == "key-status"]
    assert statuses == ["enabled", "primary", "decrypt-only", "disabled"]


def test_rotation_no_duplicates(rotated: list[dict]) -> None:
    pairs = Counter((r["key_id"], r["status"]) for r in rotated if r["event"] == "key-status")
    assert max(pairs.values()) == 1


def test_rotation_key_created_kept(rotated: list[dict]) -> None:
    assert [r["event"] for r in rotated].count("key-created") == 1
