"""The ``reference`` provider: pure-Python FIPS 203/204 code (kyber-py, dilithium-py).

It is 50 to 185 times slower than ``openssl`` and not constant-time.  It exists for
what the fast providers hide: seeded key generation with the expanded key as output,
derandomized encapsulation, deterministic and internal ML-DSA signing, and
conversion of a stored seed into the expanded key that ``pqcrypto`` needs.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, ClassVar

from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87
from kyber_py.ml_kem import ML_KEM_512, ML_KEM_768, ML_KEM_1024

from ...errors import (
    InvalidArgument,
    InvalidCiphertext,
    InvalidKey,
    InvalidSignature,
    UnsupportedOperation,
)
from ..interfaces import KEM, Implementation, KeyForm, PrivateKey, PublicKey, SignatureScheme
from ._binding import bind
from ._checks import require_length
from ._mldsa_expanded import public_key_of_expanded

__all__ = ["implementations"]

PROVIDER = "reference"


class ReferenceMLKEM(KEM):
    """ML-KEM whose private-key handle is the expanded dk and whose public-key handle is ek."""

    provider = PROVIDER
    private_forms = frozenset({KeyForm.SEED, KeyForm.EXPANDED})
    _scheme: ClassVar[Any]
    _k: ClassVar[int]

    def _dk_size(self) -> int:
        return 768 * self._k + 96

    def _from_seed(self, seed: bytes) -> PrivateKey:
        public, expanded = self._scheme.key_derive(seed)
        public_key = PublicKey(self.algorithm, PROVIDER, public, public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.SEED, seed, public_key, expanded)

    def generate(self) -> PrivateKey:
        return self._from_seed(os.urandom(64))

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """FIPS 203 ML-KEM.KeyGen_internal(d, z) from the 64-byte seed d || z."""
        require_length(ikm, 64, self.algorithm, "seed (d || z)", InvalidKey)
        return self._from_seed(ikm)

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        if self._form(form) == KeyForm.SEED:
            return self.derive_key_pair(data)

        require_length(data, self._dk_size(), self.algorithm, "dk", InvalidKey)
        k = self._k
        public = data[384 * k : 768 * k + 32]
        # FIPS 203 §7.3 hash check on the expanded key.
        if hashlib.sha3_256(public).digest() != data[768 * k + 32 : 768 * k + 64]:
            raise InvalidKey(
                f"{self.algorithm} dk fails the FIPS 203 hash check (H(ek) does not match)",
                fix="the key was corrupted: restore it from a backup",
            )
        public_key = self.load_public(public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.EXPANDED, data, public_key, data)

    def export_private(self, key: PrivateKey, form: KeyForm | str) -> bytes:
        """Return the key as a seed (if it was stored as one) or as the expanded FIPS 203 dk."""
        if KeyForm(form) == KeyForm.EXPANDED:
            return self._private_handle(key)
        return super().export_private(key, form)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, 384 * self._k + 32, self.algorithm, "ek", InvalidKey)
        return PublicKey(self.algorithm, PROVIDER, data, data)

    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        return self.encapsulate_derandomized(public_key, os.urandom(32))

    def encapsulate_derandomized(self, public_key: PublicKey, seed: bytes) -> tuple[bytes, bytes]:
        """FIPS 203 ML-KEM.Encaps_internal(ek, m) with the 32-byte message m."""
        public = self._public_handle(public_key)
        require_length(seed, 32, self.algorithm, "encapsulation randomness m")
        try:
            shared_secret, ciphertext = self._scheme._encaps_internal(public, seed)
        except ValueError:
            raise InvalidKey(
                f"{self.algorithm} public key fails the FIPS 203 modulus check",
                fix="the key was corrupted: obtain the recipient's key again",
            ) from None
        return ciphertext, shared_secret

    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        expanded = self._private_handle(private_key)
        size = self.descriptor.sizes.ciphertext or 0
        require_length(ciphertext, size, self.algorithm, "ciphertext", InvalidCiphertext)
        return self._scheme.decaps(expanded, ciphertext)


class ReferenceMLDSA(SignatureScheme):
    """ML-DSA whose private-key handle is the expanded sk and whose public-key handle is pk."""

    provider = PROVIDER
    supports_context = True
    private_forms = frozenset({KeyForm.SEED, KeyForm.EXPANDED})
    _scheme: ClassVar[Any]

    def _from_seed(self, seed: bytes) -> PrivateKey:
        public, expanded = self._scheme.key_derive(seed)
        public_key = PublicKey(self.algorithm, PROVIDER, public, public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.SEED, seed, public_key, expanded)

    def generate(self) -> PrivateKey:
        return self._from_seed(os.urandom(32))

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """FIPS 204 ML-DSA.KeyGen_internal(xi) from the 32-byte seed."""
        require_length(ikm, 32, self.algorithm, "seed (xi)", InvalidKey)
        return self._from_seed(ikm)

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        if self._form(form) == KeyForm.SEED:
            return self.derive_key_pair(data)

        require_length(data, self._scheme._sk_size(), self.algorithm, "sk", InvalidKey)
        public_key = self.load_public(public_key_of_expanded(self.algorithm, data))
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.EXPANDED, data, public_key, data)

    def export_private(self, key: PrivateKey, form: KeyForm | str) -> bytes:
        """Return the key as a seed (if it was stored as one) or as the expanded FIPS 204 sk."""
        if KeyForm(form) == KeyForm.EXPANDED:
            return self._private_handle(key)
        return super().export_private(key, form)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, self._scheme._pk_size(), self.algorithm, "pk", InvalidKey)
        return PublicKey(self.algorithm, PROVIDER, data, data)

    # FIPS 204 Algorithms 2 and 3: M' = 0 || len(ctx) || ctx || M for pure ML-DSA.

    def _message_representative(self, message: bytes, context: bytes) -> bytes:
        if type(context) is not bytes or len(context) > 255:
            raise InvalidArgument(
                f"{self.algorithm} context must be at most 255 bytes",
                fix="use a shorter context string (FIPS 204 §5.2)",
            )
        if type(message) is not bytes:
            raise InvalidArgument(f"{self.algorithm} message must be bytes")
        return b"\x00" + bytes([len(context)]) + context + message

    def _invalid(self) -> InvalidSignature:
        return InvalidSignature(
            f"{self.algorithm} signature is invalid",
            fix="the message, signature or public key differs from what was signed",
        )

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        return self.sign_internal(
            private_key, self._message_representative(message, context), os.urandom(32)
        )

    def sign_deterministic(
        self, private_key: PrivateKey, message: bytes, context: bytes = b""
    ) -> bytes:
        return self.sign_internal(
            private_key, self._message_representative(message, context), bytes(32)
        )

    def sign_internal(
        self, private_key: PrivateKey, message_representative: bytes, randomness: bytes
    ) -> bytes:
        expanded = self._private_handle(private_key)
        require_length(randomness, 32, self.algorithm, "signing randomness rnd")
        return self._scheme._sign_internal(expanded, message_representative, randomness)

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        self.verify_internal(public_key, self._message_representative(message, context), signature)

    def verify_internal(
        self, public_key: PublicKey, message_representative: bytes, signature: bytes
    ) -> None:
        public = self._public_handle(public_key)
        if type(signature) is not bytes or len(signature) != self._scheme._sig_size():
            raise self._invalid()
        if not self._scheme._verify_internal(public, message_representative, signature):
            raise self._invalid()

    def sign_mu(self, private_key: PrivateKey, mu: bytes, randomness: bytes | None = None) -> bytes:
        """Sign an external mu, drawing rnd from the OS when ``randomness`` is None (hedged)."""
        expanded = self._private_handle(private_key)
        require_length(mu, 64, self.algorithm, "mu")
        rnd = os.urandom(32) if randomness is None else randomness
        require_length(rnd, 32, self.algorithm, "signing randomness rnd")
        return self._scheme._sign_internal(expanded, mu, rnd, external_mu=True)

    def verify_mu(self, public_key: PublicKey, mu: bytes, signature: bytes) -> None:
        # dilithium-py recomputes mu from pk and M' inside verification, so it cannot
        # start from an external mu.  The openssl provider can.
        raise UnsupportedOperation(
            f"{PROVIDER} cannot verify an external mu for {self.algorithm}",
            fix="use the 'openssl' provider's verify_mu",
        )


def implementations() -> list[Implementation]:
    """Return every algorithm this provider implements."""
    return [
        bind(ReferenceMLKEM, "ml-kem-512", _scheme=ML_KEM_512, _k=2),
        bind(ReferenceMLKEM, "ml-kem-768", _scheme=ML_KEM_768, _k=3),
        bind(ReferenceMLKEM, "ml-kem-1024", _scheme=ML_KEM_1024, _k=4),
        bind(ReferenceMLDSA, "ml-dsa-44", _scheme=ML_DSA_44),
        bind(ReferenceMLDSA, "ml-dsa-65", _scheme=ML_DSA_65),
        bind(ReferenceMLDSA, "ml-dsa-87", _scheme=ML_DSA_87),
    ]
