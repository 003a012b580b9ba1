"""Attestation policies: which SEV-SNP guests and which TPM states may receive a key.

A policy file is TOML or JSON with an ``[snp]`` table, a ``[tpm]`` table or
both.  Example::

    [snp]
    measurements = ["6a3f...", "91c0..."]   # allowed launch digests, 96 hex digits each
    allow_debug = false                     # guest POLICY bit 19 must be clear
    allow_migration_agent = false           # guest POLICY bit 18 must be clear
    vmpl = 0                                # the report must come from VMPL 0
    min_tcb = { bootloader = 4, tee = 0, snp = 27, microcode = 222 }
    min_guest_svn = 0
    id_key_digests = []                     # if set, ID_KEY_DIGEST must be one of these
    author_key_digests = []
    host_data = "..."                       # if set, HOST_DATA must equal it
    report_data = "..."                     # if set, REPORT_DATA must equal it

    [tpm]
    ak_spki_sha256 = ["..."]                # attestation keys allowed to sign quotes
    pcr_bank = "sha256"
    pcrs = { 0 = "...", 7 = "..." }         # expected PCR values

An absent key means "any value", except ``allow_debug`` and
``allow_migration_agent``, which default to false.  The key broker
requires a non-empty ``measurements`` list for SNP keys (or a non-empty
``pcrs`` table for TPM keys), so that a key is never released to any guest at all.

:attr:`AttestationPolicy.sha256` hashes a canonical JSON form, so the same
rules in TOML or JSON give the same hash.  The keep sealer stores it in its blob.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidPolicy
from .report import AttestationReport

__all__ = ["SnpPolicy", "TpmPolicy", "AttestationPolicy", "load_policy", "parse_policy"]

_TCB_COMPONENTS = ("bootloader", "tee", "snp", "microcode")
_SNP_KEYS = {
    "measurements",
    "allow_debug",
    "allow_migration_agent",
    "vmpl",
    "min_tcb",
    "min_guest_svn",
    "id_key_digests",
    "author_key_digests",
    "host_data",
    "report_data",
    "family_id",
    "image_id",
    "chip_ids",
}
_TPM_KEYS = {"ak_spki_sha256", "pcr_bank", "pcrs"}
_PCR_BANK_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


def _hex(value: object, where: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise InvalidPolicy(f"{where} must be a hex string, got {value!r}")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise InvalidPolicy(f"{where} is not hex: {value!r}") from None
    if len(data) != size:
        raise InvalidPolicy(
            f"{where} must be {size} bytes ({2 * size} hex digits), got {len(data)} bytes"
        )
    return data


def _hex_list(value: object, where: str, size: int) -> tuple[bytes, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidPolicy(f"{where} must be a list of hex strings, got {value!r}")
    return tuple(_hex(item, f"{where}[{index}]", size) for index, item in enumerate(value))


def _int(value: object, where: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidPolicy(f"{where} must be an integer from 0 to {maximum}, got {value!r}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidPolicy(f"{where} must be true or false, got {value!r}")
    return value


def _unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InvalidPolicy(
            f"unknown key(s) in [{where}]: {', '.join(unknown)}",
            fix=f"allowed keys: {', '.join(sorted(allowed))}",
        )


@dataclass(frozen=True)
class SnpPolicy:
    """Rules an SEV-SNP report must meet, beyond a valid signature and chain."""

    measurements: tuple[bytes, ...] = ()
    allow_debug: bool = False
    allow_migration_agent: bool = False
    vmpl: int | None = None
    min_tcb: dict[str, int] = field(default_factory=dict)
    min_guest_svn: int | None = None
    id_key_digests: tuple[bytes, ...] = ()
    author_key_digests: tuple[bytes, ...] = ()
    host_data: bytes | None = None
    report_data: bytes | None = None
    family_id: bytes | None = None
    image_id: bytes | None = None
    chip_ids: tuple[bytes, ...] = ()

    @classmethod
    def from_table(cls, table: object) -> SnpPolicy:
        if not isinstance(table, dict):
            raise InvalidPolicy(f"[snp] must be a table, got {table!r}")
        _unknown_keys(table, _SNP_KEYS, "snp")
        min_tcb = table.get("min_tcb", {})
        if not isinstance(min_tcb, dict):
            raise InvalidPolicy(f"snp.min_tcb must be a table, got {min_tcb!r}")
        _unknown_keys(min_tcb, set(_TCB_COMPONENTS), "snp.min_tcb")

        def optional_hex(name: str, size: int) -> bytes | None:
            value = table.get(name)
            return None if value is None else _hex(value, f"snp.{name}", size)

        vmpl = table.get("vmpl")
        svn = table.get("min_guest_svn")
        return cls(
            measurements=_hex_list(table.get("measurements"), "snp.measurements", 48),
            allow_debug=_bool(table.get("allow_debug", False), "snp.allow_debug"),
            allow_migration_agent=_bool(
                table.get("allow_migration_agent", False), "snp.allow_migration_agent"
            ),
            vmpl=None if vmpl is None else _int(vmpl, "snp.vmpl", 3),
            min_tcb={
                name: _int(level, f"snp.min_tcb.{name}", 255) for name, level in min_tcb.items()
            },
            min_guest_svn=None if svn is None else _int(svn, "snp.min_guest_svn", 2**32 - 1),
            id_key_digests=_hex_list(table.get("id_key_digests"), "snp.id_key_digests", 48),
            author_key_digests=_hex_list(
                table.get("author_key_digests"), "snp.author_key_digests", 48
            ),
            host_data=optional_hex("host_data", 32),
            report_data=optional_hex("report_data", 64),
            family_id=optional_hex("family_id", 16),
            image_id=optional_hex("image_id", 16),
            chip_ids=_hex_list(table.get("chip_ids"), "snp.chip_ids", 64),
        )

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {
            "measurements": [value.hex() for value in self.measurements],
            "allow_debug": self.allow_debug,
            "allow_migration_agent": self.allow_migration_agent,
            "min_tcb": dict(sorted(self.min_tcb.items())),
            "id_key_digests": [value.hex() for value in self.id_key_digests],
            "author_key_digests": [value.hex() for value in self.author_key_digests],
            "chip_ids": [value.hex() for value in self.chip_ids],
        }
        for name in ("vmpl", "min_guest_svn"):
            if getattr(self, name) is not None:
                table[name] = getattr(self, name)
        for name in ("host_data", "report_data", "family_id", "image_id"):
            value = getattr(self, name)
            if value is not None:
                table[name] = value.hex()
        return table

    def check(self, report: AttestationReport, *, report_data: bytes | None = None) -> list[str]:
        """Return every rule the report breaks; ``report_data`` overrides the policy's value."""
        reasons: list[str] = []
        if self.measurements and report.measurement not in self.measurements:
            reasons.append(f"MEASUREMENT {report.measurement.hex()} is not an allowed measurement")
        if report.debug_allowed and not self.allow_debug:
            reasons.append("the guest policy allows debugging (POLICY bit 19 is set)")
        if report.migration_agent_allowed and not self.allow_migration_agent:
            reasons.append("the guest policy allows a migration agent (POLICY bit 18 is set)")
        if self.vmpl is not None and report.vmpl != self.vmpl:
            reasons.append(f"VMPL is {report.vmpl}, but the policy requires {self.vmpl}")

        reported = report.reported_tcb.components()
        for name, minimum in sorted(self.min_tcb.items()):
            if reported[name] < minimum:
                reasons.append(
                    f"REPORTED_TCB {name}={reported[name]} is below the minimum {minimum}"
                )
        if self.min_guest_svn is not None and report.guest_svn < self.min_guest_svn:
            reasons.append(
                f"GUEST_SVN {report.guest_svn} is below the minimum {self.min_guest_svn}"
            )

        if self.id_key_digests and report.id_key_digest not in self.id_key_digests:
            reasons.append(f"ID_KEY_DIGEST {report.id_key_digest.hex()} is not allowed")
        if self.author_key_digests and report.author_key_digest not in self.author_key_digests:
            reasons.append(f"AUTHOR_KEY_DIGEST {report.author_key_digest.hex()} is not allowed")
        if self.chip_ids and report.chip_id not in self.chip_ids:
            reasons.append("CHIP_ID is not one of the allowed chips")
        expected_fields = {
            "HOST_DATA": (self.host_data, report.host_data),
            "FAMILY_ID": (self.family_id, report.family_id),
            "IMAGE_ID": (self.image_id, report.image_id),
        }
        for name, (expected, actual) in expected_fields.items():
            if expected is not None and actual != expected:
                reasons.append(f"{name} {actual.hex()} differs from the policy's {expected.hex()}")

        expected_data = report_data if report_data is not None else self.report_data
        if expected_data is not None and report.report_data != expected_data:
            reasons.append("REPORT_DATA does not match the expected binding")
        return reasons


@dataclass(frozen=True)
class TpmPolicy:
    """Rules a TPM quote must meet: an allowed attestation key and expected PCR values."""

    ak_spki_sha256: tuple[str, ...] = ()
    pcr_bank: str = "sha256"
    pcrs: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: object) -> TpmPolicy:
        if not isinstance(table, dict):
            raise InvalidPolicy(f"[tpm] must be a table, got {table!r}")
        _unknown_keys(table, _TPM_KEYS, "tpm")
        bank = table.get("pcr_bank", "sha256")
        if bank not in _PCR_BANK_SIZES:
            raise InvalidPolicy(
                f"tpm.pcr_bank {bank!r} is unknown", fix=f"use one of {', '.join(_PCR_BANK_SIZES)}"
            )
        keys = _hex_list(table.get("ak_spki_sha256"), "tpm.ak_spki_sha256", 32)
        pcrs_table = table.get("pcrs", {})
        if not isinstance(pcrs_table, dict):
            raise InvalidPolicy(f"tpm.pcrs must be a table of index = hex, got {pcrs_table!r}")
        pcrs: dict[int, bytes] = {}
        for index, value in pcrs_table.items():
            try:
                number = int(index)
            except ValueError:
                raise InvalidPolicy(f"tpm.pcrs key {index!r} is not a PCR number") from None
            _int(number, "tpm.pcrs index", 23)
            pcrs[number] = _hex(value, f"tpm.pcrs.{index}", _PCR_BANK_SIZES[bank])
        return cls(tuple(key.hex() for key in keys), bank, dict(sorted(pcrs.items())))

    def to_table(self) -> dict[str, Any]:
        return {
            "ak_spki_sha256": list(self.ak_spki_sha256),
            "pcr_bank": self.pcr_bank,
            "pcrs": {str(index): value.hex() for index, value in self.pcrs.items()},
        }


@dataclass(frozen=True)
class AttestationPolicy:
    """An SEV-SNP policy, a TPM policy, or both; evidence of either kind is checked by its part."""

    snp: SnpPolicy | None = None
    tpm: TpmPolicy | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.snp is not None:
            data["snp"] = self.snp.to_table()
        if self.tpm is not None:
            data["tpm"] = self.tpm.to_table()
        return data

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the policy's canonical JSON (sorted keys, no spaces)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_policy(data: dict[str, Any]) -> AttestationPolicy:
    """Build a policy from the parsed TOML or JSON document."""
    if not isinstance(data, dict):
        raise InvalidPolicy("an attestation policy must be a table (TOML) or an object (JSON)")
    _unknown_keys(data, {"snp", "tpm"}, "top level")
    if "snp" not in data and "tpm" not in data:
        raise InvalidPolicy(
            "the attestation policy has neither an [snp] nor a [tpm] table",
            fix="add [snp] with allowed measurements, or [tpm] with expected PCR values",
        )
    snp = SnpPolicy.from_table(data["snp"]) if "snp" in data else None
    tpm = TpmPolicy.from_table(data["tpm"]) if "tpm" in data else None
    return AttestationPolicy(snp, tpm)


#: Largest attestation policy file read.
_MAX_POLICY_BYTES = 1 << 20


def load_policy(path: str | Path) -> AttestationPolicy:
    """Read an attestation policy from a .toml or .json file (JSON when it starts with '{')."""
    with open(path, "rb") as stream:
        # Bounded, so that /dev/zero or an endless pipe gives an error instead of a hang.
        raw = stream.read(_MAX_POLICY_BYTES + 1)
    if len(raw) > _MAX_POLICY_BYTES:
        raise InvalidPolicy(
            f"attestation policy {str(path)!r} is larger than {_MAX_POLICY_BYTES} bytes",
            fix="pass the policy file itself, not a device or a stream",
        )
    try:
        text = raw.decode("utf-8")
        if text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (
        UnicodeDecodeError,
        json.JSONDecodeError,
        tomllib.TOMLDecodeError,
        RecursionError,
    ) as error:
        raise InvalidPolicy(
            f"attestation policy {str(path)!r} is neither valid TOML nor JSON: {error}",
            fix="write the policy as a UTF-8 TOML or JSON file (see docs/attestation.md)",
        ) from None
    return parse_policy(data)
