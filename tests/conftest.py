"""Shared fixtures: the public vectors directory and a fresh keystore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_VECTORS = Path(os.environ.get("AGILE_SHARED_VECTORS", REPO.parent / "shared" / "vectors"))


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    """Return ../shared/vectors, or skip when this checkout has no such folder beside it."""
    if not SHARED_VECTORS.is_dir():
        pytest.skip(
            f"public test vectors not found at {SHARED_VECTORS}; "
            "set AGILE_SHARED_VECTORS to a copy of them to run this test"
        )
    return SHARED_VECTORS


@pytest.fixture
def keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return an empty keystore directory, also exported as AGILE_HOME with a test passphrase."""
    home = tmp_path / "keystore"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("AGILE_HOME", str(home))
    monkeypatch.setenv("AGILE_PASSPHRASE", "correct horse battery staple")
    return home
