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
reports why each failing member failed.  When the quorum is reached although a
member failed, a warning names the member: the quorum has silently shrunk.

A member that failed with a wrong PIN is not tried again with the same PIN in
the same process, because each wrong PIN counts towards the lockout of its
TPM or token.  Resealing keeps each member's passphrase and TPM PIN unless a
new one is given explicitly; see :meth:`SSSSealer.reseal`.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import AgileError, InvalidArgument, PolicyViolation, SealError, WrongPassphrase
from ..sharing import gf256
from ..sharing.base import Share
from .base import KEK_SIZE, SEALERS, SealedBlob, Sealer, describe_blob, sealer_class
from .passphrase import PASSWORD_KDFS, password_kdfs

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = [
    "SSSSealer",
    "QuorumNotReached",
    "PinNotRetried",
    "MemberResult",
    "member_names",
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
#: Start of the associated data of a keyset's KEK (agile.keys.kek.kek_associated_data),
#: followed by the keyset name, a zero byte and the keyset uid.  Warnings name the keyset.
_KEYSET_LABEL = b"agile keyset kek v1\x00"
#: Sealer -> what a wrong PIN counts towards, and the variable that contains the PIN.
_PIN_LOCKOUTS = {
    "tpm2": (
        "the TPM's dictionary-attack lockout, which then blocks every key sealed to that TPM",
        "AGILE_TPM_PIN",
    ),
    "pkcs11": (
        "the token's PIN retry limit, after which the token locks the PIN",
        "AGILE_PKCS11_PIN",
    ),
}

#: Members (by sealer settings, PIN and blob) whose PIN failed in this process -> the error.
_failed_pins: dict[bytes, str] = {}
_failed_pins_lock = threading.Lock()
#: Keys the digests in _failed_pins, so that no plain digest of a PIN stays in memory.
_FAILED_PIN_KEY = os.urandom(32)


class QuorumNotReached(SealError):
    """Fewer than ``threshold`` member sealers could unseal their share."""

    def __init__(self, message: str, *, fix: str | None = None, reasons: list[str]) -> None:
        super().__init__(message, fix=fix)
        self.reasons = reasons


class PinNotRetried(WrongPassphrase):
    """A member was not tried, because its PIN already failed on it in this process."""


@dataclass(frozen=True)
class MemberResult:
    """The result of trying one member of an sss blob; ``error`` is None when it unsealed."""

    #: The member's position, from 1: ``"2"``, or ``"2.1"`` inside a nested sss member.
    position: str
    sealer: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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


def _position(member_associated_data: bytes) -> str:
    """Return a member's position, such as ``"2"`` or ``"2.1"``, from its associated data."""
    _, *parts = member_associated_data.split(_MEMBER_LABEL)
    return ".".join(str(part[0]) for part in parts if len(part) == 1)


def _keyset_name(associated_data: bytes) -> str | None:
    """Return the keyset name in a KEK's associated data, or None for other associated data."""
    base = associated_data.split(_MEMBER_LABEL)[0]
    if not base.startswith(_KEYSET_LABEL):
        return None
    return base[len(_KEYSET_LABEL) :].split(b"\x00")[0].decode("utf-8", "replace")


def _subject(associated_data: bytes) -> str:
    name = _keyset_name(associated_data)
    return f"keyset {name!r}" if name is not None else "sss sealed secret"


def _reseal_command(associated_data: bytes) -> str:
    name = _keyset_name(associated_data)
    return f"agile keyset reseal {name}" if name is not None else "SSSSealer.reseal"


def _failed_pin_key(member: Sealer, member_blob: SealedBlob) -> bytes | None:
    """Return the key under which a wrong PIN of ``member`` on ``member_blob`` is remembered.

    None when the member has no PIN to give (no ``pin`` attribute, or an empty one).  The
    key covers every setting of the member (TPM, token, PIN) and the blob, so another PIN,
    device or keyset is tried again.
    """
    pin = getattr(member, "pin", None)
    if not isinstance(pin, str) or not pin:
        return None
    settings = sorted((name, repr(value)) for name, value in vars(member).items())
    text = json.dumps([member.name, settings, member_blob], sort_keys=True, default=repr)
    return hmac.new(_FAILED_PIN_KEY, text.encode("utf-8", "surrogateescape"), "sha256").digest()


def _unseal_member(member: Sealer, member_blob: SealedBlob, associated_data: bytes) -> bytes:
    """Unseal one member's share, unless its PIN already failed on it in this process."""
    key = _failed_pin_key(member, member_blob)
    if key is not None:
        with _failed_pins_lock:
            earlier = _failed_pins.get(key)
        if earlier is not None:
            variable = _PIN_LOCKOUTS.get(member.name, ("", "its PIN variable"))[1]
            raise PinNotRetried(
                f"not tried again with the PIN that failed on it earlier in this process "
                f"({earlier})",
                fix=f"set {variable} to this member's PIN",
            )
    try:
        return member.unseal(member_blob, associated_data)
    except WrongPassphrase as error:
        if key is not None:
            with _failed_pins_lock:
                _failed_pins[key] = str(error)
        raise


def _warn_member_failed(
    associated_data: bytes, member: Sealer | None, member_name: str, error: AgileError
) -> None:
    """Log that a member failed although the quorum was reached without it."""
    position = _position(associated_data)
    if isinstance(error, PinNotRetried):
        # The first failure in this process was logged already.
        logger.info("sss member %s (%s) skipped: %s", position, member_name, error)
        return
    no_pin_given = member_name in _PIN_LOCKOUTS and not getattr(member, "pin", None)
    if isinstance(error, WrongPassphrase) and no_pin_given:
        # Nothing is wrong with the member, and its device saw no attempt.
        logger.info("sss member %s (%s) not tried: %s", position, member_name, error)
        return
    subject = _subject(associated_data)
    lockout = _PIN_LOCKOUTS.get(member_name)
    if isinstance(error, WrongPassphrase) and lockout is not None:
        counter, variable = lockout
        fix = (
            f"each wrong PIN counts towards {counter}; set {variable} to this member's PIN, "
            "or unset it so that the member is not tried"
        )
        if member_name == "tpm2":
            fix += f"; to replace a lost PIN run '{_reseal_command(associated_data)} --tpm-pin NEW'"
    else:
        fix = (
            "repair the member (its device, PIN, passphrase or PCRs) or run "
            f"'{_reseal_command(associated_data)}' to seal its share again"
        )
    logger.warning(
        "%s: sss member %s (%s) failed, and the other members opened it without this one: %s (%s)",
        subject,
        position,
        member_name,
        error,
        fix,
    )


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
        failures: list[tuple[bytes, Sealer | None, str, AgileError]] = []
        for position in order:
            member_blob = members[position]
            index = position + 1
            member_name = member_blob["sealer"]
            member_associated_data = _member_associated_data(associated_data, index)
            member: Sealer | None = None
            try:
                member = self._member_for(member_blob)
                value = _unseal_member(member, member_blob, member_associated_data)
            except AgileError as error:
                reasons.append(f"member {index} ({member_name}): {error.diagnostics()}")
                failures.append((member_associated_data, member, member_name, error))
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
        for failure in failures:
            _warn_member_failed(*failure)
        return secret

    def _member_for(self, member_blob: SealedBlob) -> Sealer:
        cls = sealer_class(member_blob["sealer"])
        return cls.from_blob(member_blob, **accepted_options(cls, self.options))

    def check_members(self, blob: SealedBlob, associated_data: bytes) -> list[MemberResult]:
        """Try to unseal every member's share, also those a quorum does not need.

        Returns one result per member in blob order.  The members of a nested
        sss member are tried and reported one by one (position ``"2.1"``).  A
        member whose PIN already failed in this process is not tried again and
        is reported as failed.
        """
        _, members = self._check_blob(blob)
        results: list[MemberResult] = []
        for position, member_blob in enumerate(members):
            member_associated_data = _member_associated_data(associated_data, position + 1)
            label = _position(member_associated_data)
            try:
                member = self._member_for(member_blob)
                if isinstance(member, SSSSealer):
                    results.extend(member.check_members(member_blob, member_associated_data))
                    continue
                _unseal_member(member, member_blob, member_associated_data)
            except AgileError as error:
                results.append(MemberResult(label, member_blob["sealer"], error.diagnostics()))
                continue
            results.append(MemberResult(label, member_blob["sealer"]))
        return results

    def reseal(
        self, blob: SealedBlob, associated_data: bytes, secret: bytes | None = None
    ) -> SealedBlob:
        """Seal the KEK again to every member, for example after a member's PCRs changed.

        The KEK comes from ``secret`` or from any ``threshold`` members of
        ``blob``.  Members keep their kinds and order unless this sealer was
        built with new ones.  Passphrase members keep their password KDF
        unless this sealer was given the option ``password_kdf``.

        A quorum opens the KEK without the other members' secrets, so a
        passphrase or TPM PIN read from the environment (or a prompt) could
        replace a member's secret unnoticed.  Before sealing, each such member
        is therefore unsealed from ``blob`` with the secret it is about to be
        sealed with, and a :class:`agile.errors.SealError` is raised when that
        fails or cannot be tried (a TPM whose PCRs changed).  A new secret
        given as the option ``passphrase`` or ``tpm_pin`` of this sealer is an
        explicit change and is not checked.  A tpm2 member without a PIN keeps
        having none unless ``tpm_pin`` is given.
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
        self._check_kept_secrets(members, associated_data)
        return self.seal(secret, associated_data)

    def _check_kept_secrets(self, old_members: list[SealedBlob], associated_data: bytes) -> None:
        """Raise unless each member keeps the passphrase or TPM PIN of its old member.

        A member is compared with the old member at its position when that is
        of the same kind, else with the first old member of its kind.  A member
        of a kind that ``old_members`` lacks is new, and its secret is not checked.
        """
        for position, member in enumerate(self.members):
            old_position = _counterpart(position, member.name, old_members)
            if old_position is None:
                continue
            old_blob = old_members[old_position]
            member_associated_data = _member_associated_data(associated_data, old_position + 1)
            if isinstance(member, SSSSealer):
                try:
                    _, nested = member._check_blob(old_blob)
                except SealError:
                    continue  # A damaged nested member has no secret left to keep.
                member._check_kept_secrets(nested, member_associated_data)
            elif member.name == "passphrase" and "passphrase" not in self.options:
                _check_kept_passphrase(member, old_blob, member_associated_data)
            elif member.name == "tpm2" and "tpm_pin" not in self.options:
                _check_kept_pin(member, old_blob, member_associated_data)

    def _member_reseal_options(self, member_blob: SealedBlob) -> dict[str, Any]:
        """Return options that keep a member's sealing choices (PCR selection, token, no PIN).

        A passphrase member keeps its password KDF unless the ``password_kdf``
        option (the policy's choice in ``agile keyset reseal``) replaces it.
        """
        options = dict(self.options)
        if options.get("password_kdf") is None:
            # NOTE: a nested sss member passes one KDF to all its members, so members of
            # mixed KDFs in it are resealed with the passphrase sealer's default, argon2id.
            member_kdfs = set(password_kdfs(member_blob)) & set(PASSWORD_KDFS)
            if len(member_kdfs) == 1:
                options["password_kdf"] = member_kdfs.pop()
        if member_blob["sealer"] == "tpm2" and not options.get("pcrs"):
            options["pcrs"] = member_blob.get("pcrs")
        if (
            member_blob["sealer"] == "tpm2"
            and "tpm_pin" not in options
            and not member_blob.get("pin")
        ):
            # AGILE_TPM_PIN holds the PIN of other members or keysets: it must not add one here.
            options["tpm_pin"] = ""
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


def _counterpart(position: int, kind: str, old_members: list[SealedBlob]) -> int | None:
    """Return the position of the old member that a new member of ``kind`` replaces, if any."""
    if position < len(old_members) and old_members[position]["sealer"] == kind:
        return position
    for old_position, old_blob in enumerate(old_members):
        if old_blob["sealer"] == kind:
            return old_position
    return None


def _check_kept_passphrase(member: Sealer, old_blob: SealedBlob, associated_data: bytes) -> None:
    """Raise unless ``member``'s passphrase (AGILE_PASSPHRASE or a prompt) opens ``old_blob``."""
    subject = _subject(associated_data)
    position = _position(associated_data)
    fix = (
        "set AGILE_PASSPHRASE to the member's current passphrase; to replace it on purpose "
        "(forgotten or damaged), set AGILE_NEW_PASSPHRASE to the new one as well"
    )
    try:
        # The member keeps a prompted passphrase, so sealing it afterwards does not prompt again.
        member.unseal(old_blob, associated_data)
    except WrongPassphrase:
        raise WrongPassphrase(
            f"{subject}: the passphrase given does not open sss member {position} (passphrase), "
            "and resealing would replace that member's passphrase with it",
            fix=fix,
        ) from None
    except AgileError as error:
        raise SealError(
            f"{subject}: cannot check the passphrase of sss member {position} before resealing "
            f"it: {error}",
            fix=fix,
        ) from None


def _check_kept_pin(member: Sealer, old_blob: SealedBlob, associated_data: bytes) -> None:
    """Raise unless ``member``'s PIN (AGILE_TPM_PIN) opens ``old_blob``, or both have none."""
    subject = _subject(associated_data)
    position = _position(associated_data)
    pin = getattr(member, "pin", None)
    explicit = "give the new PIN with --tpm-pin to set it on purpose"
    if not old_blob.get("pin"):
        if pin:
            raise InvalidArgument(
                f"{subject}: AGILE_TPM_PIN would give sss member {position} (tpm2) a PIN, and "
                "it has none",
                fix=f"unset AGILE_TPM_PIN, or {explicit}",
            )
        return
    if not pin:
        raise WrongPassphrase(
            f"{subject}: sss member {position} (tpm2) has a TPM PIN and none was given, so "
            "resealing would remove it",
            fix=f"set AGILE_TPM_PIN to the member's current PIN, or {explicit}",
        )
    try:
        _unseal_member(member, old_blob, associated_data)
    except WrongPassphrase as error:
        raise WrongPassphrase(
            f"{subject}: the TPM PIN given does not open sss member {position} (tpm2), and "
            f"resealing would replace that member's PIN with it: {error}",
            fix=f"set AGILE_TPM_PIN to the member's current PIN, or {explicit}",
        ) from None
    except AgileError as error:
        raise SealError(
            f"{subject}: cannot check the PIN of sss member {position} (tpm2) before resealing "
            f"it, so resealing could change it unnoticed: {error}",
            fix=explicit,
        ) from None


def member_names(options: dict[str, Any], current: SealedBlob) -> list[str]:
    """Return the names of the members an sss reseal seals to.

    They come from the ``sss_members`` option or its variable, else from
    ``current`` (the blob being replaced) when that is an sss blob too.
    """
    members = options.get("sss_members") or os.environ.get(MEMBERS_ENV)
    if members:
        if isinstance(members, str):
            members = members.split(",")
        return [str(member).strip() for member in members if str(member).strip()]
    if current.get("sealer") == "sss":
        return [str(member.get("sealer")) for member in current.get("members", [])]
    return []


def enforce_sealers(
    policy: Policy, target: str, current: SealedBlob, options: dict[str, Any]
) -> None:
    """Raise unless ``policy`` allows sealer ``target`` and, for sss, each of its members.

    The members are those :func:`member_names` returns.
    """
    names = [target]
    if target == "sss":
        # The members seal the KEK too, so the policy must allow each of them.
        names += member_names(options, current)
    for name in names:
        if name not in SEALERS:
            raise SealError(f"unknown sealer {name!r}", fix=f"use one of: {', '.join(SEALERS)}")
        if not policy.allows_sealer(name):
            raise PolicyViolation(
                f"policy {policy.name!r} does not allow the {name!r} sealer",
                fix=f"use one of: {', '.join(policy.sealers)}",
                reasons=[f"sealer {name} not in [seal] allowed"],
            )
