"""Fixtures for keyset and envelope tests: a fresh keystore with cheap Argon2id parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.keys import Keystore


@pytest.fixture
def store(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> Keystore:
    """Return an empty keystore whose passphrase sealer uses 1 MiB, 1 pass (set explicitly)."""
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    return Keystore.open(keystore)
