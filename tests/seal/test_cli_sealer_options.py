"""Sealer options of ``agile keyset create|reseal``: the keep settings, unknown sss members."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli.sealing import SEALER_OPTIONS


def test_keep_options_exist() -> None:
    flags = {flags for flags, _variable, _metavar, _text in SEALER_OPTIONS.values()}

    for flag in ("--keep-broker", "--keep-broker-cert", "--keep-token", "--keep-policy"):
        assert flag in flags


def test_keep_policy_reaches_sealer(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AGILE_KEEP_")}
    env["AGILE_PASSPHRASE"] = "keep options"
    policy = tmp_path / "absent-policy.toml"

    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--keystore", str(tmp_path / "ks"), "keyset", "create"]
        + ["vault", "--purpose", "kem", "--seal", "keep", "--keep-policy", str(policy)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )

    assert result.returncode == 2
    assert "absent-policy.toml" in result.stderr
    assert "needs an attestation policy file" not in result.stderr


def test_reseal_unknown_member_sealer(tmp_path: Path) -> None:
    env = dict(os.environ, AGILE_PASSPHRASE="members", AGILE_ARGON2_MEMORY_KIB="1024")
    base = [sys.executable, "-m", "cli.main", "--keystore", str(tmp_path / "ks"), "keyset"]
    created = subprocess.run(
        [*base, "create", "box", "--purpose", "kem", "--algorithm", "x25519"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr

    result = subprocess.run(
        [*base, "reseal", "box", "--seal", "sss", "--sss-threshold", "1"]
        + ["--sss-members", "passphrase,bogus"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )

    assert result.returncode == 2
    assert "unknown sealer 'bogus'" in result.stderr
    assert "does not allow" not in result.stderr


def _agile(keystore: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "--keystore", str(keystore), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_reseal_changes_passphrase(tmp_path: Path) -> None:
    keystore = tmp_path / "ks"
    old = dict(os.environ, AGILE_PASSPHRASE="old words", AGILE_ARGON2_MEMORY_KIB="1024")
    old.pop("AGILE_NEW_PASSPHRASE", None)
    new = dict(old, AGILE_PASSPHRASE="new words")
    message = tmp_path / "message.txt"
    message.write_text("secret")
    assert _agile(keystore, old, "keyset", "create", "box", "--purpose", "kem").returncode == 0
    sealed = tmp_path / "message.agile"
    assert (
        _agile(keystore, old, "encrypt", "--to", "box", "-o", str(sealed), str(message)).returncode
        == 0
    )

    changed = _agile(
        keystore, dict(old, AGILE_NEW_PASSPHRASE="new words"), "keyset", "reseal", "box"
    )
    with_old = _agile(keystore, old, "decrypt", str(sealed))
    with_new = _agile(keystore, new, "decrypt", str(sealed))

    assert changed.returncode == 0, changed.stderr
    assert with_old.returncode == 2
    assert with_new.returncode == 0, with_new.stderr
    assert with_new.stdout == "secret"


def test_new_passphrase_needs_passphrase_sealer(tmp_path: Path) -> None:
    keystore = tmp_path / "ks"
    env = dict(os.environ, AGILE_PASSPHRASE="words", AGILE_ARGON2_MEMORY_KIB="1024")
    env.pop("AGILE_NEW_PASSPHRASE", None)
    assert _agile(keystore, env, "keyset", "create", "box", "--purpose", "kem").returncode == 0

    result = _agile(
        keystore,
        dict(env, AGILE_NEW_PASSPHRASE="x"),
        "keyset",
        "reseal",
        "box",
        "--seal",
        "sss",
        "--sss-threshold",
        "1",
        "--sss-members",
        "passphrase",
    )

    assert result.returncode == 2
    assert "AGILE_NEW_PASSPHRASE" in result.stderr
