"""The ``openssl`` AEADs and KDFs: AES-GCM(-SIV), ChaCha20-Poly1305, HKDF, Argon2id, scrypt."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ...errors import AuthenticationFailed, InvalidArgument, InvalidKey
from ..interfaces import AEAD, KDF, AEADContext, PasswordKDF
from ._checks import describe, require_length
from ._dhkem import hkdf_expand, hkdf_extract
from ._openssl_keys import PROVIDER

__all__ = ["OpenSSLAEADContext", "OpenSSLAEAD", "OpenSSLHKDF", "OpenSSLArgon2id", "OpenSSLScrypt"]

# AEADs.


class OpenSSLAEADContext(AEADContext):
    __slots__ = ("_cipher", "_nonce_size", "_algorithm")

    def __init__(self, cipher: Any, nonce_size: int, algorithm: str) -> None:
        self._cipher = cipher
        self._nonce_size = nonce_size
        self._algorithm = algorithm

    def _bad_nonce(self, nonce: object) -> InvalidArgument:
        return InvalidArgument(
            f"{self._algorithm} nonce must be {self._nonce_size} bytes, got {describe(nonce)}",
            fix="pass a fresh nonce of the right length for every encryption",
        )

    def encrypt(self, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        if type(nonce) is not bytes or len(nonce) != self._nonce_size:
            raise self._bad_nonce(nonce)
        try:
            return self._cipher.encrypt(nonce, plaintext, associated_data)
        except (TypeError, OverflowError) as error:
            raise InvalidArgument(f"{self._algorithm} encryption input rejected: {error}") from None

    def decrypt(self, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        if type(nonce) is not bytes or len(nonce) != self._nonce_size:
            raise self._bad_nonce(nonce)
        try:
            return self._cipher.decrypt(nonce, ciphertext, associated_data)
        except InvalidTag:
            raise AuthenticationFailed(
                f"{self._algorithm} authentication tag did not verify",
                fix="wrong key, nonce or associated data, or the ciphertext was tampered with",
            ) from None
        except TypeError as error:
            raise InvalidArgument(f"{self._algorithm} decryption input rejected: {error}") from None


class OpenSSLAEAD(AEAD):
    provider = PROVIDER
    _cipher_cls: ClassVar[Any]

    def new(self, key: bytes) -> AEADContext:
        require_length(key, self.key_size, self.algorithm, "key", InvalidKey)
        return OpenSSLAEADContext(self._cipher_cls(key), self.nonce_size, self.algorithm)


# KDFs.


class OpenSSLHKDF(KDF):
    provider = PROVIDER
    _hash_name: ClassVar[str]

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        try:
            return hkdf_extract(self._hash_name, salt, ikm)
        except TypeError:
            raise InvalidArgument(f"{self.algorithm} salt and ikm must be bytes") from None

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        if type(prk) is not bytes or len(prk) < self.hash_size:
            raise InvalidArgument(
                f"{self.algorithm} PRK must be at least {self.hash_size} bytes, "
                f"got {describe(prk)}",
                fix="pass the output of extract() (RFC 5869 §2.3)",
            )
        return hkdf_expand(self._hash_name, prk, info, length)


def _check_parameters(
    algorithm: str, parameters: dict[str, int] | None, defaults: dict[str, int]
) -> dict[str, int]:
    if parameters is None:
        return dict(defaults)
    unknown = set(parameters) - set(defaults)
    if unknown:
        raise InvalidArgument(
            f"unknown {algorithm} parameters: {', '.join(sorted(unknown))}",
            fix=f"use {', '.join(defaults)}",
        )
    merged = {**defaults, **parameters}
    for name, value in merged.items():
        if type(value) is not int or value < 1:
            raise InvalidArgument(
                f"{algorithm} parameter {name}={value!r} must be a positive integer"
            )
    return merged


def _check_password_inputs(algorithm: str, password: bytes, salt: bytes, length: int) -> None:
    if type(password) is not bytes:
        raise InvalidArgument(f"{algorithm} password must be bytes, got {type(password).__name__}")
    if type(salt) is not bytes or len(salt) < 16:
        raise InvalidArgument(
            f"{algorithm} salt must be at least 16 bytes, got {describe(salt)}",
            fix="pass 16 or more random bytes, stored beside the derived key",
        )
    if type(length) is not int or not 16 <= length <= 1024:
        raise InvalidArgument(f"{algorithm} output length {length!r} is not in 16..1024")


# cryptography 50.0.2 (OpenSSL 4.0.3) hangs or raises MemoryError when two threads of one
# process run Argon2id at the same time. It was seen with 2 threads and 4 lanes, also at
# 1 MiB of memory. So every derivation in this process takes this lock.
_ARGON2_LOCK = threading.Lock()


def derive_argon2id(
    password: bytes, salt: bytes, length: int, *, memory_kib: int, iterations: int, lanes: int
) -> bytes:
    """Return Argon2id(password, salt) of ``length`` bytes, one derivation at a time."""
    kdf = Argon2id(
        salt=salt, length=length, iterations=iterations, lanes=lanes, memory_cost=memory_kib
    )
    with _ARGON2_LOCK:
        return kdf.derive(password)


class OpenSSLArgon2id(PasswordKDF):
    provider = PROVIDER
    algorithm = "argon2id"

    # RFC 9106 §4, second recommended option: 64 MiB of memory, 3 passes, 4 lanes.
    DEFAULTS: ClassVar[dict[str, int]] = {"memory_kib": 65536, "iterations": 3, "lanes": 4}

    def default_parameters(self) -> dict[str, int]:
        return dict(self.DEFAULTS)

    def derive(
        self, password: bytes, salt: bytes, length: int, parameters: dict[str, int] | None = None
    ) -> bytes:
        params = _check_parameters(self.algorithm, parameters, self.DEFAULTS)
        _check_password_inputs(self.algorithm, password, salt, length)
        if params["memory_kib"] < 8 * params["lanes"]:
            raise InvalidArgument(
                f"argon2id memory_kib={params['memory_kib']} is below 8 * lanes",
                fix="RFC 9106 §3.1 needs at least 8 KiB per lane",
            )
        return derive_argon2id(
            password,
            salt,
            length,
            memory_kib=params["memory_kib"],
            iterations=params["iterations"],
            lanes=params["lanes"],
        )


class OpenSSLScrypt(PasswordKDF):
    provider = PROVIDER
    algorithm = "scrypt"

    # n = 2^17, r = 8, p = 1 needs 128 MiB per derivation (128 * r * n bytes, RFC 7914).
    DEFAULTS: ClassVar[dict[str, int]] = {"n": 1 << 17, "r": 8, "p": 1}

    def default_parameters(self) -> dict[str, int]:
        return dict(self.DEFAULTS)

    def derive(
        self, password: bytes, salt: bytes, length: int, parameters: dict[str, int] | None = None
    ) -> bytes:
        params = _check_parameters(self.algorithm, parameters, self.DEFAULTS)
        _check_password_inputs(self.algorithm, password, salt, length)
        n = params["n"]
        if n < 2 or n & (n - 1):
            raise InvalidArgument(f"scrypt n={n} must be a power of two greater than 1")
        try:
            kdf = Scrypt(salt=salt, length=length, n=n, r=params["r"], p=params["p"])
            return kdf.derive(password)
        except (ValueError, MemoryError) as error:
            raise InvalidArgument(f"scrypt parameters {params} rejected: {error}") from None
