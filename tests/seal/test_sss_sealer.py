"""The sss sealer: t of n member sealers, nested, over real swtpm and SoftHSM2."""

from __future__ import annotations

import os

import pytest

from agile.errors import InvalidArgument, SealError
from agile.seal.base import unseal
from agile.seal.passphrase import PassphraseSealer
from agile.seal.sss import QuorumNotReached, SSSSealer, sealer_from_options
from agile.seal.tpm2 import TPM2Sealer

AD = b"agile keyset kek v1\x00test\x00uid"
NO_TPM = "swtpm:host=127.0.0.1,port=1"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


# Passphrase members only (no device needed).


def test_passphrase_members_round_trip(fast_passphrase: str, kek: bytes) -> None:
    sealer = SSSSealer(sss_threshold=2, sss_members="passphrase,passphrase,passphrase")
    assert unseal(sealer.seal(kek, AD), AD) == kek


def test_threshold_one_any_member(fast_passphrase: str, kek: bytes) -> None:
    """The first member's passphrase is not the one in the environment; the second opens it."""
    sealer = SSSSealer(sss_threshold=1, members=[PassphraseSealer("other"), PassphraseSealer()])
    sealed = sealer.seal(kek, AD)
    assert unseal(sealed, AD) == kek


def test_nested(fast_passphrase: str, kek: bytes) -> None:
    inner = SSSSealer(sss_threshold=2, sss_members="passphrase,passphrase")
    outer = SSSSealer(sss_threshold=2, members=[inner, PassphraseSealer(), PassphraseSealer()])
    assert unseal(outer.seal(kek, AD), AD) == kek


def test_wrong_passphrase_quorum(fast_passphrase: str, kek: bytes, monkeypatch) -> None:
    blob = SSSSealer(sss_threshold=2, sss_members="passphrase,passphrase").seal(kek, AD)
    monkeypatch.setenv("AGILE_PASSPHRASE", "wrong")
    with pytest.raises(QuorumNotReached, match="only 0 of the 2") as raised:
        unseal(blob, AD)
    assert len(raised.value.reasons) == 2


def test_members_swapped_rejected(fast_passphrase: str, kek: bytes) -> None:
    blob = SSSSealer(sss_threshold=2, sss_members="passphrase,passphrase").seal(kek, AD)
    swapped = dict(blob, members=list(reversed(blob["members"])))
    with pytest.raises(QuorumNotReached):
        unseal(swapped, AD)


def test_check_value_mismatch(fast_passphrase: str, kek: bytes) -> None:
    blob = SSSSealer(sss_threshold=2, sss_members="passphrase,passphrase").seal(kek, AD)
    with pytest.raises(SealError, match="check value"):
        unseal(dict(blob, check="00" * 32), AD)


@pytest.mark.parametrize("threshold", [0, 4, "x"])
def test_invalid_threshold(fast_passphrase: str, kek: bytes, threshold) -> None:
    with pytest.raises(InvalidArgument):
        SSSSealer(sss_threshold=threshold, sss_members="passphrase,passphrase,passphrase").seal(
            kek, AD
        )


def test_no_members(kek: bytes) -> None:
    with pytest.raises(InvalidArgument, match="no members"):
        SSSSealer(sss_threshold=1).seal(kek, AD)


def test_malformed_blob() -> None:
    blob = {"sealer": "sss", "version": 1, "threshold": 3, "members": [], "check": ""}
    with pytest.raises(SealError, match="malformed"):
        unseal(blob, AD)


def test_options_filtered_for_passphrase(fast_passphrase: str) -> None:
    sealer = sealer_from_options("passphrase", tpm_tcti=NO_TPM, pkcs11_pin="1")
    assert isinstance(sealer, PassphraseSealer)


# Passphrase + tpm2 + pkcs11, 2 of 3.


@pytest.fixture
def three_members(swtpm, softhsm, fast_passphrase: str, kek: bytes) -> dict:
    sealer = SSSSealer(sss_threshold=2, sss_members="passphrase,tpm2,pkcs11")
    return sealer.seal(kek, AD)


def test_all_members_present(three_members: dict, kek: bytes) -> None:
    assert unseal(three_members, AD) == kek


def test_tpm_missing(three_members: dict, kek: bytes) -> None:
    assert unseal(three_members, AD, tpm_tcti=NO_TPM) == kek


def test_token_missing(three_members: dict, kek: bytes) -> None:
    assert unseal(three_members, AD, pkcs11_token="absent-token") == kek


def test_passphrase_missing(three_members: dict, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "not the passphrase")
    assert unseal(three_members, AD) == kek


def test_two_missing_names_both(three_members: dict, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "not the passphrase")
    with pytest.raises(QuorumNotReached) as raised:
        unseal(three_members, AD, tpm_tcti=NO_TPM)
    assert any("tpm2" in reason for reason in raised.value.reasons)
    assert any("passphrase" in reason for reason in raised.value.reasons)


def test_reseal_after_pcr_change(swtpm, three_members: dict, kek: bytes) -> None:
    swtpm.extend_pcr(7)
    resealed = SSSSealer().reseal(three_members, AD)
    assert (
        resealed["members"][1]["pcr_values"]["7"] != three_members["members"][1]["pcr_values"]["7"]
    )
    assert unseal(resealed, AD, pkcs11_token="absent-token") == kek


def test_describe_members(three_members: dict) -> None:
    described = SSSSealer().describe(three_members)
    assert [member["sealer"] for member in described["members"]] == [
        "passphrase",
        "tpm2",
        "pkcs11",
    ]


def test_tpm_member_with_pin(swtpm, fast_passphrase: str, kek: bytes) -> None:
    sealer = SSSSealer(sss_threshold=2, members=[PassphraseSealer(), TPM2Sealer(tpm_pin="42")])
    blob = sealer.seal(kek, AD)
    assert unseal(blob, AD, tpm_pin="42") == kek


def test_sss_member_list_rejects_sss() -> None:
    with pytest.raises(InvalidArgument, match="cannot be sss"):
        SSSSealer(sss_threshold=2, sss_members="sss,passphrase")


def test_unseal_ignores_member_variables(fast_passphrase: str, kek: bytes, monkeypatch) -> None:
    # AGILE_SSS_* left over from creating another keyset with other members.
    blob = SSSSealer(sss_threshold=1, sss_members="passphrase").seal(kek, AD)
    monkeypatch.setenv("AGILE_SSS_MEMBERS", "no-such-sealer")
    monkeypatch.setenv("AGILE_SSS_THRESHOLD", "x")
    assert unseal(blob, AD) == kek


def test_member_variable_checked_on_seal(fast_passphrase: str, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_SSS_MEMBERS", "no-such-sealer")
    with pytest.raises(SealError, match="unknown sealer 'no-such-sealer'"):
        SSSSealer(sss_threshold=1).seal(kek, AD)
