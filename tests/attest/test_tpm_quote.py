"""TPM quotes from swtpm as evidence: verification, freshness, PCR policy, and key release."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from agile.attest.evidence import tpm_qualifying_data
from agile.attest.policy import AttestationPolicy, TpmPolicy
from agile.attest.tpm_quote import TpmQuoteEvidence, parse_attest, verify_quote_evidence
from agile.attest.verdict import EvidenceRejected, MalformedEvidence

pytestmark = pytest.mark.device

BINDING = b"binding of one release request"


def ak_digest(source: TpmQuoteEvidence) -> str:
    key = serialization.load_pem_public_key(source.ak_public_pem())
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


@pytest.fixture
def quoter(swtpm) -> TpmQuoteEvidence:
    return TpmQuoteEvidence(tcti=swtpm.tcti, pcrs="sha256:0,7")


@pytest.fixture
def tpm_policy(quoter) -> TpmPolicy:
    return TpmPolicy((ak_digest(quoter),), "sha256", quoter.current_pcrs())


def test_quote_verifies(quoter, tpm_policy):
    evidence = quoter.collect(BINDING)
    verdict = verify_quote_evidence(evidence, tpm_policy, tpm_qualifying_data(BINDING))
    assert verdict.reasons == ()


def test_quote_ak_is_stable(quoter):
    assert quoter.ak_public_pem() == quoter.ak_public_pem()


def test_quote_other_nonce_rejected(quoter, tpm_policy):
    evidence = quoter.collect(BINDING)
    verdict = verify_quote_evidence(evidence, tpm_policy, tpm_qualifying_data(b"other"))
    assert "the quote's qualifying data does not match the nonce binding" in verdict.reasons


def test_quote_after_extend_rejected(quoter, tpm_policy, swtpm):
    swtpm.extend_pcr(7)
    evidence = quoter.collect(BINDING)
    verdict = verify_quote_evidence(evidence, tpm_policy, tpm_qualifying_data(BINDING))
    assert any(reason.startswith("PCR sha256:7 is") for reason in verdict.reasons)


def test_quote_forged_pcr_values_rejected(quoter, tpm_policy, swtpm):
    swtpm.extend_pcr(7)
    evidence = quoter.collect(BINDING)
    evidence["pcrs"] = {str(index): value.hex() for index, value in tpm_policy.pcrs.items()}
    verdict = verify_quote_evidence(evidence, tpm_policy, tpm_qualifying_data(BINDING))
    assert "the reported PCR values do not match the quote's pcrDigest" in verdict.reasons


def test_quote_tampered_rejected(quoter, tpm_policy):
    evidence = quoter.collect(BINDING)
    quote = bytearray(base64.b64decode(evidence["quote"]))
    quote[-1] ^= 1
    evidence["quote"] = base64.b64encode(bytes(quote)).decode()
    verdict = verify_quote_evidence(evidence, tpm_policy, tpm_qualifying_data(BINDING))
    assert "the quote signature does not verify with the attestation key" in verdict.reasons


def test_quote_unknown_ak_rejected(quoter, tpm_policy):
    policy = TpmPolicy(("00" * 32,), "sha256", tpm_policy.pcrs)
    verdict = verify_quote_evidence(quoter.collect(BINDING), policy, tpm_qualifying_data(BINDING))
    assert any("is not allowed" in reason for reason in verdict.reasons)


def test_quote_other_selection_rejected(quoter, tpm_policy):
    policy = TpmPolicy(tpm_policy.ak_spki_sha256, "sha256", {0: tpm_policy.pcrs[0]})
    verdict = verify_quote_evidence(quoter.collect(BINDING), policy, tpm_qualifying_data(BINDING))
    assert not verdict.valid


def test_quote_other_selection_named(quoter, tpm_policy):
    policy = TpmPolicy(tpm_policy.ak_spki_sha256, "sha256", {0: tpm_policy.pcrs[0]})
    verdict = verify_quote_evidence(quoter.collect(BINDING), policy, tpm_qualifying_data(BINDING))
    assert "the quote selects sha256:0,7, but the policy needs sha256:0" in verdict.reasons


def test_attest_truncated_rejected(quoter):
    quote = base64.b64decode(quoter.collect(BINDING)["quote"])
    with pytest.raises(MalformedEvidence, match="truncated"):
        parse_attest(quote[:-5])


def test_broker_releases_to_quote(test_broker, quoter, tpm_policy):
    key_id = test_broker.client.put_key(b"tpm bound key", AttestationPolicy(tpm=tpm_policy))
    assert test_broker.reader().release(key_id, quoter) == b"tpm bound key"


def test_broker_rejects_after_extend(test_broker, quoter, tpm_policy, swtpm):
    key_id = test_broker.client.put_key(b"tpm bound key", AttestationPolicy(tpm=tpm_policy))
    swtpm.extend_pcr(7)
    with pytest.raises(EvidenceRejected, match="PCR sha256:7"):
        test_broker.reader().release(key_id, quoter)


def _tpm_policy_command(swtpm, *extra: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "cli.main", "keep", "tpm-policy", "--tpm-tcti", swtpm.tcti, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tpm_policy_command_pins_ak(swtpm, quoter):
    import tomllib

    from agile.attest.policy import parse_policy

    printed = _tpm_policy_command(swtpm, "--pcrs", "sha256:0,7")
    policy = parse_policy(tomllib.loads(printed.stdout)).tpm
    assert policy.ak_spki_sha256 == (ak_digest(quoter),)


def test_tpm_policy_command_verifies_quote(swtpm, quoter):
    import tomllib

    from agile.attest.policy import parse_policy

    printed = _tpm_policy_command(swtpm, "--pcrs", "sha256:0,7")
    policy = parse_policy(tomllib.loads(printed.stdout)).tpm
    evidence = quoter.collect(BINDING)
    verdict = verify_quote_evidence(evidence, policy, tpm_qualifying_data(BINDING))
    assert verdict.reasons == ()


def test_tpm_policy_command_bad_pcrs(swtpm):
    assert _tpm_policy_command(swtpm, "--pcrs", "sha256:99").returncode == 2
