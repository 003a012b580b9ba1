"""Attestation: SEV-SNP report and TPM quote verification, and attested key release.

Modules, from the bottom up:

* :mod:`~agile.attest.report`: the SEV-SNP ATTESTATION_REPORT parser;
* :mod:`~agile.attest.certs`: pinned AMD roots and the ARK -> ASK -> VCEK chain;
* :mod:`~agile.attest.policy`: attestation policies (TOML or JSON);
* :mod:`~agile.attest.snp`: the SEV-SNP verifier;
* :mod:`~agile.attest.tpm_quote`: TPM 2.0 quotes, made and verified;
* :mod:`~agile.attest.simulator`: a software AMD-SP for tests (untrusted root);
* :mod:`~agile.attest.evidence`: nonce binding, evidence sources, one verification entry;
* :mod:`~agile.attest.broker`: the key broker, its HTTPS server and client.
"""

from __future__ import annotations

from .certs import AMD_TRUST_ANCHORS, TrustAnchor
from .policy import AttestationPolicy, SnpPolicy, TpmPolicy, load_policy, parse_policy
from .report import AttestationReport, parse_report
from .snp import verify_snp
from .verdict import EvidenceRejected, MalformedEvidence, Verdict

__all__ = [
    "AMD_TRUST_ANCHORS",
    "TrustAnchor",
    "AttestationPolicy",
    "SnpPolicy",
    "TpmPolicy",
    "load_policy",
    "parse_policy",
    "AttestationReport",
    "parse_report",
    "verify_snp",
    "EvidenceRejected",
    "MalformedEvidence",
    "Verdict",
]
