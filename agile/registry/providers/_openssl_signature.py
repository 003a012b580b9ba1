"""The ``openssl`` signatures: Ed25519, Ed448, OpenSSLECDSA, RSA-PSS and ML-DSA."""

from __future__ import annotations

from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from ...errors import InvalidArgument, InvalidKey, InvalidSignature, UnsupportedOperation
from ..interfaces import KeyForm, PrivateKey, PublicKey, SignatureScheme
from ._checks import require_length
from ._openssl_keys import (
    PROVIDER,
    RSAKeys,
    ec_private_bytes,
    ec_private_key,
    ec_public_bytes,
    ec_public_key,
    load_raw_public,
    wrap_raw_key,
)

__all__ = ["OpenSSLSignature", "OpenSSLEdDSA", "OpenSSLECDSA", "OpenSSLRSAPSS", "OpenSSLMLDSA"]


def check_context(algorithm: str, context: bytes) -> None:
    """Raise InvalidArgument unless ``context`` is bytes of at most 255 (FIPS 204 §5.2)."""
    if type(context) is not bytes:
        raise InvalidArgument(
            f"{algorithm} context string must be bytes, got {type(context).__name__}"
        )
    if len(context) > 255:
        raise InvalidArgument(
            f"{algorithm} context string is {len(context)} bytes, more than 255",
            fix="use a context string of at most 255 bytes (FIPS 204 §5.2)",
        )


# Signatures.


class OpenSSLSignature(SignatureScheme):
    provider = PROVIDER

    def _invalid(self) -> InvalidSignature:
        return InvalidSignature(
            f"{self.algorithm} signature is invalid",
            fix="the message, signature or public key differs from what was signed",
        )

    def _bad_message(self, message: object, signature: object = b"") -> InvalidArgument:
        """Return the error for a non-bytes input, naming the one that is not bytes."""
        name, value = "message", message
        if isinstance(message, bytes | bytearray | memoryview):
            name, value = "signature", signature
        return InvalidArgument(
            f"{self.algorithm} {name} must be bytes, got {type(value).__name__}",
            fix="pass bytes, for example text.encode()",
        )


class OpenSSLEdDSA(OpenSSLSignature):
    private_forms = frozenset({KeyForm.RAW})
    _private_cls: ClassVar[Any]
    _public_cls: ClassVar[Any]

    def _wrap(self, private: Any) -> PrivateKey:
        return wrap_raw_key(self.algorithm, private, KeyForm.RAW)

    def generate(self) -> PrivateKey:
        return self._wrap(self._private_cls.generate())

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        size = self.descriptor.sizes.private_key or 0
        require_length(data, size, self.algorithm, "private key (seed)", InvalidKey)
        return self._wrap(self._private_cls.from_private_bytes(data))

    def load_public(self, data: bytes) -> PublicKey:
        size = self.descriptor.sizes.public_key or 0
        return load_raw_public(self.algorithm, self._public_cls, data, size, "is not a valid point")

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        private = self._private_handle(private_key)
        self._check_context(context)
        try:
            return private.sign(message)
        except TypeError:
            raise self._bad_message(message) from None

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public = self._public_handle(public_key)
        self._check_context(context)
        try:
            public.verify(signature, message)
        except _CryptographyInvalidSignature:
            raise self._invalid() from None
        except TypeError:
            raise self._bad_message(message, signature) from None


class OpenSSLECDSA(OpenSSLSignature):
    private_forms = frozenset({KeyForm.RAW})
    _curve: ClassVar[ec.EllipticCurve]
    _hash: ClassVar[type[hashes.HashAlgorithm]]

    def _wrap(self, private: Any) -> PrivateKey:
        public = private.public_key()
        size = self.descriptor.sizes.private_key or 0
        public_key = PublicKey(self.algorithm, PROVIDER, ec_public_bytes(public), public)
        return PrivateKey(
            self.algorithm,
            PROVIDER,
            KeyForm.RAW,
            ec_private_bytes(private, size),
            public_key,
            private,
        )

    def generate(self) -> PrivateKey:
        return self._wrap(ec.generate_private_key(self._curve))

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        size = self.descriptor.sizes.private_key or 0
        require_length(data, size, self.algorithm, "private scalar", InvalidKey)
        return self._wrap(ec_private_key(self._curve, data, self.algorithm))

    def load_public(self, data: bytes) -> PublicKey:
        size = self.descriptor.sizes.public_key or 0
        public = ec_public_key(self._curve, data, self.algorithm, size)
        return PublicKey(self.algorithm, PROVIDER, data, public)

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        private = self._private_handle(private_key)
        self._check_context(context)
        try:
            return private.sign(message, ec.ECDSA(self._hash()))
        except TypeError:
            raise self._bad_message(message) from None

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public = self._public_handle(public_key)
        self._check_context(context)
        try:
            public.verify(signature, message, ec.ECDSA(self._hash()))
        except _CryptographyInvalidSignature:
            raise self._invalid() from None
        except TypeError:
            raise self._bad_message(message, signature) from None


# RFC 8017 §9.1 allows any salt length, and agile fixes it to the hash length (32 bytes).
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class OpenSSLRSAPSS(RSAKeys, OpenSSLSignature):
    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        private = self._private_handle(private_key)
        self._check_context(context)
        try:
            return private.sign(message, _PSS, hashes.SHA256())
        except TypeError:
            raise self._bad_message(message) from None

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public = self._public_handle(public_key)
        self._check_context(context)
        try:
            public.verify(signature, message, _PSS, hashes.SHA256())
        except _CryptographyInvalidSignature:
            raise self._invalid() from None
        except TypeError:
            raise self._bad_message(message, signature) from None


class OpenSSLMLDSA(OpenSSLSignature):
    supports_context = True
    private_forms = frozenset({KeyForm.SEED})
    _private_cls: ClassVar[Any]
    _public_cls: ClassVar[Any]

    def _wrap(self, private: Any, seed: bytes | None = None) -> PrivateKey:
        return wrap_raw_key(self.algorithm, private, KeyForm.SEED, seed)

    def generate(self) -> PrivateKey:
        return self._wrap(self._private_cls.generate())

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        require_length(data, 32, self.algorithm, "seed (xi)", InvalidKey)
        return self._wrap(self._private_cls.from_seed_bytes(data), data)

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """FIPS 204 ML-DSA.KeyGen_internal(xi) from the 32-byte seed."""
        return self.load_private(ikm, KeyForm.SEED)

    def load_public(self, data: bytes) -> PublicKey:
        size = self.descriptor.sizes.public_key or 0
        return load_raw_public(self.algorithm, self._public_cls, data, size, "is malformed")

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        private = self._private_handle(private_key)
        check_context(self.algorithm, context)
        try:
            return private.sign(message, context or None)
        except TypeError:
            raise self._bad_message(message) from None

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public = self._public_handle(public_key)
        check_context(self.algorithm, context)
        try:
            public.verify(signature, message, context or None)
        except _CryptographyInvalidSignature:
            raise self._invalid() from None
        except TypeError:
            raise self._bad_message(message, signature) from None

    def sign_mu(self, private_key: PrivateKey, mu: bytes, randomness: bytes | None = None) -> bytes:
        """Sign mu = SHAKE256(SHAKE256(pk, 64) || M', 64) (FIPS 204 Algorithm 7)."""
        private = self._private_handle(private_key)
        if randomness is not None:
            raise UnsupportedOperation(
                f"{PROVIDER} draws the {self.algorithm} signing randomness itself",
                fix="pass randomness=None, or use the 'reference' provider",
            )
        require_length(mu, 64, self.algorithm, "mu")
        return private.sign_mu(mu)

    def verify_mu(self, public_key: PublicKey, mu: bytes, signature: bytes) -> None:
        public = self._public_handle(public_key)
        require_length(mu, 64, self.algorithm, "mu")
        try:
            public.verify_mu(signature, mu)
        except _CryptographyInvalidSignature:
            raise self._invalid() from None
        except TypeError:
            raise self._bad_message(mu, signature) from None
