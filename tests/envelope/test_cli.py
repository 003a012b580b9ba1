"""The acceptance flow of ``agile keyset/encrypt/decrypt/inspect`` through the real command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

AGILE = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    home = tmp_path / "ks"
    home.mkdir()
    env = dict(os.environ)
    env.update(
        AGILE_PASSPHRASE="acceptance", AGILE_ARGON2_MEMORY_KIB="1024", AGILE_ARGON2_ITERATIONS="1"
    )
    env.pop("AGILE_HOME", None)

    def call(
        *args: str, stdin: bytes | None = None, stdout: object = subprocess.PIPE
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*AGILE, *args, "--keystore", str(home)] if args[0] != "inspect" else [*AGILE, *args],
            input=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    call.home = home  # type: ignore[attr-defined]
    return call


def test_acceptance_flow(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert (
        run("keyset", "create", "files", "--purpose", "kem", "--algorithm", "x-wing").returncode
        == 0
    )
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(10_000_000))

    assert run("encrypt", "--to", "files", "-o", "big.agile", str(source)).returncode == 0
    assert run("decrypt", "-o", "out.bin", "big.agile").returncode == 0
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()

    inspected = run("inspect", str(tmp_path / "big.agile"), "--json")
    info = json.loads(inspected.stdout)
    keyset = json.loads(run("keyset", "show", "files", "--json").stdout)
    assert info["recipients"] == [
        {
            "key_id": keyset["primary"],
            "algorithm": "x-wing",
            "kdf": "hkdf-sha256",
            "aead": "aes-256-gcm",
        }
    ]
    assert info["version"] == 1
    assert info["payload_algorithm"] == "aes-256-gcm"

    damaged = bytearray((tmp_path / "big.agile").read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    (tmp_path / "bad.agile").write_bytes(bytes(damaged))
    failed = run("decrypt", "-o", "bad.out", "bad.agile")
    assert failed.returncode == 2
    assert not (tmp_path / "bad.out").exists()
    assert b"Traceback" not in failed.stderr
    assert failed.stderr.count(b"\n") == 1

    with open(tmp_path / "bad-stdout.out", "wb") as sink:
        piped = run("decrypt", "bad.agile", stdout=sink)
    assert piped.returncode == 2
    assert (tmp_path / "bad-stdout.out").stat().st_size == 0

    files = [run.home / "keystore.json", *(run.home / "keysets").iterdir()]
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}


def test_stdin_stdout_and_armour(run) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "k", "--purpose", "kem", "--algorithm", "x25519")
    armoured = run("encrypt", "--to", "k", "--armor", "-", stdin=b"piped")
    assert armoured.stdout.startswith(b"-----BEGIN AGILE ENCRYPTED MESSAGE-----")
    assert run("decrypt", stdin=armoured.stdout).stdout == b"piped"


def test_sign_verify(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "c", "--purpose", "signature", "--algorithm", "ed25519")
    run("keyset", "create", "q", "--purpose", "signature", "--algorithm", "ml-dsa-65")
    (tmp_path / "app.tar").write_bytes(b"release")
    assert run("sign", "--keyset", "c", "--keyset", "q", "app.tar", "-o", "app.sig").returncode == 0
    assert run("verify", "--signature", "app.sig", "app.tar").returncode == 0
    (tmp_path / "app.tar").write_bytes(b"releasE")
    assert run("verify", "--signature", "app.sig", "app.tar").returncode == 1


def test_keyset_lifecycle_commands(run) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "k", "--purpose", "kem", "--algorithm", "x25519")
    new_id = (
        run("keyset", "add-key", "k", "--algorithm", "x-wing", "--promote").stdout.decode().strip()
    )
    shown = json.loads(run("keyset", "show", "k", "--json").stdout)
    old_id = next(k["id"] for k in shown["keys"] if k["id"] != new_id)
    assert shown["primary"] == new_id
    assert run("keyset", "destroy", "k", old_id).returncode == 2
    assert run("keyset", "disable", "k", old_id).returncode == 0
    assert run("keyset", "destroy", "k", old_id).returncode == 0


def test_unknown_keyset_error(run) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "k", "--purpose", "kem", "--algorithm", "x25519")
    result = run("encrypt", "--to", "missing", "-", stdin=b"x")
    assert result.returncode == 2
    assert b"no keyset named 'missing'" in result.stderr


def test_missing_keystore_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("decrypt", "-", stdin=b"x")
    assert result.returncode == 2
    assert b"no keystore at" in result.stderr


def test_wrong_passphrase_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "k", "--purpose", "kem", "--algorithm", "x25519")
    sealed = run("encrypt", "--to", "k", "-", stdin=b"x").stdout
    (tmp_path / "m.agile").write_bytes(sealed)
    env_override = dict(os.environ, AGILE_PASSPHRASE="wrong")
    result = subprocess.run(
        [*AGILE, "decrypt", "m.agile", "--keystore", str(run.home)],
        cwd=tmp_path,
        env=env_override,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert b"wrong passphrase" in result.stderr


def test_import_export_commands(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "mine", "--purpose", "kem", "--algorithm", "x25519")
    exported = run("keyset", "export-public", "mine", "--format", "jwk", "-o", "mine.jwk")
    assert exported.returncode == 0
    imported = run("keyset", "import", "copy", "mine.jwk", "--purpose", "kem")
    assert imported.returncode == 2
    assert b"already in keystore" in imported.stderr
    other = tmp_path / "other"
    result = subprocess.run(
        [
            *AGILE,
            "keyset",
            "import",
            "alice",
            "mine.jwk",
            "--purpose",
            "kem",
            "--keystore",
            str(other),
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
        env=dict(os.environ, AGILE_PASSPHRASE="other", AGILE_ARGON2_MEMORY_KIB="1024"),
    )
    assert result.returncode == 0
    sealed = subprocess.run(
        [*AGILE, "encrypt", "--to", "alice", "--keystore", str(other), "-"],
        input=b"to mine",
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
        env=dict(os.environ, AGILE_PASSPHRASE="other"),
    ).stdout
    assert run("decrypt", stdin=sealed).stdout == b"to mine"


def test_inspect_armoured_signature(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "c", "--purpose", "signature", "--algorithm", "ed25519")
    (tmp_path / "m").write_bytes(b"m")
    run("sign", "--keyset", "c", "--armor", "m", "-o", "m.sig")
    info = json.loads(run("inspect", str(tmp_path / "m.sig"), "--json").stdout)
    assert info["kind"] == "signature"
    assert info["signatures"][0]["algorithm"] == "ed25519"


def test_inspect_not_an_envelope(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "plain.txt").write_bytes(b"hello, this is not an envelope at all")
    result = run("inspect", str(tmp_path / "plain.txt"))
    assert result.returncode == 2
    assert b"not an agile envelope" in result.stderr
