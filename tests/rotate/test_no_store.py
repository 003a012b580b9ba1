"""A rotation with no registered store keeps the old keys decrypt-only."""

from __future__ import annotations

from pathlib import Path

from agile.envelope import decrypt, encrypt
from agile.rotate import RotateOptions, rotate
from tests.rotate.rotate_helpers import agile


def _rotate_without_store(keystore, home: Path):  # type: ignore[no-untyped-def]
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    old = keyset.primary.id
    # An envelope kept in a place no store names: rotation cannot see it.
    kept = encrypt(b"kept elsewhere", keyset, policy="default")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    return old, kept, report


def test_old_key_decrypt_only(keystore, home: Path) -> None:  # type: ignore[no-untyped-def]
    old, _, _ = _rotate_without_store(keystore, home)
    assert keystore.keyset("team").key(old).status.value == "decrypt-only"


def test_unseen_envelope_still_opens(keystore, home: Path) -> None:  # type: ignore[no-untyped-def]
    _, kept, _ = _rotate_without_store(keystore, home)
    assert decrypt(kept, keystore, policy="pq-hybrid") == b"kept elsewhere"


def test_report_says_why(keystore, home: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, report = _rotate_without_store(keystore, home)
    assert "no store is registered" in report["old_keys_kept"]


def test_nothing_disabled(keystore, home: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, report = _rotate_without_store(keystore, home)
    assert report["disabled_key_ids"] == []


def test_cli_prints_reason(keystore, home: Path) -> None:  # type: ignore[no-untyped-def]
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    result = agile(home, "rotate", "--policy", "pq-hybrid")
    assert "old keys stay decrypt-only: no store is registered" in result.stdout


def test_cli_exit_0(keystore, home: Path) -> None:  # type: ignore[no-untyped-def]
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    assert agile(home, "rotate", "--policy", "pq-hybrid").returncode == 0
