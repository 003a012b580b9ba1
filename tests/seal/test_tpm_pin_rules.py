"""TPM PINs: an empty --tpm-pin is rejected, and PINs are compared in Unicode NFC."""

from __future__ import annotations

import os
import unicodedata

import pytest

from agile.errors import WrongPassphrase
from agile.seal import tpm2
from agile.seal.base import unseal
from agile.seal.tpm2 import TPM2Sealer, connect
from tests.cli_helpers import run_cli

AD = b"agile keyset kek v1\x00pins\x00uid"
#: "café" with a combining acute accent (NFD), and its composed form (NFC).
PIN_NFD = unicodedata.normalize("NFD", "café-4711")
PIN_NFC = unicodedata.normalize("NFC", "café-4711")


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


def _lockout_counter(tcti: str) -> str:
    with connect(tcti) as tpm:
        return tpm.lockout_state().split(" of ")[0]


def test_create_rejects_empty_pin(keystore, swtpm) -> None:
    created = run_cli(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "",
        text=True,
    )  # fmt: skip
    assert created.returncode == 2
    assert "--tpm-pin is set but empty" in created.stderr
    assert not (keystore / "keysets" / "files.json").exists()


def test_reseal_rejects_empty_pin(keystore, swtpm) -> None:
    created = run_cli(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "4711",
        text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    resealed = run_cli(
        "keyset", "reseal", "files", "--tpm-pin", "", AGILE_TPM_PIN="4711", text=True
    )

    assert resealed.returncode == 2
    assert "--tpm-pin is set but empty" in resealed.stderr
    assert "Traceback" not in resealed.stderr


def test_nfd_pin_opens_nfc_seal(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin=PIN_NFC).seal(kek, AD)
    assert unseal(blob, AD, tpm_pin=PIN_NFD) == kek


def test_nfc_pin_opens_nfd_seal(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin=PIN_NFD).seal(kek, AD)
    assert blob["pin_nfc"] is True
    assert unseal(blob, AD, tpm_pin=PIN_NFC) == kek


def test_old_seal_opens_with_typed_pin(swtpm, kek: bytes) -> None:
    # A blob sealed before normalization: the PIN's bytes as typed, and no pin_nfc field.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tpm2, "_pin_bytes", lambda pin, unsealing: (pin or "").encode())
        blob = TPM2Sealer(tpm_pin=PIN_NFD).seal(kek, AD)
    blob.pop("pin_nfc")

    assert unseal(blob, AD, tpm_pin=PIN_NFD) == kek


def test_new_seal_tries_one_pin(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="4711").seal(kek, AD)

    with pytest.raises(WrongPassphrase):
        unseal(blob, AD, tpm_pin=PIN_NFD)

    # The NFC form only: a second attempt with the PIN as typed would count twice.
    assert _lockout_counter(swtpm.tcti) == "1"
