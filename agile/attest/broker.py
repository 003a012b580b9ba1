"""A key broker that releases a stored key only to a workload whose attestation evidence verifies.

Protocol (JSON over HTTPS; the broker's self-signed certificate is pinned by clients):

``POST /v1/nonce``
    returns ``{"nonce": B64}``: 32 random bytes, valid for ``nonce_ttl`` seconds and once.
    A client (one peer IP address) may have ``max_nonces_per_client`` unused nonces.
    Over that it gets 429, and when all clients together have 10,000, 503.
``POST /v1/keys`` with ``Authorization: Bearer TOKEN``
    stores ``{"secret": B64, "policy": {...}}`` and returns ``{"key_id", "policy_sha256"}``.
``POST /v1/release``
    takes ``{"key_id", "nonce", "kem", "public_key": B64, "evidence": {...}}``.  The broker
    consumes the nonce, recomputes :func:`~agile.attest.evidence.binding_input`, verifies the
    evidence against the key's policy, and returns the key HPKE-sealed (RFC 9180 base mode,
    HKDF-SHA256, AES-256-GCM) to ``public_key``: ``{"enc", "ciphertext", "policy_sha256"}``.
    Evidence that fails returns 403 with every reason.

The broker serves at most ``max_connections`` connections at once, and at most
``max_connections_per_client`` from one peer IP address.  A connection over either cap
gets 503 with ``Retry-After`` (or is closed unanswered when many are waiting).

The HPKE ``info`` names the key id and the AAD is the binding, so a response
cannot be replayed for another request.  Only ``x-wing`` and ``x25519`` are
accepted as the ephemeral KEM.

Keys at rest are encrypted with AES-256-GCM under a 32-byte master key, with
the key id and policy hash as associated data.  The master key is stored
sealed with an agile sealer (``passphrase`` by default) and unsealed when the
broker starts.  :func:`reseal_master_key` seals it again, with new sealer
options or another sealer, and keeps the stored keys readable.

A stored key record that is malformed or fails authentication is a fault of
the broker, not of the request.  The broker logs it with the key id and file
and replies with 500, which the client raises as :class:`BrokerFailure`.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import hmac
import http.client
import http.server
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from .. import hpke
from ..errors import (
    AgileError,
    AttestationError,
    InvalidArgument,
    KeyNotFound,
    SealError,
    WrongPassphrase,
)
from ..fsio import atomic_write
from .certs import AMD_TRUST_ANCHORS, TrustAnchor
from .evidence import EvidenceSource, binding_input, verify_evidence
from .policy import AttestationPolicy, parse_policy
from .verdict import EvidenceRejected

__all__ = [
    "RELEASE_KEMS",
    "BrokerConfig",
    "KeyBroker",
    "BrokerServer",
    "BrokerBadRequest",
    "BrokerFailure",
    "BrokerReplyInvalid",
    "StoredKeyInvalid",
    "NonceLimitReached",
    "BrokerClient",
    "init_broker",
    "read_master_blob",
    "unseal_master_key",
    "reseal_master_key",
    "check_address",
]

log = logging.getLogger("agile.attest.broker")

#: Ephemeral KEMs a workload may request the key to be sealed to.
RELEASE_KEMS = ("x-wing", "x25519")
_KDF, _AEAD = "hkdf-sha256", "aes-256-gcm"
_INFO_LABEL = b"agile keep key v1\x00"
_STORE_LABEL = b"agile keep store v1\x00"
#: Associated data of the sealed master key.
_MASTER_LABEL = _STORE_LABEL + b"master"
_MASTER_NAME = "master.json"
_NONCE_SIZE = 32
_MAX_BODY = 1 << 20
_MAX_SECRET = 4096
#: Unused nonces that all clients together may hold.
_MAX_OPEN_NONCES = 10_000
#: Default cap on one client's unused nonces: a workload needs one per release.
_DEFAULT_NONCES_PER_CLIENT = 100
#: Default cap on open connections.  Each is served by its own thread.
_DEFAULT_MAX_CONNECTIONS = 128
#: Upper bound of ``max_connections`` in broker.toml.
_MAX_CONNECTIONS_LIMIT = 10_000
#: Default cap on one client's open connections.  Each release uses one connection at a time.
_DEFAULT_CONNECTIONS_PER_CLIENT = 16
#: Connections over the cap that get a 503 reply at the same time.  Further ones are closed
#: without a reply.
_MAX_BUSY_REPLIES = 8
#: Seconds a 503 reply to a connection over the cap may take, TLS handshake included.
_BUSY_DEADLINE = 5.0
#: Retry-After value in seconds sent to a client over the connection cap.
_BUSY_RETRY_AFTER = 1
#: Seconds between two log lines about the same kind of rejection.
_REJECTION_LOG_INTERVAL = 10.0
_CONFIG_NAME = "broker.toml"
_CONNECTION_TIMEOUT = 30.0
#: Seconds a connection may last in all, however slowly its client sends.
_CONNECTION_DEADLINE = 60.0
#: Bounds of a nonce's lifetime in seconds, so that every nonce expires within the hour.
_MIN_NONCE_TTL = 1
_MAX_NONCE_TTL = 3600
#: One label of a DNS host name (RFC 1123 section 2.1).
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, name: str) -> bytes:
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise InvalidArgument(f"field {name!r} is missing or not base64") from None


@dataclass(frozen=True)
class BrokerConfig:
    """Broker settings: listening address, state directory and trust, from ``broker.toml``."""

    directory: Path
    address: str = "127.0.0.1"
    port: int = 8443
    nonce_ttl: float = 120.0
    test_root: Path | None = None
    master_sealer: str = "passphrase"
    #: Connections served at once.  More get 503.
    max_connections: int = _DEFAULT_MAX_CONNECTIONS
    #: Unused nonces one client (one peer IP address) may have.  More get 429.
    max_nonces_per_client: int = _DEFAULT_NONCES_PER_CLIENT
    #: Connections one client (one peer IP address) may have open at once.  More get 503.
    max_connections_per_client: int = _DEFAULT_CONNECTIONS_PER_CLIENT

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BrokerConfig:
        file = Path(path)
        if file.is_dir():
            file = file / _CONFIG_NAME
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise InvalidArgument(
                f"broker config {str(file)!r} is not valid TOML: {error}"
            ) from None
        known = {
            "address",
            "port",
            "nonce_ttl",
            "test_root",
            "master_sealer",
            "max_connections",
            "max_connections_per_client",
            "max_nonces_per_client",
        }
        unknown = set(data) - known
        if unknown:
            raise InvalidArgument(
                f"unknown key(s) in broker config {str(file)!r}: {', '.join(sorted(unknown))}"
            )
        port = data.get("port", 8443)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgument(
                f"broker port must be 0 to 65535, got {port!r}",
                fix=f"correct 'port' in {str(file)!r}",
            )
        nonce_ttl = data.get("nonce_ttl", 120.0)
        # A NaN or infinite lifetime would keep every nonce open forever.
        if (
            isinstance(nonce_ttl, bool)
            or not isinstance(nonce_ttl, int | float)
            or not _MIN_NONCE_TTL <= nonce_ttl <= _MAX_NONCE_TTL
        ):
            raise InvalidArgument(
                f"broker nonce_ttl must be {_MIN_NONCE_TTL} to {_MAX_NONCE_TTL} seconds, "
                f"got {nonce_ttl!r}",
                fix=f"correct 'nonce_ttl' in {str(file)!r} (120 is the default)",
            )
        address = data.get("address", "127.0.0.1")
        if not isinstance(address, str):
            raise InvalidArgument(
                f"broker address must be a string, got {address!r}",
                fix=f'write address = "127.0.0.1" (or a host name) in {str(file)!r}',
            )
        check_address(address)
        test_root = data.get("test_root")
        max_connections = _config_count(
            data, "max_connections", _DEFAULT_MAX_CONNECTIONS, _MAX_CONNECTIONS_LIMIT, file
        )
        return cls(
            directory=file.parent,
            address=address,
            port=port,
            nonce_ttl=float(nonce_ttl),
            test_root=None if test_root is None else file.parent / str(test_root),
            master_sealer=str(data.get("master_sealer", "passphrase")),
            max_connections=max_connections,
            max_nonces_per_client=_config_count(
                data, "max_nonces_per_client", _DEFAULT_NONCES_PER_CLIENT, _MAX_OPEN_NONCES, file
            ),
            max_connections_per_client=_connections_per_client(data, max_connections, file),
        )

    @property
    def cert_path(self) -> Path:
        return self.directory / "tls" / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "tls" / "key.pem"

    @property
    def token_path(self) -> Path:
        return self.directory / "admin.token"

    @property
    def master_key_path(self) -> Path:
        """The sealed master key, mode 0600."""
        return self.directory / _MASTER_NAME

    def anchors(self) -> tuple[TrustAnchor, ...]:
        """Return AMD's pinned roots, or only the configured test root."""
        if self.test_root is None:
            return AMD_TRUST_ANCHORS
        from .simulator import load_test_anchor

        log.warning("broker trusts the TEST root %s instead of AMD's roots", self.test_root)
        return (load_test_anchor(self.test_root.read_bytes()),)


def _config_count(data: dict[str, Any], name: str, default: int, maximum: int, file: Path) -> int:
    """Return the integer ``data[name]`` (``default`` when absent) if it is 1 to ``maximum``."""
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidArgument(
            f"broker {name} must be an integer from 1 to {maximum}, got {value!r}",
            fix=f"correct {name!r} in {str(file)!r} ({default} is the default)",
        )
    return value


def _connections_per_client(data: dict[str, Any], max_connections: int, file: Path) -> int:
    """Return ``max_connections_per_client`` from ``data`` if it is 1 to ``max_connections``.

    When the key is absent, the default is lowered to ``max_connections`` if that is smaller.
    """
    name = "max_connections_per_client"
    if name not in data:
        return min(_DEFAULT_CONNECTIONS_PER_CLIENT, max_connections)
    value = _config_count(data, name, _DEFAULT_CONNECTIONS_PER_CLIENT, _MAX_CONNECTIONS_LIMIT, file)
    if value > max_connections:
        raise InvalidArgument(
            f"broker {name} is {value}, more than max_connections ({max_connections})",
            fix=f"lower {name!r} to at most {max_connections}, or raise 'max_connections', "
            f"in {str(file)!r}",
        )
    return value


def check_address(address: str) -> str:
    """Return ``address`` if it is an IP address or a DNS host name, else raise InvalidArgument."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        labels = address.rstrip(".").split(".")
        if not address or len(address) > 253 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
            raise InvalidArgument(
                f"broker address {address!r} is neither an IP address nor a host name",
                fix="give an address such as 127.0.0.1 or ::1, or a host name such as localhost",
            ) from None
    return address


def _tls_certificate(address: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    except ValueError:
        names.append(x509.DNSName(address))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"agile keep broker {address}")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def init_broker(
    directory: str | os.PathLike[str],
    *,
    address: str = "127.0.0.1",
    port: int = 8443,
    test_root: str | os.PathLike[str] | None = None,
    master_sealer: str = "passphrase",
    sealer_options: dict[str, Any] | None = None,
) -> BrokerConfig:
    """Create a broker directory: config, TLS key and certificate, admin token and master key."""
    from ..seal.base import sealer_class

    folder = Path(directory)
    check_address(address)
    if (folder / _CONFIG_NAME).exists():
        raise InvalidArgument(
            f"{str(folder)!r} already contains a broker", fix="choose an empty directory"
        )
    root_pem = None
    if test_root is not None:
        from .simulator import load_test_anchor

        # Checked before anything is written, so that 'serve' does not fail on it later.
        root_pem = Path(test_root).read_bytes()
        load_test_anchor(root_pem)
    # Sealed before anything is written, so that a wrong sealer name or an unreachable
    # device leaves no half-made broker (with a TLS key and an admin token) behind.
    sealer = sealer_class(master_sealer)(**(sealer_options or {}))
    blob = sealer.seal(os.urandom(32), _MASTER_LABEL)
    (folder / "tls").mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / "keys").mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)

    lines = [f"address = {json.dumps(address)}", f"port = {port}", "nonce_ttl = 120"]
    lines.append(f"max_connections = {_DEFAULT_MAX_CONNECTIONS}")
    lines.append(f"max_connections_per_client = {_DEFAULT_CONNECTIONS_PER_CLIENT}")
    lines.append(f"max_nonces_per_client = {_DEFAULT_NONCES_PER_CLIENT}")
    lines.append(f"master_sealer = {json.dumps(master_sealer)}")
    if root_pem is not None:
        atomic_write(folder / "test-root.pem", root_pem, mode=0o644)
        lines.append('test_root = "test-root.pem"')
    config = BrokerConfig(folder, address, port, 120.0, None, master_sealer)

    certificate, key = _tls_certificate(address)
    atomic_write(config.key_path, key)
    atomic_write(config.cert_path, certificate, mode=0o644)
    atomic_write(config.token_path, secrets.token_hex(32).encode("ascii") + b"\n")
    atomic_write(config.master_key_path, json.dumps(blob, indent=2).encode("utf-8"))
    atomic_write(folder / _CONFIG_NAME, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o644)
    log.info("created key broker in %s for %s:%d", folder, address, port)
    return BrokerConfig.load(folder)


#: Variable with the PIN or passphrase of a sealer, for the fix of a wrong one.
_SECRET_VARIABLES = {
    "passphrase": ("AGILE_PASSPHRASE", "passphrase"),
    "tpm2": ("AGILE_TPM_PIN", "TPM PIN"),
    "pkcs11": ("AGILE_PKCS11_PIN", "token PIN"),
}


def read_master_blob(config: BrokerConfig) -> dict[str, Any]:
    """Read the sealed master key of the broker in ``config``.

    Raises SealError when the file is missing or malformed.
    """
    path = config.master_key_path
    restore = "restore it from a backup of the broker directory"
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SealError(f"the broker's master key {str(path)!r} is missing", fix=restore) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SealError(
            f"the broker's master key {str(path)!r} is not valid JSON: {error}", fix=restore
        ) from None
    if not isinstance(blob, dict) or not isinstance(blob.get("sealer"), str):
        raise SealError(f"the broker's master key {str(path)!r} names no sealer", fix=restore)
    return blob


def unseal_master_key(
    config: BrokerConfig, blob: dict[str, Any] | None = None, **sealer_options: Any
) -> bytes:
    """Unseal the broker's master key (``blob``, else the one in its directory).

    A failure raises SealError (WrongPassphrase for a wrong PIN or passphrase)
    whose message names the master key and whose fix applies to a broker.
    """
    from ..seal.base import unseal

    if blob is None:
        blob = read_master_blob(config)
    try:
        return unseal(blob, _MASTER_LABEL, **sealer_options)
    except SealError as error:
        sealer = str(blob.get("sealer"))
        message = (
            f"the broker's master key {str(config.master_key_path)!r} cannot be unsealed "
            f"with its {sealer} sealer: {error}"
        )
        fix = _master_key_fix(error, sealer, config.directory)
        if isinstance(error, WrongPassphrase):
            raise WrongPassphrase(message, fix=fix) from None
        raise SealError(message, fix=fix) from None


def reseal_master_key(
    config: BrokerConfig,
    seal: Callable[[dict[str, Any], bytes, bytes], dict[str, Any]],
    **sealer_options: Any,
) -> dict[str, Any]:
    """Unseal the broker's master key, seal it again and store the new blob; return it.

    ``seal(blob, associated_data, secret)`` returns the new sealed form of
    ``secret``, with the sealer and options of the caller's choice.  The master
    key itself stays the same, so the stored keys stay readable and a running
    broker is not affected.  ``broker.toml`` then names the new sealer.
    """
    blob = read_master_blob(config)
    secret = unseal_master_key(config, blob, **sealer_options)
    new_blob = seal(blob, _MASTER_LABEL, secret)
    atomic_write(config.master_key_path, json.dumps(new_blob, indent=2).encode("utf-8"))
    _set_master_sealer(config, str(new_blob.get("sealer")))
    log.info(
        "resealed the master key of the broker in %s with %s (was %s)",
        config.directory,
        new_blob.get("sealer"),
        blob.get("sealer"),
    )
    return new_blob


def _set_master_sealer(config: BrokerConfig, sealer: str) -> None:
    """Write ``master_sealer = sealer`` into broker.toml, keeping its other lines."""
    path = config.directory / _CONFIG_NAME
    lines = path.read_text(encoding="utf-8").splitlines()
    setting = f"master_sealer = {json.dumps(sealer)}"
    found = [i for i, line in enumerate(lines) if re.match(r"\s*master_sealer\s*=", line)]
    if found and lines[found[0]] == setting:
        return
    if found:
        lines[found[0]] = setting
    else:
        lines.append(setting)
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o644)


def _master_key_fix(error: SealError, sealer: str, directory: Path) -> str | None:
    """Return the fix for a master key that failed to unseal with ``error``."""
    reseal = f"agile keep reseal {directory}"
    if isinstance(error, WrongPassphrase) and sealer in _SECRET_VARIABLES:
        variable, secret = _SECRET_VARIABLES[sealer]
        return f"set {variable} to the {secret} that the master key was sealed with"
    if sealer == "sss":
        # NOTE: the member errors quoted in the message keep their sealers' advice, which
        # speaks of keysets and 'agile keyset reseal'.
        return (
            "make a quorum of the master key's sss members work: reach their devices, give "
            "their PINs and passphrases, and restore the PCR values of a tpm2 member; then run "
            f"'{reseal}' to seal the failed members again"
        )
    if sealer == "tpm2" and hasattr(error, "changed"):
        # PCRChanged: the only way back is the boot state that the master key was sealed to.
        return (
            "boot the previous firmware or boot chain, so that the PCRs hold the values the "
            f"master key was sealed to, and run '{reseal} --pcr-values INDEX=HEX' with the "
            "values of the new state before you change it again; without those PCR values "
            "the keys stored at this broker cannot be recovered"
        )
    return error.fix


class NonceLimitReached(AttestationError):
    """The client, or all clients together, have as many unused nonces as the broker allows."""

    def __init__(
        self, message: str, *, fix: str | None = None, retry_after: float, per_client: bool
    ) -> None:
        super().__init__(message, fix=fix)
        #: Seconds until the first of the nonces that count against the cap expires.
        self.retry_after = retry_after
        #: True when the client's own cap was reached, False when the broker-wide one was.
        self.per_client = per_client


class StoredKeyInvalid(AttestationError):
    """A stored key record that is malformed or fails authentication, damaged or edited on disk."""

    def __init__(self, key_id: str, path: Path, reason: str) -> None:
        super().__init__(
            f"the broker's stored record of key {key_id!r} ({path}) failed authentication: "
            f"{reason}",
            fix=f"restore {path} from a backup of the broker's keys directory, and find out "
            "who changed it",
        )
        self.key_id = key_id
        self.path = path
        #: What failed, for the broker's log only.
        self.reason = reason

    def public_message(self) -> str:
        """Return the message for the client, without the file or the reason."""
        return (
            f"the broker's stored record of key {self.key_id!r} failed authentication, so the "
            "broker cannot release it; its operator must restore the record from a backup"
        )


class KeyBroker:
    """The broker's logic without the network: key storage, nonces and release decisions."""

    def __init__(
        self,
        config: BrokerConfig,
        *,
        sealer_options: dict[str, Any] | None = None,
        anchors: Iterable[TrustAnchor] | None = None,
    ) -> None:
        self.config = config
        self.anchors = tuple(anchors) if anchors is not None else config.anchors()
        self._master = AESGCM(unseal_master_key(config, **(sealer_options or {})))
        self._token = config.token_path.read_text(encoding="ascii").strip()
        # Each unused nonce's expiry (time.monotonic) and the client it was issued to.
        self._nonces: dict[bytes, tuple[float, str]] = {}
        self._nonces_per_client: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    # Keys.

    def _key_path(self, key_id: str) -> Path:
        if not key_id.startswith("k-") or not all(c in "0123456789abcdef" for c in key_id[2:]):
            raise KeyNotFound(f"invalid key id {key_id!r}", fix="use an id that put_key returned")
        return self.config.directory / "keys" / f"{key_id}.json"

    def check_token(self, token: str) -> bool:
        return hmac.compare_digest(token.encode("utf-8"), self._token.encode("utf-8"))

    def put_key(self, secret: bytes, policy: AttestationPolicy) -> str:
        """Store ``secret`` under ``policy`` and return its new key id."""
        if not 1 <= len(secret) <= _MAX_SECRET:
            raise InvalidArgument(f"a broker key is 1 to {_MAX_SECRET} bytes, got {len(secret)}")
        if not (policy.snp and policy.snp.measurements) and not (policy.tpm and policy.tpm.pcrs):
            raise InvalidArgument(
                "the attestation policy allows no evidence",
                fix="list [snp] measurements or [tpm] pcrs, so that only those workloads "
                "receive the key",
            )
        if policy.tpm and policy.tpm.pcrs and not policy.tpm.ak_spki_sha256:
            # verify_evidence rejects every quote without a pinned attestation key.
            raise InvalidArgument(
                "the attestation policy's [tpm] table pins no attestation key, so no TPM "
                "quote could ever release the key",
                fix="add ak_spki_sha256 with the SHA-256 of the workload TPM's AK "
                "(agile keep tpm-policy prints a [tpm] table with it)",
            )
        key_id = f"k-{secrets.token_hex(16)}"
        nonce = os.urandom(12)
        associated = _STORE_LABEL + key_id.encode() + bytes.fromhex(policy.sha256)
        record = {
            "key_id": key_id,
            "policy": policy.to_dict(),
            "policy_sha256": policy.sha256,
            "nonce": _b64(nonce),
            "ciphertext": _b64(self._master.encrypt(nonce, secret, associated)),
        }
        atomic_write(self._key_path(key_id), json.dumps(record, indent=2).encode("utf-8"))
        log.info("stored key %s with policy %s", key_id, policy.sha256)
        return key_id

    def _load_key(self, key_id: str) -> tuple[bytes, AttestationPolicy]:
        path = self._key_path(key_id)
        if not path.is_file():
            raise KeyNotFound(f"the broker has no key {key_id!r}")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            policy = parse_policy(record["policy"])
            associated = _STORE_LABEL + key_id.encode() + bytes.fromhex(policy.sha256)
            secret = self._master.decrypt(
                _unb64(record["nonce"], "nonce"),
                _unb64(record["ciphertext"], "ciphertext"),
                associated,
            )
        except InvalidTag:
            # The policy is authenticated too: it is part of the associated data.
            raise StoredKeyInvalid(key_id, path, "AES-256-GCM authentication failed") from None
        except (AgileError, ValueError, KeyError, TypeError) as error:
            # ValueError covers invalid JSON and UTF-8, and KeyError and TypeError missing fields.
            raise StoredKeyInvalid(key_id, path, f"malformed record: {error!r}") from None
        return secret, policy

    # Nonces.

    def issue_nonce(self, client: str = "local") -> bytes:
        """Return a new nonce for ``client``, the peer's IP address (in-process callers share one).

        Raise :class:`NonceLimitReached` when the client has ``max_nonces_per_client``
        unused nonces, or all clients together have 10,000.  The per-client cap keeps one
        client from taking every nonce and locking the other clients out.
        """
        now = time.monotonic()
        nonce = os.urandom(_NONCE_SIZE)
        with self._lock:
            for old in [n for n, (expiry, _) in self._nonces.items() if expiry < now]:
                self._forget_nonce(old)

            unused = self._nonces_per_client[client]
            if unused >= self.config.max_nonces_per_client:
                first = min(expiry for expiry, owner in self._nonces.values() if owner == client)
                raise NonceLimitReached(
                    f"client {client} has {unused} unused nonces, the maximum per client",
                    fix="use its nonces for releases or let them expire, then retry",
                    retry_after=first - now,
                    per_client=True,
                )
            if len(self._nonces) >= _MAX_OPEN_NONCES:
                first = min(expiry for expiry, _ in self._nonces.values())
                raise NonceLimitReached(
                    f"all clients together have {len(self._nonces)} unused nonces, "
                    "the broker's maximum",
                    fix="retry later",
                    retry_after=first - now,
                    per_client=False,
                )

            self._nonces[nonce] = (now + self.config.nonce_ttl, client)
            self._nonces_per_client[client] += 1
        return nonce

    def _forget_nonce(self, nonce: bytes) -> float | None:
        """Remove ``nonce`` and return its expiry, or None if it is unknown (hold the lock)."""
        entry = self._nonces.pop(nonce, None)
        if entry is None:
            return None
        expiry, client = entry
        self._nonces_per_client[client] -= 1
        if not self._nonces_per_client[client]:
            # Dropped, so that the counter does not grow with every client ever seen.
            del self._nonces_per_client[client]
        return expiry

    def _consume_nonce(self, nonce: bytes) -> None:
        with self._lock:
            expiry = self._forget_nonce(nonce)
        if expiry is None:
            raise EvidenceRejected(
                "release rejected", reasons=["the nonce was not issued by this broker or was used"]
            )
        if expiry < time.monotonic():
            raise EvidenceRejected("release rejected", reasons=["the nonce expired"])

    # Release.

    def release(self, request: dict[str, Any]) -> dict[str, Any]:
        """Verify a release request and return the key HPKE-sealed to its ephemeral public key."""
        key_id = request.get("key_id")
        kem = request.get("kem")
        if not isinstance(key_id, str):
            raise InvalidArgument("field 'key_id' is missing")
        if kem not in RELEASE_KEMS:
            raise InvalidArgument(
                f"unsupported release KEM {kem!r}", fix=f"use one of {', '.join(RELEASE_KEMS)}"
            )
        nonce = _unb64(request.get("nonce"), "nonce")
        public_bytes = _unb64(request.get("public_key"), "public_key")
        self._consume_nonce(nonce)
        secret, policy = self._load_key(key_id)

        binding = binding_input(nonce, key_id, kem, public_bytes)
        verdict = verify_evidence(request.get("evidence"), policy, binding, anchors=self.anchors)
        if not verdict.valid:
            log.warning(
                "rejected release of key %s to %s evidence: %s",
                key_id,
                verdict.kind,
                "; ".join(verdict.reasons),
            )
            verdict.raise_for_reasons()

        suite = hpke.Suite.from_ids(kem, _KDF, _AEAD)
        public_key = suite.kem_impl.load_public(public_bytes)
        enc, ciphertext = hpke.seal(
            suite, public_key, secret, _INFO_LABEL + key_id.encode(), binding
        )
        log.info("released key %s to %s evidence", key_id, verdict.kind)
        return {"enc": _b64(enc), "ciphertext": _b64(ciphertext), "policy_sha256": policy.sha256}


class _RejectionLog:
    """Log rejections at most once per interval and kind, with the count of those left out.

    A client that floods the broker must not flood its log as well.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._skipped: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next.get(kind, 0.0):
                self._skipped[kind] += 1
                return
            self._next[kind] = now + self.interval
            skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += " (and %d more in the last %g s, not logged)"
            args = (*args, skipped, self.interval)
        log.warning(message, *args)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: BrokerServer
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes.  Without TCP_NODELAY, Nagle's
    # algorithm delays the body until the client's delayed ACK (about 40 ms on Linux).
    disable_nagle_algorithm = True
    #: Seconds a connection may stay silent, in the TLS handshake or between requests.
    timeout = _CONNECTION_TIMEOUT

    def setup(self) -> None:
        # The socket timeout bounds each read, not the connection: a client that sends
        # one byte every few seconds would hold its thread and socket forever.  The
        # timer ends the connection at a fixed deadline however the client paces itself.
        self._deadline = threading.Timer(self._deadline_seconds(), self._expire)
        self._deadline.daemon = True
        self._deadline.start()
        super().setup()
        try:
            # The TLS handshake runs here, in the connection's own thread, so a slow or
            # silent client cannot stall the accept loop.
            self.request.do_handshake()
        except BaseException:
            self._deadline.cancel()  # finish() does not run when setup() fails
            raise

    def _deadline_seconds(self) -> float:
        return self.server.connection_deadline

    def _expire(self) -> None:
        self.server.rejections.warning(
            "deadline", "closing the connection from %s at its deadline", self.client_address[0]
        )
        with contextlib.suppress(OSError):
            # socket.socket's shutdown, not SSLSocket's, which would unwrap TLS under the
            # reading thread; this one only wakes that thread's blocked read.
            socket.socket.shutdown(self.request, socket.SHUT_RDWR)

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug("%s %s", self.client_address[0], format % args)

    def _reply(
        self, status: int, body: dict[str, Any], *, retry_after: float | None = None
    ) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            # Whole seconds (RFC 9110 section 10.2.3), rounded up and at least 1.
            self.send_header("Retry-After", str(max(1, math.ceil(retry_after))))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        broker = self.server.broker
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 <= length <= _MAX_BODY:
                raise InvalidArgument(
                    f"request body length {length} is not between 0 and {_MAX_BODY} bytes"
                )
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                raise InvalidArgument("the request body is not JSON") from None
            except RecursionError:
                raise InvalidArgument("the request body's JSON is nested too deeply") from None
            if not isinstance(body, dict):
                raise InvalidArgument("the request body must be a JSON object")

            if self.path == "/v1/nonce":
                self._reply(200, {"nonce": _b64(broker.issue_nonce(self.client_address[0]))})
            elif self.path == "/v1/keys":
                header = self.headers.get("Authorization", "")
                if not header.startswith("Bearer ") or not broker.check_token(header[7:]):
                    log.warning("rejected key upload from %s: bad token", self.client_address[0])
                    self._reply(401, {"error": "missing or wrong admin token"})
                    return
                secret = _unb64(body.get("secret"), "secret")
                policy = parse_policy(body.get("policy") or {})
                key_id = broker.put_key(secret, policy)
                self._reply(200, {"key_id": key_id, "policy_sha256": policy.sha256})
            elif self.path == "/v1/release":
                self._reply(200, broker.release(body))
            else:
                self._reply(404, {"error": f"no such endpoint {self.path!r}"})
        except EvidenceRejected as error:
            self._reply(403, {"error": "evidence rejected", "reasons": error.reasons})
        except NonceLimitReached as error:
            kind = "client nonces" if error.per_client else "all nonces"
            self.server.rejections.warning(kind, "rejected a nonce request: %s", error)
            status = 429 if error.per_client else 503
            self._reply(status, {"error": str(error)}, retry_after=error.retry_after)
        except KeyNotFound as error:
            self._reply(404, {"error": str(error)})
        except StoredKeyInvalid as error:
            log.error(
                "stored record of key %s in %s failed authentication (%s); request from %s "
                "answered with 500",
                error.key_id,
                error.path,
                error.reason,
                self.client_address[0],
            )
            self._reply(500, {"error": error.public_message(), "key_id": error.key_id})
        except AgileError as error:
            log.warning("bad request from %s: %s", self.client_address[0], error)
            self._reply(400, {"error": str(error)})
        except (ValueError, KeyError, TypeError) as error:
            log.warning("bad request from %s: %s", self.client_address[0], error)
            self._reply(400, {"error": f"malformed request: {error}"})
        except (ConnectionError, TimeoutError, ssl.SSLError) as error:
            # The client disconnected, stalled or reached its deadline, so no reply can be read.
            log.warning("connection from %s ended early: %s", self.client_address[0], error)
            self.close_connection = True
        except Exception:  # noqa: BLE001 - one broken request must not stop the broker
            log.exception("internal error on %s from %s", self.path, self.client_address[0])
            self._reply(500, {"error": "internal error; see the broker log"})


class _BusyHandler(_Handler):
    """Reply 503 with Retry-After to a connection over a cap, then close it."""

    timeout = _BUSY_DEADLINE

    def __init__(self, request: Any, client_address: Any, server: BrokerServer, error: str) -> None:
        #: The reply's error message, which names the cap that was reached.
        self.error = error
        super().__init__(request, client_address, server)  # handles the connection, then returns

    def _deadline_seconds(self) -> float:
        return _BUSY_DEADLINE

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.close_connection = True
        # The body is read before the reply: closing a socket with unread data sends a
        # TCP reset, which can discard the reply before the client reads it.
        with contextlib.suppress(ValueError):
            length = int(self.headers.get("Content-Length", "0"))
            if 0 < length <= _MAX_BODY:
                self.rfile.read(length)
        self._reply(503, {"error": self.error}, retry_after=_BUSY_RETRY_AFTER)


class BrokerBadRequest(AttestationError, InvalidArgument):
    """The broker rejected a request as invalid (HTTP 400): bad input, so exit code 2."""

    exit_code = 2


class BrokerFailure(AttestationError):
    """The broker failed on its side (HTTP 500), for example on a damaged key record.

    Exit code 2: nothing was checked and found wrong in the request, and the
    broker's operator must act before a retry can succeed.
    """

    exit_code = 2


class BrokerServer(http.server.ThreadingHTTPServer):
    """The broker's HTTPS server; port 0 picks a free port (see :attr:`url`)."""

    daemon_threads = True
    #: Seconds a connection may last in all, however slowly its client sends.
    connection_deadline = _CONNECTION_DEADLINE

    def __init__(self, broker: KeyBroker) -> None:
        self.broker = broker
        config = broker.config
        #: Connections served at once; over it, a connection gets 503 or is closed.
        self.max_connections = config.max_connections
        #: Connections served at once from one peer IP address.  Over it, the same happens.
        self.max_connections_per_client = config.max_connections_per_client
        self.rejections = _RejectionLog(_REJECTION_LOG_INTERVAL)
        self._open_connections = 0
        #: Connections being served, per peer IP address.  An address is removed at zero.
        self._connections_per_client: collections.Counter[str] = collections.Counter()
        self._busy_replies = 0
        self._count_lock = threading.Lock()
        if ":" in config.address:
            # An IPv6 literal such as ::1; socketserver binds IPv4 sockets by default.
            self.address_family = socket.AF_INET6
        try:
            super().__init__((config.address, config.port), _Handler)
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise AttestationError(
                f"the broker failed to listen on {config.address}:{config.port}: {reason}",
                fix="stop the process that uses this port (see 'ss -ltnp'), or set another "
                "port in broker.toml",
            ) from None
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(config.cert_path, config.key_path)

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        wrapped = self.context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    @property
    def open_connections(self) -> int:
        """Number of connections being served, not counting those rejected with 503."""
        with self._count_lock:
            return self._open_connections

    def process_request(self, request: Any, client_address: Any) -> None:
        client = client_address[0]
        with self._count_lock:
            rejection = self._admit(client)
            busy = rejection is not None and self._busy_replies < _MAX_BUSY_REPLIES
            if busy:
                self._busy_replies += 1
        if rejection is None:
            try:
                super().process_request(request, client_address)
            except BaseException:
                self._end_connection(client)  # the thread that would end it did not start
                raise
            return

        kind, error = rejection
        self.rejections.warning(kind, "rejected a connection from %s: %s", client, error)
        if not busy:
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._reply_busy, args=(request, client_address, error), daemon=True
        )
        try:
            thread.start()
        except BaseException:
            with self._count_lock:
                self._busy_replies -= 1
            raise

    def _admit(self, client: str) -> tuple[str, str] | None:
        """Count a connection from ``client`` and return None, or return the cap it is over.

        The cap is returned as its kind for :attr:`rejections` and the error for the client.
        The caller must own ``_count_lock``.
        """
        # NOTE: a client is one peer IP address, so clients behind one NAT share a cap, and
        # a client with many addresses (an IPv6 /64, for one) is held only by max_connections.
        if self._open_connections >= self.max_connections:
            return (
                "connections",
                f"the broker is serving {self.max_connections} connections, its maximum",
            )
        open_from_client = self._connections_per_client[client]
        if open_from_client >= self.max_connections_per_client:
            return (
                "client connections",
                f"client {client} has {open_from_client} connections open, the maximum per client",
            )
        self._open_connections += 1
        self._connections_per_client[client] += 1
        return None

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._end_connection(client_address[0])

    def _end_connection(self, client: str) -> None:
        with self._count_lock:
            self._open_connections -= 1
            self._connections_per_client[client] -= 1
            if not self._connections_per_client[client]:
                # Dropped, so that the counter does not grow with every client ever seen.
                del self._connections_per_client[client]

    def _reply_busy(self, request: Any, client_address: Any, message: str) -> None:
        try:
            _BusyHandler(request, client_address, self, message)
        except Exception as error:  # noqa: BLE001 - the reply is a courtesy; log and close
            log.debug("503 reply to %s failed: %s", client_address[0], error)
        finally:
            self.shutdown_request(request)
            with self._count_lock:
                self._busy_replies -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed handshakes and dropped connections end here; log them instead of
        # printing a traceback to stderr.
        error = sys.exc_info()[1]
        log.warning("connection from %s failed: %s", client_address[0], error)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode("ascii")
        if ":" in host:
            host = f"[{host}]"  # RFC 3986 brackets an IPv6 literal in a URL
        return f"https://{host}:{port}"


class BrokerReplyInvalid(AttestationError):
    """The broker's reply is not what the protocol allows: too large, not JSON, wrong fields."""

    exit_code = 2


#: Largest reply body a client reads.  Broker replies are JSON objects of a few hundred bytes.
_MAX_REPLY = 1 << 20
#: Deepest nesting of JSON arrays and objects a client parses.  Broker replies nest 2 deep.
_MAX_REPLY_DEPTH = 16
#: Characters of one broker text (an error or a rejection reason) that a client shows.
_MAX_REPLY_TEXT = 500
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(rb"[^\[\]{}]")


def _printable(text: str) -> str:
    """Return text from a broker with line breaks and other control characters escaped.

    The text is shown in error messages, where a line break would forge another line.
    """
    if len(text) > _MAX_REPLY_TEXT:
        text = text[:_MAX_REPLY_TEXT] + "..."
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _nesting_depth(raw: bytes) -> int:
    """Return how deep the arrays and objects of the JSON text ``raw`` nest."""
    brackets = _JSON_BRACKETS.sub(b"", _JSON_STRING.sub(b"", raw))
    depth = deepest = 0
    for bracket in brackets:
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


class BrokerClient:
    """Client of a key broker over TLS that trusts only the broker certificate in ``cafile``.

    ``cert_setting`` names where the caller took ``cafile`` from (an option or a
    variable), for the advice in errors.
    """

    def __init__(
        self,
        url: str,
        cafile: str | os.PathLike[str],
        *,
        token: str | None = None,
        timeout: float = 30,
        cert_setting: str = "--broker-cert",
    ) -> None:
        if not url.startswith("https://"):
            raise InvalidArgument(f"broker URL {url!r} must start with https://")
        host, _, port = url.removeprefix("https://").rstrip("/").rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # an IPv6 literal, https://[::1]:8443
        elif ":" in host:
            host = ""
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InvalidArgument(
                f"broker URL {url!r} must be https://HOST:PORT with a port from 1 to 65535 "
                "(an IPv6 address in brackets: https://[::1]:8443)"
            )
        self.url, self.host, self.port = url, host, int(port)
        try:
            self.context = ssl.create_default_context(cafile=os.fspath(cafile))
        except (OSError, ssl.SSLError) as error:
            # A missing file raises FileNotFoundError without the file name.
            raise InvalidArgument(
                f"the broker certificate {os.fspath(cafile)!r} cannot be loaded: "
                f"{error.strerror or error}",
                fix="pass the broker's tls/cert.pem (from 'agile keep init') with --broker-cert "
                "or AGILE_KEEP_BROKER_CERT",
            ) from None
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.token = token
        self.timeout = timeout
        self.cert_setting = cert_setting

    def _invalid_reply(self, problem: str) -> BrokerReplyInvalid:
        return BrokerReplyInvalid(
            f"the key broker at {self.url} sent an invalid reply: {problem}",
            fix=f"check that {self.url} runs 'agile keep serve' of a compatible agile version "
            "and not another service; its operator can check the broker's log",
        )

    def _read_reply(self, response: http.client.HTTPResponse) -> dict[str, Any]:
        """Read and parse a reply body, raising BrokerReplyInvalid when it is no JSON object."""
        status = f"HTTP {response.status}"
        length = response.getheader("Content-Length", "")
        if length.strip().isdigit() and int(length) > _MAX_REPLY:
            raise self._invalid_reply(
                f"{status} with Content-Length {int(length)}, more than the {_MAX_REPLY} bytes "
                "a reply may have"
            )
        raw = response.read(_MAX_REPLY + 1)
        if len(raw) > _MAX_REPLY:
            raise self._invalid_reply(f"{status} with a body of more than {_MAX_REPLY} bytes")
        if not raw.strip():
            return {}
        depth = _nesting_depth(raw)
        if depth > _MAX_REPLY_DEPTH:
            raise self._invalid_reply(
                f"{status} with JSON nested {depth} levels deep, more than {_MAX_REPLY_DEPTH}"
            )
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as error:
            # ValueError: invalid JSON or UTF-8, or an integer of more than 4,300 digits.
            raise self._invalid_reply(f"{status} with a body that is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise self._invalid_reply(f"{status} with JSON that is not an object")
        return data

    def _text(self, data: dict[str, Any], name: str) -> str:
        """Return the string field ``name`` of a reply, escaped for printing ("" when absent)."""
        value = data.get(name, "")
        if not isinstance(value, str):
            raise self._invalid_reply(f"field {name!r} is {type(value).__name__}, not a string")
        return _printable(value)

    def _reasons(self, data: dict[str, Any]) -> list[str]:
        reasons = data.get("reasons", [])
        if not isinstance(reasons, list) or not all(isinstance(item, str) for item in reasons):
            raise self._invalid_reply("field 'reasons' is not a list of strings")
        return [_printable(reason) for reason in reasons]

    def _bytes(self, data: dict[str, Any], name: str) -> bytes:
        try:
            return _unb64(data.get(name), name)
        except InvalidArgument as error:
            raise self._invalid_reply(str(error)) from None

    def _post(self, path: str, body: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if admin:
            if not self.token:
                raise InvalidArgument(
                    "storing a key at the broker needs its admin token",
                    fix="pass --token-file with the broker's admin.token, or set AGILE_KEEP_TOKEN",
                )
            headers["Authorization"] = f"Bearer {self.token}"
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=self.timeout
        )
        try:
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            data = self._read_reply(response)
        except (OSError, http.client.HTTPException) as error:
            raise AttestationError(
                f"the key broker at {self.url} failed: {error}",
                fix=f"check that 'agile keep serve' runs there and that {self.cert_setting} "
                "names its certificate",
            ) from None
        finally:
            connection.close()
        if response.status == 403:
            raise EvidenceRejected(
                f"the key broker at {self.url} rejected the release", reasons=self._reasons(data)
            )
        message = self._text(data, "error")
        if response.status == 404:
            raise KeyNotFound(message, fix="check the key id and the broker URL")
        if response.status == 400:
            raise BrokerBadRequest(
                f"the key broker rejected the request: {message}",
                fix="correct the value named in the message and retry",
            )
        if response.status == 500:
            raise BrokerFailure(
                f"the key broker at {self.url} failed on its side (HTTP 500): {message}",
                fix="the request was not at fault: ask the broker's operator to check the "
                "broker's log and to restore any key record it names from a backup",
            )
        if response.status in (429, 503):
            wait = response.getheader("Retry-After", "")
            raise AttestationError(
                f"the key broker at {self.url} is busy ({response.status}): {message}",
                fix=f"retry in {wait if wait.isdigit() else 'a few'} seconds",
            )
        if response.status != 200:
            raise AttestationError(
                f"the key broker at {self.url} returned {response.status}: {message}"
            )
        return data

    def put_key(self, secret: bytes, policy: AttestationPolicy) -> str:
        # Checked here too, so that an oversized file is not sent before the broker rejects it.
        if not 1 <= len(secret) <= _MAX_SECRET:
            raise InvalidArgument(
                f"a broker key is 1 to {_MAX_SECRET} bytes, got {len(secret)}",
                fix="store a key (for example 32 random bytes), not a whole file",
            )
        data = self._post(
            "/v1/keys", {"secret": _b64(secret), "policy": policy.to_dict()}, admin=True
        )
        if data.get("policy_sha256") != policy.sha256:
            raise AttestationError("the broker stored the key under another policy hash")
        key_id = data.get("key_id")
        if not isinstance(key_id, str) or not key_id or not key_id.isprintable():
            raise self._invalid_reply("field 'key_id' is missing or not a printable string")
        return key_id

    def nonce(self) -> bytes:
        nonce = self._bytes(self._post("/v1/nonce", {}), "nonce")
        if len(nonce) != _NONCE_SIZE:
            raise self._invalid_reply(f"the nonce is {len(nonce)} bytes, not {_NONCE_SIZE}")
        return nonce

    def release(
        self,
        key_id: str,
        source: EvidenceSource,
        *,
        kem: str = "x-wing",
        policy_sha256: str | None = None,
    ) -> bytes:
        """Request key ``key_id`` with evidence from ``source`` and return the plaintext key."""
        if kem not in RELEASE_KEMS:
            raise InvalidArgument(f"unsupported release KEM {kem!r}")
        suite = hpke.Suite.from_ids(kem, _KDF, _AEAD)
        # A fresh key pair per request: the key is released to this process only.
        private_key = suite.kem_impl.generate()
        public_bytes = private_key.public_key.data

        nonce = self.nonce()
        binding = binding_input(nonce, key_id, kem, public_bytes)
        request = {
            "key_id": key_id,
            "nonce": _b64(nonce),
            "kem": kem,
            "public_key": _b64(public_bytes),
            "evidence": source.collect(binding),
        }
        data = self._post("/v1/release", request)
        released_policy = self._text(data, "policy_sha256")
        if policy_sha256 is not None and released_policy != policy_sha256:
            raise AttestationError(
                f"the broker released key {key_id!r} under policy {released_policy}, "
                f"not the expected {policy_sha256}",
                fix="the key's policy changed at the broker; reseal the key",
            )
        return hpke.open(
            suite,
            self._bytes(data, "enc"),
            private_key,
            self._bytes(data, "ciphertext"),
            _INFO_LABEL + key_id.encode(),
            binding,
        )
