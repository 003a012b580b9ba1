"""Key ids across a raw export and import, key state commands, wrong passphrases, file checks.

The command-line tests run ``agile`` in a new process each time, so no KEK is cached
between steps and the owner's keystore opens its own keys as a user would.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agile.errors import InvalidArgument, KeystoreError
from agile.keys import Keystore
from tests.cli_helpers import run_agile

PASSPHRASE = "correct horse battery staple"


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def _noted_id(stderr: str) -> str:
    found = re.search(r"key id ([A-Za-z0-9._-]+) ", stderr)
    assert found is not None, f"export-public --format raw did not name the key id: {stderr!r}"
    return found.group(1)


# 1. Raw public keys keep their id through export and import.


def _import_raw(
    home: Path, name: str, public: Path, purpose: str, algorithm: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Import a raw public key file into keyset ``name`` of ``home``; fail the test on error."""
    return _ok(
        run_agile(
            home,
            "keyset",
            "import",
            name,
            str(public),
            "--purpose",
            purpose,
            "--format",
            "raw",
            "--algorithm",
            algorithm,
            "--public",
            *extra,
        )
    )


def test_raw_x_wing_round_trip_owner_decrypts(tmp_path: Path) -> None:
    owner, sender = tmp_path / "owner", tmp_path / "sender"
    _ok(run_agile(owner, "keyset", "create", "files", "--purpose", "kem", "--algorithm", "x-wing"))
    public = tmp_path / "files.pub"
    exported = _ok(
        run_agile(owner, "keyset", "export-public", "files", "--format", "raw", "-o", str(public))
    )
    key_id = _noted_id(exported.stderr)
    assert (
        key_id
        == json.loads(_ok(run_agile(owner, "keyset", "show", "files", "--json")).stdout)["primary"]
    )

    imported = _import_raw(sender, "owner", public, "kem", "x-wing", "--key-id", key_id)
    assert imported.stdout.strip() == key_id
    assert "warning" not in imported.stderr

    message = tmp_path / "message.txt"
    message.write_bytes(b"for the owner only\n")
    sealed = tmp_path / "message.agile"
    _ok(run_agile(sender, "encrypt", "--to", "owner", "-o", str(sealed), str(message)))
    opened = tmp_path / "opened.txt"
    _ok(run_agile(owner, "decrypt", "-o", str(opened), str(sealed)))
    assert opened.read_bytes() == message.read_bytes()


def test_raw_ed25519_signature_verifies_after_import(tmp_path: Path) -> None:
    owner, verifier = tmp_path / "owner", tmp_path / "verifier"
    _ok(
        run_agile(
            owner, "keyset", "create", "rel", "--purpose", "signature", "--algorithm", "ed25519"
        )
    )
    public = tmp_path / "rel.pub"
    key_id = _noted_id(
        _ok(
            run_agile(owner, "keyset", "export-public", "rel", "--format", "raw", "-o", str(public))
        ).stderr
    )
    _import_raw(verifier, "rel", public, "signature", "ed25519", "--key-id", key_id)

    artifact = tmp_path / "app.tar"
    artifact.write_bytes(b"release\n")
    signature = tmp_path / "app.tar.sig"
    _ok(run_agile(owner, "sign", "--keyset", "rel", "-o", str(signature), str(artifact)))
    _ok(run_agile(verifier, "verify", "--signature", str(signature), str(artifact)))


def test_raw_import_without_key_id_warns(tmp_path: Path) -> None:
    owner, sender = tmp_path / "owner", tmp_path / "sender"
    _ok(run_agile(owner, "keyset", "create", "files", "--purpose", "kem", "--algorithm", "x-wing"))
    public = tmp_path / "files.pub"
    _ok(run_agile(owner, "keyset", "export-public", "files", "--format", "raw", "-o", str(public)))
    imported = _import_raw(sender, "owner", public, "kem", "x-wing")
    new_id = imported.stdout.strip()
    assert "warning" in imported.stderr
    assert new_id in imported.stderr
    assert "--key-id" in imported.stderr


# 2. A wrong passphrase names the keyset that did not open.


def test_wrong_passphrase_names_keyset(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    for name in ("rel-ed", "rel-ed2"):
        _ok(
            run_agile(
                home, "keyset", "create", name, "--purpose", "signature", "--algorithm", "ed25519"
            )
        )
    _ok(run_agile(home, "keyset", "reseal", "rel-ed2", AGILE_NEW_PASSPHRASE="another one"))
    artifact = tmp_path / "app.tar"
    artifact.write_bytes(b"release\n")
    result = run_agile(
        home,
        "sign",
        "--keyset",
        "rel-ed",
        "--keyset",
        "rel-ed2",
        "-o",
        str(tmp_path / "app.sig"),
        str(artifact),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "keyset 'rel-ed2'" in lines[0]
    assert "wrong passphrase" in lines[0]
    assert "AGILE_NEW_PASSPHRASE" in lines[0]
    assert "reseal rel-ed2" in lines[0]


# 4. Key state commands print the change, and repeating one is no error.


def test_state_commands_print_and_repeat(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    _ok(run_agile(home, "keyset", "create", "files", "--purpose", "kem", "--algorithm", "x25519"))
    old = json.loads(_ok(run_agile(home, "keyset", "show", "files", "--json")).stdout)["primary"]
    _ok(run_agile(home, "keyset", "add-key", "files", "--promote"))

    def run(command: str) -> str:
        return _ok(run_agile(home, "keyset", command, "files", old)).stdout.strip()

    assert run("decrypt-only") == f"key {old} of keyset files: enabled -> decrypt-only"
    assert run("decrypt-only") == f"key {old} of keyset files: already decrypt-only"
    assert run("enable") == f"key {old} of keyset files: decrypt-only -> enabled"
    assert run("enable") == f"key {old} of keyset files: already enabled"
    assert run("disable") == f"key {old} of keyset files: enabled -> disabled"
    assert run("disable") == f"key {old} of keyset files: already disabled"
    assert run("destroy") == f"key {old} of keyset files: disabled -> destroyed"
    assert run("destroy") == f"key {old} of keyset files: already destroyed"

    rejected = run_agile(home, "keyset", "enable", "files", old)
    assert rejected.returncode == 2
    assert "destroyed" in rejected.stderr
    assert "add-key" in rejected.stderr


# 5. Keyset files are checked on load as strictly as imports.


def _edit_keyset(store: Keystore, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    file = store.path / "keysets" / f"{name}.json"
    data = json.loads(file.read_text())
    edit(data)
    file.write_text(json.dumps(data))
    return file


@pytest.mark.parametrize("bad_id", ["../../x", "a b", "", "x" * 65, "id\n"])
def test_malformed_key_id_rejected_on_load(store: Keystore, bad_id: str) -> None:
    store.create_keyset("files", "kem", "x25519")
    file = _edit_keyset(store, "files", lambda data: data["keys"][0].update(id=bad_id))
    with pytest.raises(KeystoreError) as raised:
        Keystore.open(store.path).keyset("files")
    assert str(file) in str(raised.value)
    assert "key id" in str(raised.value)
    assert raised.value.fix is not None and "backup" in raised.value.fix


def test_unknown_fields_warn_and_load(store: Keystore, caplog: pytest.LogCaptureFixture) -> None:
    store.create_keyset("files", "kem", "x25519")

    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["comment"] = "hand edit"
        data["keys"][0]["privat"] = "misspelt"

    file = _edit_keyset(store, "files", edit)
    with caplog.at_level(logging.WARNING, logger="agile.keys"):
        loaded = Keystore.open(store.path).keyset("files")
    assert len(loaded.keys) == 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(file) in m and "comment" in m and "keys[].privat" in m for m in warned), warned


def test_import_refuses_key_id_with_trailing_newline(store: Keystore) -> None:
    """An id that the load check refuses must not get in through an import either."""
    partner = store.create_keyset("partner", "kem", "x25519")
    raw = X25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(InvalidArgument, match="invalid key id"):
        partner.import_key(raw, format="raw", algorithm="x25519", public=True, key_id="id\n")
    assert len(Keystore.open(store.path).keyset("partner").keys) == 1
