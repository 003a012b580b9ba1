"""TPM PIN length: at most 64 bytes in UTF-8, checked before the TPM is asked."""

from __future__ import annotations

import functools
import os

import pytest

from agile.errors import InvalidArgument, WrongPassphrase
from agile.seal.base import unseal
from agile.seal.passphrase import PassphraseSealer
from agile.seal.sss import SSSSealer
from agile.seal.tpm2 import MAX_PIN_SIZE, TPM2Sealer, connect
from tests.cli_helpers import run_cli

AD = b"agile keyset kek v1\x00pins\x00uid"
#: Nothing listens here, so a sealer that tried to reach the TPM would fail differently.
NO_TPM = "swtpm:host=127.0.0.1,port=9"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


_agile = functools.partial(run_cli, text=True)


def _lockout_counter(tcti: str) -> str:
    with connect(tcti) as tpm:
        return tpm.lockout_state().split(" of ")[0]


def test_limit_is_64_bytes() -> None:
    assert MAX_PIN_SIZE == 64


@pytest.mark.parametrize("pin", ["x" * 65, "€" * 22], ids=["65-ascii", "66-utf8"])
def test_seal_rejects_long_pin(pin: str, kek: bytes) -> None:
    with pytest.raises(InvalidArgument, match="more than the 64 bytes"):
        TPM2Sealer(tpm_tcti=NO_TPM, tpm_pin=pin).seal(kek, AD)


def test_reseal_rejects_long_pin(kek: bytes) -> None:
    sealer = TPM2Sealer(tpm_tcti=NO_TPM, tpm_pin="x" * 65)
    with pytest.raises(InvalidArgument, match="64 bytes"):
        sealer.reseal({"sealer": "tpm2"}, AD, secret=kek)


@pytest.mark.parametrize("size", [33, 64])
def test_pin_above_digest_size_works(swtpm, kek: bytes, size: int) -> None:
    # tpm2-tss hashes a PIN longer than the SHA-256 digest before sending it to the TPM.
    blob = TPM2Sealer(tpm_pin="p" * size).seal(kek, AD)
    assert unseal(blob, AD, tpm_pin="p" * size) == kek


def test_pin_above_digest_size_checked(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="p" * 40).seal(kek, AD)
    with pytest.raises(WrongPassphrase, match="wrong TPM PIN"):
        unseal(blob, AD, tpm_pin="p" * 39 + "q")


def test_unseal_long_pin_rejected(swtpm, kek: bytes, monkeypatch) -> None:
    blob = TPM2Sealer(tpm_pin="4711").seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PIN", "x" * 100)
    with pytest.raises(InvalidArgument, match="64 bytes") as caught:
        unseal(blob, AD)
    assert "AGILE_TPM_PIN" in (caught.value.fix or "")


def test_unseal_long_pin_spends_no_attempt(swtpm, kek: bytes, monkeypatch) -> None:
    blob = TPM2Sealer(tpm_pin="4711").seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PIN", "x" * 100)
    with pytest.raises(InvalidArgument):
        unseal(blob, AD)
    assert _lockout_counter(swtpm.tcti) == "0"


def test_unseal_long_pin_unused(swtpm, kek: bytes, monkeypatch) -> None:
    # A keyset sealed without a PIN ignores AGILE_TPM_PIN, whatever its length.
    blob = TPM2Sealer().seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PIN", "x" * 100)
    assert unseal(blob, AD) == kek


def test_sss_other_member_opens(swtpm, fast_passphrase, kek: bytes, monkeypatch) -> None:
    members = [TPM2Sealer(tpm_pin="4711"), PassphraseSealer(fast_passphrase)]
    blob = SSSSealer(sss_threshold=1, members=members).seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PIN", "x" * 100)
    assert unseal(blob, AD) == kek
    assert _lockout_counter(swtpm.tcti) == "0"


def test_cli_create_long_pin(keystore, swtpm) -> None:
    created = _agile(
        "keyset", "create", "lp", "--purpose", "kem", "--seal", "tpm2", "--tpm-pin", "x" * 65
    )
    assert created.returncode == 2
    assert "more than the 64 bytes" in created.stderr
    assert "internal error" not in created.stderr


def test_cli_create_long_utf8_pin(keystore, swtpm) -> None:
    created = _agile(
        "keyset", "create", "lp", "--purpose", "kem", "--seal", "tpm2", "--tpm-pin", "€" * 22
    )
    assert created.returncode == 2
    assert "66 bytes" in created.stderr


def test_cli_decrypt_long_pin(keystore, fast_passphrase, swtpm, tmp_path) -> None:
    _agile("keyset", "create", "lp", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "4711")
    plaintext = tmp_path / "note.txt"
    plaintext.write_text("hello\n")
    sealed = tmp_path / "note.agile"
    _agile("encrypt", "--to", "lp", "-o", str(sealed), str(plaintext), AGILE_TPM_PIN="4711")
    opened = _agile("decrypt", str(sealed), AGILE_TPM_PIN="x" * 100)
    assert opened.returncode == 2
    assert "64 bytes" in opened.stderr
    assert len(opened.stderr.strip().splitlines()) == 1
