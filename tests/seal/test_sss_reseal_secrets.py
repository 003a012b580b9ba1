"""Resealing an sss keyset keeps each member's passphrase and TPM PIN unless given a new one.

The quorum opens the KEK without the other members' secrets, so a typo in
AGILE_PASSPHRASE or AGILE_TPM_PIN would otherwise become the member's new
secret.  A new secret counts only when given explicitly (AGILE_NEW_PASSPHRASE,
--tpm-pin, or the ``passphrase`` and ``tpm_pin`` options of the sealer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agile.errors import InvalidArgument, SealError, WrongPassphrase
from agile.keys.kek import kek_associated_data
from agile.seal.base import unseal
from agile.seal.passphrase import PassphraseSealer
from agile.seal.sss import SSSSealer
from agile.seal.tpm2 import TPM2Sealer
from tests.cli_helpers import run_cli

AD = kek_associated_data("vault", "0123")


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def passphrase_blob(fast_passphrase: str, kek: bytes) -> dict:
    return SSSSealer(sss_threshold=1, sss_members="passphrase").seal(kek, AD)


# Passphrase members (no device needed).


def test_typo_passphrase_rejected(passphrase_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "typo")
    with pytest.raises(WrongPassphrase) as raised:
        SSSSealer().reseal(passphrase_blob, AD, secret=kek)
    assert "keyset 'vault'" in str(raised.value)
    assert "sss member 1 (passphrase)" in str(raised.value)
    assert raised.value.fix is not None and "AGILE_NEW_PASSPHRASE" in raised.value.fix


def test_right_passphrase_kept(passphrase_blob: dict, kek: bytes) -> None:
    resealed = SSSSealer().reseal(passphrase_blob, AD, secret=kek)
    assert unseal(resealed, AD) == kek


def test_explicit_passphrase_change(passphrase_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "forgotten")
    resealed = SSSSealer(passphrase="new words").reseal(passphrase_blob, AD, secret=kek)
    monkeypatch.setenv("AGILE_PASSPHRASE", "new words")
    assert unseal(resealed, AD) == kek


def test_new_member_list_checked(passphrase_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "typo")
    sealer = SSSSealer(sss_threshold=1, sss_members="passphrase")
    with pytest.raises(WrongPassphrase, match="sss member 1"):
        sealer.reseal(passphrase_blob, AD, secret=kek)


def test_second_passphrase_checked(fast_passphrase: str, kek: bytes) -> None:
    # Member 2 has another passphrase than AGILE_PASSPHRASE, so resealing would replace it.
    sealer = SSSSealer(sss_threshold=1, members=[PassphraseSealer(), PassphraseSealer("other")])
    blob = sealer.seal(kek, AD)
    with pytest.raises(WrongPassphrase, match="sss member 2"):
        SSSSealer().reseal(blob, AD, secret=kek)


def test_nested_passphrase_checked(fast_passphrase: str, kek: bytes, monkeypatch) -> None:
    inner = SSSSealer(sss_threshold=1, sss_members="passphrase")
    blob = SSSSealer(sss_threshold=1, members=[inner]).seal(kek, AD)
    monkeypatch.setenv("AGILE_PASSPHRASE", "typo")
    with pytest.raises(WrongPassphrase, match=r"sss member 1\.1"):
        SSSSealer().reseal(blob, AD, secret=kek)


# A tpm2 member with a PIN, on swtpm.


@pytest.fixture
def pin_blob(swtpm, fast_passphrase: str, kek: bytes) -> dict:
    swtpm.tool("tpm2_dictionarylockout", "--clear-lockout")
    members = [PassphraseSealer(), TPM2Sealer(tpm_pin="2468")]
    return SSSSealer(sss_threshold=1, members=members).seal(kek, AD)


def test_wrong_pin_rejected(pin_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_TPM_PIN", "2469")
    with pytest.raises(WrongPassphrase, match=r"sss member 2 \(tpm2\)"):
        SSSSealer().reseal(pin_blob, AD, secret=kek)


def test_missing_pin_rejected(pin_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.delenv("AGILE_TPM_PIN", raising=False)
    with pytest.raises(WrongPassphrase, match="would remove it"):
        SSSSealer().reseal(pin_blob, AD, secret=kek)


def test_right_pin_kept(pin_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_TPM_PIN", "2468")
    resealed = SSSSealer().reseal(pin_blob, AD, secret=kek)
    monkeypatch.setenv("AGILE_PASSPHRASE", "wrong")
    assert unseal(resealed, AD) == kek


def test_explicit_pin_change(pin_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_TPM_PIN", "forgotten")
    resealed = SSSSealer(tpm_pin="1357").reseal(pin_blob, AD, secret=kek)
    monkeypatch.setenv("AGILE_PASSPHRASE", "wrong")
    assert unseal(resealed, AD, tpm_pin="1357") == kek


def test_pcr_change_needs_explicit_pin(swtpm, pin_blob: dict, kek: bytes, monkeypatch) -> None:
    swtpm.extend_pcr(7)
    monkeypatch.setenv("AGILE_TPM_PIN", "2468")
    with pytest.raises(SealError, match="cannot check the PIN of sss member 2") as raised:
        SSSSealer().reseal(pin_blob, AD, secret=kek)
    assert raised.value.fix is not None and "--tpm-pin" in raised.value.fix


def test_leftover_pin_not_added(swtpm, fast_passphrase: str, kek: bytes, monkeypatch) -> None:
    blob = SSSSealer(sss_threshold=1, sss_members="passphrase,tpm2").seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PIN", "left over")
    resealed = SSSSealer().reseal(blob, AD, secret=kek)
    assert resealed["members"][1]["pin"] is False


def test_new_list_pin_not_added(swtpm, fast_passphrase: str, kek: bytes, monkeypatch) -> None:
    blob = SSSSealer(sss_threshold=1, sss_members="passphrase,tpm2").seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PIN", "left over")
    sealer = SSSSealer(sss_threshold=1, sss_members="tpm2,passphrase")
    with pytest.raises(InvalidArgument, match="would give sss member 2"):
        sealer.reseal(blob, AD, secret=kek)


# The command line, as in a user's shell.


_agile = run_cli


@pytest.fixture
def quorum_keyset(keystore: Path, fast_passphrase: str, swtpm, softhsm) -> Path:
    """Return an envelope for keyset q, sealed to 2 of passphrase, tpm2 and pkcs11."""
    created = _agile(
        "keyset", "create", "q", "--purpose", "kem", "--seal", "sss",
        "--sss-threshold", "2", "--sss-members", "passphrase,tpm2,pkcs11",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    sealed = keystore / "q.agile"
    encrypted = _agile("encrypt", "--to", "q", "-o", str(sealed), "-", data=b"hi\n")
    assert encrypted.returncode == 0, encrypted.stderr
    return sealed


def _seal(keystore: Path) -> dict:
    return json.loads((keystore / "keysets" / "q.json").read_text())["seal"]


def test_cli_typo_rejected(keystore: Path, quorum_keyset: Path) -> None:
    before = _seal(keystore)
    failed = _agile("keyset", "reseal", "q", AGILE_PASSPHRASE="typo")
    assert failed.returncode == 2
    lines = failed.stderr.decode().splitlines()
    assert len(lines) == 1, failed.stderr
    assert "sss member 1 (passphrase)" in lines[0]
    assert _seal(keystore) == before


def test_cli_typo_keeps_passphrase(keystore: Path, quorum_keyset: Path, fast_passphrase) -> None:
    _agile("keyset", "reseal", "q", AGILE_PASSPHRASE="typo")
    no_token = {"AGILE_PKCS11_MODULE": "/nonexistent/libpkcs11.so"}
    opened = _agile("decrypt", str(quorum_keyset), **no_token)
    assert opened.stdout == b"hi\n"
    rejected = _agile("decrypt", str(quorum_keyset), AGILE_PASSPHRASE="typo", **no_token)
    assert rejected.returncode == 2


def test_cli_new_passphrase(keystore: Path, quorum_keyset: Path) -> None:
    changed = _agile(
        "keyset", "reseal", "q", AGILE_PASSPHRASE="typo", AGILE_NEW_PASSPHRASE="new words"
    )
    assert changed.returncode == 0, changed.stderr
    no_token = {"AGILE_PKCS11_MODULE": "/nonexistent/libpkcs11.so"}
    opened = _agile("decrypt", str(quorum_keyset), AGILE_PASSPHRASE="new words", **no_token)
    assert opened.stdout == b"hi\n"


def test_cli_new_passphrase_needs_member(keystore: Path, fast_passphrase, swtpm) -> None:
    created = _agile(
        "keyset", "create", "d", "--purpose", "kem", "--seal", "sss",
        "--sss-threshold", "1", "--sss-members", "tpm2",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    failed = _agile("keyset", "reseal", "d", AGILE_NEW_PASSPHRASE="new words")
    assert failed.returncode == 2
    assert b"which has no passphrase" in failed.stderr
