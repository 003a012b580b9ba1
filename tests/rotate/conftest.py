"""Fixtures for rotation tests: a keystore with cheap Argon2id."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rotate.rotate_helpers import CHEAP_ARGON2, PASSPHRASE


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a keystore directory exported as AGILE_HOME, with the test passphrase."""
    path = tmp_path / "keystore"
    monkeypatch.setenv("AGILE_HOME", str(path))
    monkeypatch.setenv("AGILE_PASSPHRASE", PASSPHRASE)
    for name, value in CHEAP_ARGON2.items():
        monkeypatch.setenv(name, value)
    return path


@pytest.fixture
def keystore(home: Path):
    from agile.keys import Keystore

    return Keystore.open(home)
