"""A keystore change that the audit log cannot record is stopped before it is saved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.errors import KeystoreError
from agile.keys import Keystore

AGILE = [sys.executable, "-m", "cli.main"]


def _snapshot(home: Path) -> dict[str, bytes]:
    """Return the content of every regular file under ``home``, by relative path."""
    return {
        str(path.relative_to(home)): path.read_bytes()
        for path in sorted(home.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


def _break_audit_log(home: Path) -> None:
    log = home / "audit.log"
    if log.exists():
        log.unlink()
    log.mkdir()


def test_add_key_rejected_unchanged(store: Keystore) -> None:
    keyset = store.create_keyset("team", "kem", "x25519")
    _break_audit_log(store.path)
    before = _snapshot(store.path)

    with pytest.raises(KeystoreError, match="audit log") as caught:
        keyset.add_key("x25519")

    assert "no change was saved" in (caught.value.fix or "")
    assert _snapshot(store.path) == before
    assert len(store.keyset("team").keys) == 1


def test_create_keyset_rejected(store: Keystore) -> None:
    store.create_keyset("team", "kem", "x25519")
    _break_audit_log(store.path)

    with pytest.raises(KeystoreError, match="audit log"):
        store.create_keyset("other", "kem", "x25519")

    assert store.keyset_names() == ["team"]


def test_disable_rejected_unchanged(store: Keystore) -> None:
    keyset = store.create_keyset("team", "kem", "x25519")
    old = keyset.primary.id
    keyset.add_key("x25519", promote=True)
    _break_audit_log(store.path)
    before = _snapshot(store.path)

    with pytest.raises(KeystoreError, match="audit log"):
        keyset.disable(old)

    assert _snapshot(store.path) == before


def test_unreadable_log_rejected(store: Keystore) -> None:
    if os.geteuid() == 0:
        pytest.skip("root opens a file whatever its mode")
    keyset = store.create_keyset("team", "kem", "x25519")
    (store.path / "audit.log").chmod(0o400)
    before = _snapshot(store.path)

    with pytest.raises(KeystoreError, match="audit log"):
        keyset.add_key("x25519")

    assert _snapshot(store.path) == before


def test_missing_log_created(store: Keystore) -> None:
    store.create_keyset("team", "kem", "x25519")
    (store.path / "audit.log").unlink()

    store.keyset("team").add_key("x25519")

    assert (store.path / "audit.log").is_file()


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return the keystore directory and a function that runs the CLI on it."""
    home = tmp_path / "ks"
    env = dict(os.environ)
    env.update(
        AGILE_PASSPHRASE="cli tests", AGILE_ARGON2_MEMORY_KIB="1024", AGILE_ARGON2_ITERATIONS="1"
    )
    env.pop("AGILE_HOME", None)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGILE, "--keystore", str(home), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    return home, call


@pytest.mark.parametrize(
    "command",
    [
        ("keyset", "add-key", "team"),
        ("policy", "set", "pq-hybrid"),
        ("keyset", "create", "other", "--purpose", "kem"),
    ],
)
def test_cli_rejected_unchanged(cli, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    home, call = cli
    assert call("keyset", "create", "team", "--purpose", "kem").returncode == 0
    _break_audit_log(home)
    before = _snapshot(home)

    result = call(*command)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(home / "audit.log") in lines[0]
    assert "no change was saved" in lines[0]
    assert _snapshot(home) == before
