"""X-Wing: the ML-KEM-768 + X25519 hybrid KEM of draft-connolly-cfrg-xwing-kem.

The private key is a 32-byte seed.  SHAKE256(seed, 96) gives the ML-KEM-768 seed
d || z (64 bytes) and the X25519 scalar (32 bytes).  The shared secret is
SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel), and the ciphertext is
ct_M || ct_X.  The ML-KEM component comes from the provider whose name the
implementation carries; X25519 always comes from OpenSSL.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ...errors import InvalidCiphertext, InvalidKey
from ..interfaces import KEM, KeyForm, PrivateKey, PublicKey
from ..providers._checks import require_length

__all__ = ["XWing", "XWING_LABEL"]

#: The combiner's domain separator, the ASCII bytes of the drawing \.//^\ .
XWING_LABEL = b"\\.//^\\"

_ML_KEM_PUBLIC = 1184
_ML_KEM_CIPHERTEXT = 1088


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


class XWing(KEM):
    """X-Wing over one provider's ML-KEM-768.

    Private-key handles are ``(ML-KEM private key, X25519 private key, pk_X)`` and
    public-key handles ``(ML-KEM public key, X25519 public key, pk_X)``.
    """

    algorithm = "x-wing"
    private_forms = frozenset({KeyForm.SEED})
    #: The ML-KEM-768 implementation of the provider this X-Wing belongs to.
    mlkem: ClassVar[KEM]

    def _from_seed(self, seed: bytes) -> PrivateKey:
        expanded = hashlib.shake_256(seed).digest(96)
        private_m = self.mlkem.derive_key_pair(expanded[:64])
        private_x = X25519PrivateKey.from_private_bytes(expanded[64:96])
        public_x = private_x.public_key()
        pk_x = public_x.public_bytes_raw()
        public_key = PublicKey(
            self.algorithm,
            self.provider,
            private_m.public_key.data + pk_x,
            (private_m.public_key, public_x, pk_x),
        )
        return PrivateKey(
            self.algorithm,
            self.provider,
            KeyForm.SEED,
            seed,
            public_key,
            (private_m, private_x, pk_x),
        )

    def generate(self) -> PrivateKey:
        return self._from_seed(os.urandom(32))

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """Expand the 32-byte X-Wing seed (the draft's GenerateKeyPairDerand)."""
        require_length(ikm, 32, "x-wing", "seed", InvalidKey)
        return self._from_seed(ikm)

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        return self.derive_key_pair(data)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, _ML_KEM_PUBLIC + 32, "x-wing", "public key", InvalidKey)
        public_m = self.mlkem.load_public(data[:_ML_KEM_PUBLIC])
        pk_x = data[_ML_KEM_PUBLIC:]
        public_x = X25519PublicKey.from_public_bytes(pk_x)
        return PublicKey(self.algorithm, self.provider, data, (public_m, public_x, pk_x))

    def _encapsulate_with(
        self,
        public_key: PublicKey,
        private_e: Any,
        ct_m: bytes,
        ss_m: bytes,
        pk_x: bytes,
        public_x: Any,
    ) -> tuple[bytes, bytes]:
        ct_x = private_e.public_key().public_bytes_raw()
        try:
            ss_x = private_e.exchange(public_x)
        except ValueError:
            raise InvalidKey(
                "x-wing public key has a low-order X25519 component",
                fix="obtain a valid recipient key",
            ) from None
        return ct_m + ct_x, _combine(ss_m, ss_x, ct_x, pk_x)

    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        public_m, public_x, pk_x = self._public_handle(public_key)
        ct_m, ss_m = self.mlkem.encapsulate(public_m)
        private_e = X25519PrivateKey.generate()
        return self._encapsulate_with(public_key, private_e, ct_m, ss_m, pk_x, public_x)

    def encapsulate_derandomized(self, public_key: PublicKey, seed: bytes) -> tuple[bytes, bytes]:
        """Encapsulate with the 64-byte eseed: ML-KEM's m, then the ephemeral X25519 scalar."""
        public_m, public_x, pk_x = self._public_handle(public_key)
        require_length(seed, 64, "x-wing", "eseed")
        ct_m, ss_m = self.mlkem.encapsulate_derandomized(public_m, seed[:32])
        private_e = X25519PrivateKey.from_private_bytes(seed[32:])
        return self._encapsulate_with(public_key, private_e, ct_m, ss_m, pk_x, public_x)

    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        private_m, private_x, pk_x = self._private_handle(private_key)
        require_length(
            ciphertext, _ML_KEM_CIPHERTEXT + 32, "x-wing", "ciphertext", InvalidCiphertext
        )
        ct_m, ct_x = ciphertext[:_ML_KEM_CIPHERTEXT], ciphertext[_ML_KEM_CIPHERTEXT:]
        ss_m = self.mlkem.decapsulate(private_m, ct_m)
        try:
            ss_x = private_x.exchange(X25519PublicKey.from_public_bytes(ct_x))
        except ValueError:
            # NOTE: the draft derives a key even from a low-order ct_X.  OpenSSL rejects the
            # all-zero X25519 output, so such a (necessarily forged) ciphertext raises here.
            raise InvalidCiphertext(
                "x-wing ciphertext has a low-order X25519 component",
                fix="the ciphertext was corrupted or forged",
            ) from None
        return _combine(ss_m, ss_x, ct_x, pk_x)
