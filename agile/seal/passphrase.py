"""The ``passphrase`` sealer: Argon2id (RFC 9106) and AES-256-GCM.

The KEK is encrypted under a key derived from a passphrase with Argon2id.  The
salt and the Argon2id parameters are stored in the blob, so a blob sealed with
any parameters can be unsealed later.

The passphrase comes from the ``AGILE_PASSPHRASE`` environment variable when it
is set, otherwise from a prompt on the controlling terminal (``/dev/tty``, as
``getpass`` does), so ``agile decrypt < FILE`` still prompts on a terminal.

Defaults follow RFC 9106 §4, second recommended option: 64 MiB of memory, 3
passes, 4 lanes.  Tests and scripts may lower the memory cost with the
environment variable ``AGILE_ARGON2_MEMORY_KIB`` (and the pass count with
``AGILE_ARGON2_ITERATIONS``).  The values are read at seal time and recorded in
the blob, and values below the defaults are logged as a warning.

A passphrase that is valid UTF-8 is sealed in Unicode normalization form C
(NFC), so "café" typed with a combining accent (NFD, as macOS file names and some
keyboards produce it) opens the same keyset.  Unsealing tries the NFC form and
then the exact bytes, so blobs sealed before normalization still open.
"""

from __future__ import annotations

import base64
import getpass
import logging
import os
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SealError, WrongPassphrase
from ..registry.providers._openssl_symmetric import derive_argon2id
from .base import SealedBlob, Sealer

__all__ = ["Argon2Parameters", "PassphraseSealer", "DEFAULT_PARAMETERS", "read_passphrase"]

log = logging.getLogger("agile.seal.passphrase")

_SALT_SIZE = 16
#: Argon2's minimum salt length (RFC 9106 §3.1); a shorter salt in a blob means damage.
_MIN_SALT_SIZE = 8
_RESTORE = "the keyset file was damaged or modified; restore it from a backup"
_NONCE_SIZE = 12
_LABEL = b"agile passphrase sealer v1\x00"

#: Argon2's own minimum is 8 KiB per lane (RFC 9106 §3.1); anything lower is rejected.
_MIN_MEMORY_KIB_PER_LANE = 8
#: Upper bounds that stop a crafted blob from making unsealing allocate or run without limit.
_MAX_MEMORY_KIB = 4 * 1024 * 1024
_MAX_ITERATIONS = 64
_MAX_LANES = 64


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

#: Lowered parameter sets already warned about in this process (one warning each).
_warned: set[Argon2Parameters] = set()


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


def read_passphrase(*, confirm: bool = False) -> bytes:
    """Return the passphrase from ``AGILE_PASSPHRASE``, else prompt on the controlling terminal.

    Standard input may be a file or a pipe (``agile decrypt < FILE``): the prompt reads
    from ``/dev/tty``, as ``getpass``, ssh and gpg do.
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
        first = getpass.getpass("agile keystore passphrase: ")
        if confirm and getpass.getpass("repeat the passphrase: ") != first:
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
    """Seal a KEK under a passphrase-derived key (Argon2id, then AES-256-GCM)."""

    name: ClassVar[str] = "passphrase"

    def __init__(self, passphrase: bytes | str | None = None) -> None:
        if isinstance(passphrase, str):
            passphrase = _encode(passphrase)
        self._passphrase = passphrase

    def _secret(self, *, confirm: bool) -> bytes:
        if self._passphrase is None:
            self._passphrase = read_passphrase(confirm=confirm)
        return self._passphrase

    @staticmethod
    def _derive(passphrase: bytes, salt: bytes, parameters: Argon2Parameters) -> bytes:
        return derive_argon2id(
            passphrase,
            salt,
            32,
            memory_kib=parameters.memory_kib,
            iterations=parameters.iterations,
            lanes=parameters.lanes,
        )

    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        parameters = parameters_from_environment()
        salt = os.urandom(_SALT_SIZE)
        nonce = os.urandom(_NONCE_SIZE)
        key = self._derive(_normalized(self._secret(confirm=True)), salt, parameters)
        ciphertext = AESGCM(key).encrypt(nonce, secret, _LABEL + associated_data)
        return {
            "sealer": self.name,
            "version": 1,
            "kdf": "argon2id",
            "argon2": asdict(parameters),
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
        settings = blob.get("argon2")
        names = ("memory_kib", "iterations", "lanes")
        if not isinstance(settings, dict) or not all(
            type(settings.get(name)) is int for name in names
        ):
            raise SealError(
                f"passphrase blob is malformed: 'argon2' must contain the integers "
                f"{', '.join(names)}, got {settings!r}",
                fix=_RESTORE,
            )
        parameters = Argon2Parameters(**{name: settings[name] for name in names})
        try:
            parameters.check()
        except SealError as error:
            # The environment variables named by check() play no part in unsealing.
            raise SealError(f"passphrase blob is malformed: {error}", fix=_RESTORE) from None
        salt = _unb64(blob, "salt")
        nonce = _unb64(blob, "nonce")
        ciphertext = _unb64(blob, "ciphertext")
        if len(salt) < _MIN_SALT_SIZE:
            raise SealError(
                f"passphrase blob salt is {len(salt)} bytes, Argon2id needs at least "
                f"{_MIN_SALT_SIZE} (RFC 9106 §3.1)",
                fix=_RESTORE,
            )
        if len(nonce) != _NONCE_SIZE:
            raise SealError(
                f"passphrase blob nonce is {len(nonce)} bytes, expected {_NONCE_SIZE}",
                fix=_RESTORE,
            )

        for candidate in _unseal_candidates(self._secret(confirm=False)):
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
        return {"sealer": cls.name, "kdf": blob.get("kdf"), "argon2": blob.get("argon2")}
