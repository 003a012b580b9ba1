"""TPM 2.0 quotes as evidence: quote PCRs with an attestation key, and verify such quotes.

The attestation key (AK) is a restricted ECDSA P-256/SHA-256 signing key
created as a primary in the endorsement hierarchy from a fixed template, so the
TPM re-derives the same key on every use and nothing needs storing.  A quote
is TPM2_Quote over the selected PCRs with the binding hash as qualifyingData.

The verifier needs no TPM software: it parses TPMS_ATTEST itself (TPM 2.0
Part 2, section 10.12.12), checks

1. the AK's SubjectPublicKeyInfo SHA-256 is one the policy allows,
2. the ECDSA P-256/SHA-256 signature over the TPMS_ATTEST bytes,
3. magic TPM_GENERATED_VALUE and type TPM_ST_ATTEST_QUOTE,
4. extraData equals the expected qualifying data (nonce freshness and key binding),
5. the quoted PCR selection is exactly the policy's bank and PCRs, and the
   SHA-256 over the reported PCR values equals pcrDigest,
6. each reported PCR value equals the policy's.

NOTE: the AK is trusted because the policy pins its public key.  Tying the AK
to the TPM's endorsement key certificate (TPM2_MakeCredential and
TPM2_ActivateCredential, as Keylime's registrar does) is not implemented.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import SealError
from .evidence import EvidenceSource, tpm_qualifying_data
from .policy import TpmPolicy
from .verdict import MalformedEvidence, Verdict

__all__ = [
    "QuoteInfo",
    "parse_attest",
    "verify_quote_evidence",
    "TpmQuoteEvidence",
]

# TPM 2.0 Part 2: TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE and TPM_ALG_ID values.
_TPM_GENERATED = 0xFF544347
_ST_ATTEST_QUOTE = 0x8018
_ALG_IDS = {"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D}


def _describe_selections(selections: tuple[tuple[int, tuple[int, ...]], ...]) -> str:
    """Write quoted PCR selections as BANK:LIST (``sha256:0,7``), naming unknown banks by id."""
    names = {value: name for name, value in _ALG_IDS.items()}
    parts = [
        f"{names.get(bank, f'hash {bank:#06x}')}:{','.join(str(index) for index in indices)}"
        for bank, indices in selections
    ]
    return " + ".join(parts) or "no PCRs"


@dataclass(frozen=True)
class QuoteInfo:
    """The fields of a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE."""

    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock: int
    reset_count: int
    restart_count: int
    safe: bool
    firmware_version: int
    selections: tuple[tuple[int, tuple[int, ...]], ...]
    pcr_digest: bytes


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, size: int) -> bytes:
        if self.position + size > len(self.data):
            raise MalformedEvidence("the TPM quote (TPMS_ATTEST) is truncated")
        chunk = self.data[self.position : self.position + size]
        self.position += size
        return chunk

    def unpack(self, layout: str) -> tuple[Any, ...]:
        return struct.unpack(layout, self.take(struct.calcsize(layout)))

    def sized(self) -> bytes:
        (size,) = self.unpack(">H")
        return self.take(size)


def parse_attest(data: bytes) -> QuoteInfo:
    """Parse a TPMS_ATTEST that contains a TPMS_QUOTE_INFO (TPM 2.0 Part 2, 10.12.12)."""
    reader = _Reader(data)
    magic, kind = reader.unpack(">IH")
    signer = reader.sized()
    extra = reader.sized()
    clock, resets, restarts, safe = reader.unpack(">QIIB")
    (firmware,) = reader.unpack(">Q")
    if kind != _ST_ATTEST_QUOTE:
        return QuoteInfo(
            magic, kind, signer, extra, clock, resets, restarts, bool(safe), 0, (), b""
        )

    (count,) = reader.unpack(">I")
    if count > 16:
        raise MalformedEvidence(f"the TPM quote selects {count} PCR banks, more than any TPM has")
    selections = []
    for _ in range(count):
        hash_alg, size = reader.unpack(">HB")
        bitmap = reader.take(size)
        # TPMS_PCR_SELECTION: bit i of octet j selects PCR 8*j + i.
        indices = tuple(
            8 * octet + bit for octet in range(size) for bit in range(8) if bitmap[octet] >> bit & 1
        )
        selections.append((hash_alg, indices))
    digest = reader.sized()
    if reader.position != len(data):
        raise MalformedEvidence("the TPM quote has trailing bytes after TPMS_QUOTE_INFO")
    return QuoteInfo(
        magic,
        kind,
        signer,
        extra,
        clock,
        resets,
        restarts,
        bool(safe),
        firmware,
        tuple(selections),
        digest,
    )


def _b64field(evidence: dict[str, Any], name: str) -> bytes:
    value = evidence.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise MalformedEvidence(f"TPM evidence field {name!r} is missing or not base64") from None


def verify_quote_evidence(
    evidence: dict[str, Any], policy: TpmPolicy, qualifying_data: bytes
) -> Verdict:
    """Verify a ``tpm-quote`` evidence object against a policy and the expected qualifying data."""
    quote = _b64field(evidence, "quote")
    signature = _b64field(evidence, "signature")
    ak_pem = evidence.get("ak_public")
    if not isinstance(ak_pem, str):
        raise MalformedEvidence("TPM evidence field 'ak_public' is missing")
    try:
        ak = serialization.load_pem_public_key(ak_pem.encode("ascii"))
    except ValueError as error:
        raise MalformedEvidence(
            f"the TPM attestation key is not a PEM public key: {error}"
        ) from None
    reported = evidence.get("pcrs")
    if not isinstance(reported, dict):
        raise MalformedEvidence("TPM evidence field 'pcrs' is missing or not an object")

    reasons: list[str] = []
    ak_digest = hashlib.sha256(
        ak.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()
    if ak_digest not in policy.ak_spki_sha256:
        reasons.append(f"the attestation key (SPKI SHA-256 {ak_digest}) is not allowed")
    if not isinstance(ak, ec.EllipticCurvePublicKey) or ak.curve.name != "secp256r1":
        reasons.append("the attestation key is not an ECDSA P-256 key")
        return Verdict("tpm-quote", tuple(reasons))
    if len(signature) != 64:
        reasons.append("the quote signature is not 64 bytes of r and s")
    else:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            ak.verify(encode_dss_signature(r, s), quote, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            reasons.append("the quote signature does not verify with the attestation key")

    info = parse_attest(quote)
    if info.magic != _TPM_GENERATED:
        reasons.append(f"the quote's magic is {info.magic:#x}, not TPM_GENERATED_VALUE")
    if info.type != _ST_ATTEST_QUOTE:
        reasons.append(f"the attestation structure has type {info.type:#x}, not a quote")
    if info.extra_data != qualifying_data:
        reasons.append("the quote's qualifying data does not match the nonce binding")

    expected = (_ALG_IDS[policy.pcr_bank], tuple(policy.pcrs))
    if info.selections != (expected,):
        reasons.append(
            f"the quote selects {_describe_selections(info.selections)}, but the policy needs "
            f"{policy.pcr_bank}:{','.join(str(index) for index in policy.pcrs)}"
        )
    else:
        values: list[bytes] = []
        for index in policy.pcrs:
            try:
                values.append(bytes.fromhex(str(reported.get(str(index), ""))))
            except ValueError:
                values.append(b"")
        # TPM 2.0 Part 3, TPM2_Quote: pcrDigest hashes the selected PCRs in order with the
        # signing scheme's hash (SHA-256 for this AK).
        if hashlib.sha256(b"".join(values)).digest() != info.pcr_digest:
            reasons.append("the reported PCR values do not match the quote's pcrDigest")
        for (index, wanted), value in zip(policy.pcrs.items(), values, strict=True):
            if value != wanted:
                reasons.append(
                    f"PCR {policy.pcr_bank}:{index} is {value.hex()}, the policy expects "
                    f"{wanted.hex()}"
                )

    facts = {
        "ak_spki_sha256": ak_digest,
        "reset_count": info.reset_count,
        "restart_count": info.restart_count,
        "pcrs": {str(key): value for key, value in reported.items()},
    }
    return Verdict("tpm-quote", tuple(reasons), facts)


def _tpm_module() -> Any:
    # The TPM connection code lives with the tpm2 sealer.  It is imported here, on use,
    # so that verifying quotes never needs tpm2-pytss.
    from ..seal import tpm2

    return tpm2


class TpmQuoteEvidence(EvidenceSource):
    """Quotes PCRs on a TPM (or swtpm) with a restricted P-256 AK in the endorsement hierarchy."""

    kind = "tpm-quote"

    def __init__(self, *, tcti: str | None = None, pcrs: str = "sha256:0,7") -> None:
        tpm2 = _tpm_module()
        self.tcti = tcti or os.environ.get(tpm2.TCTI_ENV) or tpm2.DEFAULT_TCTI
        self.selection = tpm2.PCRSelection.parse(pcrs)

    def _attestation_key(self, tpm: Any) -> tuple[Any, bytes]:
        tss = _tpm_module()._tpm2()
        attributes = (
            tss.TPMA_OBJECT.RESTRICTED
            | tss.TPMA_OBJECT.SIGN_ENCRYPT
            | tss.TPMA_OBJECT.FIXEDTPM
            | tss.TPMA_OBJECT.FIXEDPARENT
            | tss.TPMA_OBJECT.SENSITIVEDATAORIGIN
            | tss.TPMA_OBJECT.USERWITHAUTH
        )
        template = tss.TPM2B_PUBLIC.parse(
            "ecc256:ecdsa-sha256:null", objectAttributes=attributes, nameAlg="sha256"
        )
        handle, public, *_ = tpm.esapi.create_primary(
            tss.TPM2B_SENSITIVE_CREATE(), template, tss.ESYS_TR.ENDORSEMENT
        )
        tpm.track(handle)
        return handle, bytes(public.to_pem())

    def ak_public_pem(self) -> bytes:
        """Return the AK's public key in PEM, to pin in a policy's ``ak_spki_sha256``."""
        tpm2 = _tpm_module()
        tss = tpm2._tpm2()
        with tpm2.TPMConnection(self.tcti) as tpm:
            try:
                return self._attestation_key(tpm)[1]
            except tss.TSS2_Exception as error:
                raise SealError(f"creating the TPM attestation key failed: {error}") from None

    def current_pcrs(self) -> dict[int, bytes]:
        """Return the current values of the selected PCRs."""
        with _tpm_module().TPMConnection(self.tcti) as tpm:
            return tpm.read_pcrs(self.selection)

    def collect(self, binding: bytes) -> dict[str, Any]:
        tpm2 = _tpm_module()
        tss = tpm2._tpm2()
        with tpm2.TPMConnection(self.tcti) as tpm:
            try:
                handle, ak_pem = self._attestation_key(tpm)
                quoted, signature = tpm.esapi.quote(
                    handle,
                    str(self.selection),
                    tss.TPM2B_DATA(tpm_qualifying_data(binding)),
                    tss.TPMT_SIG_SCHEME(scheme=tss.TPM2_ALG.NULL),
                )
                values = tpm.read_pcrs(self.selection)
            except tss.TSS2_Exception as error:
                raise SealError(f"the TPM quote at {self.tcti!r} failed: {error}") from None
        ecdsa = signature.signature.ecdsa
        r_s = bytes(ecdsa.signatureR).rjust(32, b"\0") + bytes(ecdsa.signatureS).rjust(32, b"\0")
        return {
            "type": self.kind,
            "quote": base64.b64encode(bytes(quoted)).decode("ascii"),
            "signature": base64.b64encode(r_s).decode("ascii"),
            "ak_public": ak_pem.decode("ascii"),
            "pcr_bank": self.selection.bank,
            "pcrs": {str(index): value.hex() for index, value in values.items()},
        }
