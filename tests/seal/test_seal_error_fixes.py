"""Fixes in sealer errors fit the command, and a blob's token and broker are where it unseals."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

from agile.errors import SealError, SealerUnavailable, WrongPassphrase
from agile.seal.base import unseal
from agile.seal.keep import KeepSealer
from agile.seal.passphrase import PassphraseSealer
from agile.seal.pkcs11 import PKCS11Sealer
from agile.seal.sss import SSSSealer
from agile.seal.tpm2 import PCRChanged, TPM2Sealer
from tests.attest.conftest import (  # noqa: F401 - fixtures of the live broker, reused
    GOOD_MEASUREMENT,
    cheap_passphrase,
    simulator,
    test_broker,
)
from tests.cli_helpers import run_cli

AD = b"agile keyset kek v1\x00fixes\x00uid"
#: Nothing listens on these ports of 127.0.0.1.
NO_TPM = "swtpm:host=127.0.0.1,port=9"
NO_BROKER = "https://127.0.0.1:9"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


_agile = functools.partial(run_cli, text=True)


# tpm2


def test_tpm_missing_pin_names_variable(swtpm, kek: bytes, monkeypatch) -> None:
    blob = TPM2Sealer(tpm_pin="4711").seal(kek, AD)
    monkeypatch.delenv("AGILE_TPM_PIN", raising=False)
    with pytest.raises(WrongPassphrase) as caught:
        unseal(blob, AD)
    assert "AGILE_TPM_PIN" in (caught.value.fix or "")
    assert "--tpm-pin" not in (caught.value.fix or "")


def test_tpm_wrong_pin_no_option(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="4711").seal(kek, AD)
    with pytest.raises(WrongPassphrase) as caught:
        unseal(blob, AD, tpm_pin="1234")
    assert "--tpm-pin" not in (caught.value.fix or "")


def test_tpm_unreachable_on_unseal(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    with pytest.raises(SealerUnavailable) as caught:
        unseal(blob, AD, tpm_tcti=NO_TPM)
    assert "AGILE_TPM_TCTI" in (caught.value.fix or "")
    assert "--tpm-tcti" not in (caught.value.fix or "")


def test_tpm_unreachable_on_seal(kek: bytes) -> None:
    with pytest.raises(SealerUnavailable) as caught:
        TPM2Sealer(tpm_tcti=NO_TPM).seal(kek, AD)
    assert "--tpm-tcti where the command has it" in (caught.value.fix or "")


def test_pcr_change_plain_keyset(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    swtpm.extend_pcr(7)
    with pytest.raises(PCRChanged) as caught:
        unseal(blob, AD)
    assert "sss" not in (caught.value.fix or "")
    assert "agile keyset reseal fixes --pcr-values" in (caught.value.fix or "")


def test_pcr_change_sss_member(swtpm, fast_passphrase: str, kek: bytes) -> None:
    members = [TPM2Sealer(), PassphraseSealer(fast_passphrase)]
    blob = SSSSealer(sss_threshold=2, members=members).seal(kek, AD)
    swtpm.extend_pcr(7)
    with pytest.raises(SealError) as caught:
        unseal(blob, AD)
    assert "other members of its sss sealer" in str(caught.value)


def test_cli_decrypt_fix_names_variable(keystore, fast_passphrase, swtpm, tmp_path) -> None:
    _agile("keyset", "create", "pins", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "4711")
    plaintext = tmp_path / "note.txt"
    plaintext.write_text("hello\n")
    sealed = tmp_path / "note.agile"
    _agile("encrypt", "--to", "pins", "-o", str(sealed), str(plaintext), AGILE_TPM_PIN="4711")
    opened = _agile("decrypt", str(sealed), AGILE_TPM_PIN="")
    assert opened.returncode == 2
    assert "AGILE_TPM_PIN" in opened.stderr
    assert "--tpm-pin" not in opened.stderr


# pkcs11


@pytest.fixture
def second_token(softhsm) -> str:
    """A second SoftHSM2 token in the same module, labelled agile-second."""
    label = "agile-second"
    listed = subprocess.run(
        ["softhsm2-util", "--show-slots"], capture_output=True, text=True, timeout=60, check=True
    )
    if label not in listed.stdout:
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", softhsm.pin,
             "--so-pin", "123456"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
    return label


def test_pkcs11_missing_pin_on_unseal(softhsm, kek: bytes, monkeypatch) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    monkeypatch.delenv("AGILE_PKCS11_PIN")
    with pytest.raises(WrongPassphrase) as caught:
        unseal(blob, AD)
    assert "AGILE_PKCS11_PIN" in (caught.value.fix or "")
    assert "--pkcs11-pin" not in (caught.value.fix or "")


def test_pkcs11_missing_pin_on_seal(softhsm, kek: bytes, monkeypatch) -> None:
    monkeypatch.delenv("AGILE_PKCS11_PIN")
    with pytest.raises(WrongPassphrase) as caught:
        PKCS11Sealer().seal(kek, AD)
    assert "--pkcs11-pin where the command has it" in (caught.value.fix or "")


def test_pkcs11_wrong_pin_on_unseal(softhsm, kek: bytes, monkeypatch) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    monkeypatch.setenv("AGILE_PKCS11_PIN", "0000")
    with pytest.raises(WrongPassphrase) as caught:
        unseal(blob, AD)
    assert "--pkcs11-pin" not in (caught.value.fix or "")


def test_pkcs11_missing_token_on_unseal(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealerUnavailable) as caught:
        unseal(dict(blob, token="absent-token"), AD)
    assert "--pkcs11-token" not in (caught.value.fix or "")


def test_pkcs11_variable_does_not_redirect(softhsm, kek: bytes, monkeypatch) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    monkeypatch.setenv("AGILE_PKCS11_TOKEN", "absent-token")
    assert unseal(blob, AD) == kek


def test_pkcs11_reseal_keeps_token(softhsm, second_token: str, kek: bytes, monkeypatch) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    monkeypatch.setenv("AGILE_PKCS11_TOKEN", second_token)
    resealed = PKCS11Sealer.from_blob(blob).reseal(blob, AD)
    assert resealed["token"] == softhsm.label


def test_pkcs11_argument_override_named(softhsm, second_token: str, kek: bytes) -> None:
    # SoftHSM2 does not list a token made after it was loaded into this process, so with
    # other tests first the token is not found, else the key. Both errors name both labels.
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealError) as caught:
        unseal(blob, AD, pkcs11_token=second_token)
    message = str(caught.value)
    assert f"PKCS#11 token {second_token!r}" in message or f"labelled {second_token!r}" in message
    assert f"the blob names token {softhsm.label!r}" in message


def test_cli_reseal_then_decrypt(keystore, fast_passphrase, softhsm, second_token, tmp_path):
    # AGILE_PKCS11_TOKEN keeps naming the first token, as softhsm.sh's env file sets it.
    _agile("keyset", "create", "moved", "--purpose", "aead", "--seal", "pkcs11")
    plaintext = tmp_path / "note.txt"
    plaintext.write_text("hello\n")
    sealed = tmp_path / "note.agile"
    _agile("encrypt", "--to", "moved", "-o", str(sealed), str(plaintext))
    moved = _agile("keyset", "reseal", "moved", "--pkcs11-token", second_token)
    assert moved.returncode == 0, moved.stderr
    opened = _agile("decrypt", str(sealed), AGILE_PKCS11_TOKEN=softhsm.label)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == "hello\n"


# keep


@pytest.fixture
def keep_blob(test_broker, simulator, tmp_path: Path, kek: bytes) -> dict:  # noqa: F811
    policy = tmp_path / "keep-policy.toml"
    policy.write_text(f'[snp]\nmeasurements = ["{GOOD_MEASUREMENT.hex()}"]\nvmpl = 0\n')
    simulator_dir = tmp_path / "simulator"
    simulator.save(simulator_dir)
    sealer = KeepSealer(
        keep_broker=test_broker.url,
        keep_broker_cert=str(test_broker.config.cert_path),
        keep_token=test_broker.config.token_path.read_text().strip(),
        keep_policy=str(policy),
    )
    return {
        "blob": sealer.seal(kek, AD),
        "keep_broker_cert": str(test_broker.config.cert_path),
        "keep_evidence": f"simulator:{simulator_dir}",
    }


def test_keep_variable_does_not_redirect(keep_blob: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_KEEP_BROKER", NO_BROKER)
    monkeypatch.setenv("AGILE_KEEP_BROKER_CERT", keep_blob["keep_broker_cert"])
    monkeypatch.setenv("AGILE_KEEP_EVIDENCE", keep_blob["keep_evidence"])
    monkeypatch.setenv("AGILE_KEEP_SIMULATED_MEASUREMENT", GOOD_MEASUREMENT.hex())
    assert unseal(keep_blob["blob"], AD) == kek


def test_keep_argument_override_named(keep_blob: dict, test_broker, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("AGILE_KEEP_BROKER_CERT", keep_blob["keep_broker_cert"])
    monkeypatch.setenv("AGILE_KEEP_EVIDENCE", keep_blob["keep_evidence"])
    monkeypatch.setenv("AGILE_KEEP_SIMULATED_MEASUREMENT", GOOD_MEASUREMENT.hex())
    with pytest.raises(SealError) as caught:
        unseal(keep_blob["blob"], AD, keep_broker=NO_BROKER)
    assert NO_BROKER in str(caught.value)
    assert f"the blob names broker {test_broker.url}" in str(caught.value)


def test_keep_missing_cert_on_unseal(keep_blob: dict, monkeypatch) -> None:
    monkeypatch.delenv("AGILE_KEEP_BROKER_CERT", raising=False)
    with pytest.raises(SealError) as caught:
        unseal(keep_blob["blob"], AD)
    assert "AGILE_KEEP_BROKER_CERT" in (caught.value.fix or "")
    assert "--keep-broker-cert" not in (caught.value.fix or "")
