"""inspect shows each stanza's KDF and AEAD; policy errors give fixes that work, each once."""

from __future__ import annotations

import json
from pathlib import Path

_AES_128_ONLY = 'base = "default"\n[aead]\nallowed = ["xchacha20-poly1305", "aes-128-gcm"]\n'
_CHACHA_ONLY = (
    'base = "default"\n[aead]\nallowed = ["chacha20-poly1305"]\n'
    'decrypt_only = ["aes-256-gcm", "aes-128-gcm"]\n'
)
_WITHOUT_AES_128 = (
    'base = "default"\n[aead]\nallowed = ["xchacha20-poly1305", "aes-256-gcm"]\n'
    'remove = ["aes-128-gcm", "chacha20-poly1305"]\n'
)


def _ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr.decode()


def _envelope_to_four(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Write four.agile to four x25519 keysets, with HPKE AEAD aes-128-gcm in every stanza."""
    (tmp_path / "aes128.toml").write_text(_AES_128_ONLY)
    (tmp_path / "m.txt").write_bytes(b"four recipients")
    names = ["r1", "r2", "r3", "r4"]
    for name in names:
        _ok(run("keyset", "create", name, "--purpose", "kem", "--algorithm", "x25519"))
    recipients = [item for name in names for item in ("--to", name)]
    _ok(run("encrypt", *recipients, "--policy", "aes128.toml", "-o", "four.agile", "m.txt"))


def test_inspect_json_hpke_suite(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _envelope_to_four(run, tmp_path)

    result = run("inspect", "four.agile", "--json")

    _ok(result)
    recipients = json.loads(result.stdout)["recipients"]
    assert [entry["kdf"] for entry in recipients] == ["hkdf-sha256"] * 4
    assert [entry["aead"] for entry in recipients] == ["aes-128-gcm"] * 4


def test_inspect_text_hpke_suite(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _envelope_to_four(run, tmp_path)

    result = run("inspect", "four.agile")

    _ok(result)
    assert result.stdout.count(b"x25519, kdf hkdf-sha256, aead aes-128-gcm)") == 4


def test_inspect_json_kem_transport(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "m.txt").write_bytes(b"to rsa")
    _ok(run("keyset", "create", "kr", "--purpose", "kem", "--algorithm", "rsa-oaep-3072"))
    _ok(run("encrypt", "--to", "kr", "-o", "x.agile", "m.txt"))

    result = run("inspect", "x.agile", "--json")

    _ok(result)
    entry = json.loads(result.stdout)["recipients"][0]
    assert (entry["kdf"], entry["aead"]) == ("hkdf-sha256", "aes-256-gcm")


def test_kem_transport_fix_works(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ch.toml").write_text(_CHACHA_ONLY)
    (tmp_path / "m.txt").write_bytes(b"to rsa")
    _ok(run("keyset", "create", "kr", "--purpose", "kem", "--algorithm", "rsa-oaep-3072"))

    result = run("encrypt", "--to", "kr", "--policy", "ch.toml", "-o", "x.agile", "m.txt")

    error = result.stderr.decode()
    assert result.returncode == 1, error
    assert "use 'chacha20-poly1305'" not in error
    assert "allow 'aes-256-gcm' for encrypt in [aead] of the policy" in error
    assert "HPKE KEM that the policy allows" in error


def test_decrypt_reason_listed_once(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _envelope_to_four(run, tmp_path)
    (tmp_path / "xonly.toml").write_text(_WITHOUT_AES_128)

    result = run("decrypt", "--policy", "xonly.toml", "four.agile")

    error = result.stderr.decode()
    assert result.returncode == 1, error
    assert error.count("does not allow decrypt with 'aes-128-gcm'") == 1
