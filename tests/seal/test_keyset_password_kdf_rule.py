"""The [password-kdf] rule wherever a keyset's KEK is opened or gets new key material."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from agile.errors import PolicyViolation
from agile.keys import Keystore
from agile.policy import Policy, load_policy
from agile.policy.model import check_password_kdfs

SCRYPT_ONLY = 'base = "default"\n[password-kdf]\nallowed = ["scrypt"]\n'
#: Allows scrypt for new seals and argon2id only to open existing ones.
SCRYPT_MOVE = SCRYPT_ONLY + 'decrypt_only = ["argon2id"]\n'
HKDF_SHA512_ONLY = 'base = "default"\n[kdf]\nallowed = ["hkdf-sha512"]\n'
HKDF_SHA256_OPEN_ONLY = HKDF_SHA512_ONLY + 'decrypt_only = ["hkdf-sha256"]\n'


@pytest.fixture(autouse=True)
def _cheap_kdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    monkeypatch.setenv("AGILE_SCRYPT_N", "1024")


@pytest.fixture
def store(keystore: Path) -> Keystore:
    """Return a keystore with keyset 'a3', sealed with argon2id under the default policy."""
    opened = Keystore.open(keystore)
    opened.create_keyset("a3", "signature", "ed25519")
    return opened


def _policy_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n{text}')
    return path


def _policy(tmp_path: Path, name: str, text: str) -> Policy:
    return load_policy(str(_policy_file(tmp_path, name, text)))


def _agile(keystore: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "--keystore", str(keystore), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
        timeout=120,
    )


def _blob(keystore: Path, name: str = "a3") -> dict[str, object]:
    return json.loads((keystore / "keysets" / f"{name}.json").read_text())["seal"]  # type: ignore[no-any-return]


def _pem_private_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )


# Library: Policy methods and keyset changes.


def test_add_key_decrypt_denied(store: Keystore, tmp_path: Path) -> None:
    keyset = store.keyset("a3")

    with pytest.raises(PolicyViolation, match="does not allow decrypt") as raised:
        keyset.add_key(policy=_policy(tmp_path, "scrypt-only", SCRYPT_ONLY))

    assert "decrypt_only" in str(raised.value.fix)
    assert len(store.keyset("a3").keys) == 1


def test_add_key_encrypt_denied(store: Keystore, tmp_path: Path) -> None:
    keyset = store.keyset("a3")
    policy_file = _policy_file(tmp_path, "scrypt-move", SCRYPT_MOVE)

    with pytest.raises(PolicyViolation, match="does not allow encrypt") as raised:
        keyset.add_key(policy=load_policy(str(policy_file)))

    assert f"agile keyset reseal a3 --policy {policy_file}" in str(raised.value.fix)
    assert len(store.keyset("a3").keys) == 1


def test_add_key_after_reseal(store: Keystore, tmp_path: Path) -> None:
    keystore = store.path
    policy_file = _policy_file(tmp_path, "scrypt-move", SCRYPT_MOVE)

    moved = _agile(keystore, "keyset", "reseal", "a3", "--policy", str(policy_file))

    assert moved.returncode == 0, moved.stderr
    assert _blob(keystore)["kdf"] == "scrypt"
    store.keyset("a3").add_key(policy=_policy(tmp_path, "scrypt-only", SCRYPT_ONLY))
    assert len(store.keyset("a3").keys) == 2


def test_import_private_denied(store: Keystore, tmp_path: Path) -> None:
    keyset = store.keyset("a3")

    with pytest.raises(PolicyViolation, match="import a private key"):
        keyset.import_key(_pem_private_key(), policy=_policy(tmp_path, "scrypt-only", SCRYPT_ONLY))

    assert len(store.keyset("a3").keys) == 1


def test_import_public_allowed(store: Keystore, tmp_path: Path) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    store.keyset("a3").import_key(pem, policy=_policy(tmp_path, "scrypt-only", SCRYPT_ONLY))

    assert len(store.keyset("a3").keys) == 2


def test_seal_blob_reasons(store: Keystore, tmp_path: Path) -> None:
    blob = store.keyset("a3").seal_blob
    scrypt_only = _policy(tmp_path, "scrypt-only", SCRYPT_ONLY)
    scrypt_move = _policy(tmp_path, "scrypt-move", SCRYPT_MOVE)

    assert load_policy("default").seal_blob_reasons(blob) == []
    assert scrypt_only.seal_blob_reasons(blob) == scrypt_only.password_kdf_reasons(blob, "decrypt")
    assert scrypt_move.seal_blob_reasons(blob) == scrypt_move.password_kdf_reasons(blob, "encrypt")
    assert scrypt_move.seal_blob_reasons(blob) != []


def test_check_password_kdfs(store: Keystore, tmp_path: Path) -> None:
    seals = [("a3", store.keyset("a3").seal_blob)]

    findings = check_password_kdfs(_policy(tmp_path, "scrypt-move", SCRYPT_MOVE), seals)

    assert check_password_kdfs(load_policy("default"), seals) == []
    assert [finding.keyset for finding in findings] == ["a3"]
    assert findings[0].password_kdfs == ["argon2id"]
    assert "agile keyset reseal a3" in findings[0].fix


# Command line.


def test_cli_add_key_denied(store: Keystore, tmp_path: Path) -> None:
    policy_file = _policy_file(tmp_path, "scrypt-only", SCRYPT_ONLY)

    result = _agile(store.path, "keyset", "add-key", "--policy", str(policy_file), "a3")

    assert result.returncode == 1, result.stderr
    assert "does not allow decrypt with the password KDF of keyset 'a3'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_split_denied(store: Keystore, tmp_path: Path) -> None:
    policy_file = _policy_file(tmp_path, "scrypt-only", SCRYPT_ONLY)
    prefix = tmp_path / "a3sh"

    result = _agile(
        store.path, "share", "split", "--policy", str(policy_file), "--keyset", "a3",
        "-t", "2", "-n", "3", "-o", str(prefix),
    )  # fmt: skip

    assert result.returncode == 1, result.stderr
    assert "split it into shares" in result.stderr
    assert not (tmp_path / "a3sh-1").exists()


def test_cli_reseal_open_denied(store: Keystore, tmp_path: Path) -> None:
    policy_file = _policy_file(tmp_path, "scrypt-only", SCRYPT_ONLY)

    result = _agile(store.path, "keyset", "reseal", "--policy", str(policy_file), "a3")

    assert result.returncode == 1, result.stderr
    assert "cannot open the keyset's key-encryption key to reseal it" in result.stderr
    assert _blob(store.path)["kdf"] == "argon2id"


def test_cli_check_reports_kdf(store: Keystore, tmp_path: Path) -> None:
    policy_file = _policy_file(tmp_path, "scrypt-only", SCRYPT_ONLY)

    text = _agile(store.path, "policy", "check", "--policy", str(policy_file))
    data = _agile(store.path, "policy", "check", "--policy", str(policy_file), "--json")

    assert text.returncode == 1, text.stderr
    assert "keyset a3 (password KDF argon2id)" in text.stdout
    assert "agile keyset reseal a3" in text.stdout
    assert data.returncode == 1, data.stderr
    findings = json.loads(data.stdout)["password_kdf_findings"]
    assert [finding["keyset"] for finding in findings] == ["a3"]


def test_cli_check_default_complies(store: Keystore) -> None:
    result = _agile(store.path, "policy", "check", "--policy", "default", "--json")

    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["password_kdf_findings"] == []


def test_cli_validate_warns_hkdf(tmp_path: Path, keystore: Path) -> None:
    policy_file = _policy_file(tmp_path, "sha512-only", HKDF_SHA512_ONLY)

    text = _agile(keystore, "policy", "validate", str(policy_file))
    data = _agile(keystore, "policy", "validate", str(policy_file), "--json")

    assert text.returncode == 0, text.stderr
    assert "agile: warning:" in text.stderr
    assert "written or read" in text.stderr
    assert data.returncode == 0, data.stderr
    assert len(json.loads(data.stdout)["warnings"]) == 1


def test_cli_validate_open_only_hkdf(tmp_path: Path, keystore: Path) -> None:
    policy_file = _policy_file(tmp_path, "sha256-open", HKDF_SHA256_OPEN_ONLY)

    result = _agile(keystore, "policy", "validate", str(policy_file))

    assert result.returncode == 0, result.stderr
    assert "denies encrypt with hkdf-sha256" in result.stderr
    assert "decrypt_only is enough" not in result.stderr


def test_cli_validate_default_quiet(keystore: Path) -> None:
    result = _agile(keystore, "policy", "validate", "default", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == []
    assert "warning" not in result.stderr


def test_cli_set_warns_hkdf(tmp_path: Path, keystore: Path) -> None:
    policy_file = _policy_file(tmp_path, "sha512-only", HKDF_SHA512_ONLY)

    result = _agile(keystore, "policy", "set", str(policy_file))

    assert result.returncode == 0, result.stderr
    assert "agile: warning: policy 'sha512-only' denies encrypt and decrypt" in result.stderr


# keystore check: a keyset whose KEK the policy may not open is not unsealed.


def test_check_denied_kdf_fails(store: Keystore, tmp_path: Path) -> None:
    from agile.keys.check import check_keystore

    (result,) = check_keystore(store, policy=_policy(tmp_path, "scrypt-only", SCRYPT_ONLY))
    assert result.result == "failed"
    assert "argon2id" in result.detail
    assert "agile keyset reseal a3" in result.detail


def test_check_denied_kdf_not_unsealed(
    store: Keystore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agile.keys.check import check_keystore

    # A wrong passphrase would make an unseal fail with its own message.
    monkeypatch.setenv("AGILE_PASSPHRASE", "not the passphrase")
    (result,) = check_keystore(store, policy=_policy(tmp_path, "scrypt-only", SCRYPT_ONLY))
    assert "did not unseal" not in result.detail


def test_check_decrypt_only_kdf_ok(store: Keystore, tmp_path: Path) -> None:
    from agile.keys.check import check_keystore

    (result,) = check_keystore(store, policy=_policy(tmp_path, "scrypt-move", SCRYPT_MOVE))
    assert result.result == "ok", result.detail


def test_check_cli_denied_kdf(store: Keystore, tmp_path: Path) -> None:
    policy = _policy_file(tmp_path, "scrypt-only", SCRYPT_ONLY)
    done = _agile(store.path, "keystore", "check", "--policy", str(policy))
    assert done.returncode == 1, done.stderr
    assert "failed  a3" in done.stdout
    assert "0 of 1 keys with a private part check out" in done.stdout
