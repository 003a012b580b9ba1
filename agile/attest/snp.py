"""Verify SEV-SNP evidence: the report's signature, its VCEK's chain to a pinned AMD root, a policy.

:func:`verify_snp` runs every check and returns a :class:`~agile.attest.verdict.Verdict`
that lists all failed checks, so a rejected report names each reason:

1. the report parses (1184 bytes, version 2 to 5) and SIGNATURE_ALGO is ECDSA P-384 SHA-384;
2. the report was signed with a VCEK (not a VLEK, which needs another chain);
3. ARK -> ASK -> VCEK verifies with RSASSA-PSS SHA-384, the ARK matches a pinned root, and
   all three certificates are valid at ``at`` (default: now);
4. the ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F verifies with the VCEK;
5. the VCEK's hwID equals CHIP_ID and its SPL extensions equal REPORTED_TCB, and the
   unsigned reserved bytes after the signature are zero;
6. the report meets the :class:`~agile.attest.policy.SnpPolicy`, if one is given.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .certs import (
    AMD_TRUST_ANCHORS,
    TrustAnchor,
    check_vcek_binding,
    load_certificates,
    load_vcek,
    verify_chain,
)
from .policy import SnpPolicy
from .report import (
    ECDSA_P384_SHA384,
    REPORT_SIZE,
    SIGNATURE_OFFSET,
    AttestationReport,
    SigningKey,
    parse_report,
)
from .verdict import MalformedEvidence, Verdict

__all__ = ["verify_snp", "verify_report_signature"]

#: The P-384 group order: a valid r or s is in [1, n-1] (SEC 1 section 4.1.4).
_P384_ORDER = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    16,
)

#: Start of the unsigned reserved bytes that follow R and S (two 72-byte fields).
_SIGNATURE_RESERVED_OFFSET = SIGNATURE_OFFSET + 2 * 72


def verify_report_signature(report: AttestationReport, vcek: x509.Certificate) -> list[str]:
    """Check the report's ECDSA P-384/SHA-384 signature with the VCEK's public key."""
    public_key = vcek.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return ["the VCEK's public key is not an EC key, so the report signature cannot verify"]
    r, s = report.signature_r, report.signature_s
    if not (0 < r < _P384_ORDER and 0 < s < _P384_ORDER):
        return ["the report signature's r or s is out of range for P-384"]
    try:
        public_key.verify(
            encode_dss_signature(r, s), report.signed_bytes, ec.ECDSA(hashes.SHA384())
        )
    except InvalidSignature:
        return ["the report signature does not verify with the VCEK"]
    return []


def _as_certificate(value: x509.Certificate | bytes, loader: str) -> list[x509.Certificate]:
    if isinstance(value, x509.Certificate):
        return [value]
    if loader == "vcek":
        return [load_vcek(value)]
    return load_certificates(value, "ASK/ARK certificate chain")


def verify_snp(
    report: bytes | AttestationReport,
    vcek: x509.Certificate | bytes,
    chain: Iterable[x509.Certificate] | bytes,
    *,
    policy: SnpPolicy | None = None,
    at: datetime.datetime | None = None,
    anchors: Iterable[TrustAnchor] = AMD_TRUST_ANCHORS,
    report_data: bytes | None = None,
) -> Verdict:
    """Verify a report with its VCEK and ASK/ARK chain; ``report_data`` is the expected binding.

    A malformed report or certificate raises MalformedEvidence, and a well-formed
    one that fails any check returns a Verdict whose ``reasons`` list them all.
    """
    parsed = report if isinstance(report, AttestationReport) else parse_report(report)
    vcek_certificate = _as_certificate(vcek, "vcek")[0]
    if isinstance(chain, bytes):
        chain_certificates = load_certificates(chain, "ASK/ARK certificate chain")
    else:
        chain_certificates = list(chain)
    moment = at or datetime.datetime.now(datetime.UTC)
    if moment.tzinfo is None:
        raise MalformedEvidence(
            f"the verification time {moment.isoformat()} has no time zone",
            fix="give the time in UTC, for example 2026-01-31T12:00:00Z",
        )

    reasons: list[str] = []
    if parsed.signature_algo != ECDSA_P384_SHA384:
        reasons.append(
            f"SIGNATURE_ALGO is {parsed.signature_algo}, not 1 (ECDSA P-384 with SHA-384)"
        )
    if parsed.signing_key != SigningKey.VCEK:
        reasons.append(
            f"the report was signed with signing key {parsed.signing_key} rather than the VCEK "
            "(0); VLEK-signed reports are not supported"
        )

    # The signature field is R (72 bytes), S (72 bytes) and reserved bytes up to 0x49F
    # (ABI spec, table "ECDSA P-384 with SHA-384 Signature Format").  They are not signed, so
    # the AMD-SP's zeros are the only way to tell an untouched report from a modified copy.
    if any(parsed.raw[_SIGNATURE_RESERVED_OFFSET:]):
        reasons.append(
            f"the reserved bytes after the signature ({_SIGNATURE_RESERVED_OFFSET:#x} to "
            f"{REPORT_SIZE - 1:#x}) are not zero: the report was modified after signing"
        )

    chain_result = verify_chain(vcek_certificate, chain_certificates, moment, anchors)
    reasons += chain_result.reasons
    reasons += verify_report_signature(parsed, vcek_certificate)
    reasons += check_vcek_binding(vcek_certificate, parsed.chip_id, parsed.reported_tcb)
    if policy is not None:
        reasons += policy.check(parsed, report_data=report_data)
    elif report_data is not None and parsed.report_data != report_data:
        reasons.append("REPORT_DATA does not match the expected binding")

    anchor = chain_result.anchor
    facts = {
        "root": None if anchor is None else anchor.product,
        "test_root": bool(anchor and anchor.test_only),
        "checked_at": moment.isoformat(),
        "policy_checked": policy is not None,
        "report": parsed.to_dict(),
    }
    return Verdict("sev-snp", tuple(reasons), facts)
