"""The ``libsodium`` provider: X25519, Ed25519 and the ChaCha20-Poly1305 AEADs via PyNaCl."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.exceptions import RuntimeError as SodiumRuntimeError

from ...errors import AuthenticationFailed, InvalidArgument, InvalidKey, InvalidSignature
from ..interfaces import (
    AEAD,
    AEADContext,
    Implementation,
    KeyForm,
    PrivateKey,
    PublicKey,
    SignatureScheme,
)
from ._binding import bind
from ._checks import describe, require_length
from ._dhkem import DHKEM, X25519_PARAMS, DHGroup

__all__ = ["implementations"]

PROVIDER = "libsodium"


class SodiumX25519Group(DHGroup):
    """X25519 on raw byte strings.  libsodium clamps the scalar itself (RFC 7748 §5)."""

    params = X25519_PARAMS

    def generate(self) -> Any:
        return os.urandom(32)

    def private_from_bytes(self, data: bytes) -> Any:
        return data

    def private_to_bytes(self, private: Any) -> bytes:
        return private

    def public_of(self, private: Any) -> Any:
        return sodium.crypto_scalarmult_base(private)

    def public_from_bytes(self, data: bytes) -> Any:
        return data

    def public_to_bytes(self, public: Any) -> bytes:
        return public

    def dh(self, private: Any, public: Any) -> bytes:
        try:
            return sodium.crypto_scalarmult(private, public)
        except SodiumRuntimeError:
            # libsodium returns -1 when the output is all zeros (a low-order point).
            raise ValueError("all-zero X25519 output") from None


class SodiumDHKEM(DHKEM):
    provider = PROVIDER


class SodiumEd25519(SignatureScheme):
    """Ed25519 (RFC 8032): the private key is the 32-byte seed, its handle libsodium's 64 bytes."""

    provider = PROVIDER
    algorithm = "ed25519"
    private_forms = frozenset({KeyForm.RAW})

    def _from_seed(self, seed: bytes) -> PrivateKey:
        public, secret = sodium.crypto_sign_seed_keypair(seed)
        public_key = PublicKey(self.algorithm, PROVIDER, public, public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.RAW, seed, public_key, secret)

    def generate(self) -> PrivateKey:
        return self._from_seed(os.urandom(32))

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        require_length(data, 32, "ed25519", "private key (seed)", InvalidKey)
        return self._from_seed(data)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, 32, "ed25519", "public key", InvalidKey)
        return PublicKey(self.algorithm, PROVIDER, data, data)

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        secret = self._private_handle(private_key)
        self._check_context(context)
        try:
            # crypto_sign returns signature || message, so the signature is the first 64 bytes.
            return sodium.crypto_sign(message, secret)[: sodium.crypto_sign_BYTES]
        except TypeError:
            raise InvalidArgument(
                f"ed25519 message must be bytes, got {type(message).__name__}"
            ) from None

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public = self._public_handle(public_key)
        self._check_context(context)
        if type(signature) is not bytes or len(signature) != sodium.crypto_sign_BYTES:
            raise InvalidSignature(
                f"ed25519 signature must be 64 bytes, got {describe(signature)}",
                fix="pass the signature bytes exactly as produced",
            )
        try:
            sodium.crypto_sign_open(signature + message, public)
        except BadSignatureError:
            raise InvalidSignature(
                "ed25519 signature is invalid",
                fix="the message, signature or public key differs from what was signed",
            ) from None
        except TypeError:
            raise InvalidArgument(
                f"ed25519 message must be bytes, got {type(message).__name__}"
            ) from None


class SodiumAEADContext(AEADContext):
    __slots__ = ("_key", "_encrypt", "_decrypt", "_nonce_size", "_algorithm")

    def __init__(self, key: bytes, encrypt: Any, decrypt: Any, nonce_size: int, algorithm: str):
        self._key = key
        self._encrypt = encrypt
        self._decrypt = decrypt
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
            return self._encrypt(plaintext, associated_data, nonce, self._key)
        except TypeError as error:
            raise InvalidArgument(f"{self._algorithm} encryption input rejected: {error}") from None

    def decrypt(self, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        if type(nonce) is not bytes or len(nonce) != self._nonce_size:
            raise self._bad_nonce(nonce)
        try:
            return self._decrypt(ciphertext, associated_data, nonce, self._key)
        except (CryptoError, ValueError):
            # PyNaCl raises ValueError for input shorter than the 16-byte tag.
            raise AuthenticationFailed(
                f"{self._algorithm} authentication tag did not verify",
                fix="wrong key, nonce or associated data, or the ciphertext was tampered with",
            ) from None
        except TypeError as error:
            raise InvalidArgument(f"{self._algorithm} decryption input rejected: {error}") from None


class SodiumAEAD(AEAD):
    provider = PROVIDER
    _encrypt: ClassVar[Any]
    _decrypt: ClassVar[Any]

    def new(self, key: bytes) -> AEADContext:
        require_length(key, self.key_size, self.algorithm, "key", InvalidKey)
        return SodiumAEADContext(key, self._encrypt, self._decrypt, self.nonce_size, self.algorithm)


def implementations() -> list[Implementation]:
    """Return every algorithm this provider implements."""
    return [
        bind(SodiumDHKEM, "x25519", group=SodiumX25519Group()),
        SodiumEd25519(),
        bind(
            SodiumAEAD,
            "chacha20-poly1305",
            _encrypt=staticmethod(sodium.crypto_aead_chacha20poly1305_ietf_encrypt),
            _decrypt=staticmethod(sodium.crypto_aead_chacha20poly1305_ietf_decrypt),
        ),
        bind(
            SodiumAEAD,
            "xchacha20-poly1305",
            _encrypt=staticmethod(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt),
            _decrypt=staticmethod(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt),
        ),
    ]
