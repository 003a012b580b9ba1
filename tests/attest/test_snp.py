"""SEV-SNP report parsing and verification on AMD's published sample and on tampered copies."""

from __future__ import annotations

import datetime
import warnings

import pytest
from cryptography.utils import CryptographyDeprecationWarning

from agile.attest.certs import AMD_ARK_MILAN, load_certificates, load_vcek, spki_sha256, vcek_hwid
from agile.attest.policy import SnpPolicy
from agile.attest.report import REPORT_SIZE, GuestPolicy, parse_report
from agile.attest.snp import verify_snp
from agile.attest.verdict import EvidenceRejected, MalformedEvidence

# Offsets of fields in the ATTESTATION_REPORT whose change must break verification.
TAMPERED_FIELDS = {
    "policy": 0x08,
    "report_data": 0x50,
    "measurement": 0x90,
    "host_data": 0xC0,
    "reported_tcb": 0x180,
    "chip_id": 0x1A0,
    "signature_r": 0x2A0,
    "signature_s": 0x2A0 + 72,
    "signature_reserved": 0x2A0 + 144,
    "last_byte": REPORT_SIZE - 1,
}


def flip(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x01
    return bytes(changed)


def test_report_sample_fields(amd_sample):
    report = parse_report(amd_sample.report)
    assert report.version == 5
    assert report.vmpl == 0
    assert report.policy == 0x30000
    assert report.reported_tcb.components() == {
        "bootloader": 4,
        "tee": 0,
        "snp": 27,
        "microcode": 222,
    }
    assert not report.debug_allowed


def test_report_rejects_wrong_size():
    with pytest.raises(MalformedEvidence, match="1184 bytes"):
        parse_report(bytes(100))


def test_report_rejects_unknown_version(amd_sample):
    changed = bytearray(amd_sample.report)
    changed[0] = 9
    with pytest.raises(MalformedEvidence, match="version 9"):
        parse_report(bytes(changed))


def test_sample_verifies_now(amd_sample):
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain)
    assert verdict.reasons == ()
    assert verdict.facts["root"] == "Milan"


def test_sample_ark_matches_pin(amd_sample):
    ark = load_certificates(amd_sample.chain)[-1]
    assert spki_sha256(ark) == AMD_ARK_MILAN.spki_sha256


def test_sample_vcek_loads_without_warning(amd_sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        vcek = load_vcek(amd_sample.vcek)
        verdict = verify_snp(amd_sample.report, vcek, amd_sample.chain)
    assert verdict.valid


def test_sample_hwid_is_chip_id(amd_sample):
    vcek = load_vcek(amd_sample.vcek)
    assert vcek_hwid(vcek) == parse_report(amd_sample.report).chip_id


@pytest.mark.parametrize("field", sorted(TAMPERED_FIELDS))
def test_tampered_field_invalid(amd_sample, field):
    tampered = flip(amd_sample.report, TAMPERED_FIELDS[field])
    verdict = verify_snp(tampered, amd_sample.vcek, amd_sample.chain)
    assert not verdict.valid


def test_tampered_reserved_named(amd_sample):
    tampered = flip(amd_sample.report, REPORT_SIZE - 1)
    verdict = verify_snp(tampered, amd_sample.vcek, amd_sample.chain)
    assert any("reserved bytes after the signature" in reason for reason in verdict.reasons)


def test_tampered_chip_id_names_hwid(amd_sample):
    tampered = flip(amd_sample.report, TAMPERED_FIELDS["chip_id"])
    verdict = verify_snp(tampered, amd_sample.vcek, amd_sample.chain)
    assert "the report's CHIP_ID differs from the VCEK's hwID" in verdict.reasons


def test_tampered_tcb_names_spl(amd_sample):
    tampered = flip(amd_sample.report, TAMPERED_FIELDS["reported_tcb"])
    verdict = verify_snp(tampered, amd_sample.vcek, amd_sample.chain)
    assert any("bootloader SPL" in reason for reason in verdict.reasons)


def test_sample_before_vcek_validity(amd_sample):
    moment = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain, at=moment)
    assert any("VCEK is not valid before" in reason for reason in verdict.reasons)


def test_sample_after_vcek_expiry(amd_sample):
    moment = datetime.datetime(2040, 1, 1, tzinfo=datetime.UTC)
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain, at=moment)
    assert "VCEK expired" in " ".join(verdict.reasons)


def test_chain_without_ark_invalid(amd_sample):
    ask = load_certificates(amd_sample.chain)[0]
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, [ask])
    assert not verdict.valid


def test_chain_from_simulator_untrusted(amd_sample, simulator):
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, simulator.chain_pem)
    assert any("is not a trusted root" in reason for reason in verdict.reasons)


def test_policy_allows_sample_measurement(amd_sample):
    measurement = parse_report(amd_sample.report).measurement
    policy = SnpPolicy(measurements=(measurement,), vmpl=0, min_tcb={"snp": 27})
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain, policy=policy)
    assert verdict.valid


def test_policy_other_measurement_invalid(amd_sample):
    policy = SnpPolicy(measurements=(bytes(48),))
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain, policy=policy)
    assert any("not an allowed measurement" in reason for reason in verdict.reasons)


def test_policy_tcb_too_low_invalid(amd_sample):
    policy = SnpPolicy(min_tcb={"microcode": 223})
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain, policy=policy)
    assert "REPORTED_TCB microcode=222 is below the minimum 223" in verdict.reasons


def test_policy_vmpl_mismatch_invalid(amd_sample):
    policy = SnpPolicy(vmpl=1)
    verdict = verify_snp(amd_sample.report, amd_sample.vcek, amd_sample.chain, policy=policy)
    assert not verdict.valid


def test_policy_report_data_binding(amd_sample):
    verdict = verify_snp(
        amd_sample.report, amd_sample.vcek, amd_sample.chain, report_data=b"\x01" * 64
    )
    assert "REPORT_DATA does not match the expected binding" in verdict.reasons


def test_verdict_raises_all_reasons(amd_sample):
    tampered = flip(amd_sample.report, TAMPERED_FIELDS["chip_id"])
    verdict = verify_snp(tampered, amd_sample.vcek, amd_sample.chain)
    with pytest.raises(EvidenceRejected) as caught:
        verdict.raise_for_reasons()
    assert len(caught.value.reasons) == 2


def test_simulator_rejected_by_production(simulator):
    report = simulator.report(bytes(64))
    verdict = verify_snp(report, simulator.vcek_pem, simulator.chain_pem)
    assert verdict.facts["root"] is None
    assert not verdict.valid


def test_simulator_accepted_with_test_root(simulator):
    report = simulator.report(bytes(64))
    verdict = verify_snp(
        report, simulator.vcek_pem, simulator.chain_pem, anchors=[simulator.anchor]
    )
    assert verdict.valid
    assert verdict.facts["test_root"]


def test_simulator_report_layout(simulator):
    report = parse_report(simulator.report(b"\x07" * 64))
    assert len(report.raw) == REPORT_SIZE
    assert report.report_data == b"\x07" * 64
    assert report.chip_id == simulator.chip_id


def test_simulator_debug_policy_rejected(simulator):
    from agile.attest.simulator import GuestLaunch

    launch = GuestLaunch(policy=GuestPolicy.DEBUG | GuestPolicy.RESERVED_MUST_BE_ONE)
    report = simulator.report(bytes(64), launch)
    verdict = verify_snp(
        report,
        simulator.vcek_pem,
        simulator.chain_pem,
        anchors=[simulator.anchor],
        policy=SnpPolicy(),
    )
    assert "the guest policy allows debugging (POLICY bit 19 is set)" in verdict.reasons


def test_naive_time_rejected(amd_sample):
    with pytest.raises(MalformedEvidence, match="no time zone"):
        verify_snp(
            amd_sample.report, amd_sample.vcek, amd_sample.chain, at=datetime.datetime(2026, 1, 1)
        )
