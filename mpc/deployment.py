"""``agile mpc init``: a small certificate authority, party certificates, X-Wing keys, configs.

Every party gets a P-256 TLS certificate signed by a fresh CA (ECDSA with
SHA-256), valid for its listening address and for both TLS client and server
use, plus an X-Wing key pair to which share messages are sealed.  The CA's
private key is used only here and never written, so no further party
certificate can be issued for this deployment.  Run init again to change the
set of parties.  Private keys are written unencrypted with mode 0600, because a
party runs unattended.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agile import registry
from agile.errors import InvalidArgument
from agile.fsio import atomic_write
from agile.registry import KEM

from .config import DEALER_ID, SESSION_SIZE, PartyConfig, PartyInfo, dump_config, is_listen_address

__all__ = [
    "XWING",
    "MIN_BASE_PORT",
    "check_base_port",
    "create_deployment",
    "certificate_fingerprint",
]

XWING = "x-wing"
_PUBLIC_MODE = 0o644


def certificate_fingerprint(der: bytes) -> str:
    """Return the lowercase hex SHA-256 of a DER certificate."""
    return hashlib.sha256(der).hexdigest()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _subject_alternative_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _certificate(
    subject: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    host: str | None,
    days: int,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        if host:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_subject_alternative_name(host)]), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA256())


def create_deployment(
    directory: str | Path,
    count: int,
    threshold: int,
    *,
    host: str = "127.0.0.1",
    ports: Sequence[int] | None = None,
    base_port: int = 47100,
    days: int = 30,
    dealer: bool = False,
) -> list[Path]:
    """Create keys, certificates and one config file per party; return the config paths.

    Party i listens on ``host`` and ``ports[i-1]`` (default ``base_port + i``).
    With ``dealer``, a Beaver-triple dealer also gets a certificate and
    ``dealer.json``, and every party config names the dealer's fingerprint.
    Raises :class:`InvalidArgument` if ``directory`` already has content.
    """
    if not isinstance(directory, str | os.PathLike) or not str(directory):
        raise InvalidArgument(
            f"directory {directory!r} is not a path",
            fix="give the path of a new or empty directory",
        )
    directory = Path(directory)
    for name, value in (("party count", count), ("threshold", threshold), ("days", days)):
        if not _is_int(value):
            raise InvalidArgument(
                f"{name} {value!r} is not an integer", fix=f"give the {name} as an int"
            )
    if not 2 <= count <= 255:
        raise InvalidArgument(
            f"party count {count} is outside 2..255", fix="choose 2 to 255 parties"
        )
    if not 2 <= threshold <= count:
        raise InvalidArgument(
            f"threshold {threshold} is outside 2..{count}",
            fix="choose a threshold of at least 2 and at most the number of parties",
        )
    if not is_listen_address(host):
        # load_config accepts only these hosts, and a party binds to exactly this address.
        raise InvalidArgument(
            f"host {host!r} is not an IP address or 'localhost'",
            fix="give the address the parties listen on, such as 127.0.0.1",
        )
    if ports is None:
        check_base_port(base_port, count)
    if days < 1:
        raise InvalidArgument(
            f"certificate lifetime of {days} days is below 1", fix="give days of 1 or more"
        )
    ports = list(ports) if ports is not None else [base_port + i for i in range(1, count + 1)]
    if len(ports) != count:
        raise InvalidArgument(f"{len(ports)} ports given for {count} parties")
    for party_id, port in enumerate(ports, start=1):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidArgument(
                f"party {party_id} would listen on port {port!r}, outside 1..65535",
                fix="give every party a port from 1 to 65535",
            )
    if directory.exists() and not directory.is_dir():
        raise InvalidArgument(
            f"{str(directory)!r} exists and is not a directory",
            fix="give the path of a new or empty directory",
        )
    if directory.exists() and any(directory.iterdir()):
        raise InvalidArgument(
            f"directory {str(directory)!r} is not empty",
            fix="give a new or empty directory; init never overwrites keys",
        )
    parent = directory.absolute().parent
    if not parent.is_dir():
        # A mistyped path must not leave a CA, configs and private keys in a new tree.
        raise InvalidArgument(
            f"the folder {str(parent)!r} of directory {str(directory)!r} does not exist",
            fix=f"create {str(parent)!r} first, or correct the path",
        )
    directory.mkdir(exist_ok=True, mode=0o700)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = f"agile mpc CA {os.urandom(4).hex()}"
    ca_cert = _certificate(
        ca_name, ca_key.public_key(), ca_name, ca_key, ca=True, host=None, days=days
    )
    ca_path = directory / "ca.pem"
    atomic_write(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), mode=_PUBLIC_MODE)

    kem = registry.kem(XWING)
    session = os.urandom(SESSION_SIZE)
    issuer = _Issuer(ca_name, ca_key, kem, host, days)
    parties = []
    members = []
    for party_id, port in enumerate(ports, start=1):
        member = issuer.issue(directory / f"party-{party_id}", f"agile mpc party {party_id}")
        members.append((party_id, member))
        parties.append(PartyInfo(party_id, host, port, member.fingerprint, member.xwing_public))
    dealer_member = issuer.issue(directory / "dealer", "agile mpc dealer") if dealer else None
    if dealer_member is not None:
        members.append((DEALER_ID, dealer_member))

    paths = []
    for party_id, member in members:
        config = PartyConfig(
            party=party_id,
            threshold=threshold,
            session=session,
            ca_certificate=ca_path,
            certificate=member.certificate,
            private_key=member.private_key,
            xwing_private_key=member.xwing_private_key,
            parties=tuple(parties),
            dealer_sha256=dealer_member.fingerprint if dealer_member else None,
        )
        name = "dealer.json" if party_id == DEALER_ID else f"party-{party_id}.json"
        path = directory / name
        atomic_write(path, dump_config(config, directory), mode=_PUBLIC_MODE)
        if party_id != DEALER_ID:
            paths.append(path)
    return paths


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


#: The lowest base port: ports below 1024 need privileges on most systems.
MIN_BASE_PORT = 1024


def check_base_port(base_port: object, count: int, *, fix_suffix: str = "") -> None:
    """Raise InvalidArgument unless ports base_port + 1 .. base_port + count are unprivileged."""
    if not _is_int(base_port) or not MIN_BASE_PORT <= base_port <= 65535 - count:
        raise InvalidArgument(
            f"base port {base_port!r} is not an integer from {MIN_BASE_PORT} to {65535 - count}",
            fix=f"choose a base port from {MIN_BASE_PORT} to {65535 - count}, because party i "
            f"listens on base port + i{fix_suffix}",
        )


@dataclass(frozen=True, slots=True)
class _Member:
    certificate: Path
    private_key: Path
    xwing_private_key: Path
    fingerprint: str
    xwing_public: bytes


@dataclass(frozen=True, slots=True)
class _Issuer:
    ca_name: str
    ca_key: ec.EllipticCurvePrivateKey
    kem: KEM
    host: str
    days: int

    def issue(self, folder: Path, subject: str) -> _Member:
        """Write a TLS key and certificate and an X-Wing key for one member into ``folder``."""
        folder.mkdir(mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(
            subject,
            key.public_key(),
            self.ca_name,
            self.ca_key,
            ca=False,
            host=self.host,
            days=self.days,
        )
        atomic_write(
            folder / "cert.pem", cert.public_bytes(serialization.Encoding.PEM), mode=_PUBLIC_MODE
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(folder / "key.pem", pem)
        xwing_key = self.kem.generate()
        atomic_write(folder / "xwing.key", xwing_key.data)
        return _Member(
            folder / "cert.pem",
            folder / "key.pem",
            folder / "xwing.key",
            certificate_fingerprint(cert.public_bytes(serialization.Encoding.DER)),
            xwing_key.public_key.data,
        )
