"""TPM errors name the keyset, its reseal command and the setting at fault."""

from __future__ import annotations

import os

import pytest

from agile.errors import InvalidArgument, SealError, SealerUnavailable, WrongPassphrase
from agile.seal.base import unseal
from agile.seal.tpm2 import PCRChanged, TPM2Sealer

#: The associated data of keyset "files" (agile.keys.kek.kek_associated_data).
AD = b"agile keyset kek v1\x00files\x00uid"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


def test_pcr_change_names_keyset(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(pcrs="sha256:16").seal(kek, AD)
    swtpm.extend_pcr(16)

    with pytest.raises(PCRChanged) as caught:
        unseal(blob, AD)

    assert str(caught.value).startswith("keyset 'files': ")
    assert "agile keyset reseal files --pcr-values" in (caught.value.fix or "")


def test_cleared_tpm_names_keyset(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(pcrs="sha256:16").seal(kek, AD)
    swtpm.tool("tpm2_clear", "-c", "p")

    with pytest.raises(SealError) as caught:
        unseal(blob, AD)

    assert str(caught.value).startswith("keyset 'files': ")
    assert "or a backup" not in (caught.value.fix or "")
    assert "agile share combine --keyset files" in (caught.value.fix or "")


def test_wrong_pin_names_keyset(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="4711").seal(kek, AD)

    with pytest.raises(WrongPassphrase, match="^keyset 'files': wrong TPM PIN"):
        unseal(blob, AD, tpm_pin="0815")


def test_zero_timeout_message(swtpm, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_TPM_TIMEOUT", "0")

    with pytest.raises(InvalidArgument) as caught:
        TPM2Sealer().seal(kek, AD)

    assert "greater than 0" in str(caught.value)
    assert "between 0" not in str(caught.value)


def test_unknown_tcti_named(kek: bytes) -> None:
    pytest.importorskip("tpm2_pytss")
    with pytest.raises(SealerUnavailable) as caught:
        TPM2Sealer(tpm_tcti="bogus:xyz").seal(kek, AD)

    assert "unknown TCTI 'bogus'" in str(caught.value)
    assert "start the TPM" not in (caught.value.fix or "")
