"""``agile keystore check``: every key unsealed and tested against its stored public key."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile import registry
from agile.errors import KeyNotFound
from agile.keys import Keystore
from agile.keys.check import check_keystore

AGILE = [sys.executable, "-m", "cli.main"]


def _swap_public(home: Path, name: str, algorithm: str) -> None:
    """Put a stranger's public key in place of the first key's, as a writer of the file could."""
    file = home / "keysets" / f"{name}.json"
    record = json.loads(file.read_text())
    theirs = registry.get(algorithm).generate().public_key.data  # type: ignore[attr-defined]
    record["keys"][0]["public"] = base64.b64encode(theirs).decode()
    file.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("purpose", "algorithm", "policy"),
    [
        ("kem", "x25519", "default"),
        ("kem", "x-wing", "default"),
        ("kem", "rsa-oaep-2048", "legacy"),
        ("signature", "ed25519", "default"),
        ("signature", "ml-dsa-65-ed25519", "default"),
        ("aead", "aes-256-gcm", "default"),
        ("homomorphic", "paillier-2048", "legacy"),
    ],
)
def test_sound_key_ok(store: Keystore, purpose: str, algorithm: str, policy: str) -> None:
    store.create_keyset("team", purpose, algorithm, policy=policy)
    (result,) = check_keystore(Keystore.open(store.path))
    assert result.result == "ok", result.detail


@pytest.mark.parametrize(("purpose", "algorithm"), [("kem", "x-wing"), ("signature", "ml-dsa-65")])
def test_swapped_public_key_fails(store: Keystore, purpose: str, algorithm: str) -> None:
    store.create_keyset("team", purpose, algorithm)
    _swap_public(store.path, "team", algorithm)
    (result,) = check_keystore(Keystore.open(store.path))
    assert "does not belong to its private key" in result.detail


def test_swap_marks_failed(store: Keystore) -> None:
    store.create_keyset("team", "signature", "ed25519")
    _swap_public(store.path, "team", "ed25519")
    (result,) = check_keystore(Keystore.open(store.path))
    assert result.failed


def test_other_keysets_still_checked(store: Keystore) -> None:
    store.create_keyset("bad", "kem", "x25519")
    store.create_keyset("good", "kem", "x25519")
    _swap_public(store.path, "bad", "x25519")
    results = check_keystore(Keystore.open(store.path))
    assert [r.result for r in results] == ["failed", "ok"]


def test_public_only_skipped(store: Keystore, tmp_path: Path) -> None:
    source = Keystore.open(tmp_path / "peer").create_keyset("source", "kem", "x25519")
    partner = store.create_keyset("partner", "kem", "x25519")
    raw = source.export_public(source.primary.id, format="raw")
    partner.import_key(raw, format="raw", algorithm="x25519", public=True)
    results = check_keystore(Keystore.open(store.path), ["partner"])
    assert [r.result for r in results] == ["ok", "skipped"]


def test_selected_names_only(store: Keystore) -> None:
    store.create_keyset("one", "kem", "x25519")
    store.create_keyset("two", "kem", "x25519")
    assert [r.keyset for r in check_keystore(store, ["two"])] == ["two"]


def test_unknown_name(store: Keystore) -> None:
    with pytest.raises(KeyNotFound, match="'nope'"):
        check_keystore(store, ["nope"])


@pytest.fixture
def cli(store: Keystore):  # type: ignore[no-untyped-def]
    env = dict(os.environ)
    env.pop("AGILE_HOME", None)

    def call(*args: str, passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
        if passphrase is not None:
            env["AGILE_PASSPHRASE"] = passphrase
        return subprocess.run(
            [*AGILE, "--keystore", str(store.path), "keystore", "check", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )

    return call


def test_cli_swap_exit_1(store: Keystore, cli) -> None:  # type: ignore[no-untyped-def]
    store.create_keyset("team", "kem", "x25519")
    _swap_public(store.path, "team", "x25519")
    assert cli().returncode == 1


def test_cli_json(store: Keystore, cli) -> None:  # type: ignore[no-untyped-def]
    keyset = store.create_keyset("team", "kem", "x25519")
    report = json.loads(cli("--json").stdout)
    assert report["keys"][0]["key_id"] == keyset.primary.id


def test_cli_sound_exit_0(store: Keystore, cli) -> None:  # type: ignore[no-untyped-def]
    store.create_keyset("team", "kem", "x25519")
    assert cli().returncode == 0


def test_cli_unknown_name_exit_2(store: Keystore, cli) -> None:  # type: ignore[no-untyped-def]
    store.create_keyset("team", "kem", "x25519")
    assert cli("nope").returncode == 2


def test_cli_unknown_name_one_line(store: Keystore, cli) -> None:  # type: ignore[no-untyped-def]
    store.create_keyset("team", "kem", "x25519")
    assert cli("nope").stderr.count("\n") == 1


def test_cli_wrong_passphrase_fails_keys(store: Keystore, cli) -> None:  # type: ignore[no-untyped-def]
    # A fresh process has no unsealed key in memory, so the passphrase is needed.
    store.create_keyset("team", "kem", "x25519")
    completed = cli(passphrase="not the passphrase")
    assert completed.returncode == 1
    assert completed.stdout.startswith("failed  team ")
    assert "the keyset did not unseal" in completed.stdout
    assert "wrong passphrase" in completed.stdout


def test_cli_unsealed_keysets_still_checked(  # type: ignore[no-untyped-def]
    store: Keystore, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyset that does not unseal fails all its keys, and the other keysets are checked."""
    store.create_keyset("team", "kem", "x25519")
    monkeypatch.setenv("AGILE_PASSPHRASE", "another passphrase")
    other = store.create_keyset("other", "kem", "x25519")
    other.add_key("x25519")
    monkeypatch.setenv("AGILE_PASSPHRASE", "correct horse battery staple")

    completed = cli("--json", passphrase="correct horse battery staple")

    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    results = {(key["keyset"], key["key_id"]): key for key in report["keys"]}
    assert [key["result"] for key in report["keys"] if key["keyset"] == "team"] == ["ok"]
    failed = [key for (keyset, _), key in results.items() if keyset == "other"]
    assert [key["result"] for key in failed] == ["failed", "failed"]
    assert all("wrong passphrase" in key["detail"] for key in failed)
    assert report["failed"] == 2
