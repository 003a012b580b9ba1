"""A software AMD-SP for tests: its own ARK, ASK and VCEK, and reports in the real binary layout.

The simulator makes an RSA ARK and ASK that sign with RSASSA-PSS SHA-384
(salt 48), and a P-384 VCEK carrying AMD's extensions (productName, the SPL
levels and hwID).  Its reports have the ATTESTATION_REPORT layout of version 3
and are signed like the real ones, so the production verifier runs unchanged on
them.

The simulator's ARK is no pinned AMD root, so the default verifier rejects its
evidence.  Only an explicit :func:`load_test_anchor` or ``--test-root`` accepts
it.  It proves that the code verifies and releases correctly and gives no
confidentiality, because the process that runs the simulator has the VCEK's
private key and can sign any measurement.
"""

from __future__ import annotations

import datetime
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from ..errors import AttestationError, InvalidArgument
from ..fsio import atomic_write
from .certs import (
    OID_BL_SPL,
    OID_HWID,
    OID_PRODUCT_NAME,
    OID_SNP_SPL,
    OID_STRUCT_VERSION,
    OID_TEE_SPL,
    OID_UCODE_SPL,
    TrustAnchor,
    load_certificates,
    spki_sha256,
    vcek_tcb,
)
from .report import REPORT_SIZE, SIGNATURE_OFFSET, GuestPolicy, TcbVersion

__all__ = ["GuestLaunch", "SimulatedAmdSp", "load_test_anchor"]

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_ORGANIZATION = "agile test AMD-SP (not AMD)"
_MILAN_FAMILY, _MILAN_MODEL, _MILAN_STEPPING = 0x19, 0x01, 0x01
_FILES = ("ark.key", "ask.key", "vcek.key", "ark.pem", "ask.pem", "vcek.pem", "chip_id")


@dataclass(frozen=True)
class GuestLaunch:
    """Launch parameters of a simulated guest: the fields the AMD-SP copies into its reports."""

    measurement: bytes = bytes(48)
    policy: int = GuestPolicy.SMT | GuestPolicy.RESERVED_MUST_BE_ONE
    vmpl: int = 0
    guest_svn: int = 0
    host_data: bytes = bytes(32)
    id_key_digest: bytes = bytes(48)
    author_key_digest: bytes = bytes(48)
    family_id: bytes = bytes(16)
    image_id: bytes = bytes(16)


def _der_integer(value: int) -> bytes:
    # DER INTEGER: minimal big-endian two's complement, so 222 needs a leading zero byte.
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return bytes([0x02, len(body)]) + body


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _encode_tcb(tcb: TcbVersion) -> int:
    # Milan/Genoa TCB_VERSION layout: BOOT_LOADER byte 0, TEE byte 1, SNP byte 6, MICROCODE byte 7.
    octets = bytes([tcb.bootloader, tcb.tee, 0, 0, 0, 0, tcb.snp, tcb.microcode])
    return int.from_bytes(octets, "little")


def load_test_anchor(ark_pem: bytes) -> TrustAnchor:
    """Return a test-only trust anchor for a simulator ARK certificate (PEM or DER)."""
    certificates = load_certificates(ark_pem, "test root certificate")
    ark = certificates[-1]
    if ark.issuer != ark.subject:
        raise InvalidArgument(
            "the test root certificate is not self-signed",
            fix="pass the simulator's ark.pem with --test-root",
        )
    names = ark.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise InvalidArgument(
            f"the test root certificate {ark.subject.rfc4514_string()!r} has no common name, "
            "so it names no product",
            fix="pass the simulator's ark.pem (common name ARK-Milan) with --test-root",
        )
    product = names[0].value
    return TrustAnchor(str(product).removeprefix("ARK-"), spki_sha256(ark), test_only=True)


class SimulatedAmdSp:
    """A software stand-in for the AMD Secure Processor of one Milan chip."""

    def __init__(
        self,
        *,
        tcb: TcbVersion | None = None,
        chip_id: bytes | None = None,
        rsa_bits: int = 4096,
        keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey] | None = None,
        certificates: tuple[x509.Certificate, x509.Certificate, x509.Certificate] | None = None,
    ) -> None:
        self.tcb = tcb or TcbVersion(bootloader=4, tee=0, snp=27, microcode=222)
        self.chip_id = chip_id or os.urandom(64)
        if keys is not None and certificates is not None:
            self._ark_key, self._ask_key, self._vcek_key = keys
            self.ark, self.ask, self.vcek = certificates
            return

        self._ark_key = rsa.generate_private_key(65537, rsa_bits)
        self._ask_key = rsa.generate_private_key(65537, rsa_bits)
        self._vcek_key = ec.generate_private_key(ec.SECP384R1())
        now = datetime.datetime.now(datetime.UTC)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)

        ark_builder = self._builder(
            "ARK-Milan", "ARK-Milan", self._ark_key.public_key(), start, end
        )
        self.ark = ark_builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).sign(self._ark_key, hashes.SHA384(), rsa_padding=_PSS)
        ask_builder = self._builder(
            "SEV-Milan", "ARK-Milan", self._ask_key.public_key(), start, end
        )
        self.ask = ask_builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).sign(self._ark_key, hashes.SHA384(), rsa_padding=_PSS)
        self.vcek = self._make_vcek(start, end)

    @staticmethod
    def _builder(
        subject: str,
        issuer: str,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        start: datetime.datetime,
        end: datetime.datetime,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(issuer))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )

    def _make_vcek(self, start: datetime.datetime, end: datetime.datetime) -> x509.Certificate:
        builder = self._builder("SEV-VCEK", "SEV-Milan", self._vcek_key.public_key(), start, end)
        # The extension values are DER, except hwID, which AMD stores as the raw 64 bytes.
        values = {
            OID_STRUCT_VERSION: _der_integer(0),
            OID_PRODUCT_NAME: b"\x16\x08Milan-B0",
            OID_BL_SPL: _der_integer(self.tcb.bootloader),
            OID_TEE_SPL: _der_integer(self.tcb.tee),
            OID_SNP_SPL: _der_integer(self.tcb.snp),
            OID_UCODE_SPL: _der_integer(self.tcb.microcode),
            OID_HWID: self.chip_id,
        }
        for oid, value in values.items():
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
        return builder.sign(self._ask_key, hashes.SHA384(), rsa_padding=_PSS)

    # Evidence.

    @property
    def anchor(self) -> TrustAnchor:
        """The test-only trust anchor that accepts this simulator's chain."""
        return TrustAnchor("Milan", spki_sha256(self.ark), test_only=True)

    def pem(self, certificate: x509.Certificate) -> bytes:
        return certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def vcek_pem(self) -> bytes:
        return self.pem(self.vcek)

    @property
    def chain_pem(self) -> bytes:
        """The ASK then the ARK, in the order AMD KDS serves its cert_chain."""
        return self.pem(self.ask) + self.pem(self.ark)

    def report(self, report_data: bytes, launch: GuestLaunch | None = None) -> bytes:
        """Return a signed version 3 ATTESTATION_REPORT for a guest launched as ``launch``."""
        if len(report_data) != 64:
            raise AttestationError(f"REPORT_DATA is 64 bytes, got {len(report_data)}")
        launch = launch or GuestLaunch()
        tcb = _encode_tcb(self.tcb)
        data = bytearray(REPORT_SIZE)
        struct.pack_into("<IIQ", data, 0x00, 3, launch.guest_svn, launch.policy)
        data[0x10:0x20] = launch.family_id
        data[0x20:0x30] = launch.image_id
        struct.pack_into("<IIQQI", data, 0x30, launch.vmpl, 1, tcb, 0, 0)
        data[0x50:0x90] = report_data
        data[0x90:0xC0] = launch.measurement
        data[0xC0:0xE0] = launch.host_data
        data[0xE0:0x110] = launch.id_key_digest
        data[0x110:0x140] = launch.author_key_digest
        data[0x140:0x160] = os.urandom(32)
        struct.pack_into("<Q", data, 0x180, tcb)
        data[0x188:0x18B] = bytes([_MILAN_FAMILY, _MILAN_MODEL, _MILAN_STEPPING])
        data[0x1A0:0x1E0] = self.chip_id
        struct.pack_into("<Q", data, 0x1E0, tcb)
        data[0x1E8:0x1F0] = bytes([35, 55, 1, 0, 35, 55, 1, 0])
        struct.pack_into("<Q", data, 0x1F0, tcb)

        signature = self._vcek_key.sign(bytes(data[:SIGNATURE_OFFSET]), ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(signature)
        data[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 72] = r.to_bytes(72, "little")
        data[SIGNATURE_OFFSET + 72 : SIGNATURE_OFFSET + 144] = s.to_bytes(72, "little")
        return bytes(data)

    # Persistence, so that the CLI can use one simulator across processes.

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the keys (0600) and certificates to ``directory``."""
        folder = Path(directory)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {
            "ark.key": self._ark_key,
            "ask.key": self._ask_key,
            "vcek.key": self._vcek_key,
        }
        for name, key in keys.items():
            encoded = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            atomic_write(folder / name, encoded)
        for name, certificate in (
            ("ark.pem", self.ark),
            ("ask.pem", self.ask),
            ("vcek.pem", self.vcek),
        ):
            atomic_write(folder / name, self.pem(certificate), mode=0o644)
        atomic_write(folder / "chip_id", self.chip_id.hex().encode("ascii"), mode=0o644)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SimulatedAmdSp:
        """Load a simulator written by :meth:`save`."""
        folder = Path(directory)
        missing = [name for name in _FILES if not (folder / name).is_file()]
        if missing:
            raise InvalidArgument(
                f"simulator directory {str(folder)!r} lacks {', '.join(missing)}",
                fix="create it with: agile keep simulator init DIR",
            )
        ark_key, ask_key, vcek_key = (
            serialization.load_pem_private_key((folder / name).read_bytes(), password=None)
            for name in ("ark.key", "ask.key", "vcek.key")
        )
        if not (
            isinstance(ark_key, rsa.RSAPrivateKey)
            and isinstance(ask_key, rsa.RSAPrivateKey)
            and isinstance(vcek_key, ec.EllipticCurvePrivateKey)
        ):
            raise AttestationError(f"simulator keys in {str(folder)!r} have the wrong types")
        ark, ask, vcek = (
            load_certificates((folder / name).read_bytes(), name)[0]
            for name in ("ark.pem", "ask.pem", "vcek.pem")
        )
        chip_id = bytes.fromhex((folder / "chip_id").read_text().strip())
        levels = vcek_tcb(vcek)
        tcb = TcbVersion(
            levels["bootloader"] or 0,
            levels["tee"] or 0,
            levels["snp"] or 0,
            levels["microcode"] or 0,
        )
        return cls(
            tcb=tcb,
            chip_id=chip_id,
            keys=(ark_key, ask_key, vcek_key),
            certificates=(ark, ask, vcek),
        )
