"""Signature envelopes edited after signing, and the errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agile import envelope
from agile.envelope.format import parse_header
from agile.envelope.signatures import _encode, check_signatures
from agile.errors import InvalidSignature, KeysetError
from agile.keys import Keystore

AGILE = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def dual(store: Keystore) -> list:
    return [
        store.create_keyset("classic", "signature", "ed25519"),
        store.create_keyset("pq", "signature", "ml-dsa-65"),
    ]


def _entries(signature: bytes) -> list:
    return list(parse_header(signature).signatures)


def test_duplicate_rejected(store: Keystore, dual: list) -> None:
    entries = _entries(envelope.sign(b"m", dual))
    doubled = _encode([entries[0], entries[0], entries[1]])
    with pytest.raises(InvalidSignature, match="more than one signature by key"):
        envelope.verify(doubled, b"m", store)


def test_invalid_names_key(store: Keystore, dual: list) -> None:
    classic = dual[0]
    signature = envelope.sign(b"m", classic)
    with pytest.raises(InvalidSignature, match=classic.primary.id):
        envelope.verify(signature, b"other", store)


def test_disabled_key_has_fix(store: Keystore) -> None:
    keyset = store.create_keyset("classic", "signature", "ed25519")
    old = keyset.primary.id
    signature = envelope.sign(b"m", keyset)
    keyset.add_key(promote=True)
    keyset.set_status(old, "disabled")
    with pytest.raises(KeysetError) as caught:
        envelope.verify(signature, b"m", store)
    assert caught.value.fix is not None


def test_check_ignores_policy(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"m", dual)
    checked = check_signatures(signature, b"m", store)
    assert [c.algorithm for c in checked] == ["ed25519", "ml-dsa-65"]


def test_check_rejects_changed_message(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"m", dual)
    with pytest.raises(InvalidSignature):
        check_signatures(signature, b"other", store)


def test_cli_duplicate_exit_code(store: Keystore, dual: list, tmp_path: Path) -> None:
    entries = _entries(envelope.sign(b"m", dual))
    (tmp_path / "m").write_bytes(b"m")
    (tmp_path / "m.sig").write_bytes(_encode(entries + entries[:1]))
    command = [*AGILE, "--keystore", str(store.path), "verify", "--signature", "m.sig", "m"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, check=False, timeout=120)
    assert result.returncode == 1
