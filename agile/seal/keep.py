"""The ``keep`` sealer: a key broker holds the KEK and releases it only to attested workloads.

Sealing uploads the KEK to the broker under an attestation policy, which
needs the broker's admin token.  The blob keeps only references: the broker
URL, the key id, the policy's SHA-256, the SHA-256 of the broker's TLS
certificate, and a keyed hash of the KEK that binds it to its keyset.
Unsealing requests a nonce from the broker, collects evidence that commits to it
and to a fresh HPKE key pair, and receives the KEK sealed to that key pair
(see :mod:`agile.attest.broker`).

Settings come from keyword options or from environment variables:

=====================  =========================  ===========================================
option                 variable                   meaning
=====================  =========================  ===========================================
``keep_broker``        ``AGILE_KEEP_BROKER``      broker URL, ``https://HOST:PORT``
``keep_broker_cert``   ``AGILE_KEEP_BROKER_CERT`` the broker's TLS certificate (pinned)
``keep_token``         ``AGILE_KEEP_TOKEN``       admin token, needed to seal only
``keep_policy``        ``AGILE_KEEP_POLICY``      attestation policy file, needed to seal only
``keep_evidence``      ``AGILE_KEEP_EVIDENCE``    ``sev-guest`` (default), ``simulator:DIR``
                                                  or ``tpm:BANK:PCRS`` (TPM from AGILE_TPM_TCTI)
``keep_kem``           ``AGILE_KEEP_KEM``         ephemeral KEM: ``x-wing`` (default), ``x25519``
=====================  =========================  ===========================================

``keep_evidence`` may also be an :class:`~agile.attest.evidence.EvidenceSource` object.

The blob stores the broker URL it was sealed at, and unsealing requests the
KEK from that URL.  ``AGILE_KEEP_BROKER`` chooses the broker for new seals
only: the variable is shared by every keyset, while each blob names its own
broker.  A ``keep_broker`` argument given to :meth:`KeepSealer.from_blob` or to
the constructor does replace the blob's URL, for a broker that moved.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..attest.broker import RELEASE_KEMS, BrokerClient
from ..attest.evidence import EvidenceSource, SevGuestEvidence, SimulatorEvidence
from ..attest.policy import load_policy
from ..attest.verdict import EvidenceRejected
from ..errors import AgileError, AttestationError, InvalidArgument, SealError
from .base import KEK_SIZE, SealedBlob, Sealer

__all__ = ["KeepSealer", "KeepReleaseRejected", "evidence_source"]

_FORMAT_VERSION = 1
_CHECK_LABEL = b"agile keep kek check v1\x00"
_ENV = {
    "keep_broker": "AGILE_KEEP_BROKER",
    "keep_broker_cert": "AGILE_KEEP_BROKER_CERT",
    "keep_token": "AGILE_KEEP_TOKEN",
    "keep_policy": "AGILE_KEEP_POLICY",
    "keep_evidence": "AGILE_KEEP_EVIDENCE",
    "keep_kem": "AGILE_KEEP_KEM",
}


class KeepReleaseRejected(SealError):
    """The broker did not release the KEK; ``reasons`` lists why (such as a wrong measurement)."""

    exit_code = 1

    def __init__(self, message: str, *, reasons: list[str], fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.reasons = reasons


def evidence_source(spec: str | EvidenceSource) -> EvidenceSource:
    """Build an evidence source from ``sev-guest``, ``simulator:DIR`` or ``tpm:BANK:PCRS``."""
    if isinstance(spec, EvidenceSource):
        return spec
    kind, _, argument = spec.partition(":")
    if kind == "sev-guest":
        return SevGuestEvidence()
    if kind == "simulator" and argument:
        from ..attest.simulator import SimulatedAmdSp

        return SimulatorEvidence(SimulatedAmdSp.load(argument), _launch_from_environment())
    if kind == "tpm" and argument:
        from ..attest.tpm_quote import TpmQuoteEvidence

        return TpmQuoteEvidence(pcrs=argument)
    raise InvalidArgument(
        f"unknown evidence source {spec!r}",
        fix="use sev-guest, simulator:DIR or tpm:BANK:PCRS (e.g. tpm:sha256:0,7)",
    )


def _launch_from_environment() -> Any:
    # The simulated guest's measurement, for demonstrations with the CLI.
    from ..attest.simulator import GuestLaunch

    measurement = os.environ.get("AGILE_KEEP_SIMULATED_MEASUREMENT")
    if not measurement:
        return GuestLaunch()
    try:
        value = bytes.fromhex(measurement)
    except ValueError:
        value = b""
    if len(value) != 48:
        raise InvalidArgument(
            f"AGILE_KEEP_SIMULATED_MEASUREMENT must be 96 hex digits, got {measurement!r}"
        )
    return GuestLaunch(measurement=value)


def _certificate_sha256(path: str | os.PathLike[str]) -> str:
    try:
        certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise SealError(
            f"cannot read the broker certificate {os.fspath(path)!r}: {error}",
            fix="pass the broker's tls/cert.pem with AGILE_KEEP_BROKER_CERT",
        ) from None
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _kek_check(secret: bytes, associated_data: bytes) -> bytes:
    return hmac.new(secret, _CHECK_LABEL + associated_data, hashlib.sha256).digest()


class KeepSealer(Sealer):
    """Seals the KEK into a key broker that releases it only against verified attestation."""

    name: ClassVar[str] = "keep"

    def __init__(
        self,
        *,
        keep_broker: str | None = None,
        keep_broker_cert: str | None = None,
        keep_token: str | None = None,
        keep_policy: str | None = None,
        keep_evidence: str | EvidenceSource | None = None,
        keep_kem: str | None = None,
        **_other_sealers_options: Any,
    ) -> None:
        given = {
            "keep_broker": keep_broker,
            "keep_broker_cert": keep_broker_cert,
            "keep_token": keep_token,
            "keep_policy": keep_policy,
            "keep_evidence": keep_evidence,
            "keep_kem": keep_kem,
        }
        # Only a URL given as an argument replaces the one stored in a blob to unseal.
        self._broker_argument = keep_broker
        self.settings: dict[str, Any] = {
            name: value if value is not None else os.environ.get(_ENV[name])
            for name, value in given.items()
        }
        kem = self.settings["keep_kem"] or "x-wing"
        if kem not in RELEASE_KEMS:
            raise InvalidArgument(
                f"unsupported keep KEM {kem!r}", fix=f"use one of {', '.join(RELEASE_KEMS)}"
            )
        self.kem = kem

    @classmethod
    def from_blob(cls, blob: SealedBlob, **options: Any) -> KeepSealer:
        """Build a sealer for ``blob`` at the blob's broker, or at the one ``keep_broker`` names."""
        options = dict(options)
        if not options.get("keep_broker") and isinstance(blob.get("broker"), str):
            options["keep_broker"] = blob["broker"]
        if not options.get("keep_kem") and isinstance(blob.get("kem"), str):
            # The blob's KEM is the one used to unseal, so AGILE_KEEP_KEM does not matter here.
            options["keep_kem"] = blob["kem"]
        return cls(**options)

    def _require(self, name: str, what: str, *, sealing: bool) -> Any:
        value = self.settings[name]
        if not value:
            # Only the commands that seal (agile keyset create, import, reseal) have the options.
            option = f", or pass --{name.replace('_', '-')} where the command has it"
            raise SealError(
                f"the keep sealer needs {what}",
                fix=f"set {_ENV[name]}{option if sealing else ''}",
            )
        return value

    def _client(self, url: str, *, admin: bool) -> BrokerClient:
        cert = self._require("keep_broker_cert", "the broker's TLS certificate", sealing=admin)
        token = (
            self._require("keep_token", "the broker's admin token", sealing=True) if admin else None
        )
        # The commands that open a keyset (decrypt, sign) have no certificate option.
        return BrokerClient(url, cert, token=token, cert_setting=_ENV["keep_broker_cert"])

    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        """Store ``secret`` at the broker under the configured attestation policy."""
        if len(secret) != KEK_SIZE:
            raise InvalidArgument(f"a KEK is {KEK_SIZE} bytes, got {len(secret)}")
        policy = load_policy(
            self._require("keep_policy", "an attestation policy file", sealing=True)
        )
        client = self._client(
            self._require("keep_broker", "the broker URL", sealing=True), admin=True
        )
        try:
            key_id = client.put_key(secret, policy)
        except AgileError as error:
            raise SealError(
                f"storing the KEK at {client.url} failed: {error}", fix=error.fix
            ) from None
        return {
            "sealer": self.name,
            "version": _FORMAT_VERSION,
            "broker": client.url,
            "key_id": key_id,
            "policy_sha256": policy.sha256,
            "broker_cert_sha256": _certificate_sha256(self.settings["keep_broker_cert"]),
            "kem": self.kem,
            "check": _kek_check(secret, associated_data).hex(),
        }

    def unseal(self, blob: SealedBlob, associated_data: bytes) -> bytes:
        """Request the KEK from the broker with this platform's evidence."""
        if blob.get("sealer") != self.name or blob.get("version") != _FORMAT_VERSION:
            raise SealError(
                f"blob is not a version {_FORMAT_VERSION} keep blob "
                f"(sealer {blob.get('sealer')!r}, version {blob.get('version')!r})"
            )
        fields = ("broker", "key_id", "policy_sha256", "broker_cert_sha256", "check")
        missing = [name for name in fields if not isinstance(blob.get(name), str)]
        if missing:
            raise SealError(
                f"keep blob is malformed: missing {', '.join(missing)}",
                fix="restore the keyset file from a backup",
            )
        try:
            expected = bytes.fromhex(blob["check"])
        except ValueError:
            raise SealError(
                f"keep blob is malformed: field 'check' is not hex: {blob['check']!r}",
                fix="restore the keyset file from a backup",
            ) from None

        url = self._broker_argument or blob["broker"]
        # Appended to errors about the broker when an argument replaced the blob's URL.
        override = ""
        if url != blob["broker"]:
            override = (
                f" (the blob names broker {blob['broker']}, and the keep_broker argument "
                "replaced it)"
            )
        client = self._client(url, admin=False)
        pinned = _certificate_sha256(self.settings["keep_broker_cert"])
        if pinned != blob["broker_cert_sha256"]:
            raise SealError(
                "the broker certificate differs from the one the KEK was sealed with",
                fix="pass the broker's original tls/cert.pem with AGILE_KEEP_BROKER_CERT",
            )
        source = evidence_source(self.settings["keep_evidence"] or "sev-guest")
        try:
            secret = client.release(
                blob["key_id"],
                source,
                kem=str(blob.get("kem") or self.kem),
                policy_sha256=blob["policy_sha256"],
            )
        except EvidenceRejected as error:
            raise KeepReleaseRejected(
                f"the broker at {client.url}{override} rejected the release of key "
                f"{blob['key_id']}: " + "; ".join(error.reasons),
                reasons=error.reasons,
                fix="run on a platform whose evidence meets the key's attestation policy",
            ) from None
        except AttestationError as error:
            raise SealError(
                f"unsealing key {blob['key_id']} from {client.url}{override} failed: {error}",
                fix=error.fix,
            ) from None
        if len(secret) != KEK_SIZE or not hmac.compare_digest(
            _kek_check(secret, associated_data), expected
        ):
            raise SealError(
                f"the key released by {client.url}{override} is not this keyset's KEK",
                fix="check that the blob belongs to this keyset and the broker to this blob",
            )
        return secret

    @classmethod
    def describe(cls, blob: SealedBlob) -> dict[str, Any]:
        return {
            "sealer": cls.name,
            "broker": blob.get("broker"),
            "key_id": blob.get("key_id"),
            "policy_sha256": blob.get("policy_sha256"),
        }
