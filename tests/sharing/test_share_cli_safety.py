"""``agile share split|combine`` never write over their inputs or over shares by surprise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AGILE = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function that runs the CLI from ``tmp_path`` on a keystore there."""
    env = dict(os.environ, AGILE_HOME=str(tmp_path / "ks"))

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGILE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )

    return call


@pytest.fixture
def shares(run, tmp_path: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """Split a random secret 2 of 3 into s-1, s-2 and s-3."""
    (tmp_path / "secret").write_bytes(os.urandom(32))
    assert run("share", "split", "-t", "2", "-n", "3", "secret", "-o", "s").returncode == 0
    return [tmp_path / f"s-{index}" for index in (1, 2, 3)]


def test_combine_over_input_refused(run, shares: list[Path]) -> None:  # type: ignore[no-untyped-def]
    before = shares[0].read_bytes()
    result = run("share", "combine", "s-1", "s-2", "s-3", "-o", "s-1", "--force")
    assert "is the input file" in result.stderr
    assert shares[0].read_bytes() == before


def test_combine_over_hard_link_refused(run, shares: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    os.link(shares[0], tmp_path / "copy")
    result = run("share", "combine", "copy", "s-2", "-o", "s-1", "--force")
    assert result.returncode == 2
    assert "is the input file" in result.stderr


def test_combine_over_symlink_refused(run, shares: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    os.symlink(shares[0], tmp_path / "link")
    before = shares[0].read_bytes()
    result = run("share", "combine", "s-1", "s-2", "-o", "link", "--force")
    assert "is the input file" in result.stderr
    assert shares[0].read_bytes() == before


def test_combine_over_other_share_refused(run, shares: list[Path]) -> None:  # type: ignore[no-untyped-def]
    before = shares[2].read_bytes()
    result = run("share", "combine", "s-1", "s-2", "-o", "s-3")
    assert result.returncode == 2
    assert shares[2].read_bytes() == before


def test_combine_force_replaces_other_share(run, shares: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("share", "combine", "s-1", "s-2", "-o", "s-3", "--force")
    assert result.returncode == 0
    assert shares[2].read_bytes() == (tmp_path / "secret").read_bytes()


def test_combine_missing_folder_refused(run, shares: list[Path]) -> None:  # type: ignore[no-untyped-def]
    result = run("share", "combine", "s-1", "s-2", "-o", "nowhere/secret")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_split_again_refused(run, shares: list[Path]) -> None:  # type: ignore[no-untyped-def]
    before = [share.read_bytes() for share in shares]
    result = run("share", "split", "-t", "2", "-n", "3", "secret", "-o", "s")
    assert result.returncode == 2
    assert [share.read_bytes() for share in shares] == before


def test_split_again_names_force(run, shares: list[Path]) -> None:  # type: ignore[no-untyped-def]
    result = run("share", "split", "-t", "2", "-n", "3", "secret", "-o", "s")
    assert "--force" in result.stderr


def test_split_force_replaces(run, shares: list[Path]) -> None:  # type: ignore[no-untyped-def]
    before = shares[0].read_bytes()
    result = run("share", "split", "-t", "2", "-n", "3", "secret", "-o", "s", "--force")
    assert result.returncode == 0
    assert shares[0].read_bytes() != before


def test_split_over_input_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "k-2"
    secret.write_bytes(b"secret bytes")
    result = run("share", "split", "-t", "2", "-n", "3", "k-2", "-o", "k", "--force")
    assert "is the input file" in result.stderr
    assert secret.read_bytes() == b"secret bytes"


def test_split_over_linked_input_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "secret").write_bytes(b"secret bytes")
    os.symlink(tmp_path / "secret", tmp_path / "k-1")
    result = run("share", "split", "-t", "2", "-n", "2", "secret", "-o", "k", "--force")
    assert "is the input file" in result.stderr
    assert (tmp_path / "secret").read_bytes() == b"secret bytes"


def test_split_missing_folder_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "secret").write_bytes(b"secret bytes")
    result = run("share", "split", "-t", "2", "-n", "2", "secret", "-o", "nowhere/k")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "nowhere").exists()
