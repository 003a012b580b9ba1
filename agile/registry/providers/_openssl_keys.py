"""Key parsing shared by the ``openssl`` KEMs and signatures: EC points and scalars, RSA."""

from __future__ import annotations

from typing import Any, ClassVar

from cryptography.exceptions import UnsupportedAlgorithm as _CryptographyUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ...errors import InvalidKey
from ..interfaces import KeyForm, PrivateKey, PublicKey
from ._checks import describe, require_length

__all__ = [
    "PROVIDER",
    "RSAKeys",
    "ec_private_key",
    "ec_public_key",
    "ec_private_bytes",
    "ec_public_bytes",
    "spki_public_key",
    "wrap_raw_key",
    "load_raw_public",
]

PROVIDER = "openssl"


def ec_private_key(curve: ec.EllipticCurve, data: bytes, algorithm: str) -> Any:
    try:
        return ec.derive_private_key(int.from_bytes(data, "big"), curve)
    except ValueError:
        raise InvalidKey(
            f"{algorithm} private scalar is zero or not below the group order",
            fix="pass a big-endian scalar in [1, n-1]",
        ) from None


def ec_public_key(curve: ec.EllipticCurve, data: bytes, algorithm: str, length: int) -> Any:
    # Only the uncompressed SEC 1 form is portable here (RFC 9180 §7.1.1 SerializePublicKey).
    if type(data) is not bytes or len(data) != length or data[0] != 0x04:
        raise InvalidKey(
            f"{algorithm} public key must be a {length}-byte uncompressed SEC 1 point, "
            f"got {describe(data)}",
            fix="pass 0x04 || X || Y",
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, data)
    except ValueError:
        raise InvalidKey(
            f"{algorithm} public key is not a point on the curve",
            fix="pass a valid uncompressed SEC 1 point",
        ) from None


def spki_public_key(data: bytes, kind: type, algorithm: str) -> Any:
    try:
        public = serialization.load_der_public_key(data)
    except (ValueError, TypeError, _CryptographyUnsupported):
        raise InvalidKey(f"{algorithm} peer key is not a valid DER SubjectPublicKeyInfo") from None
    if not isinstance(public, kind):
        raise InvalidKey(f"{algorithm} peer key is a {type(public).__name__}")
    return public


def ec_private_bytes(private: Any, length: int) -> bytes:
    return private.private_numbers().private_value.to_bytes(length, "big")


def ec_public_bytes(public: Any) -> bytes:
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


# RSA key handling, shared by RSA-OAEP and RSA-PSS.


class RSAKeys:
    algorithm: ClassVar[str]
    provider = PROVIDER
    private_forms = frozenset({KeyForm.PKCS8})
    _bits: ClassVar[int]

    def _check_size(self, key: Any) -> None:
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise InvalidKey(
                f"{self.algorithm} key is a {type(key).__name__}, not an RSA key",
                fix="pass an RSA key",
            )
        if key.key_size != self._bits:
            raise InvalidKey(
                f"{self.algorithm} needs a {self._bits}-bit modulus, got {key.key_size} bits",
                fix=f"use rsa-oaep-{key.key_size} / rsa-pss-{key.key_size}-sha256 if it exists, "
                f"or a {self._bits}-bit key",
            )

    def _wrap(self, private: Any) -> PrivateKey:
        public = private.public_key()
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pkcs8 = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_key = PublicKey(self.algorithm, PROVIDER, spki, public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.PKCS8, pkcs8, public_key, private)

    def generate(self) -> PrivateKey:
        return self._wrap(rsa.generate_private_key(public_exponent=65537, key_size=self._bits))

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)  # type: ignore[attr-defined]
        if type(data) is not bytes or not data:
            raise InvalidKey(f"{self.algorithm} private key must be PKCS#8 DER bytes")
        try:
            private = serialization.load_der_private_key(data, password=None)
        except (ValueError, TypeError, _CryptographyUnsupported):
            raise InvalidKey(
                f"{self.algorithm} private key is not an unencrypted PKCS#8 DER key",
                fix="pass a DER PrivateKeyInfo",
            ) from None
        self._check_size(private)
        return self._wrap(private)

    def load_public(self, data: bytes) -> PublicKey:
        if type(data) is not bytes or not data:
            raise InvalidKey(f"{self.algorithm} public key must be SPKI DER bytes")
        try:
            public = serialization.load_der_public_key(data)
        except (ValueError, TypeError, _CryptographyUnsupported):
            raise InvalidKey(
                f"{self.algorithm} public key is not a DER SubjectPublicKeyInfo",
                fix="pass the SPKI DER encoding",
            ) from None
        self._check_size(public)
        return PublicKey(self.algorithm, PROVIDER, data, public)


def wrap_raw_key(
    algorithm: str, private: Any, form: KeyForm, data: bytes | None = None
) -> PrivateKey:
    """Wrap a cryptography key object whose keys have raw encodings (EdDSA, ML-KEM, ML-DSA).

    ``data`` is the stored private form; it defaults to ``private_bytes_raw()``.
    """
    public = private.public_key()
    public_key = PublicKey(algorithm, PROVIDER, public.public_bytes_raw(), public)
    if data is None:
        data = private.private_bytes_raw()
    return PrivateKey(algorithm, PROVIDER, form, data, public_key, private)


def load_raw_public(
    algorithm: str, public_cls: Any, data: bytes, size: int, problem: str, fix: str | None = None
) -> PublicKey:
    """Parse a raw public key of ``size`` bytes; raise InvalidKey naming ``problem`` if rejected."""
    require_length(data, size, algorithm, "public key", InvalidKey)
    try:
        public = public_cls.from_public_bytes(data)
    except ValueError:
        raise InvalidKey(f"{algorithm} public key {problem}", fix=fix) from None
    return PublicKey(algorithm, PROVIDER, data, public)
