"""AMD's SEV-SNP key hierarchy: pinned root keys, the ARK -> ASK -> VCEK chain and VCEK extensions.

AMD signs each product's ASK with its AMD Root Key (ARK), and the ASK signs
every chip's VCEK.  ARK and ASK are RSA-4096 and sign with RSASSA-PSS, SHA-384
and a 48-byte salt; the VCEK is an ECDSA P-384 key (AMD, "Versioned Chip
Endorsement Key (VCEK) Certificate and KDS Interface Specification", pub. 57230).

Trust comes only from :class:`TrustAnchor` pins, never from the chain a caller
passes: the chain is untrusted input whose ARK must match a pin.  The pins are
SHA-256 digests of each ARK's DER SubjectPublicKeyInfo.

VCEK certificates from AMD's Key Distribution Service carry serial number 0,
which RFC 5280 section 4.1.2.2 forbids.  cryptography 50 still parses them,
with a CryptographyDeprecationWarning; :func:`load_vcek` silences exactly that
warning around the load and raises AttestationError if a later cryptography
release rejects such certificates.
"""

from __future__ import annotations

import datetime
import hashlib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning

from .report import TcbVersion
from .verdict import MalformedEvidence

__all__ = [
    "TrustAnchor",
    "AMD_ARK_MILAN",
    "AMD_ARK_GENOA",
    "AMD_TRUST_ANCHORS",
    "OID_STRUCT_VERSION",
    "OID_PRODUCT_NAME",
    "OID_BL_SPL",
    "OID_TEE_SPL",
    "OID_SNP_SPL",
    "OID_UCODE_SPL",
    "OID_FMC_SPL",
    "OID_HWID",
    "spki_sha256",
    "load_certificates",
    "load_vcek",
    "ChainResult",
    "verify_chain",
    "vcek_tcb",
    "vcek_hwid",
    "vcek_product",
    "check_vcek_binding",
]

# VCEK certificate extensions (pub. 57230, table "VCEK Certificate Extensions").
OID_STRUCT_VERSION = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.1")
OID_PRODUCT_NAME = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.2")
OID_BL_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.1")
OID_TEE_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.2")
OID_SNP_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.3")
OID_UCODE_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.8")
OID_FMC_SPL = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.3.9")
OID_HWID = x509.ObjectIdentifier("1.3.6.1.4.1.3704.1.4")

#: The TCB component each SPL extension must equal in REPORTED_TCB.
_SPL_EXTENSIONS = {
    "bootloader": OID_BL_SPL,
    "tee": OID_TEE_SPL,
    "snp": OID_SNP_SPL,
    "microcode": OID_UCODE_SPL,
}

# ARK and ASK signatures: RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


@dataclass(frozen=True)
class TrustAnchor:
    """A root key that may terminate a VCEK chain, pinned by the SHA-256 of its SPKI."""

    product: str
    spki_sha256: str
    #: True only for roots made by the software AMD-SP in tests.
    test_only: bool = False


#: ARK-Milan (EPYC 7003), as served by AMD KDS at /vcek/v1/Milan/cert_chain.  Its whole DER
#: certificate has SHA-256 69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd.
AMD_ARK_MILAN = TrustAnchor(
    "Milan", "9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9"
)
#: ARK-Genoa (EPYC 9004), as served by AMD KDS at /vcek/v1/Genoa/cert_chain.  Its whole DER
#: certificate has SHA-256 4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1.
AMD_ARK_GENOA = TrustAnchor(
    "Genoa", "429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831"
)
#: The roots the production verifier accepts.
AMD_TRUST_ANCHORS: tuple[TrustAnchor, ...] = (AMD_ARK_MILAN, AMD_ARK_GENOA)


def spki_sha256(certificate: x509.Certificate) -> str:
    """Return the hex SHA-256 of a certificate's DER SubjectPublicKeyInfo."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _load_any(data: bytes, what: str) -> list[x509.Certificate]:
    # VCEKs have serial 0 (see the module docstring), and cryptography warns about it
    # on every load; nothing else is filtered.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=".*serial number which wasn't positive.*",
            category=CryptographyDeprecationWarning,
        )
        try:
            if b"-----BEGIN" in data:
                return list(x509.load_pem_x509_certificates(data))
            return [x509.load_der_x509_certificate(data)]
        except ValueError as error:
            if "serial" in str(error).lower():
                raise MalformedEvidence(
                    f"this cryptography release rejects the {what} because its serial number "
                    f"is not positive (AMD KDS VCEKs have serial 0): {error}",
                    fix="install a cryptography release that still parses them "
                    "(50.x does, with a deprecation warning)",
                ) from None
            raise MalformedEvidence(
                f"the {what} is not a PEM or DER X.509 certificate: {error}",
                fix="pass the certificate file as AMD KDS serves it (DER) or in PEM",
            ) from None


def load_certificates(data: bytes, what: str = "certificate chain") -> list[x509.Certificate]:
    """Parse one DER certificate or any number of PEM certificates."""
    certificates = _load_any(data, what)
    if not certificates:
        raise MalformedEvidence(f"the {what} contains no certificate")
    return certificates


def load_vcek(data: bytes) -> x509.Certificate:
    """Parse a VCEK certificate (PEM or DER) despite its zero serial number."""
    certificates = _load_any(data, "VCEK certificate")
    if len(certificates) != 1:
        raise MalformedEvidence(
            f"expected one VCEK certificate, found {len(certificates)}",
            fix="pass the VCEK alone with --vcek and the ASK and ARK with --chain",
        )
    return certificates[0]


def _extension_value(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        extension = certificate.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    return None


def _der_integer(encoded: bytes) -> int:
    # A DER INTEGER: tag 0x02, a short-form length, then big-endian two's complement.
    if len(encoded) < 3 or encoded[0] != 0x02 or encoded[1] != len(encoded) - 2:
        raise ValueError("not a DER INTEGER")
    return int.from_bytes(encoded[2:], "big", signed=True)


def vcek_tcb(certificate: x509.Certificate) -> dict[str, int | None]:
    """Return the SPL extensions of a VCEK by TCB component name (None when absent)."""
    levels: dict[str, int | None] = {}
    for name, oid in _SPL_EXTENSIONS.items():
        encoded = _extension_value(certificate, oid)
        try:
            levels[name] = None if encoded is None else _der_integer(encoded)
        except ValueError:
            levels[name] = None
    return levels


def vcek_hwid(certificate: x509.Certificate) -> bytes | None:
    """Return the hwID extension: the 64-byte CHIP_ID of the chip the VCEK belongs to."""
    encoded = _extension_value(certificate, OID_HWID)
    if encoded is None:
        return None
    # AMD KDS stores the 64 raw bytes as the extension value; accept the DER OCTET
    # STRING wrapping of them as well.
    if len(encoded) == 66 and encoded[:2] == b"\x04\x40":
        return encoded[2:]
    return encoded


def vcek_product(certificate: x509.Certificate) -> str | None:
    """Return the productName extension (for example ``Milan-B0``) as text."""
    encoded = _extension_value(certificate, OID_PRODUCT_NAME)
    if encoded is None or len(encoded) < 2 or encoded[1] != len(encoded) - 2:
        return None
    return encoded[2:].decode("ascii", errors="replace")


@dataclass(frozen=True)
class ChainResult:
    """Result of :func:`verify_chain`: the matching anchor (if any) and every failed check."""

    anchor: TrustAnchor | None
    reasons: tuple[str, ...]


def _verify_pss(issuer: x509.Certificate, subject: x509.Certificate) -> bool:
    public_key = issuer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    if not isinstance(subject.signature_hash_algorithm, hashes.SHA384):
        return False
    try:
        public_key.verify(subject.signature, subject.tbs_certificate_bytes, _PSS, hashes.SHA384())
    except InvalidSignature:
        return False
    return True


def _check_validity(certificate: x509.Certificate, name: str, at: datetime.datetime) -> list[str]:
    if at < certificate.not_valid_before_utc:
        return [f"the {name} is not valid before {certificate.not_valid_before_utc.isoformat()}"]
    if at > certificate.not_valid_after_utc:
        return [f"the {name} expired at {certificate.not_valid_after_utc.isoformat()}"]
    return []


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def verify_chain(
    vcek: x509.Certificate,
    chain: Iterable[x509.Certificate],
    at: datetime.datetime,
    anchors: Iterable[TrustAnchor] = AMD_TRUST_ANCHORS,
) -> ChainResult:
    """Verify ARK -> ASK -> VCEK against the pinned anchors; return every failed check.

    NOTE: revocation is not checked: AMD's CRL (KDS ``/vcek/v1/PRODUCT/crl``) is not read.
    """
    certificates = list(chain)
    pins = {anchor.spki_sha256: anchor for anchor in anchors}
    reasons: list[str] = []

    # The ARK is the self-issued certificate in the chain; the ASK is the other one.
    arks = [cert for cert in certificates if cert.issuer == cert.subject]
    asks = [cert for cert in certificates if cert.issuer != cert.subject]
    if len(arks) != 1 or len(asks) != 1:
        return ChainResult(
            None,
            (
                f"the chain must hold one ASK and one self-signed ARK, found {len(asks)} "
                f"ASK(s) and {len(arks)} ARK(s)",
            ),
        )
    ark, ask = arks[0], asks[0]

    anchor = pins.get(spki_sha256(ark))
    if anchor is None:
        reasons.append(
            f"the ARK {ark.subject.rfc4514_string()!r} (SPKI SHA-256 {spki_sha256(ark)}) "
            "is not a trusted root"
        )
    if not _verify_pss(ark, ark):
        reasons.append("the ARK's self-signature is not a valid RSASSA-PSS SHA-384 signature")
    if ask.issuer != ark.subject:
        reasons.append("the ASK's issuer is not the ARK")
    if not _verify_pss(ark, ask):
        reasons.append("the ASK's signature does not verify with the ARK")
    if not _is_ca(ark) or not _is_ca(ask):
        reasons.append("the ARK and ASK must both be CA certificates")
    if vcek.issuer != ask.subject:
        reasons.append("the VCEK's issuer is not the ASK")
    if not _verify_pss(ask, vcek):
        reasons.append("the VCEK's signature does not verify with the ASK")

    vcek_key = vcek.public_key()
    if not isinstance(vcek_key, ec.EllipticCurvePublicKey) or vcek_key.curve.name != "secp384r1":
        reasons.append("the VCEK's public key is not an ECDSA P-384 key")

    reasons += _check_validity(ark, "ARK", at)
    reasons += _check_validity(ask, "ASK", at)
    reasons += _check_validity(vcek, "VCEK", at)

    # A Milan-B0 VCEK must chain to the Milan root, and so on.
    product = vcek_product(vcek)
    if anchor is not None and product is not None and not product.startswith(anchor.product):
        reasons.append(f"the VCEK is for product {product!r}, but the ARK is {anchor.product}'s")
    return ChainResult(anchor, tuple(reasons))


def check_vcek_binding(vcek: x509.Certificate, chip_id: bytes, tcb: TcbVersion) -> list[str]:
    """Compare the VCEK's hwID and SPL extensions with the report's CHIP_ID and REPORTED_TCB."""
    reasons: list[str] = []
    hwid = vcek_hwid(vcek)
    if hwid is None:
        reasons.append("the VCEK has no hwID extension (1.3.6.1.4.1.3704.1.4)")
    elif hwid != chip_id:
        reasons.append("the report's CHIP_ID differs from the VCEK's hwID")

    reported = tcb.components()
    for name, level in vcek_tcb(vcek).items():
        if level is None:
            reasons.append(f"the VCEK lacks a valid {name} SPL extension")
        elif level != reported[name]:
            reasons.append(
                f"REPORTED_TCB {name}={reported[name]} differs from the VCEK's {name} SPL {level}"
            )
    return reasons
