"""--keystore DIR works after the subcommand too, on every command that uses a keystore."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.envelope.conftest import AGILE


@pytest.fixture
def agile(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = dict(os.environ)
    env.update(AGILE_PASSPHRASE="cli tests", AGILE_ARGON2_MEMORY_KIB="1024")
    env["AGILE_ARGON2_ITERATIONS"] = "1"
    # A default keystore that must stay unused.
    env["AGILE_HOME"] = str(tmp_path / "default")

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGILE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
        )

    return call


def test_keystore_after_subcommand(agile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = str(tmp_path / "ks")
    created = agile("keyset", "create", "files", "--purpose", "kem", "--keystore", home)
    (tmp_path / "docs").mkdir()
    added = agile("store", "add", "docs", str(tmp_path / "docs"), "--keystore", home)
    listed = agile("store", "list", "--keystore", home, "--json")
    checked = agile("keystore", "check", "--keystore", home)

    assert created.returncode == 0, created.stderr
    assert added.returncode == 0, added.stderr
    assert listed.returncode == 0, listed.stderr
    assert '"docs"' in listed.stdout
    assert checked.returncode == 0, checked.stderr
    assert not (tmp_path / "default").exists()


@pytest.mark.parametrize(
    "command",
    [("store", "list"), ("he", "decrypt"), ("keystore", "check"), ("rotate",), ("share", "split")],
)
def test_help_lists_keystore(agile, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    shown = agile(*command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "--keystore DIR" in shown.stdout
