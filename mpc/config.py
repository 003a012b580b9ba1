"""Party configuration: who takes part, where each listens, and which keys prove identity.

A configuration file is JSON, written by ``agile mpc init`` (see
:mod:`mpc.deployment`), one per party.  Paths in it are relative to the file's
directory.  A peer is recognised by the SHA-256 fingerprint of its TLS
certificate, and share messages to it are sealed to its X-Wing public key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from agile.errors import InvalidArgument

__all__ = [
    "CONFIG_VERSION",
    "DEALER_ID",
    "PartyInfo",
    "PartyConfig",
    "SESSION_SIZE",
    "is_listen_address",
    "load_config",
    "dump_config",
]

CONFIG_VERSION = 1
#: Bytes of the random session id that ``agile mpc init`` draws; HPKE info binds it.
SESSION_SIZE = 16
#: The party id of the dealer, which only sends Beaver triples and never listens.
DEALER_ID = 0


@dataclass(frozen=True, slots=True)
class PartyInfo:
    """A party's public data, as every party's configuration lists it."""

    id: int
    host: str
    port: int
    certificate_sha256: str
    xwing_public_key: bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "host": self.host,
            "port": self.port,
            "certificate_sha256": self.certificate_sha256,
            "xwing_public_key": self.xwing_public_key.hex(),
        }


@dataclass(frozen=True, slots=True)
class PartyConfig:
    """One party's view: its own id and key files, the threshold and every party's public data."""

    party: int
    threshold: int
    session: bytes
    ca_certificate: Path
    certificate: Path
    private_key: Path
    xwing_private_key: Path
    parties: tuple[PartyInfo, ...]
    #: SHA-256 fingerprint of the Beaver-triple dealer's certificate, if the deployment has one.
    dealer_sha256: str | None = None

    @property
    def is_dealer(self) -> bool:
        return self.party == DEALER_ID

    @property
    def me(self) -> PartyInfo:
        return self.by_id[self.party]

    @property
    def by_id(self) -> dict[int, PartyInfo]:
        return {info.id: info for info in self.parties}

    @property
    def peers(self) -> list[PartyInfo]:
        return [info for info in self.parties if info.id != self.party]


def _error(path: Path, message: str) -> InvalidArgument:
    return InvalidArgument(
        f"MPC configuration {str(path)!r}: {message}",
        fix="recreate the configuration with 'agile mpc init'",
    )


def is_listen_address(host: object) -> bool:
    """Return whether ``host`` is an IP address or ``localhost``, the hosts a party binds to."""
    if not isinstance(host, str) or not host:
        return False
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_host(path: Path, host: object) -> str:
    if not is_listen_address(host):
        raise _error(path, f"host {host!r} is not an IP address or 'localhost'")
    return str(host)


def _party(path: Path, item: object) -> PartyInfo:
    if not isinstance(item, dict):
        raise _error(path, "each entry of 'parties' must be an object")
    try:
        party_id, port = item["id"], item["port"]
        fingerprint, public_hex = item["certificate_sha256"], item["xwing_public_key"]
    except KeyError as missing:
        raise _error(path, f"a party entry lacks {missing}") from None
    if not _is_int(party_id) or not 1 <= party_id <= 255:
        raise _error(path, f"party id {party_id!r} is not an integer from 1 to 255")
    if not _is_int(port) or not 1 <= port <= 65535:
        raise _error(path, f"party {party_id} has invalid port {port!r}")
    if not _is_fingerprint(fingerprint):
        raise _error(
            path, f"party {party_id} has certificate_sha256 {fingerprint!r}, not 64 hex digits"
        )
    try:
        public_key = bytes.fromhex(public_hex)
    except (TypeError, ValueError):
        raise _error(path, f"party {party_id} has a non-hex X-Wing public key") from None
    return PartyInfo(party_id, _check_host(path, item.get("host")), port, fingerprint, public_key)


def _is_int(value: object) -> TypeGuard[int]:
    # JSON true and false load as bool, which is a subclass of int.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_fingerprint(value: object) -> bool:
    """Return whether ``value`` is a lowercase hex SHA-256 digest, as ``agile mpc init`` writes."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _path(path: Path, data: dict[str, object], key: str) -> Path:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _error(path, f"{key!r} is {value!r}, not a file path")
    return path.parent / value


def load_config(path: str | Path) -> PartyConfig:
    """Read and check one party's configuration file."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _error(path, f"not UTF-8 text (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise _error(path, f"not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("version") != CONFIG_VERSION:
        raise _error(path, f"unsupported or missing version (expected {CONFIG_VERSION})")

    items = data.get("parties", [])
    if not isinstance(items, list):
        raise _error(path, f"'parties' is {type(items).__name__}, not a list")
    parties = tuple(_party(path, item) for item in items)
    ids = [info.id for info in parties]
    if len(set(ids)) != len(ids):
        raise _error(path, "two parties share one id")
    if len(parties) < 2:
        raise _error(path, f"{len(parties)} part(ies) listed, at least 2 are needed")
    party, threshold = data.get("party"), data.get("threshold")
    if not _is_int(party) or (party not in ids and party != DEALER_ID):
        raise _error(path, f"own party id {party!r} is not among the parties {ids}")
    if not _is_int(threshold) or not 2 <= threshold <= len(parties):
        raise _error(path, f"threshold {threshold!r} must be from 2 to {len(parties)}")
    try:
        session = bytes.fromhex(data["session"])
    except (KeyError, TypeError, ValueError):
        raise _error(path, "missing or non-hex 'session'") from None
    if len(session) < SESSION_SIZE:
        # init writes the same random id into every config, so a shorter one comes from an
        # edit, and the peers would drop this party's messages as another session's.
        raise _error(
            path,
            f"'session' {data['session']!r:.40} has {len(session)} bytes, fewer than the "
            f"{SESSION_SIZE} random bytes ({2 * SESSION_SIZE} hex digits) that init writes",
        )

    dealer = data.get("dealer_sha256")
    if dealer is not None and not _is_fingerprint(dealer):
        raise _error(path, f"dealer_sha256 {dealer!r} is not 64 hex digits")
    return PartyConfig(
        party=party,
        threshold=threshold,
        session=session,
        ca_certificate=_path(path, data, "ca_certificate"),
        certificate=_path(path, data, "certificate"),
        private_key=_path(path, data, "private_key"),
        xwing_private_key=_path(path, data, "xwing_private_key"),
        parties=parties,
        dealer_sha256=dealer,
    )


def dump_config(config: PartyConfig, base: Path) -> bytes:
    """Serialize a configuration with paths relative to ``base``."""
    data: dict[str, object] = {
        "version": CONFIG_VERSION,
        "party": config.party,
        "threshold": config.threshold,
        "session": config.session.hex(),
        "ca_certificate": str(config.ca_certificate.relative_to(base)),
        "certificate": str(config.certificate.relative_to(base)),
        "private_key": str(config.private_key.relative_to(base)),
        "xwing_private_key": str(config.xwing_private_key.relative_to(base)),
        "parties": [info.to_dict() for info in config.parties],
    }
    if config.dealer_sha256:
        data["dealer_sha256"] = config.dealer_sha256
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")
