"""The SEV-SNP ATTESTATION_REPORT: a parser for the 1184-byte structure the AMD-SP signs.

Offsets follow the AMD SEV Secure Nested Paging Firmware ABI Specification
(publication 56860), section "Attestation", table "ATTESTATION_REPORT
Structure".  All integers are little-endian.  The signature at 0x2A0 covers
bytes 0x000 to 0x29F; its r and s are 72-byte little-endian integers with the
P-384 value in the low 48 bytes.

TCB_VERSION is a 64-bit value whose byte layout depends on the processor
family.  Milan and Genoa (family 0x19) put BOOT_LOADER in byte 0, TEE in byte
1, SNP in byte 6 and MICROCODE in byte 7.  Turin (family 0x1A) adds FMC in
byte 0 and moves BOOT_LOADER, TEE and SNP to bytes 1 to 3.  Reports of
version 2 carry no CPUID fields, so their TCB values are read with the Milan
layout.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Any

from .verdict import MalformedEvidence

__all__ = [
    "REPORT_SIZE",
    "SIGNED_SIZE",
    "SIGNATURE_OFFSET",
    "ECDSA_P384_SHA384",
    "GuestPolicy",
    "PlatformInfo",
    "SigningKey",
    "TcbVersion",
    "AttestationReport",
    "parse_report",
]

#: Size in bytes of an ATTESTATION_REPORT.
REPORT_SIZE = 0x4A0
#: The signature starts here, and the signed bytes are those before it.
SIGNATURE_OFFSET = 0x2A0
SIGNED_SIZE = SIGNATURE_OFFSET
#: SIGNATURE_ALGO value of ECDSA P-384 with SHA-384, the only algorithm the ABI defines.
ECDSA_P384_SHA384 = 1
#: Each signature component is stored in a 72-byte little-endian field.
_SIGNATURE_COMPONENT_SIZE = 72
#: The report versions this parser understands: 2 (no CPUID fields) and 3 to 5.
_SUPPORTED_VERSIONS = range(2, 6)
#: CPUID family of Turin, whose TCB_VERSION layout adds an FMC byte.
_TURIN_FAMILY = 0x1A


class GuestPolicy(enum.IntFlag):
    """Bits of the guest POLICY field (ABI spec, table "Guest Policy Structure")."""

    SMT = 1 << 16
    RESERVED_MUST_BE_ONE = 1 << 17
    MIGRATE_MA = 1 << 18
    DEBUG = 1 << 19
    SINGLE_SOCKET = 1 << 20
    CXL_ALLOW = 1 << 21
    MEM_AES_256_XTS = 1 << 22
    RAPL_DIS = 1 << 23
    CIPHERTEXT_HIDING = 1 << 24
    PAGE_SWAP_DISABLE = 1 << 25


class PlatformInfo(enum.IntFlag):
    """Bits of PLATFORM_INFO: the platform state when the report was made."""

    SMT_EN = 1 << 0
    TSME_EN = 1 << 1
    ECC_EN = 1 << 2
    RAPL_DIS = 1 << 3
    CIPHERTEXT_HIDING_EN = 1 << 4
    ALIAS_CHECK_COMPLETE = 1 << 5


class SigningKey(enum.IntEnum):
    """SIGNING_KEY (bits 4:2 of the signer-info word at 0x48): which key signed the report."""

    VCEK = 0
    VLEK = 1
    NONE = 7


@dataclass(frozen=True)
class TcbVersion:
    """Security patch levels of the firmware components, decoded from a TCB_VERSION."""

    bootloader: int
    tee: int
    snp: int
    microcode: int
    fmc: int | None = None
    raw: int = 0

    @classmethod
    def decode(cls, value: int, family: int | None) -> TcbVersion:
        octets = value.to_bytes(8, "little")
        if family == _TURIN_FAMILY:
            return cls(octets[1], octets[2], octets[3], octets[7], fmc=octets[0], raw=value)
        return cls(octets[0], octets[1], octets[6], octets[7], raw=value)

    def components(self) -> dict[str, int]:
        """Return the patch levels by name, as policies and VCEK extensions name them."""
        values = {
            "bootloader": self.bootloader,
            "tee": self.tee,
            "snp": self.snp,
            "microcode": self.microcode,
        }
        if self.fmc is not None:
            values["fmc"] = self.fmc
        return values

    def __str__(self) -> str:
        return " ".join(f"{name}={level}" for name, level in self.components().items())


@dataclass(frozen=True)
class AttestationReport:
    """The fields of one ATTESTATION_REPORT; ``raw`` keeps the exact bytes that were parsed."""

    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: TcbVersion
    platform_info: int
    author_key_en: bool
    mask_chip_key: bool
    signing_key: int
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: TcbVersion
    cpuid_family: int | None
    cpuid_model: int | None
    cpuid_stepping: int | None
    chip_id: bytes
    committed_tcb: TcbVersion
    current_version: tuple[int, int, int]
    committed_version: tuple[int, int, int]
    launch_tcb: TcbVersion
    signature_r: int
    signature_s: int
    raw: bytes = field(repr=False)

    @property
    def signed_bytes(self) -> bytes:
        return self.raw[:SIGNED_SIZE]

    @property
    def debug_allowed(self) -> bool:
        return bool(self.policy & GuestPolicy.DEBUG)

    @property
    def migration_agent_allowed(self) -> bool:
        return bool(self.policy & GuestPolicy.MIGRATE_MA)

    @property
    def smt_allowed(self) -> bool:
        return bool(self.policy & GuestPolicy.SMT)

    @property
    def abi_version(self) -> tuple[int, int]:
        """Return the minimum firmware ABI (major, minor) the guest policy requires."""
        return (self.policy >> 8) & 0xFF, self.policy & 0xFF

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values: bytes as hex, flags by name."""
        flags = [flag.name for flag in GuestPolicy if self.policy & flag and flag.name]
        platform = [flag.name for flag in PlatformInfo if self.platform_info & flag and flag.name]
        major, minor = self.abi_version
        try:
            signing_key = SigningKey(self.signing_key).name
        except ValueError:
            signing_key = str(self.signing_key)
        return {
            "version": self.version,
            "guest_svn": self.guest_svn,
            "policy": f"{self.policy:#x}",
            "policy_flags": flags,
            "policy_abi": f"{major}.{minor}",
            "family_id": self.family_id.hex(),
            "image_id": self.image_id.hex(),
            "vmpl": self.vmpl,
            "signature_algo": self.signature_algo,
            "current_tcb": self.current_tcb.components(),
            "platform_info": platform,
            "author_key_en": self.author_key_en,
            "mask_chip_key": self.mask_chip_key,
            "signing_key": signing_key,
            "report_data": self.report_data.hex(),
            "measurement": self.measurement.hex(),
            "host_data": self.host_data.hex(),
            "id_key_digest": self.id_key_digest.hex(),
            "author_key_digest": self.author_key_digest.hex(),
            "report_id": self.report_id.hex(),
            "report_id_ma": self.report_id_ma.hex(),
            "reported_tcb": self.reported_tcb.components(),
            "cpuid": None
            if self.cpuid_family is None
            else {
                "family": self.cpuid_family,
                "model": self.cpuid_model,
                "stepping": self.cpuid_stepping,
            },
            "chip_id": self.chip_id.hex(),
            "committed_tcb": self.committed_tcb.components(),
            "current_version": ".".join(str(part) for part in self.current_version),
            "committed_version": ".".join(str(part) for part in self.committed_version),
            "launch_tcb": self.launch_tcb.components(),
        }


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _u64(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<Q", data, offset)[0])


def _version(data: bytes, offset: int) -> tuple[int, int, int]:
    # Bytes: build, minor, major (ABI spec: CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR).
    build, minor, major = data[offset], data[offset + 1], data[offset + 2]
    return major, minor, build


def parse_report(data: bytes) -> AttestationReport:
    """Parse an ATTESTATION_REPORT; a wrong size or an unknown version raises AttestationError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedEvidence(f"an SNP report must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) != REPORT_SIZE:
        raise MalformedEvidence(
            f"an SNP attestation report is {REPORT_SIZE} bytes, got {len(data)}",
            fix="pass the raw binary report (for example from /dev/sev-guest or configfs-tsm)",
        )
    version = _u32(data, 0x00)
    if version not in _SUPPORTED_VERSIONS:
        raise MalformedEvidence(
            f"unsupported SNP report version {version}",
            fix=f"versions {_SUPPORTED_VERSIONS.start} to {_SUPPORTED_VERSIONS.stop - 1} "
            "are supported",
        )

    # CPUID_FAM_ID, CPUID_MOD_ID and CPUID_STEP exist from version 3 on.
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    if version >= 3:
        family, model, stepping = data[0x188], data[0x189], data[0x18A]

    signer_info = _u32(data, 0x48)
    signature = data[SIGNATURE_OFFSET:]
    size = _SIGNATURE_COMPONENT_SIZE
    return AttestationReport(
        version=version,
        guest_svn=_u32(data, 0x04),
        policy=_u64(data, 0x08),
        family_id=data[0x10:0x20],
        image_id=data[0x20:0x30],
        vmpl=_u32(data, 0x30),
        signature_algo=_u32(data, 0x34),
        current_tcb=TcbVersion.decode(_u64(data, 0x38), family),
        platform_info=_u64(data, 0x40),
        author_key_en=bool(signer_info & 0x1),
        mask_chip_key=bool(signer_info & 0x2),
        signing_key=(signer_info >> 2) & 0x7,
        report_data=data[0x50:0x90],
        measurement=data[0x90:0xC0],
        host_data=data[0xC0:0xE0],
        id_key_digest=data[0xE0:0x110],
        author_key_digest=data[0x110:0x140],
        report_id=data[0x140:0x160],
        report_id_ma=data[0x160:0x180],
        reported_tcb=TcbVersion.decode(_u64(data, 0x180), family),
        cpuid_family=family,
        cpuid_model=model,
        cpuid_stepping=stepping,
        chip_id=data[0x1A0:0x1E0],
        committed_tcb=TcbVersion.decode(_u64(data, 0x1E0), family),
        current_version=_version(data, 0x1E8),
        committed_version=_version(data, 0x1EC),
        launch_tcb=TcbVersion.decode(_u64(data, 0x1F0), family),
        signature_r=int.from_bytes(signature[:size], "little"),
        signature_s=int.from_bytes(signature[size : 2 * size], "little"),
        raw=data,
    )
