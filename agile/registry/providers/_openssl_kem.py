"""The ``openssl`` KEMs: RFC 9180 DHKEMs over X25519, P-256 and P-384, ML-KEM and RSA-OAEP."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, x25519

from ...errors import InvalidCiphertext, InvalidKey
from ..interfaces import KEM, KeyForm, PrivateKey, PublicKey
from ._checks import require_length
from ._dhkem import DHKEM, X25519_PARAMS, DHGroup, DHKEMParams
from ._openssl_keys import (
    PROVIDER,
    RSAKeys,
    ec_private_bytes,
    ec_private_key,
    ec_public_bytes,
    ec_public_key,
    load_raw_public,
    spki_public_key,
    wrap_raw_key,
)

__all__ = ["OpenSSLX25519Group", "OpenSSLECGroup", "OpenSSLDHKEM", "OpenSSLMLKEM", "OpenSSLRSAOAEP"]

# Diffie-Hellman groups for the DHKEMs.


class OpenSSLX25519Group(DHGroup):
    params = X25519_PARAMS

    def generate(self) -> Any:
        return x25519.X25519PrivateKey.generate()

    def private_from_bytes(self, data: bytes) -> Any:
        return x25519.X25519PrivateKey.from_private_bytes(data)

    def private_to_bytes(self, private: Any) -> bytes:
        return private.private_bytes_raw()

    def public_of(self, private: Any) -> Any:
        return private.public_key()

    def public_from_bytes(self, data: bytes) -> Any:
        return x25519.X25519PublicKey.from_public_bytes(data)

    def public_to_bytes(self, public: Any) -> bytes:
        return public.public_bytes_raw()

    def dh(self, private: Any, public: Any) -> bytes:
        # OpenSSL raises ValueError on an all-zero output (RFC 7748 §6.1 check).
        return private.exchange(public)

    def public_from_spki(self, data: bytes) -> Any:
        return spki_public_key(data, x25519.X25519PublicKey, "x25519")


class OpenSSLECGroup(DHGroup):
    def __init__(self, params: DHKEMParams, curve: ec.EllipticCurve, algorithm: str) -> None:
        self.params = params
        self._curve = curve
        self._algorithm = algorithm

    def generate(self) -> Any:
        return ec.generate_private_key(self._curve)

    def private_from_bytes(self, data: bytes) -> Any:
        return ec_private_key(self._curve, data, self._algorithm)

    def private_to_bytes(self, private: Any) -> bytes:
        return ec_private_bytes(private, self.params.nsk)

    def public_of(self, private: Any) -> Any:
        return private.public_key()

    def public_from_bytes(self, data: bytes) -> Any:
        return ec_public_key(self._curve, data, self._algorithm, self.params.npk)

    def public_to_bytes(self, public: Any) -> bytes:
        return ec_public_bytes(public)

    def public_from_spki(self, data: bytes) -> Any:
        public = spki_public_key(data, ec.EllipticCurvePublicKey, self._algorithm)
        if public.curve.name != self._curve.name:
            raise InvalidKey(
                f"{self._algorithm} peer key is on {public.curve.name}, not {self._curve.name}"
            )
        return public

    def dh(self, private: Any, public: Any) -> bytes:
        # RFC 9180 §7.1.1 takes the x-coordinate as the DH output.  A valid public key
        # on a prime-order curve cannot give the point at infinity.
        return private.exchange(ec.ECDH(), public)


class OpenSSLDHKEM(DHKEM):
    provider = PROVIDER


# ML-KEM (FIPS 203).


class OpenSSLMLKEM(KEM):
    provider = PROVIDER
    private_forms = frozenset({KeyForm.SEED})
    _private_cls: ClassVar[Any]
    _public_cls: ClassVar[Any]

    def _wrap(self, private: Any, seed: bytes | None = None) -> PrivateKey:
        return wrap_raw_key(self.algorithm, private, KeyForm.SEED, seed)

    def generate(self) -> PrivateKey:
        return self._wrap(self._private_cls.generate())

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        require_length(
            data, 64, self.algorithm, "seed (d || z)", InvalidKey, fix="pass the 64-byte seed"
        )
        return self._wrap(self._private_cls.from_seed_bytes(data), data)

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """FIPS 203 ML-KEM.KeyGen_internal(d, z) from the 64-byte seed d || z."""
        return self.load_private(ikm, KeyForm.SEED)

    def load_public(self, data: bytes) -> PublicKey:
        # cryptography rejects a key that fails the FIPS 203 §7.2 modulus check
        # (a coefficient not below q).
        size = self.descriptor.sizes.public_key or 0
        return load_raw_public(
            self.algorithm,
            self._public_cls,
            data,
            size,
            "fails the FIPS 203 modulus check",
            fix="the key was corrupted: obtain the recipient's key again",
        )

    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        shared_secret, ciphertext = self._public_handle(public_key).encapsulate()
        return ciphertext, shared_secret

    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        private = self._private_handle(private_key)
        size = self.descriptor.sizes.ciphertext or 0
        require_length(ciphertext, size, self.algorithm, "ciphertext", InvalidCiphertext)
        return private.decapsulate(ciphertext)


_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class OpenSSLRSAOAEP(RSAKeys, KEM):
    """RSA-OAEP key transport of a random 32-byte secret (RFC 8017 §7.1)."""

    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        public = self._public_handle(public_key)
        secret = os.urandom(32)
        try:
            return public.encrypt(secret, _OAEP), secret
        except ValueError:
            # OpenSSL refuses some moduli that load, such as an even one.
            raise InvalidKey(
                f"invalid {self.algorithm} public key: OpenSSL rejected its modulus",
                fix="run 'agile keystore check' and replace the key with a valid one",
            ) from None

    def decrypt_oaep(self, private_key: PrivateKey, ciphertext: bytes, label: bytes = b"") -> bytes:
        """Return the RSAES-OAEP plaintext of any length and label, for conformance tests."""
        private = self._private_handle(private_key)
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None
        )
        try:
            return private.decrypt(ciphertext, oaep)
        except (ValueError, TypeError):
            raise InvalidCiphertext(
                f"{self.algorithm} decryption failed",
                fix="wrong private key or label, or the ciphertext was tampered with",
            ) from None

    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        private = self._private_handle(private_key)
        require_length(ciphertext, self._bits // 8, self.algorithm, "ciphertext", InvalidCiphertext)
        try:
            secret = private.decrypt(ciphertext, _OAEP)
        except ValueError:
            raise InvalidCiphertext(
                f"{self.algorithm} decryption failed",
                fix="wrong private key, or the ciphertext was tampered with",
            ) from None
        if len(secret) != 32:
            raise InvalidCiphertext(
                f"{self.algorithm} ciphertext carries {len(secret)} bytes, not a 32-byte secret",
                fix="the ciphertext was not produced by agile's RSA-OAEP encapsulation",
            )
        return secret
