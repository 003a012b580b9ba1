"""The ``passphrase`` sealer: Argon2id (RFC 9106) or scrypt (RFC 7914), and AES-256-GCM.

The KEK is encrypted under a key derived from a passphrase with a password KDF,
Argon2id unless the sealer is given ``password_kdf="scrypt"``.  Keysets pick
the policy's preferred password KDF (:func:`choose_password_kdf`).  The blob
names its KDF and stores the salt and the KDF's parameters, so a blob sealed
with any parameters can be unsealed later.

The passphrase comes from the ``AGILE_PASSPHRASE`` environment variable when it
is set, otherwise from a prompt on the controlling terminal (``/dev/tty``, as
``getpass`` does), so ``agile decrypt < FILE`` still prompts on a terminal.

Defaults follow RFC 9106 §4, second recommended option: 64 MiB of memory, 3
passes, 4 lanes.  Tests and scripts may lower the memory cost with the
environment variable ``AGILE_ARGON2_MEMORY_KIB`` (and the pass count with
``AGILE_ARGON2_ITERATIONS``).  scrypt defaults to N = 2^17, r = 8, p = 1 (128
MiB), and ``AGILE_SCRYPT_N`` lowers N.  The values are read at seal time and
recorded in the blob, and values below the defaults are logged as a warning.

A passphrase that is valid UTF-8 is sealed in Unicode normalization form C
(NFC), so "café" typed with a combining accent (NFD, as macOS file names and some
keyboards produce it) opens the same keyset.  Unsealing tries the NFC form and
then the exact bytes, so blobs sealed before normalization still open.
"""

from __future__ import annotations

import base64
import contextvars
import getpass
import logging
import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AgileError, PolicyViolation, SealError, WrongPassphrase
from ..registry.providers._openssl_symmetric import derive_argon2id
from .base import SealedBlob, Sealer

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = [
    "Argon2Parameters",
    "ScryptParameters",
    "PassphraseSealer",
    "DEFAULT_PARAMETERS",
    "DEFAULT_SCRYPT_PARAMETERS",
    "PASSWORD_KDFS",
    "choose_password_kdf",
    "password_kdfs",
    "enforce_password_kdfs",
    "read_passphrase",
    "reseal_prompts",
]

log = logging.getLogger("agile.seal.passphrase")

_SALT_SIZE = 16
#: Argon2's minimum salt length (RFC 9106 §3.1); a shorter salt in a blob means damage.
_MIN_SALT_SIZE = 8
_RESTORE = "the keyset file was damaged or modified; restore it from a backup"
_NONCE_SIZE = 12
_LABEL = b"agile passphrase sealer v1\x00"
#: The start of a keyset KEK's associated data (see agile.keys.kek), followed by the
#: keyset name, NUL and the keyset uid.  An sss member's associated data appends more.
_KEK_LABEL = b"agile keyset kek v1\x00"

_PROMPT = "agile keystore passphrase: "
_REPEAT_PROMPT = "repeat the passphrase: "

#: True inside :func:`reseal_prompts`.
_resealing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "agile_passphrase_resealing", default=False
)

#: Argon2's own minimum is 8 KiB per lane (RFC 9106 §3.1); anything lower is rejected.
_MIN_MEMORY_KIB_PER_LANE = 8
#: Upper bounds that stop a crafted blob from making unsealing allocate or run without limit.
_MAX_MEMORY_KIB = 4 * 1024 * 1024
_MAX_ITERATIONS = 64
_MAX_LANES = 64
#: scrypt bounds: N up to 2^20 and at most 1 GiB of memory (128 * r * N bytes), the cost
#: of N = 2^20, r = 8 that RFC 7914 §2 gives for file encryption.
_MAX_SCRYPT_N = 1 << 20
_MAX_SCRYPT_R = 32
_MAX_SCRYPT_P = 16
_MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024

#: Password KDFs the sealer implements, in the order it prefers them.
PASSWORD_KDFS: tuple[str, ...] = ("argon2id", "scrypt")


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """Argon2id cost parameters; ``memory_kib`` is in KiB."""

    memory_kib: int
    iterations: int
    lanes: int

    def check(self) -> None:
        """Raise :class:`SealError` when a parameter is out of the accepted range."""
        if not 1 <= self.lanes <= _MAX_LANES:
            raise SealError(f"Argon2id lanes {self.lanes} out of range 1..{_MAX_LANES}")
        if not 1 <= self.iterations <= _MAX_ITERATIONS:
            raise SealError(
                f"Argon2id iterations {self.iterations} out of range 1..{_MAX_ITERATIONS}",
                fix="set AGILE_ARGON2_ITERATIONS to a value in range, or unset it",
            )
        low = _MIN_MEMORY_KIB_PER_LANE * self.lanes
        if not low <= self.memory_kib <= _MAX_MEMORY_KIB:
            raise SealError(
                f"Argon2id memory {self.memory_kib} KiB out of range {low}..{_MAX_MEMORY_KIB}",
                fix="set AGILE_ARGON2_MEMORY_KIB to a value in range, or unset it",
            )


DEFAULT_PARAMETERS = Argon2Parameters(memory_kib=64 * 1024, iterations=3, lanes=4)


@dataclass(frozen=True, slots=True)
class ScryptParameters:
    """scrypt cost parameters (RFC 7914 §2): CPU/memory cost ``n``, block size ``r``, ``p``."""

    n: int
    r: int
    p: int

    def check(self) -> None:
        """Raise :class:`SealError` when a parameter is out of the accepted range."""
        if not 2 <= self.n <= _MAX_SCRYPT_N or self.n & (self.n - 1):
            raise SealError(
                f"scrypt N {self.n} is not a power of two in range 2..{_MAX_SCRYPT_N}",
                fix="set AGILE_SCRYPT_N to a power of two in range, or unset it",
            )
        if not 1 <= self.r <= _MAX_SCRYPT_R:
            raise SealError(f"scrypt r {self.r} out of range 1..{_MAX_SCRYPT_R}")
        if not 1 <= self.p <= _MAX_SCRYPT_P:
            raise SealError(f"scrypt p {self.p} out of range 1..{_MAX_SCRYPT_P}")
        if 128 * self.r * self.n > _MAX_SCRYPT_MEMORY:
            raise SealError(
                f"scrypt N {self.n} and r {self.r} need {128 * self.r * self.n} bytes of "
                f"memory, more than {_MAX_SCRYPT_MEMORY}"
            )


#: N = 2^17, r = 8, p = 1: 128 MiB per derivation, the registry's scrypt defaults.
DEFAULT_SCRYPT_PARAMETERS = ScryptParameters(n=1 << 17, r=8, p=1)

#: Lowered parameter sets already warned about in this process (one warning each).
_warned: set[Argon2Parameters | ScryptParameters] = set()


def _int_from_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SealError(
            f"{name}={value!r} is not an integer", fix=f"set {name} to a whole number or unset it"
        ) from None


def parameters_from_environment() -> Argon2Parameters:
    """Return the Argon2id parameters for a new seal, lowered only by explicit variables."""
    parameters = Argon2Parameters(
        memory_kib=_int_from_env("AGILE_ARGON2_MEMORY_KIB", DEFAULT_PARAMETERS.memory_kib),
        iterations=_int_from_env("AGILE_ARGON2_ITERATIONS", DEFAULT_PARAMETERS.iterations),
        lanes=DEFAULT_PARAMETERS.lanes,
    )
    parameters.check()
    lowered = (
        parameters.memory_kib < DEFAULT_PARAMETERS.memory_kib
        or parameters.iterations < DEFAULT_PARAMETERS.iterations
    )
    if lowered and parameters not in _warned:
        _warned.add(parameters)
        log.warning(
            "sealing with Argon2id parameters below the defaults: %d KiB and %d passes "
            "(defaults %d KiB, %d passes) because AGILE_ARGON2_MEMORY_KIB or "
            "AGILE_ARGON2_ITERATIONS is set",
            parameters.memory_kib,
            parameters.iterations,
            DEFAULT_PARAMETERS.memory_kib,
            DEFAULT_PARAMETERS.iterations,
        )
    return parameters


def scrypt_parameters_from_environment() -> ScryptParameters:
    """Return the scrypt parameters for a new seal, with N from ``AGILE_SCRYPT_N`` if it is set."""
    parameters = ScryptParameters(
        n=_int_from_env("AGILE_SCRYPT_N", DEFAULT_SCRYPT_PARAMETERS.n),
        r=DEFAULT_SCRYPT_PARAMETERS.r,
        p=DEFAULT_SCRYPT_PARAMETERS.p,
    )
    parameters.check()
    if parameters.n < DEFAULT_SCRYPT_PARAMETERS.n and parameters not in _warned:
        _warned.add(parameters)
        log.warning(
            "sealing with scrypt N = %d, below the default %d, because AGILE_SCRYPT_N is set",
            parameters.n,
            DEFAULT_SCRYPT_PARAMETERS.n,
        )
    return parameters


def password_kdfs(blob: Mapping[str, Any]) -> list[str]:
    """Return the password KDF of each passphrase blob in ``blob``, sss members included.

    A passphrase blob without a ``kdf`` field counts as Argon2id, the only KDF
    of the first blobs.
    """
    if blob.get("sealer") == PassphraseSealer.name:
        kdf = blob.get("kdf", "argon2id")
        return [kdf if isinstance(kdf, str) else repr(kdf)]
    members = blob.get("members") if blob.get("sealer") == "sss" else None
    found: list[str] = []
    for member in members if isinstance(members, list) else []:
        if isinstance(member, Mapping):
            found.extend(password_kdfs(member))
    return found


def choose_password_kdf(policy: Policy) -> str:
    """Return the password KDF a new passphrase seal uses under ``policy``.

    That is the policy's preferred password KDF when the sealer implements it,
    else the first of :data:`PASSWORD_KDFS` that the policy allows for ``encrypt``.
    Raise :class:`PolicyViolation` when the policy allows none of them.
    """
    preferred = policy.preferred("password-kdf")
    candidates = list(dict.fromkeys([preferred, *PASSWORD_KDFS]))
    reasons: list[str] = []
    for candidate in candidates:
        if candidate not in PASSWORD_KDFS:
            continue
        decision = policy.decide("encrypt", candidate)
        if decision.allowed:
            return candidate
        reasons.extend(decision.reasons)
    raise PolicyViolation(
        f"policy {policy.name!r} allows none of the password KDFs of the passphrase sealer "
        f"({', '.join(PASSWORD_KDFS)}) for encrypt: " + "; ".join(reasons),
        fix="allow argon2id or scrypt in [password-kdf] of the policy, or seal with a "
        "device (--seal tpm2, pkcs11 or keep)",
        reasons=reasons,
    )


def enforce_password_kdfs(
    policy: Policy, blob: Mapping[str, Any], operation: str, subject: str
) -> None:
    """Raise :class:`PolicyViolation` unless ``policy`` allows ``operation`` with each KDF.

    The KDFs are those :func:`password_kdfs` finds in ``blob``.  Sealing is
    ``encrypt`` and unsealing is ``decrypt``.  ``subject`` names the sealed
    secret in the message, such as "keyset 'mail'".
    """
    enforce_password_kdf_ids(policy, password_kdfs(blob), operation, subject)


def enforce_password_kdf_ids(
    policy: Policy, kdfs: Iterable[str], operation: str, subject: str
) -> None:
    """Raise :class:`PolicyViolation` unless ``policy`` allows ``operation`` with each of ``kdfs``.

    As :func:`enforce_password_kdfs`, for KDF ids already read from a blob.
    """
    for kdf in dict.fromkeys(kdfs):
        try:
            policy.enforce(operation, kdf)
        except PolicyViolation as violation:
            action = "seal" if operation == "encrypt" else "open"
            raise PolicyViolation(
                f"cannot {action} {subject}: its passphrase is derived with {kdf}, and {violation}",
                fix=violation.fix,
                reasons=violation.reasons,
            ) from None
        except AgileError as error:
            # An id missing from the registry comes from a damaged blob.
            raise SealError(
                f"{subject}: passphrase blob names the unknown password KDF {kdf!r}: {error}",
                fix=_RESTORE,
            ) from None


@contextmanager
def reseal_prompts() -> Iterator[None]:
    """Label the terminal prompts inside the block as those of a reseal.

    A reseal on a terminal reads two passphrases: the current one, which unseals
    the KEK, and then the new one, which seals it again.  Inside the block the
    first prompt names the keyset and requests its current passphrase.  The
    second prompt always requests a new passphrase (see :meth:`PassphraseSealer.seal`).
    """
    token = _resealing.set(True)
    try:
        yield
    finally:
        _resealing.reset(token)


def _keyset_name(associated_data: bytes) -> str | None:
    """Return the keyset name in a KEK's associated data, or None for other associated data."""
    if not associated_data.startswith(_KEK_LABEL):
        return None
    return associated_data[len(_KEK_LABEL) :].split(b"\x00")[0].decode("utf-8", "replace")


def _is_keyset_kek(associated_data: bytes) -> bool:
    """Return whether ``associated_data`` is that of a keyset's KEK itself, not of an sss member."""
    return associated_data.startswith(_KEK_LABEL) and associated_data.count(b"\x00") == 2


def _unseal_prompt(associated_data: bytes) -> str:
    """Return the prompt for the passphrase that opens a sealed secret."""
    if not _resealing.get():
        return _PROMPT
    name = _keyset_name(associated_data)
    return (
        f"current passphrase of keyset {name!r}: " if name is not None else "current passphrase: "
    )


def _seal_prompts(associated_data: bytes) -> tuple[str, str]:
    """Return the prompts for a passphrase that seals a secret, and for repeating it.

    Sealing a keyset's KEK always sets its passphrase: a new keyset, an import into a
    new keyset, or a reseal.  An sss member keeps the passphrase it had, so it gets the
    plain prompt.
    """
    if not _is_keyset_kek(associated_data):
        return _PROMPT, _REPEAT_PROMPT
    name = _keyset_name(associated_data)
    return f"new passphrase for keyset {name!r}: ", "repeat the new passphrase: "


def read_passphrase(
    *, confirm: bool = False, prompt: str = _PROMPT, repeat_prompt: str = _REPEAT_PROMPT
) -> bytes:
    """Return the passphrase from ``AGILE_PASSPHRASE``, else prompt on the controlling terminal.

    Standard input may be a file or a pipe (``agile decrypt < FILE``): the prompt reads
    from ``/dev/tty``, as ``getpass``, ssh and gpg do.  ``confirm`` asks a second
    time with ``repeat_prompt`` and raises :class:`SealError` when the two entries differ.
    """
    value = os.environ.get("AGILE_PASSPHRASE")
    if value is not None:
        if not value:
            raise SealError(
                "AGILE_PASSPHRASE is set but empty", fix="set a non-empty passphrase or unset it"
            )
        return _encode(value)
    if not _has_controlling_terminal():
        # getpass would fall back to reading standard input with echo on, which here is
        # the data being processed or a pipe from a script.
        raise SealError(
            "no passphrase: AGILE_PASSPHRASE is not set and the process has no controlling "
            "terminal to prompt on",
            fix="set AGILE_PASSPHRASE, or run the command from a terminal",
        )
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass(repeat_prompt) != first:
            raise SealError("the two passphrases differ", fix="run the command again")
    except EOFError:
        raise SealError(
            "no passphrase: the terminal closed the input (end of file) at the prompt",
            fix="type the passphrase and press Enter, or set AGILE_PASSPHRASE",
        ) from None
    if not first:
        raise SealError("empty passphrase", fix="type a non-empty passphrase")
    return first.encode("utf-8")


def _has_controlling_terminal() -> bool:
    """Return whether ``/dev/tty``, the terminal that getpass prompts on, can be opened."""
    try:
        descriptor = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(descriptor)
    return True


def _encode(passphrase: str) -> bytes:
    """Return the passphrase as UTF-8, keeping other bytes of the environment as they were.

    Python decodes environment variables and arguments that are not UTF-8 with surrogate
    escapes, and "surrogateescape" turns those back into the original bytes.
    """
    return passphrase.encode("utf-8", "surrogateescape")


def _normalized(passphrase: bytes) -> bytes:
    """Return the NFC form of a UTF-8 passphrase; other bytes stay as they are."""
    try:
        text = passphrase.decode("utf-8")
    except UnicodeDecodeError:
        return passphrase
    return unicodedata.normalize("NFC", text).encode("utf-8")


def _unseal_candidates(passphrase: bytes) -> list[bytes]:
    """Return the NFC form, then the exact bytes when they differ (sealed without NFC)."""
    normalized = _normalized(passphrase)
    return [normalized] if normalized == passphrase else [normalized, passphrase]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(blob: SealedBlob, name: str) -> bytes:
    try:
        return base64.b64decode(blob[name], validate=True)
    except (KeyError, TypeError, ValueError):
        raise SealError(
            f"passphrase blob is malformed: field {name!r} is missing or not base64", fix=_RESTORE
        ) from None


class PassphraseSealer(Sealer):
    """Seal a KEK under a passphrase-derived key (Argon2id or scrypt, then AES-256-GCM).

    ``password_kdf`` picks the KDF of new seals (``"argon2id"`` or ``"scrypt"``);
    unsealing uses the KDF that the blob names.
    """

    name: ClassVar[str] = "passphrase"

    def __init__(
        self, passphrase: bytes | str | None = None, *, password_kdf: str | None = None
    ) -> None:
        if isinstance(passphrase, str):
            passphrase = _encode(passphrase)
        if password_kdf is not None and password_kdf not in PASSWORD_KDFS:
            raise SealError(
                f"unknown password KDF {password_kdf!r} for the passphrase sealer",
                fix=f"use one of: {', '.join(PASSWORD_KDFS)}",
            )
        self._passphrase = passphrase
        self._password_kdf = password_kdf or PASSWORD_KDFS[0]

    def _secret(self, *, confirm: bool, prompts: tuple[str, str]) -> bytes:
        if self._passphrase is None:
            prompt, repeat_prompt = prompts
            self._passphrase = read_passphrase(
                confirm=confirm, prompt=prompt, repeat_prompt=repeat_prompt
            )
        return self._passphrase

    @staticmethod
    def _derive(
        passphrase: bytes, salt: bytes, parameters: Argon2Parameters | ScryptParameters
    ) -> bytes:
        if isinstance(parameters, ScryptParameters):
            # scrypt of RFC 7914 §2, through the registry's provider, which checks the inputs too.
            from .. import registry

            return registry.password_kdf("scrypt").derive(  # type: ignore[no-any-return]
                passphrase, salt, 32, asdict(parameters)
            )
        return derive_argon2id(
            passphrase,
            salt,
            32,
            memory_kib=parameters.memory_kib,
            iterations=parameters.iterations,
            lanes=parameters.lanes,
        )

    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        parameters: Argon2Parameters | ScryptParameters
        if self._password_kdf == "scrypt":
            parameters = scrypt_parameters_from_environment()
        else:
            parameters = parameters_from_environment()
        salt = os.urandom(_SALT_SIZE)
        nonce = os.urandom(_NONCE_SIZE)
        key = self._derive(
            _normalized(self._secret(confirm=True, prompts=_seal_prompts(associated_data))),
            salt,
            parameters,
        )
        ciphertext = AESGCM(key).encrypt(nonce, secret, _LABEL + associated_data)
        return {
            "sealer": self.name,
            "version": 1,
            "kdf": self._password_kdf,
            # The field is named for the KDF: "argon2" (as in the first blobs) or "scrypt".
            "argon2" if self._password_kdf == "argon2id" else "scrypt": asdict(parameters),
            "salt": _b64(salt),
            "aead": "aes-256-gcm",
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }

    def unseal(self, blob: SealedBlob, associated_data: bytes) -> bytes:
        if blob.get("sealer") != self.name or blob.get("version") != 1:
            raise SealError(
                f"blob is not a version 1 passphrase blob (sealer {blob.get('sealer')!r}, "
                f"version {blob.get('version')!r})"
            )
        parameters = _blob_parameters(blob)
        salt = _unb64(blob, "salt")
        nonce = _unb64(blob, "nonce")
        ciphertext = _unb64(blob, "ciphertext")
        if isinstance(parameters, Argon2Parameters):
            minimum, requirement = _MIN_SALT_SIZE, "Argon2id needs at least 8 (RFC 9106 §3.1)"
        else:
            # The registry's scrypt takes salts of 16 bytes or more, the size agile writes.
            minimum, requirement = _SALT_SIZE, f"scrypt blobs have at least {_SALT_SIZE}"
        if len(salt) < minimum:
            raise SealError(
                f"passphrase blob salt is {len(salt)} bytes, {requirement}", fix=_RESTORE
            )
        if len(nonce) != _NONCE_SIZE:
            raise SealError(
                f"passphrase blob nonce is {len(nonce)} bytes, expected {_NONCE_SIZE}",
                fix=_RESTORE,
            )

        for candidate in _unseal_candidates(
            self._secret(confirm=False, prompts=(_unseal_prompt(associated_data), _REPEAT_PROMPT))
        ):
            key = self._derive(candidate, salt, parameters)
            try:
                return AESGCM(key).decrypt(nonce, ciphertext, _LABEL + associated_data)
            except InvalidTag:
                continue
        # GCM cannot tell a wrong passphrase from a modified blob or keyset (its name and
        # uid are authenticated data), so the message names both.
        raise WrongPassphrase(
            "wrong passphrase, or the keyset file was modified (its name, uid or sealed "
            "fields): the sealed key-encryption key did not open",
            fix="check AGILE_PASSPHRASE (or the typed passphrase) for this keystore; if it is "
            "right, restore the keyset file from a backup",
        ) from None

    @classmethod
    def describe(cls, blob: SealedBlob) -> dict[str, Any]:
        kdf = blob.get("kdf")
        if kdf == "scrypt":
            return {"sealer": cls.name, "kdf": kdf, "scrypt": blob.get("scrypt")}
        return {"sealer": cls.name, "kdf": kdf, "argon2": blob.get("argon2")}


def _integer_fields(blob: SealedBlob, field: str, names: tuple[str, ...]) -> dict[str, int]:
    """Return the integers ``names`` of the object ``blob[field]``, or raise SealError."""
    settings = blob.get(field)
    if not isinstance(settings, dict) or not all(type(settings.get(name)) is int for name in names):
        raise SealError(
            f"passphrase blob is malformed: {field!r} must contain the integers "
            f"{', '.join(names)}, got {settings!r}",
            fix=_RESTORE,
        )
    return {name: settings[name] for name in names}


def _blob_parameters(blob: SealedBlob) -> Argon2Parameters | ScryptParameters:
    """Return the checked KDF parameters of a passphrase blob, or raise SealError."""
    # Blobs written before scrypt was added all name argon2id.
    kdf = blob.get("kdf", "argon2id")
    parameters: Argon2Parameters | ScryptParameters
    if kdf == "argon2id":
        parameters = Argon2Parameters(
            **_integer_fields(blob, "argon2", ("memory_kib", "iterations", "lanes"))
        )
    elif kdf == "scrypt":
        parameters = ScryptParameters(**_integer_fields(blob, "scrypt", ("n", "r", "p")))
    else:
        raise SealError(
            f"passphrase blob is malformed: unknown password KDF {kdf!r}",
            fix=_RESTORE + f", or upgrade agile if the blob is newer (it knows "
            f"{', '.join(PASSWORD_KDFS)})",
        )
    try:
        parameters.check()
    except SealError as error:
        # The environment variables named by check() play no part in unsealing.
        raise SealError(f"passphrase blob is malformed: {error}", fix=_RESTORE) from None
    return parameters
