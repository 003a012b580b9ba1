"""Fixtures for keyset and envelope tests: a fresh keystore with cheap Argon2id parameters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.keys import Keystore


@pytest.fixture
def store(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> Keystore:
    """Return an empty keystore whose passphrase sealer uses 1 MiB, 1 pass (set explicitly)."""
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    return Keystore.open(keystore)


#: The agile CLI, run from the interpreter of the test session.
AGILE = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function that runs the CLI on a keystore in ``tmp_path``, from ``tmp_path``.

    Arguments may be bytes (for values that are not UTF-8), and nothing is
    read from the caller's ``AGILE_HOME``.
    """
    home = tmp_path / "ks"
    env = dict(os.environ)
    env.update(AGILE_PASSPHRASE="cli tests", AGILE_ARGON2_MEMORY_KIB="1024")
    env["AGILE_ARGON2_ITERATIONS"] = "1"
    env.pop("AGILE_HOME", None)

    def call(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*AGILE, "--keystore", str(home), *args],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    return call
