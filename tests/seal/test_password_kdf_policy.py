"""The passphrase sealer's scrypt KDF, and the policy's [password-kdf] rule for seal and unseal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agile import envelope
from agile.errors import PolicyViolation, SealError
from agile.keys import Keystore
from agile.policy import Policy, load_policy
from agile.seal.passphrase import PassphraseSealer, password_kdfs

AAD = b"keyset test"
SECRET = b"k" * 32


@pytest.fixture(autouse=True)
def _cheap_kdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    monkeypatch.setenv("AGILE_SCRYPT_N", "1024")


@pytest.fixture
def store(keystore: Path) -> Keystore:
    return Keystore.open(keystore)


def _policy(tmp_path: Path, name: str, sections: str) -> Policy:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'base = "default"\nname = "{name}"\n{sections}')
    return load_policy(str(path))


def _scrypt_only(tmp_path: Path) -> Policy:
    return _policy(tmp_path, "scrypt-only", '[password-kdf]\nallowed = ["scrypt"]\n')


def _keyset_blob(store: Keystore, name: str) -> dict[str, Any]:
    data = json.loads((store.path / "keysets" / f"{name}.json").read_text())
    return data["seal"]  # type: ignore[no-any-return]


def test_scrypt_round_trip() -> None:
    blob = PassphraseSealer("pw", password_kdf="scrypt").seal(SECRET, AAD)

    assert blob["kdf"] == "scrypt"
    assert blob["scrypt"] == {"n": 1024, "r": 8, "p": 1}
    assert "argon2" not in blob
    assert PassphraseSealer("pw").unseal(blob, AAD) == SECRET


def test_scrypt_wrong_passphrase() -> None:
    from agile.errors import WrongPassphrase

    blob = PassphraseSealer("pw", password_kdf="scrypt").seal(SECRET, AAD)

    with pytest.raises(WrongPassphrase):
        PassphraseSealer("other").unseal(blob, AAD)


def test_argon2id_stays_default() -> None:
    blob = PassphraseSealer("pw").seal(SECRET, AAD)

    assert blob["kdf"] == "argon2id"
    assert "scrypt" not in blob


@pytest.mark.parametrize(
    "parameters",
    [
        {"n": 1000, "r": 8, "p": 1},  # not a power of two
        {"n": 1 << 21, "r": 8, "p": 1},  # above the maximum N
        {"n": 1 << 20, "r": 16, "p": 1},  # 2 GiB of memory, above the 1 GiB maximum
        {"n": 1024, "r": 0, "p": 1},
        {"n": 1024, "r": 8, "p": "1"},
    ],
)
def test_scrypt_blob_parameters_checked(parameters: dict[str, Any]) -> None:
    blob = PassphraseSealer("pw", password_kdf="scrypt").seal(SECRET, AAD)
    blob["scrypt"] = parameters

    with pytest.raises(SealError, match="malformed"):
        PassphraseSealer("pw").unseal(blob, AAD)


def test_unknown_blob_kdf_rejected() -> None:
    blob = PassphraseSealer("pw").seal(SECRET, AAD)
    blob["kdf"] = "pbkdf2"

    with pytest.raises(SealError, match="unknown password KDF 'pbkdf2'"):
        PassphraseSealer("pw").unseal(blob, AAD)


def test_unknown_sealer_kdf_rejected() -> None:
    with pytest.raises(SealError, match="unknown password KDF"):
        PassphraseSealer("pw", password_kdf="pbkdf2")


def test_scrypt_environment_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_SCRYPT_N", "1000")

    with pytest.raises(SealError, match="scrypt N 1000") as caught:
        PassphraseSealer("pw", password_kdf="scrypt").seal(SECRET, AAD)

    assert "AGILE_SCRYPT_N" in (caught.value.fix or "")


def test_keyset_sealed_with_preferred_kdf(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("k", "kem", "x25519", policy=_scrypt_only(tmp_path))

    assert _keyset_blob(store, "k")["kdf"] == "scrypt"
    assert keyset.private_key(keyset.primary.id) is not None


def test_keyset_default_policy_argon2id(store: Keystore) -> None:
    store.create_keyset("k", "kem", "x25519", policy="default")

    assert _keyset_blob(store, "k")["kdf"] == "argon2id"


def test_sss_member_sealed_with_preferred_kdf(store: Keystore, tmp_path: Path) -> None:
    store.create_keyset(
        "k",
        "kem",
        "x25519",
        sealer="sss",
        policy=_scrypt_only(tmp_path),
        sealer_options={"sss_threshold": 1, "sss_members": "passphrase"},
    )

    assert password_kdfs(_keyset_blob(store, "k")) == ["scrypt"]


def test_denied_kdf_option_rejected(store: Keystore, tmp_path: Path) -> None:
    with pytest.raises(PolicyViolation, match="argon2id"):
        store.create_keyset(
            "k",
            "kem",
            "x25519",
            policy=_scrypt_only(tmp_path),
            sealer_options={"password_kdf": "argon2id"},
        )

    assert not (store.path / "keysets" / "k.json").exists()


def test_decrypt_denied_kdf_rejected(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("k", "kem", "x25519", policy="default")
    data = envelope.encrypt(b"hello", keyset, policy="default")

    with pytest.raises(PolicyViolation, match="derived with argon2id"):
        envelope.decrypt(data, store, policy=_scrypt_only(tmp_path))


def test_decrypt_allowed_kdf_opens(store: Keystore, tmp_path: Path) -> None:
    policy = _scrypt_only(tmp_path)
    keyset = store.create_keyset("k", "kem", "x25519", policy=policy)
    data = envelope.encrypt(b"hello", keyset, policy=policy)

    assert envelope.decrypt(data, store, policy=policy) == b"hello"


def test_sign_denied_kdf_rejected(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("s", "signature", "ed25519", policy="default")

    with pytest.raises(PolicyViolation, match="derived with argon2id"):
        envelope.sign(b"hello", keyset, policy=_scrypt_only(tmp_path))


def test_encrypt_to_aead_keyset_denied_kdf(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("a", "aead", "aes-256-gcm", policy="default")

    with pytest.raises(PolicyViolation, match="derived with argon2id"):
        envelope.encrypt(b"hello", keyset, policy=_scrypt_only(tmp_path))


def test_cli_create_uses_scrypt(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    policy = tmp_path / "scrypt.toml"
    policy.write_text('base = "default"\n[password-kdf]\nallowed = ["scrypt"]\n')
    env = dict(os.environ, AGILE_PASSPHRASE="pw", AGILE_SCRYPT_N="1024")
    env.pop("AGILE_HOME", None)
    command = [sys.executable, "-m", "cli.main", "--keystore", str(home)]

    created = subprocess.run(
        [*command, "keyset", "create", "k", "--purpose", "kem", "--algorithm", "x25519"]
        + ["--policy", str(policy)],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )

    assert created.returncode == 0, created.stderr
    blob = json.loads((home / "keysets" / "k.json").read_text())["seal"]
    assert blob["kdf"] == "scrypt"


def test_cli_reseal_moves_to_policy_kdf(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    policy = tmp_path / "scrypt.toml"
    policy.write_text(
        'base = "default"\n[password-kdf]\nallowed = ["scrypt"]\ndecrypt_only = ["argon2id"]\n'
    )
    env = dict(os.environ, AGILE_PASSPHRASE="pw", AGILE_SCRYPT_N="1024")
    env.update(AGILE_ARGON2_MEMORY_KIB="1024", AGILE_ARGON2_ITERATIONS="1")
    env.pop("AGILE_HOME", None)
    command = [sys.executable, "-m", "cli.main", "--keystore", str(home)]
    created = subprocess.run(
        [*command, "keyset", "create", "k", "--purpose", "kem", "--algorithm", "x25519"],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    before = json.loads((home / "keysets" / "k.json").read_text())["seal"]

    resealed = subprocess.run(
        [*command, "keyset", "reseal", "k", "--policy", str(policy)],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )

    assert resealed.returncode == 0, resealed.stderr
    after = json.loads((home / "keysets" / "k.json").read_text())["seal"]
    assert before["kdf"] == "argon2id"
    assert after["kdf"] == "scrypt"
