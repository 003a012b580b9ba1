"""The ``pqcrypto`` provider: ML-KEM, ML-DSA and SLH-DSA from pqcrypto 1.0 (Rust).

pqcrypto has no seeded key generation, so its private keys are the expanded
encodings of FIPS 203/204/205.  A key stored as a seed can be handed to it after
the ``reference`` provider expands it (``export_private(key, "expanded")``).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import pqcrypto.kem as _kem_modules
import pqcrypto.sign as _sign_modules
from pqcrypto import InvalidSignatureError

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

PROVIDER = "pqcrypto"

_SEED_FIX = (
    "pqcrypto cannot expand a seed: convert it with "
    "registry.get(ALGORITHM, 'reference').export_private(key, 'expanded'), "
    "or use the 'openssl' or 'reference' provider"
)


def _load_form(impl: Any, form: KeyForm | str | None) -> None:
    """Reject a seed with the reason, before the generic form check."""
    if form == KeyForm.SEED:
        raise UnsupportedOperation(
            f"pqcrypto cannot load {impl.algorithm} private keys from their seed",
            fix=_SEED_FIX,
        )
    impl._form(KeyForm.EXPANDED if form is None else form)


class PQCryptoMLKEM(KEM):
    provider = PROVIDER
    private_forms = frozenset({KeyForm.EXPANDED})
    _module: ClassVar[Any]
    _k: ClassVar[int]

    def generate(self) -> PrivateKey:
        public, secret = self._module.keygen()
        public_key = PublicKey(self.algorithm, PROVIDER, public, public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.EXPANDED, secret, public_key, secret)

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        _load_form(self, form)
        require_length(data, self._module.SECRET_KEY_SIZE, self.algorithm, "dk", InvalidKey)

        # FIPS 203 §7.3 hash check: dk = dk_PKE || ek || H(ek) || z.
        k = self._k
        public = data[384 * k : 768 * k + 32]
        if hashlib.sha3_256(public).digest() != data[768 * k + 32 : 768 * k + 64]:
            raise InvalidKey(
                f"{self.algorithm} dk fails the FIPS 203 hash check (H(ek) does not match)",
                fix="the key was corrupted: restore it from a backup",
            )
        public_key = self.load_public(public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.EXPANDED, data, public_key, data)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, self._module.PUBLIC_KEY_SIZE, self.algorithm, "ek", InvalidKey)
        return PublicKey(self.algorithm, PROVIDER, data, data)

    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        public = self._public_handle(public_key)
        try:
            return self._module.encaps(public)
        except ValueError:
            # FIPS 203 §7.2 modulus check, done by pqcrypto at encapsulation time.
            raise InvalidKey(
                f"{self.algorithm} public key fails the FIPS 203 modulus check",
                fix="the key was corrupted: obtain the recipient's key again",
            ) from None

    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        secret = self._private_handle(private_key)
        size = self._module.CIPHERTEXT_SIZE
        require_length(ciphertext, size, self.algorithm, "ciphertext", InvalidCiphertext)
        return self._module.decaps(secret, ciphertext)


class PQCryptoSignature(SignatureScheme):
    provider = PROVIDER
    supports_context = True
    private_forms = frozenset({KeyForm.EXPANDED})
    _module: ClassVar[Any]

    def generate(self) -> PrivateKey:
        public, secret = self._module.keygen()
        public_key = PublicKey(self.algorithm, PROVIDER, public, public)
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.EXPANDED, secret, public_key, secret)

    def _public_of(self, secret: bytes) -> bytes:
        raise NotImplementedError

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        _load_form(self, form)
        require_length(data, self._module.SECRET_KEY_SIZE, self.algorithm, "sk", InvalidKey)
        public_key = self.load_public(self._public_of(data))
        return PrivateKey(self.algorithm, PROVIDER, KeyForm.EXPANDED, data, public_key, data)

    def load_public(self, data: bytes) -> PublicKey:
        require_length(data, self._module.PUBLIC_KEY_SIZE, self.algorithm, "pk", InvalidKey)
        return PublicKey(self.algorithm, PROVIDER, data, data)

    _max_context: ClassVar[int] = 255

    def _checked_context(self, context: bytes) -> bytes | None:
        if type(context) is not bytes or len(context) > 255:
            raise InvalidArgument(
                f"{self.algorithm} context must be at most 255 bytes",
                fix="use a shorter context string (FIPS 204 §5.2, FIPS 205 §10.2)",
            )
        if len(context) > self._max_context:
            raise UnsupportedOperation(
                f"pqcrypto cannot take a {len(context)}-byte {self.algorithm} context "
                f"(its limit is {self._max_context} bytes)",
                fix="use the 'openssl' or 'reference' provider for this context",
            )
        return context or None

    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        secret = self._private_handle(private_key)
        ctx = self._checked_context(context)
        try:
            return self._module.sign(secret, message, context=ctx)
        except TypeError:
            raise InvalidArgument(f"{self.algorithm} message must be bytes") from None

    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        public = self._public_handle(public_key)
        ctx = self._checked_context(context)
        try:
            self._module.verify(public, message, signature, context=ctx)
        except InvalidSignatureError:
            raise InvalidSignature(
                f"{self.algorithm} signature is invalid",
                fix="the message, signature or public key differs from what was signed",
            ) from None
        except (TypeError, ValueError):
            raise InvalidSignature(
                f"{self.algorithm} signature is malformed",
                fix="pass the signature bytes exactly as produced",
            ) from None


class PQCryptoMLDSA(PQCryptoSignature):
    # NOTE: pqcrypto 1.0 rejects ML-DSA contexts of 254 and 255 bytes with ValueError,
    # although FIPS 204 allows up to 255.  Such contexts raise UnsupportedOperation
    # here, so that a valid signature is never reported as invalid.
    _max_context: ClassVar[int] = 253

    def _public_of(self, secret: bytes) -> bytes:
        # A FIPS 204 sk contains no copy of pk, and pqcrypto cannot recompute t1 from s1
        # and s2.  dilithium-py can, so loading an sk here needs dilithium-py installed.
        try:
            return public_key_of_expanded(self.algorithm, secret)
        except ImportError:
            # The key may be fine: this install lacks the code to load it, so the operation
            # is unsupported here (the conformance runner then skips, not fails).
            raise UnsupportedOperation(
                f"pqcrypto cannot load a stored {self.algorithm} sk without dilithium-py",
                fix="pip install 'agile-crypto[reference]', or use the 'openssl' provider",
            ) from None


class PQCryptoSLHDSA(PQCryptoSignature):
    def _public_of(self, secret: bytes) -> bytes:
        # FIPS 205 §9.1: SK = SK.seed || SK.prf || PK.seed || PK.root, and PK is the second half.
        return secret[len(secret) // 2 :]


def implementations() -> list[Implementation]:
    """Return every algorithm this provider implements."""
    found: list[Implementation] = []
    for level, k in ((512, 2), (768, 3), (1024, 4)):
        module = getattr(_kem_modules, f"ml_kem_{level}")
        found.append(bind(PQCryptoMLKEM, f"ml-kem-{level}", _module=module, _k=k))
    for level in (44, 65, 87):
        module = getattr(_sign_modules, f"ml_dsa_{level}")
        found.append(bind(PQCryptoMLDSA, f"ml-dsa-{level}", _module=module))
    for name in sorted(dir(_sign_modules)):
        if name.startswith("slh_dsa_"):
            algorithm = "slh-dsa-" + name.removeprefix("slh_dsa_").replace("_", "-")
            found.append(bind(PQCryptoSLHDSA, algorithm, _module=getattr(_sign_modules, name)))
    return found
