"""The password KDF of the passphrase members of sss keysets, on create and on reseal.

A keyset's passphrase members are sealed with the policy's preferred password
KDF when the keyset is created or resealed with ``agile keyset reseal``.  A
reseal given no password KDF (``SSSSealer().reseal`` in Python) keeps each
member's current KDF.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agile.keys import Keystore
from agile.keys.kek import forget_keks, kek_associated_data, unseal_kek
from agile.policy import Policy, load_policy
from agile.policy.model import check_password_kdfs
from agile.seal.base import unseal
from agile.seal.passphrase import PassphraseSealer, choose_password_kdf, password_kdfs
from agile.seal.sss import SSSSealer
from tests.cli_helpers import run_agile

AD = kek_associated_data("vault", "0123")

#: scrypt first, argon2id still allowed for new seals.
SCRYPT_FIRST = '[password-kdf]\nallowed = ["scrypt", "argon2id"]\n'
#: argon2id denied: it is not in the allowed list.
SCRYPT_ONLY = '[password-kdf]\nallowed = ["scrypt"]\n'
#: The policy of a move from argon2id to scrypt: argon2id may still open old seals.
MOVE = '[password-kdf]\nallowed = ["scrypt"]\ndecrypt_only = ["argon2id"]\n'


@pytest.fixture(autouse=True)
def _cheap_kdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    monkeypatch.setenv("AGILE_SCRYPT_N", "1024")


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


def _policy_file(tmp_path: Path, name: str, sections: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'base = "default"\nname = "{name}"\n{sections}')
    return path


def _policy(tmp_path: Path, name: str, sections: str) -> Policy:
    return load_policy(str(_policy_file(tmp_path, name, sections)))


def _member_kdfs(home: Path, name: str) -> list[str]:
    data = json.loads((home / "keysets" / f"{name}.json").read_text())
    return password_kdfs(data["seal"])


def _two_passphrase_members(password_kdf: str) -> SSSSealer:
    # Both members read AGILE_PASSPHRASE, so a reseal can check that each keeps it.
    members = [PassphraseSealer(password_kdf=password_kdf) for _ in range(2)]
    return SSSSealer(sss_threshold=2, members=members)


# Library: the sealer.


@pytest.mark.usefixtures("keystore")
def test_reseal_moves_members_to_given_kdf(tmp_path: Path, kek: bytes) -> None:
    blob = _two_passphrase_members("argon2id").seal(kek, AD)
    move = _policy(tmp_path, "move", MOVE)

    sealer = SSSSealer.from_blob(blob, password_kdf=choose_password_kdf(move))
    resealed = sealer.reseal(blob, AD, secret=kek)

    assert password_kdfs(resealed) == ["scrypt", "scrypt"]
    assert move.password_kdf_reasons(resealed, "encrypt") == []
    assert unseal(resealed, AD) == kek


@pytest.mark.usefixtures("keystore")
def test_reseal_keeps_member_kdf(kek: bytes) -> None:
    blob = _two_passphrase_members("scrypt").seal(kek, AD)

    resealed = SSSSealer().reseal(blob, AD, secret=kek)

    assert password_kdfs(resealed) == ["scrypt", "scrypt"]
    assert unseal(resealed, AD) == kek


@pytest.mark.usefixtures("keystore")
def test_reseal_keeps_mixed_member_kdfs(kek: bytes) -> None:
    members = [PassphraseSealer(password_kdf="scrypt"), PassphraseSealer(password_kdf="argon2id")]
    blob = SSSSealer(sss_threshold=1, members=members).seal(kek, AD)

    resealed = SSSSealer().reseal(blob, AD, secret=kek)

    assert password_kdfs(resealed) == ["scrypt", "argon2id"]


@pytest.mark.usefixtures("keystore")
def test_reseal_keeps_nested_member_kdf(kek: bytes) -> None:
    inner = SSSSealer(sss_threshold=1, members=[PassphraseSealer(password_kdf="scrypt")])
    blob = SSSSealer(sss_threshold=1, members=[inner]).seal(kek, AD)

    resealed = SSSSealer().reseal(blob, AD, secret=kek)

    assert password_kdfs(resealed) == ["scrypt"]
    assert unseal(resealed, AD) == kek


@pytest.mark.usefixtures("keystore")
def test_given_kdf_replaces_member_kdf(kek: bytes) -> None:
    blob = _two_passphrase_members("scrypt").seal(kek, AD)

    resealed = SSSSealer(password_kdf="argon2id").reseal(blob, AD, secret=kek)

    assert password_kdfs(resealed) == ["argon2id", "argon2id"]


# Library: the keystore.


def test_create_uses_scrypt_first(keystore: Path, tmp_path: Path) -> None:
    store = Keystore.open(keystore)
    policy = _policy(tmp_path, "scrypt-first", SCRYPT_FIRST)
    options = {"sss_threshold": 1, "sss_members": "passphrase"}

    keyset = store.create_keyset(
        "files", "aead", sealer="sss", policy=policy, sealer_options=options
    )

    assert password_kdfs(keyset.seal_blob) == ["scrypt"]


def test_keyset_reseal_passes_move_policy(keystore: Path, tmp_path: Path) -> None:
    store = Keystore.open(keystore)
    options = {"sss_threshold": 1, "sss_members": "passphrase"}
    keyset = store.create_keyset("files", "aead", sealer="sss", sealer_options=options)
    move = _policy(tmp_path, "move", MOVE)
    blob = keyset.seal_blob
    assert check_password_kdfs(move, [("files", blob)]) != []

    kek = unseal_kek(store.root, keyset.name, keyset.uid, blob)
    sealer = SSSSealer.from_blob(blob, password_kdf=choose_password_kdf(move))
    keyset.replace_seal(sealer.reseal(blob, kek_associated_data(keyset.name, keyset.uid), kek))
    forget_keks()
    reopened = store.keyset("files")

    assert reopened.password_kdfs == ("scrypt",)
    assert check_password_kdfs(move, [("files", reopened.seal_blob)]) == []
    assert len(reopened.secret_key(reopened.primary.id)) == 32


# CLI.


@pytest.mark.parametrize("sections", [SCRYPT_FIRST, SCRYPT_ONLY], ids=["scrypt-first", "denied"])
def test_cli_create_seals_members_with_scrypt(
    keystore: Path, tmp_path: Path, sections: str
) -> None:
    policy = _policy_file(tmp_path, "scrypt", sections)

    created = run_agile(
        keystore,
        *("keyset", "create", "files", "--purpose", "aead", "--policy", str(policy)),
        *("--seal", "sss", "--sss-threshold", "1", "--sss-members", "passphrase"),
    )

    assert created.returncode == 0, created.stderr
    assert _member_kdfs(keystore, "files") == ["scrypt"]


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--seal", "sss"],
        ["--seal", "sss", "--sss-threshold", "1", "--sss-members", "passphrase"],
    ],
    ids=["plain", "seal-sss", "new-members"],
)
def test_cli_reseal_moves_members(keystore: Path, tmp_path: Path, options: list[str]) -> None:
    move = str(_policy_file(tmp_path, "move", MOVE))
    created = run_agile(
        keystore,
        *("keyset", "create", "files", "--purpose", "aead"),
        *("--seal", "sss", "--sss-threshold", "1", "--sss-members", "passphrase"),
    )
    assert created.returncode == 0, created.stderr
    assert _member_kdfs(keystore, "files") == ["argon2id"]
    before = run_agile(keystore, "policy", "check", "--policy", move)
    assert before.returncode == 1, before.stdout

    resealed = run_agile(keystore, "keyset", "reseal", "files", "--policy", move, *options)
    assert resealed.returncode == 0, resealed.stderr
    assert _member_kdfs(keystore, "files") == ["scrypt"]

    checked = run_agile(keystore, "policy", "check", "--policy", move)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    plain = tmp_path / "note.txt"
    plain.write_text("hello")
    sealed = tmp_path / "note.agile"
    arguments = ["encrypt", "--to", "files", "-o", str(sealed), str(plain), "--policy", move]
    encrypted = run_agile(keystore, *arguments)
    assert encrypted.returncode == 0, encrypted.stderr
    decrypted = run_agile(keystore, "decrypt", str(sealed), "--policy", move)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == "hello"


def test_cli_reseal_new_passphrase_moves(keystore: Path, tmp_path: Path) -> None:
    move = str(_policy_file(tmp_path, "move", MOVE))
    run_agile(
        keystore,
        *("keyset", "create", "files", "--purpose", "aead"),
        *("--seal", "sss", "--sss-threshold", "1", "--sss-members", "passphrase"),
    )

    resealed = run_agile(
        keystore, "keyset", "reseal", "files", "--policy", move, AGILE_NEW_PASSPHRASE="new words"
    )

    assert resealed.returncode == 0, resealed.stderr
    assert _member_kdfs(keystore, "files") == ["scrypt"]
    opened = run_agile(keystore, "keystore", "check", "files", AGILE_PASSPHRASE="new words")
    assert opened.returncode == 0, opened.stdout + opened.stderr


def test_cli_reseal_quorum_with_token(keystore: Path, tmp_path: Path, softhsm: Any) -> None:
    move = str(_policy_file(tmp_path, "move", MOVE))
    created = run_agile(
        keystore,
        *("keyset", "create", "vault", "--purpose", "kem"),
        *("--seal", "sss", "--sss-threshold", "2", "--sss-members", "passphrase,pkcs11"),
    )
    assert created.returncode == 0, created.stderr

    resealed = run_agile(keystore, "keyset", "reseal", "vault", "--policy", move)

    assert resealed.returncode == 0, resealed.stderr
    assert _member_kdfs(keystore, "vault") == ["scrypt"]
    checked = run_agile(keystore, "policy", "check", "--policy", move)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # keystore check opens every member, the token one as well as the passphrase one.
    opened = run_agile(keystore, "keystore", "check", "vault")
    assert opened.returncode == 0, opened.stdout + opened.stderr
