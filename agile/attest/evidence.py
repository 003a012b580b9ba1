"""Evidence for attested key release: the binding to a nonce and key, its sources, its verification.

A workload requests a nonce from the key broker, makes an ephemeral HPKE key
pair and collects evidence whose user data commits to both:

* SEV-SNP: REPORT_DATA = SHA-512(binding), which fills the 64-byte field;
* TPM quote: qualifyingData = SHA-256(binding).

``binding`` is :func:`binding_input`: a label, then the nonce, the key id, the
KEM id and the ephemeral public key, each with a 4-byte length prefix so that
no two different inputs encode alike.  The broker recomputes the binding from
the request, so evidence made for another nonce, key or public key fails.

Evidence travels as a JSON object whose ``type`` is ``sev-snp`` or
``tpm-quote``.  :class:`EvidenceSource` implementations produce it:
:class:`SimulatorEvidence` (tests), :class:`SevGuestEvidence` (a real SNP
guest) and :class:`agile.attest.tpm_quote.TpmQuoteEvidence` (a TPM).
"""

from __future__ import annotations

import abc
import base64
import ctypes
import datetime
import errno
import fcntl
import hashlib
import os
import struct
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import AttestationError, SealerUnavailable
from .certs import AMD_TRUST_ANCHORS, TrustAnchor
from .policy import AttestationPolicy
from .report import REPORT_SIZE
from .simulator import GuestLaunch, SimulatedAmdSp
from .snp import verify_snp
from .verdict import MalformedEvidence, Verdict

__all__ = [
    "BINDING_LABEL",
    "binding_input",
    "snp_report_data",
    "tpm_qualifying_data",
    "EvidenceSource",
    "SimulatorEvidence",
    "SevGuestEvidence",
    "verify_evidence",
]

BINDING_LABEL = b"agile keep release v1\x00"
_CONFIGFS_TSM = Path("/sys/kernel/config/tsm/report")
_SEV_GUEST_DEVICE = Path("/dev/sev-guest")

# GHCB specification (AMD pub. 56421), "Extended Guest Request": certificate table GUIDs.
_GUID_VCEK = uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd")
_GUID_ASK = uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782")
_GUID_ARK = uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae")


def _field(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def binding_input(nonce: bytes, key_id: str, kem: str, public_key: bytes) -> bytes:
    """Return the bytes that evidence must commit to for one release request."""
    return (
        BINDING_LABEL
        + _field(nonce)
        + _field(key_id.encode("utf-8"))
        + _field(kem.encode("ascii"))
        + _field(public_key)
    )


def snp_report_data(binding: bytes) -> bytes:
    """Return the 64-byte REPORT_DATA for a binding."""
    return hashlib.sha512(binding).digest()


def tpm_qualifying_data(binding: bytes) -> bytes:
    """Return the 32-byte qualifyingData of a TPM2_Quote for a binding."""
    return hashlib.sha256(binding).digest()


class EvidenceSource(abc.ABC):
    """Produces evidence of the platform it runs on, committed to a binding."""

    #: The evidence ``type`` this source produces.
    kind: str = ""

    @abc.abstractmethod
    def collect(self, binding: bytes) -> dict[str, Any]:
        """Return a JSON-ready evidence object whose user data commits to ``binding``."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class SimulatorEvidence(EvidenceSource):
    """SEV-SNP evidence from the software AMD-SP; accepted only by a broker given its test root."""

    kind = "sev-snp"

    def __init__(self, simulator: SimulatedAmdSp, launch: GuestLaunch | None = None) -> None:
        self.simulator = simulator
        self.launch = launch or GuestLaunch()

    def collect(self, binding: bytes) -> dict[str, Any]:
        report = self.simulator.report(snp_report_data(binding), self.launch)
        return {
            "type": self.kind,
            "report": _b64(report),
            "vcek": self.simulator.vcek_pem.decode("ascii"),
            "chain": self.simulator.chain_pem.decode("ascii"),
        }


def _parse_certificate_table(table: bytes) -> dict[uuid.UUID, bytes]:
    # Entries of GUID (16 bytes), offset (u32) and length (u32), ended by an all-zero entry.
    entries: dict[uuid.UUID, bytes] = {}
    for position in range(0, len(table) - 23, 24):
        guid = uuid.UUID(bytes_le=table[position : position + 16])
        offset, length = struct.unpack_from("<II", table, position + 16)
        if guid.int == 0:
            break
        if offset + length > len(table):
            raise MalformedEvidence("the SNP certificate table points past its end")
        entries[guid] = table[offset : offset + length]
    return entries


def _der_to_pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[index : index + 64] for index in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


class SevGuestEvidence(EvidenceSource):
    """SEV-SNP evidence from the AMD-SP of the SNP guest this process runs in.

    It uses Linux configfs-tsm (``/sys/kernel/config/tsm/report``, Linux 6.7+)
    when present, else the ``SNP_GET_REPORT`` ioctl on ``/dev/sev-guest``.
    The VCEK and chain come from the host's certificate table (configfs-tsm
    ``auxblob``) when it provides one, else from the files given here, for
    example cached from AMD KDS.

    NOTE: this needs SEV-SNP hardware; no test here can exercise it, because
    the development and CI machines have neither /dev/sev-guest nor configfs-tsm.
    """

    kind = "sev-snp"

    def __init__(
        self,
        *,
        vcek: str | os.PathLike[str] | None = None,
        chain: str | os.PathLike[str] | None = None,
        vmpl: int = 0,
    ) -> None:
        self.vcek_path = vcek
        self.chain_path = chain
        self.vmpl = vmpl

    @staticmethod
    def available() -> bool:
        return _CONFIGFS_TSM.is_dir() or _SEV_GUEST_DEVICE.exists()

    def collect(self, binding: bytes) -> dict[str, Any]:
        report_data = snp_report_data(binding)
        if _CONFIGFS_TSM.is_dir():
            report, certificates = self._configfs_report(report_data)
        elif _SEV_GUEST_DEVICE.exists():
            report, certificates = self._ioctl_report(report_data), {}
        else:
            raise SealerUnavailable(
                "no SEV-SNP guest interface: neither /sys/kernel/config/tsm/report "
                "nor /dev/sev-guest exists",
                fix="run inside an SEV-SNP guest with the sev-guest driver loaded",
            )

        vcek = certificates.get(_GUID_VCEK)
        ask, ark = certificates.get(_GUID_ASK), certificates.get(_GUID_ARK)
        if vcek is not None:
            vcek_pem = _der_to_pem(vcek)
        elif self.vcek_path is not None:
            vcek_pem = Path(self.vcek_path).read_text()
        else:
            raise AttestationError(
                "the host provided no VCEK certificate with the report",
                fix="download the VCEK for this chip and TCB from AMD KDS and pass its file",
            )
        if ask is not None and ark is not None:
            chain_pem = _der_to_pem(ask) + _der_to_pem(ark)
        elif self.chain_path is not None:
            chain_pem = Path(self.chain_path).read_text()
        else:
            raise AttestationError(
                "the host provided no ASK/ARK chain with the report",
                fix="download cert_chain for the product from AMD KDS and pass its file",
            )
        return {"type": self.kind, "report": _b64(report), "vcek": vcek_pem, "chain": chain_pem}

    def _configfs_report(self, report_data: bytes) -> tuple[bytes, dict[uuid.UUID, bytes]]:
        # Documentation/ABI/testing/configfs-tsm: write inblob (and privlevel), read outblob.
        entry = _CONFIGFS_TSM / f"agile-{os.getpid()}-{os.urandom(4).hex()}"
        entry.mkdir()
        try:
            if (entry / "privlevel").exists():
                (entry / "privlevel").write_text(str(self.vmpl))
            (entry / "inblob").write_bytes(report_data)
            report = (entry / "outblob").read_bytes()
            auxiliary = entry / "auxblob"
            table = auxiliary.read_bytes() if auxiliary.exists() else b""
        finally:
            entry.rmdir()
        if len(report) != REPORT_SIZE:
            raise AttestationError(
                f"configfs-tsm returned a {len(report)}-byte report, expected {REPORT_SIZE}"
            )
        return report, _parse_certificate_table(table) if table else {}

    def _ioctl_report(self, report_data: bytes) -> bytes:
        # Linux include/uapi/linux/sev-guest.h: struct snp_report_req is user_data[64],
        # vmpl (u32) and 28 reserved bytes.  The 4000-byte response buffer starts with a
        # 32-byte header (status, report_size, reserved), followed by the report.
        request = ctypes.create_string_buffer(
            report_data + struct.pack("<I", self.vmpl) + bytes(28)
        )
        response = ctypes.create_string_buffer(4000)
        # struct snp_guest_request_ioctl: msg_version (u8, padded to 8), req_data,
        # resp_data, exitinfo2 (u64 each).
        argument = bytearray(
            struct.pack("<B7xQQQ", 1, ctypes.addressof(request), ctypes.addressof(response), 0)
        )
        snp_get_report = 0xC0205300  # _IOWR('S', 0x0, struct snp_guest_request_ioctl)
        try:
            device = os.open(_SEV_GUEST_DEVICE, os.O_RDWR)
            try:
                fcntl.ioctl(device, snp_get_report, argument)
            finally:
                os.close(device)
        except OSError as error:
            detail = errno.errorcode.get(error.errno or 0, str(error.errno))
            exitinfo = struct.unpack_from("<Q", argument, 24)[0]
            raise AttestationError(
                f"SNP_GET_REPORT on /dev/sev-guest failed: {detail} (exitinfo2 {exitinfo:#x})"
            ) from None
        status, size = struct.unpack_from("<II", response.raw, 0)
        if status != 0 or size != REPORT_SIZE:
            raise AttestationError(
                f"the AMD-SP returned status {status:#x} and a {size}-byte report"
            )
        return response.raw[32 : 32 + REPORT_SIZE]


def _unb64(evidence: dict[str, Any], name: str) -> bytes:
    value = evidence.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise MalformedEvidence(f"evidence field {name!r} is missing or not base64") from None


def _text(evidence: dict[str, Any], name: str) -> bytes:
    value = evidence.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvidence(f"evidence field {name!r} is missing or not text")
    return value.encode("ascii", errors="replace")


def verify_evidence(
    evidence: object,
    policy: AttestationPolicy,
    binding: bytes,
    *,
    anchors: Iterable[TrustAnchor] = AMD_TRUST_ANCHORS,
    at: datetime.datetime | None = None,
) -> Verdict:
    """Verify evidence of either type against a key's policy and the expected binding."""
    if not isinstance(evidence, dict):
        raise MalformedEvidence("evidence must be a JSON object")
    kind = evidence.get("type")

    if kind == "sev-snp":
        if policy.snp is None or not policy.snp.measurements:
            return Verdict(kind, ("the key's policy allows no SEV-SNP measurement",))
        return verify_snp(
            _unb64(evidence, "report"),
            _text(evidence, "vcek"),
            _text(evidence, "chain"),
            policy=policy.snp,
            at=at,
            anchors=anchors,
            report_data=snp_report_data(binding),
        )

    if kind == "tpm-quote":
        if policy.tpm is None or not policy.tpm.pcrs or not policy.tpm.ak_spki_sha256:
            return Verdict(
                kind, ("the key's policy names no TPM attestation key or no PCR values",)
            )
        from .tpm_quote import verify_quote_evidence

        return verify_quote_evidence(evidence, policy.tpm, tpm_qualifying_data(binding))

    raise MalformedEvidence(
        f"unknown evidence type {kind!r}", fix="send evidence of type sev-snp or tpm-quote"
    )
