"""A failed sss member is reported even when the quorum opens without it.

Unsealing warns about each member it tried that failed, ``keystore check`` tries
every member, and a member whose PIN failed is not tried again with that PIN in
the same process, because each wrong PIN counts towards the TPM's lockout.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.keys import Keystore
from agile.keys.check import check_seal_members
from agile.keys.kek import kek_associated_data
from agile.seal.passphrase import PassphraseSealer
from agile.seal.sss import QuorumNotReached, SSSSealer
from agile.seal.tpm2 import TPM2Sealer
from tests.cli_helpers import run_cli

AD = kek_associated_data("vault", "0123")
SSS_LOGGER = "agile.seal.sss"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


def _tamper(member: dict) -> dict:
    """Return ``member`` with the last byte of its ciphertext flipped."""
    field = "ciphertext" if "ciphertext" in member else "wrapped"
    data = bytearray(base64.b64decode(member[field]))
    data[-1] ^= 1
    return dict(member, **{field: base64.b64encode(bytes(data)).decode()})


def _three_passphrase_members(kek: bytes) -> dict:
    return SSSSealer(sss_threshold=2, sss_members="passphrase,passphrase,passphrase").seal(kek, AD)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == SSS_LOGGER and record.levelno == logging.WARNING
    ]


# Unsealing.


def test_tampered_member_warns(fast_passphrase: str, kek: bytes, caplog) -> None:
    blob = _three_passphrase_members(kek)
    blob["members"][0] = _tamper(blob["members"][0])
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER):
        assert SSSSealer().unseal(blob, AD) == kek
    (warning,) = _warnings(caplog)
    assert "keyset 'vault'" in warning
    assert "sss member 1 (passphrase)" in warning
    assert "agile keyset reseal vault" in warning


def test_sound_members_silent(fast_passphrase: str, kek: bytes, caplog) -> None:
    blob = _three_passphrase_members(kek)
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER):
        assert SSSSealer().unseal(blob, AD) == kek
    assert _warnings(caplog) == []


def test_untried_member_silent(fast_passphrase: str, kek: bytes, caplog) -> None:
    # The quorum is reached by members 1 and 2, so member 3 is not tried when unsealing.
    blob = _three_passphrase_members(kek)
    blob["members"][2] = _tamper(blob["members"][2])
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER):
        assert SSSSealer().unseal(blob, AD) == kek
    assert _warnings(caplog) == []


def test_failed_quorum_no_warning(fast_passphrase: str, kek: bytes, caplog) -> None:
    blob = _three_passphrase_members(kek)
    blob["members"][0] = _tamper(blob["members"][0])
    blob["members"][1] = _tamper(blob["members"][1])
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER), pytest.raises(QuorumNotReached):
        SSSSealer().unseal(blob, AD)
    assert _warnings(caplog) == []


def test_nested_member_position(fast_passphrase: str, kek: bytes, caplog) -> None:
    inner = SSSSealer(sss_threshold=1, sss_members="passphrase,passphrase")
    blob = SSSSealer(sss_threshold=1, members=[inner]).seal(kek, AD)
    blob["members"][0]["members"][0] = _tamper(blob["members"][0]["members"][0])
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER):
        assert SSSSealer().unseal(blob, AD) == kek
    (warning,) = _warnings(caplog)
    assert "sss member 1.1 (passphrase)" in warning


# Trying every member.


def test_check_members_all_tried(fast_passphrase: str, kek: bytes) -> None:
    blob = _three_passphrase_members(kek)
    blob["members"][2] = _tamper(blob["members"][2])
    results = SSSSealer().check_members(blob, AD)
    assert [result.position for result in results] == ["1", "2", "3"]
    assert [result.ok for result in results] == [True, True, False]


def test_check_members_reason(fast_passphrase: str, kek: bytes) -> None:
    blob = _three_passphrase_members(kek)
    blob["members"][2] = _tamper(blob["members"][2])
    failed = SSSSealer().check_members(blob, AD)[2]
    assert failed.error is not None
    assert "wrong passphrase" in failed.error


def test_check_members_nested(fast_passphrase: str, kek: bytes) -> None:
    inner = SSSSealer(sss_threshold=1, sss_members="passphrase,passphrase")
    blob = SSSSealer(sss_threshold=1, members=[PassphraseSealer(), inner]).seal(kek, AD)
    blob["members"][1]["members"][1] = _tamper(blob["members"][1]["members"][1])
    results = SSSSealer().check_members(blob, AD)
    assert [(result.position, result.ok) for result in results] == [
        ("1", True),
        ("2.1", True),
        ("2.2", False),
    ]


@pytest.fixture
def store(keystore: Path, fast_passphrase: str) -> Keystore:
    return Keystore.open(keystore)


def _sss_keyset(store: Keystore, name: str) -> Path:
    store.create_keyset(
        name,
        "kem",
        "x25519",
        sealer="sss",
        sealer_options={"sss_threshold": 2, "sss_members": "passphrase,passphrase,passphrase"},
    )
    return store.path / "keysets" / f"{name}.json"


def _tamper_file(file: Path, index: int) -> None:
    record = json.loads(file.read_text())
    record["seal"]["members"][index] = _tamper(record["seal"]["members"][index])
    file.write_text(json.dumps(record))


def test_seal_members_check(store: Keystore) -> None:
    _tamper_file(_sss_keyset(store, "vault"), 2)
    results = check_seal_members(Keystore.open(store.path))
    assert [(result.member, result.result) for result in results] == [
        ("1", "ok"),
        ("2", "ok"),
        ("3", "failed"),
    ]


def test_seal_members_other_sealers(store: Keystore) -> None:
    store.create_keyset("plain", "kem", "x25519")
    assert check_seal_members(store) == []


def _keystore_check(store: Keystore, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "AGILE_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "--keystore", str(store.path), "keystore", "check"]
        + list(arguments),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_cli_check_member_exit_1(store: Keystore) -> None:
    _tamper_file(_sss_keyset(store, "vault"), 2)
    completed = _keystore_check(store)
    assert completed.returncode == 1, completed.stderr
    assert "failed  vault sss member 3 (passphrase): wrong passphrase" in completed.stdout


def test_cli_check_members_json(store: Keystore) -> None:
    _tamper_file(_sss_keyset(store, "vault"), 2)
    report = json.loads(_keystore_check(store, "--json").stdout)
    assert [member["result"] for member in report["sss_members"]] == ["ok", "ok", "failed"]
    assert report["failed"] == 1


def test_cli_check_sound_exit_0(store: Keystore) -> None:
    _sss_keyset(store, "vault")
    completed = _keystore_check(store)
    assert completed.returncode == 0, completed.stdout
    assert "3 of 3 sss members unseal their share" in completed.stdout


# Devices: a tpm2 member with a PIN, a pkcs11 member.


def _lockout_counter(swtpm) -> int:
    output = swtpm.tool("tpm2_getcap", "properties-variable").stdout
    line = next(line for line in output.splitlines() if "TPM2_PT_LOCKOUT_COUNTER" in line)
    return int(line.split(":")[1].strip(), 16)


@pytest.fixture
def pin_member_blob(swtpm, fast_passphrase: str, kek: bytes) -> dict:
    swtpm.tool("tpm2_dictionarylockout", "--clear-lockout")
    sealer = SSSSealer(sss_threshold=1, members=[TPM2Sealer(tpm_pin="2468"), PassphraseSealer()])
    return sealer.seal(kek, AD)


def test_wrong_pin_warns_lockout(pin_member_blob: dict, kek: bytes, caplog) -> None:
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER):
        assert SSSSealer(tpm_pin="1111").unseal(pin_member_blob, AD) == kek
    (warning,) = _warnings(caplog)
    assert "sss member 1 (tpm2)" in warning
    assert "dictionary-attack lockout" in warning


def test_wrong_pin_not_retried(swtpm, pin_member_blob: dict, kek: bytes) -> None:
    before = _lockout_counter(swtpm)
    for _ in range(3):
        assert SSSSealer(tpm_pin="1357").unseal(pin_member_blob, AD) == kek
    assert _lockout_counter(swtpm) == before + 1


def test_skipped_member_reason(pin_member_blob: dict) -> None:
    SSSSealer(tpm_pin="9753").unseal(pin_member_blob, AD)
    first = SSSSealer(tpm_pin="9753").check_members(pin_member_blob, AD)[0]
    assert first.error is not None
    assert "not tried again" in first.error


def test_other_pin_tried(pin_member_blob: dict) -> None:
    SSSSealer(tpm_pin="8642").unseal(pin_member_blob, AD)
    assert SSSSealer(tpm_pin="2468").check_members(pin_member_blob, AD)[0].ok


def test_missing_pin_silent(pin_member_blob: dict, kek: bytes, caplog, monkeypatch) -> None:
    monkeypatch.delenv("AGILE_TPM_PIN", raising=False)
    with caplog.at_level(logging.INFO, logger=SSS_LOGGER):
        assert SSSSealer().unseal(pin_member_blob, AD) == kek
    assert _warnings(caplog) == []


_agile = run_cli


def test_cli_decrypt_warns_member(keystore: Path, fast_passphrase: str, swtpm, softhsm) -> None:
    created = _agile(
        "keyset", "create", "vault", "--purpose", "kem", "--seal", "sss",
        "--sss-threshold", "2", "--sss-members", "passphrase,tpm2,pkcs11",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    sealed = keystore / "note.agile"
    encrypted = _agile("encrypt", "--to", "vault", "-o", str(sealed), "-", data=b"hi\n")
    assert encrypted.returncode == 0, encrypted.stderr
    _tamper_file(keystore / "keysets" / "vault.json", 2)

    opened = _agile("decrypt", str(sealed))
    assert opened.stdout == b"hi\n"
    lines = [line for line in opened.stderr.decode().splitlines() if "agile.seal.sss" in line]
    assert len(lines) == 1, opened.stderr
    assert "keyset 'vault': sss member 3 (pkcs11) failed" in lines[0]
    assert "agile keyset reseal vault" in lines[0]

    checked = _agile("keystore", "check")
    assert checked.returncode == 1
    assert b"failed  vault sss member 3 (pkcs11)" in checked.stdout
