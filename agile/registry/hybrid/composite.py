"""Composite ML-DSA-65 + Ed25519 signatures (draft-ietf-lamps-pq-composite-sigs).

Both components sign the message representative
M' = Prefix || Label || len(ctx) || ctx || SHA-512(M), and ML-DSA also gets Label
as its FIPS 204 context.  A signature verifies only if both components verify.
Public key = ML-DSA pk || Ed25519 pk, signature = ML-DSA signature || Ed25519
signature, private key = ML-DSA seed (32 bytes) || Ed25519 seed (32 bytes).
The draft's published test vector for id-MLDSA65-Ed25519-SHA512 pins this layout
(see tests/registry/data/).
"""

from __future__ import annotations

import hashlib
import os
from typing import ClassVar

from ...errors import InvalidArgument, InvalidKey, InvalidSignature
from ..interfaces import KeyForm, PrivateKey, PublicKey, SignatureScheme
from ..providers._checks import describe, require_length

__all__ = ["CompositeMLDSA65Ed25519", "PREFIX", "LABEL"]

#: The draft's fixed prefix, shared by every composite signature algorithm.
PREFIX = b"CompositeAlgorithmSignatures2025"
#: The label of id-MLDSA65-Ed25519-SHA512 (also the ML-DSA context string).
LABEL = b"COMPSIG-MLDSA65-Ed25519-SHA512"

_MLDSA_PUBLIC = 1952
_MLDSA_SIGNATURE = 3309


class CompositeMLDSA65Ed25519(SignatureScheme):
    """ML-DSA-65 from one provider combined with Ed25519, with component keys as handles."""

    algorithm = "ml-dsa-65-ed25519"
    supports_context = True
    private_forms = frozenset({KeyForm.SEED, KeyForm.COMPOSITE})
    #: The ML-DSA-65 implementation of the provider this composite belongs to.
    mldsa: ClassVar[SignatureScheme]
    #: The Ed25519 implementation (OpenSSL).
    ed25519: ClassVar[SignatureScheme]

    def _wrap(self, private_m: PrivateKey, private_e: PrivateKey, form: KeyForm) -> PrivateKey:
        public_key = PublicKey(
            self.algorithm,
            self.provider,
            private_m.public_key.data + private_e.public_key.data,
            (private_m.public_key, private_e.public_key),
        )
        return PrivateKey(
            self.algorithm,
            self.provider,
            form,
            private_m.data + private_e.data,
            public_key,
            (private_m, private_e),
        )

    def generate(self) -> PrivateKey:
        return self.load_private(os.urandom(64), KeyForm.SEED)

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        checked = self._form(form)
        require_length(data, 64, "ml-dsa-65-ed25519", "private key (two seeds)", InvalidKey)
        private_m = self.mldsa.load_private(data[:32], KeyForm.SEED)
        private_e = self.ed25519.load_private(data[32:], KeyForm.RAW)
        return self._wrap(private_m, private_e, checked)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, _MLDSA_PUBLIC + 32, "ml-dsa-65-ed25519", "public key", InvalidKey)
        public_m = self.mldsa.load_public(data[:_MLDSA_PUBLIC])
        public_e = self.ed25519.load_public(data[_MLDSA_PUBLIC:])
        return PublicKey(self.algorithm, self.provider, data, (public_m, public_e))

    def message_representative(self, message: bytes, context: bytes = b"") -> bytes:
        """Return M' = Prefix || Label || len(ctx) || ctx || SHA-512(M)."""
        if type(context) is not bytes or len(context) > 255:
            raise InvalidArgument(
                f"ml-dsa-65-ed25519 context must be at most 255 bytes, got {describe(context)}",
                fix="use a shorter context string",
            )
        if type(message) is not bytes:
            raise InvalidArgument(
                f"ml-dsa-65-ed25519 message must be bytes, got {type(message).__name__}"
            )
        digest = hashlib.sha512(message).digest()
        return PREFIX + LABEL + bytes([len(context)]) + context + digest

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        private_m, private_e = self._private_handle(private_key)
        representative = self.message_representative(message, context)
        signature_m = self.mldsa.sign(private_m, representative, LABEL)
        return signature_m + self.ed25519.sign(private_e, representative)

    def sign_deterministic(
        self, private_key: PrivateKey, message: bytes, context: bytes = b""
    ) -> bytes:
        """Sign with deterministic ML-DSA (rnd = 0^32).  Ed25519 signatures are deterministic."""
        private_m, private_e = self._private_handle(private_key)
        representative = self.message_representative(message, context)
        signature_m = self.mldsa.sign_deterministic(private_m, representative, LABEL)
        return signature_m + self.ed25519.sign(private_e, representative)

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public_m, public_e = self._public_handle(public_key)
        representative = self.message_representative(message, context)
        if type(signature) is not bytes or len(signature) != _MLDSA_SIGNATURE + 64:
            raise InvalidSignature(
                f"ml-dsa-65-ed25519 signature must be {_MLDSA_SIGNATURE + 64} bytes, "
                f"got {describe(signature)}",
                fix="pass the signature bytes exactly as produced",
            )
        # Both components must verify, and each raises InvalidSignature on failure.
        self.mldsa.verify(public_m, representative, signature[:_MLDSA_SIGNATURE], LABEL)
        self.ed25519.verify(public_e, representative, signature[_MLDSA_SIGNATURE:])
