"""The ``sss`` sealer: any ``threshold`` of ``n`` member sealers open the KEK.

Like the sss pin of Clevis, the KEK is split with Shamir's scheme over GF(2^8)
(:mod:`agile.sharing.gf256`) and each member sealer (passphrase, tpm2, pkcs11,
keep, or another sss) seals one share.  A threshold of 1 needs no polynomial:
every member seals the KEK itself, so any one of them opens it.

Each member seals its share bound to the keyset's associated data and its own
position, so shares cannot be swapped between members or keysets.  After
combining, an HMAC of the KEK stored in the blob confirms the result before
anything uses it.  Unsealing tries device members before passphrase members,
so that a prompt appears only when the devices present are not enough, and
reports why each failing member failed.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import AgileError, InvalidArgument, PolicyViolation, SealError
from ..sharing import gf256
from ..sharing.base import Share
from .base import KEK_SIZE, SEALERS, SealedBlob, Sealer, describe_blob, sealer_class

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = [
    "SSSSealer",
    "QuorumNotReached",
    "sealer_from_options",
    "accepted_options",
    "enforce_sealers",
    "check_distinct_members",
    "MAX_MEMBERS",
    "THRESHOLD_ENV",
    "MEMBERS_ENV",
]

logger = logging.getLogger("agile.seal.sss")

#: Shamir over GF(2^8) has x coordinates 1..255.
MAX_MEMBERS = 255

THRESHOLD_ENV = "AGILE_SSS_THRESHOLD"
MEMBERS_ENV = "AGILE_SSS_MEMBERS"

_FORMAT_VERSION = 1
_CHECK_LABEL = b"agile sss kek check v1\x00"
_MEMBER_LABEL = b"\x00agile sss member\x00"
#: Members that may prompt a person, so they are tried last.
_INTERACTIVE = frozenset({"passphrase"})


class QuorumNotReached(SealError):
    """Fewer than ``threshold`` member sealers could unseal their share."""

    def __init__(self, message: str, *, fix: str | None = None, reasons: list[str]) -> None:
        super().__init__(message, fix=fix)
        self.reasons = reasons


def accepted_options(cls: type[Sealer], options: dict[str, Any]) -> dict[str, Any]:
    """Keep the options that ``cls``'s constructor accepts (all if it takes ``**kwargs``)."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return dict(options)
    names = {parameter.name for parameter in parameters}
    return {key: value for key, value in options.items() if key in names}


def sealer_from_options(name: str, **options: Any) -> Sealer:
    """Build the sealer registered as ``name`` from CLI-style options, ignoring foreign ones."""
    cls = sealer_class(name)
    return cls(**accepted_options(cls, options))


def _member_associated_data(associated_data: bytes, index: int) -> bytes:
    return associated_data + _MEMBER_LABEL + bytes([index])


def _kek_check(secret: bytes, associated_data: bytes) -> bytes:
    return hmac.new(secret, _CHECK_LABEL + associated_data, hashlib.sha256).digest()


def _parse_members(members: str | Sequence[str]) -> list[str]:
    if isinstance(members, str):
        members = members.split(",")
    names = [name.strip() for name in members if name.strip()]
    if SSSSealer.name in names:
        # Members named here share one set of options, so a nested sss member would read
        # the same member list again and recurse without end.
        raise InvalidArgument(
            "an sss member listed in --sss-members or AGILE_SSS_MEMBERS cannot be sss itself",
            fix="list device and passphrase sealers only; build a nested quorum in Python with "
            "SSSSealer(members=[...])",
        )
    return names


def check_distinct_members(members: str | Sequence[str] | None) -> None:
    """Raise InvalidArgument when a member sealer is named twice in one member list.

    Members listed by name share one set of options: every ``passphrase`` member
    reads the same AGILE_PASSPHRASE, every ``tpm2`` member seals to the same TPM
    and PCRs, every ``pkcs11`` member to the same token, every ``keep`` member to
    the same broker. A repeated name is then the same secret twice, and counts
    twice toward the threshold (``passphrase,passphrase`` 2 of 2 opens with one
    passphrase). Members of one kind that differ (two tokens, two passphrases)
    can be built in Python: ``SSSSealer(members=[PKCS11Sealer(...), ...])``.
    """
    if members is None:
        return
    names = _parse_members(members)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        listed = ",".join(names)
        raise InvalidArgument(
            f"sss members {listed!r} name {', '.join(repeated)} more than once. Members of one "
            "kind share their settings, so a repeated member is the same secret counted twice",
            fix="list each sealer once (for example passphrase,tpm2,pkcs11) and lower "
            "--sss-threshold to fit",
        )


class SSSSealer(Sealer):
    """Seals the KEK to a quorum: any ``threshold`` of the member sealers unseal it."""

    name: ClassVar[str] = "sss"

    def __init__(
        self,
        *,
        sss_threshold: int | str | None = None,
        sss_members: str | Sequence[str] | None = None,
        members: Sequence[Sealer] | None = None,
        **member_options: Any,
    ) -> None:
        self.options = member_options
        # Arguments are checked at once, variables only when sealing: unsealing reads members
        # and threshold from the blob, so leftover variables must not stop a keyset opening.
        from_environment = sss_members is None and not members
        if sss_members is None:
            sss_members = os.environ.get(MEMBERS_ENV) or None
        threshold_from_environment = sss_threshold is None
        if sss_threshold is None:
            sss_threshold = os.environ.get(THRESHOLD_ENV) or None
        self._members: list[Sealer] | None = list(members or []) or None
        self._members_text = sss_members
        self._threshold: int | None = None
        self._threshold_text = sss_threshold
        if not from_environment:
            _ = self.members
        if not threshold_from_environment:
            _ = self.threshold

    @property
    def members(self) -> list[Sealer]:
        """The member sealers, built from ``sss_members`` on first use."""
        if self._members is None:
            text = self._members_text
            self._members = (
                [sealer_from_options(name, **self.options) for name in _parse_members(text)]
                if text
                else []
            )
        return self._members

    @members.setter
    def members(self, value: list[Sealer]) -> None:
        self._members = value

    @property
    def threshold(self) -> int | None:
        """The number of members needed to unseal, or None when not set."""
        if self._threshold is None and self._threshold_text is not None:
            try:
                self._threshold = int(self._threshold_text)
            except ValueError:
                raise InvalidArgument(
                    f"invalid sss threshold {self._threshold_text!r}",
                    fix="give a whole number such as 2",
                ) from None
        return self._threshold

    @threshold.setter
    def threshold(self, value: int | None) -> None:
        self._threshold = value

    @classmethod
    def from_blob(cls, blob: SealedBlob, **options: Any) -> SSSSealer:
        """Build an unsealing sealer whose member sealers get the same ``options``."""
        return cls(**options)

    @classmethod
    def from_cli_options(cls, **options: Any) -> SSSSealer:
        """Build a sealer from ``sss_threshold``, ``sss_members`` and the members' options."""
        return cls(**options)

    # Sealing.

    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        """Split ``secret`` into one share per member and seal each share with its member."""
        if len(secret) != KEK_SIZE:
            raise InvalidArgument(f"a KEK is {KEK_SIZE} bytes, got {len(secret)}")
        count = len(self.members)
        threshold = self.threshold
        if count == 0:
            raise InvalidArgument(
                "the sss sealer has no members",
                fix="list member sealers, e.g. --sss-members passphrase,tpm2,pkcs11",
            )
        if threshold is None:
            raise InvalidArgument(
                "the sss sealer needs a threshold", fix="pass --sss-threshold, e.g. 2"
            )
        if not 1 <= threshold <= count or count > MAX_MEMBERS:
            raise InvalidArgument(
                f"invalid sss threshold {threshold} for {count} members",
                fix=f"choose a threshold from 1 to {count} and at most {MAX_MEMBERS} members",
            )

        if threshold == 1:
            values = [secret] * count
        else:
            values = [share.value for share in gf256.split(secret, threshold, count)]

        sealed = []
        for index, (member, value) in enumerate(zip(self.members, values, strict=True), start=1):
            sealed.append(member.seal(value, _member_associated_data(associated_data, index)))
        logger.info(
            "sealed a KEK to %d of %d members: %s",
            threshold,
            count,
            ", ".join(member.name for member in self.members),
        )
        return {
            "sealer": self.name,
            "version": _FORMAT_VERSION,
            "threshold": threshold,
            "members": sealed,
            "check": _kek_check(secret, associated_data).hex(),
        }

    # Unsealing.

    def _check_blob(self, blob: SealedBlob) -> tuple[int, list[SealedBlob]]:
        if blob.get("sealer") != self.name or blob.get("version") != _FORMAT_VERSION:
            raise SealError(
                f"not an sss sealed blob of version {_FORMAT_VERSION}: "
                f"sealer={blob.get('sealer')!r}, version={blob.get('version')!r}",
                fix="upgrade agile or restore the keyset file from a backup",
            )
        members = blob.get("members")
        threshold = blob.get("threshold")
        if (
            not isinstance(members, list)
            or not isinstance(threshold, int)
            or not 1 <= threshold <= len(members) <= MAX_MEMBERS
            or not all(isinstance(m, dict) and isinstance(m.get("sealer"), str) for m in members)
            or not isinstance(blob.get("check"), str)
        ):
            raise SealError(
                "sss sealed blob is malformed: bad threshold, members or check",
                fix="restore the keyset file from a backup",
            )
        return threshold, members

    def unseal(self, blob: SealedBlob, associated_data: bytes) -> bytes:
        """Unseal shares from members until ``threshold`` succeed, then combine and check them."""
        threshold, members = self._check_blob(blob)
        order = sorted(range(len(members)), key=lambda i: (members[i]["sealer"] in _INTERACTIVE, i))

        shares: list[Share] = []
        reasons: list[str] = []
        for position in order:
            member_blob = members[position]
            index = position + 1
            member_name = member_blob["sealer"]
            try:
                cls = sealer_class(member_name)
                member = cls.from_blob(member_blob, **accepted_options(cls, self.options))
                value = member.unseal(member_blob, _member_associated_data(associated_data, index))
            except AgileError as error:
                reasons.append(f"member {index} ({member_name}): {error.diagnostics()}")
                logger.info("sss member %d (%s) failed: %s", index, member_name, error)
                continue
            shares.append(Share(index, value))
            if len(shares) == threshold:
                break

        if len(shares) < threshold:
            raise QuorumNotReached(
                f"only {len(shares)} of the {threshold} required sss members unsealed their "
                f"share: {'; '.join(reasons)}",
                fix="make more member devices reachable or give their PINs and passphrases",
                reasons=reasons,
            )

        secret = shares[0].value if threshold == 1 else gf256.combine(shares)
        if not hmac.compare_digest(_kek_check(secret, associated_data).hex(), blob["check"]):
            raise SealError(
                "the KEK combined from sss shares does not match the check value in the blob: "
                "a member blob was replaced or the blob belongs to another keyset",
                fix="restore the keyset file from a backup",
            )
        return secret

    def reseal(
        self, blob: SealedBlob, associated_data: bytes, secret: bytes | None = None
    ) -> SealedBlob:
        """Seal the KEK again to every member, for example after a member's PCRs changed.

        The KEK comes from ``secret`` or from any ``threshold`` members of
        ``blob``.  Members keep their kinds and order unless this sealer was
        built with new ones.
        """
        if secret is None:
            secret = self.unseal(blob, associated_data)
        threshold, members = self._check_blob(blob)
        if not self.members:
            self.members = [
                sealer_from_options(member["sealer"], **self._member_reseal_options(member))
                for member in members
            ]
        if self.threshold is None:
            self.threshold = threshold
        return self.seal(secret, associated_data)

    def _member_reseal_options(self, member_blob: SealedBlob) -> dict[str, Any]:
        """Return options that keep a member's sealing choices (PCR selection, token)."""
        options = dict(self.options)
        if member_blob["sealer"] == "tpm2" and not options.get("pcrs"):
            options["pcrs"] = member_blob.get("pcrs")
        if member_blob["sealer"] == "pkcs11" and not options.get("pkcs11_token"):
            options["pkcs11_token"] = member_blob.get("token")
        if member_blob["sealer"] == "sss":
            options["sss_threshold"] = member_blob.get("threshold")
            options["sss_members"] = [m.get("sealer") for m in member_blob.get("members", [])]
        return options

    @classmethod
    def describe(cls, blob: SealedBlob) -> dict[str, Any]:
        described = [describe_blob(member) for member in blob.get("members") or []]
        return {"sealer": cls.name, "threshold": blob.get("threshold"), "members": described}


def enforce_sealers(
    policy: Policy, target: str, current: SealedBlob, options: dict[str, Any]
) -> None:
    """Raise unless ``policy`` allows sealer ``target`` and, for sss, each of its members.

    The members come from the ``sss_members`` option or its variable, else from
    ``current`` (the blob being replaced) when that is an sss blob too.
    """
    names = [target]
    if target == "sss":
        # The members seal the KEK too, so the policy must allow each of them.
        members = options.get("sss_members") or os.environ.get(MEMBERS_ENV)
        if members:
            names += [member.strip() for member in str(members).split(",") if member.strip()]
        elif current.get("sealer") == "sss":
            names += [str(member.get("sealer")) for member in current.get("members", [])]
    for name in names:
        if name not in SEALERS:
            raise SealError(f"unknown sealer {name!r}", fix=f"use one of: {', '.join(SEALERS)}")
        if not policy.allows_sealer(name):
            raise PolicyViolation(
                f"policy {policy.name!r} does not allow the {name!r} sealer",
                fix=f"use one of: {', '.join(policy.sealers)}",
                reasons=[f"sealer {name} not in [seal] allowed"],
            )
