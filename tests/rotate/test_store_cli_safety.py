"""``agile store add|remove|put|import`` refuse to re-point stores or replace objects silently."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.rotate.rotate_helpers import CHEAP_ARGON2, PASSPHRASE

AGILE = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function that runs the CLI on a keystore in ``tmp_path``, from ``tmp_path``."""
    env = dict(os.environ, AGILE_HOME=str(tmp_path / "ks"), AGILE_PASSPHRASE=PASSPHRASE)
    env.update(CHEAP_ARGON2)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGILE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )

    return call


@pytest.fixture
def team(run, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Create keyset 'team' and store 'docs'; return a plaintext file."""
    assert run("keyset", "create", "team", "--purpose", "kem").returncode == 0
    assert run("store", "add", "docs", "docs").returncode == 0
    plain = tmp_path / "plain.txt"
    plain.write_text("plain")
    return plain


def _objects(tmp_path: Path) -> list[str]:
    """Return the file names in store 'docs' without its lock file."""
    return sorted(set(os.listdir(tmp_path / "docs")) - {".agile-store.lock"})


def _stores(tmp_path: Path) -> str:
    return (tmp_path / "ks" / "keystore.json").read_text()


def test_add_other_url_refused(run, team: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("store", "add", "docs", "typo")
    assert result.returncode == 2


def test_add_other_url_names_fix(run, team: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("store", "add", "docs", "typo")
    assert "agile store remove docs" in result.stderr


def test_add_other_url_keeps_store(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("store", "add", "docs", "typo")
    assert str(tmp_path / "typo") not in _stores(tmp_path)


def test_add_other_url_creates_nothing(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("store", "add", "docs", "typo")
    assert not (tmp_path / "typo").exists()


def test_add_same_url_succeeds(run, team: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("store", "add", "docs", "docs")
    assert result.returncode == 0
    assert "nothing changed" in result.stdout


def test_add_replace_moves_store(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("store", "add", "docs", "moved", "--replace")
    assert result.returncode == 0
    assert str(tmp_path / "moved") in _stores(tmp_path)


def test_remove_reports(run, team: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("store", "remove", "docs")
    assert "removed store docs" in result.stdout


def test_put_existing_refused(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("store", "put", "docs", "a", str(team), "--to", "team").returncode == 0
    before = (tmp_path / "docs" / "a").read_bytes()
    result = run("store", "put", "docs", "a", str(team), "--to", "team")
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert (tmp_path / "docs" / "a").read_bytes() == before


def test_put_force_replaces(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("store", "put", "docs", "a", str(team), "--to", "team")
    before = (tmp_path / "docs" / "a").read_bytes()
    result = run("store", "put", "docs", "a", str(team), "--to", "team", "--force")
    assert result.returncode == 0
    assert (tmp_path / "docs" / "a").read_bytes() != before


def test_import_existing_writes_nothing(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "src"
    source.mkdir()
    (source / "a").write_text("new a")
    (source / "b").write_text("new b")
    run("store", "put", "docs", "b", str(team), "--to", "team")
    result = run("store", "import", "docs", str(source), "--to", "team")
    assert result.returncode == 2
    assert "'b'" in result.stderr
    assert _objects(tmp_path) == ["b"]


def test_import_force_replaces(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "src"
    source.mkdir()
    (source / "b").write_text("new b")
    run("store", "put", "docs", "b", str(team), "--to", "team")
    assert run("store", "import", "docs", str(source), "--to", "team", "--force").returncode == 0
    assert run("store", "get", "docs", "b").stdout == "new b"


@pytest.mark.parametrize("object_id", ["new\nline", "tab\there", "esc\x1b[0m", "line\u2028sep"])
@pytest.mark.parametrize("store", ["docs", "db"])
def test_put_control_character_refused(run, team: Path, store: str, object_id: str) -> None:  # type: ignore[no-untyped-def]
    run("store", "add", "db", "sqlite:///db.sqlite")
    result = run("store", "put", store, object_id, str(team), "--to", "team")
    assert result.returncode == 2
    assert "control character" in result.stderr


def test_put_empty_id_refused_in_sqlite(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("store", "add", "db", "sqlite:///db.sqlite")
    result = run("store", "put", "db", "", str(team), "--to", "team")
    assert result.returncode == 2
    with closing(sqlite3.connect(tmp_path / "db.sqlite")) as db:
        assert db.execute("SELECT count(*) FROM secrets").fetchone() == (0,)


def test_import_control_character_refused(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "src"
    source.mkdir()
    (source / "a").write_text("a")
    (source / "new\nline").write_text("b")
    result = run("store", "import", "docs", str(source), "--to", "team")
    assert result.returncode == 2
    assert _objects(tmp_path) == []


def test_existing_control_character_listed_quoted(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("store", "put", "docs", "a", str(team), "--to", "team")
    os.link(tmp_path / "docs" / "a", tmp_path / "docs" / "new\nline")
    result = run("store", "list", "--objects", "docs")
    assert result.stdout.splitlines() == ["a", "'new\\nline'"]


def test_existing_control_character_rotates(run, team: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A file that exists under such a name stays an object: rotated, readable, listed quoted.
    run("store", "put", "docs", "a", str(team), "--to", "team")
    (tmp_path / "docs" / "new\nline").write_bytes((tmp_path / "docs" / "a").read_bytes())
    run("policy", "set", "pq-hybrid")
    assert run("rotate").returncode == 0
    assert run("store", "get", "docs", "new\nline").stdout == "plain"
    assert "'new\\nline'" in run("store", "list", "--objects", "docs").stdout
