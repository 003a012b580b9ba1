"""One interface per algorithm family.

A provider registers one object per (algorithm, provider) pair that subclasses
the family's ABC below.  Key objects (:class:`PublicKey`, :class:`PrivateKey`)
carry the portable bytes and the provider's parsed object, so that a key is
parsed once and then used many times (parsing an ML-KEM key costs about as much
as using it).  Public keys and signatures are portable across providers;
private keys are portable when both providers accept the stored form
(see :class:`KeyForm`).
"""

from __future__ import annotations

import abc
import enum
import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InvalidKey, UnsupportedOperation
from .descriptors import BY_ID, AlgorithmDescriptor

__all__ = [
    "KeyForm",
    "PublicKey",
    "PrivateKey",
    "Implementation",
    "KEM",
    "SignatureScheme",
    "AEAD",
    "AEADContext",
    "KDF",
    "PasswordKDF",
    "HomomorphicScheme",
]


class KeyForm(str, enum.Enum):  # noqa: UP042 - str() and format() stay as released
    """Encoding of a private key's bytes."""

    SEED = "seed"  # FIPS 203 (d || z), FIPS 204 xi, X-Wing's 32-byte seed
    EXPANDED = "expanded"  # FIPS 203 dk / FIPS 204 sk / FIPS 205 sk as the standards encode them
    RAW = "raw"  # RFC 7748 / RFC 8032 scalars and seeds, SEC 1 big-endian EC scalars
    PKCS8 = "pkcs8"  # DER PKCS#8 PrivateKeyInfo (RSA)
    COMPOSITE = "composite"  # concatenated component private keys (composite signatures)


@dataclass(frozen=True, eq=False, slots=True)
class PublicKey:
    """A parsed public key: the portable encoding plus the provider's object."""

    algorithm: str
    provider: str
    data: bytes
    handle: Any = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.algorithm == other.algorithm and self.data == other.data

    def __hash__(self) -> int:
        return hash((self.algorithm, self.data))


@dataclass(frozen=True, eq=False, slots=True)
class PrivateKey:
    """A parsed private key: its bytes in ``form``, its public key and the provider's object."""

    algorithm: str
    provider: str
    form: KeyForm
    data: bytes = field(repr=False)
    public_key: PublicKey
    handle: Any = field(default=None, repr=False)


class Implementation(abc.ABC):  # noqa: B024 - the family ABCs below add the methods
    """One algorithm as implemented by one provider."""

    #: Algorithm id, as in :mod:`agile.registry.descriptors`.
    algorithm: ClassVar[str] = ""
    #: Provider name: ``openssl``, ``pqcrypto``, ``libsodium``, ``reference`` or a third party's.
    provider: ClassVar[str] = ""

    @functools.cached_property
    def descriptor(self) -> AlgorithmDescriptor:
        """The algorithm's row in the descriptor table, looked up once per implementation."""
        return BY_ID[self.algorithm]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.algorithm} by {self.provider}>"


class _AsymmetricKeys(Implementation):
    #: Private-key forms this implementation can load.
    private_forms: ClassVar[frozenset[KeyForm]] = frozenset()

    @abc.abstractmethod
    def generate(self) -> PrivateKey:
        """Generate a new key pair from the operating system's CSPRNG."""

    @abc.abstractmethod
    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        """Parse a private key; ``form`` defaults to the algorithm's stored form."""

    @abc.abstractmethod
    def load_public(self, data: bytes) -> PublicKey:
        """Parse a public key in the algorithm's portable encoding."""

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """Derive a key pair deterministically (RFC 9180 DeriveKeyPair, or a FIPS seed)."""
        raise UnsupportedOperation(
            f"{self.provider} cannot derive {self.algorithm} keys deterministically",
            fix="use the 'reference' provider or another provider that supports seeds",
        )

    def export_private(self, key: PrivateKey, form: KeyForm | str) -> bytes:
        """Return the private key in another form, where the provider can produce it."""
        form = KeyForm(form)
        if form == key.form:
            return key.data
        raise UnsupportedOperation(
            f"{self.provider} cannot convert a {self.algorithm} private key "
            f"from {key.form.value} to {form.value} form"
        )

    def _form(self, form: KeyForm | str | None) -> KeyForm:
        """Return ``form`` as a KeyForm, defaulting to the algorithm's stored form.

        An unknown form raises InvalidKey.  A form this provider cannot load raises
        UnsupportedOperation, so that a caller can try another provider.
        """
        if form is None:
            form = self.descriptor.private_key_form or KeyForm.RAW
        try:
            form = KeyForm(form)
        except ValueError:
            raise InvalidKey(
                f"unknown private-key form {form!r}",
                fix=f"use one of: {', '.join(f.value for f in KeyForm)}",
            ) from None
        if form not in self.private_forms:
            allowed = ", ".join(sorted(f.value for f in self.private_forms))
            raise UnsupportedOperation(
                f"{self.provider} cannot load {self.algorithm} private keys in {form.value} form",
                fix=f"pass the key in one of these forms: {allowed}",
            )
        return form

    def _public_handle(self, key: PublicKey) -> Any:
        """Return this provider's parsed object for ``key``, parsing a foreign key once more."""
        # The common case is checked inline, because this runs on every operation.
        if isinstance(key, PublicKey) and key.algorithm == self.algorithm:
            if key.provider == self.provider:
                return key.handle
            return self.load_public(key.data).handle
        raise self._key_error(key, PublicKey)

    def _private_handle(self, key: PrivateKey) -> Any:
        """Return this provider's parsed object for ``key``, parsing a foreign key once more."""
        if isinstance(key, PrivateKey) and key.algorithm == self.algorithm:
            if key.provider == self.provider:
                return key.handle
            return self.load_private(key.data, key.form).handle
        raise self._key_error(key, PrivateKey)

    def _check_key(self, key: object, kind: type) -> None:
        if not isinstance(key, kind) or key.algorithm != self.algorithm:  # type: ignore[attr-defined]
            raise self._key_error(key, kind)

    def _key_error(self, key: object, kind: type) -> InvalidKey:
        if not isinstance(key, kind):
            return InvalidKey(
                f"expected a {kind.__name__} for {self.algorithm}, got {type(key).__name__}"
            )
        return InvalidKey(
            f"key is for {key.algorithm}, not {self.algorithm}",  # type: ignore[attr-defined]
            fix="use a key generated for this algorithm",
        )


class KEM(_AsymmetricKeys):
    """Key encapsulation (and key transport, for RSA-OAEP)."""

    @abc.abstractmethod
    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        """Return ``(ciphertext, shared_secret)`` for ``public_key``."""

    @abc.abstractmethod
    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        """Return the shared secret of ``ciphertext``."""

    def encapsulate_derandomized(self, public_key: PublicKey, seed: bytes) -> tuple[bytes, bytes]:
        """Encapsulate with caller-given randomness (ML-KEM's m, X-Wing's eseed, DHKEM's ikmE)."""
        raise UnsupportedOperation(
            f"{self.provider} hides the randomness of {self.algorithm} encapsulation",
            fix="use the 'reference' provider for derandomized encapsulation",
        )

    def auth_encapsulate(
        self, public_key: PublicKey, sender_key: PrivateKey, seed: bytes | None = None
    ) -> tuple[bytes, bytes]:
        """RFC 9180 AuthEncap: encapsulate and authenticate the sender (DHKEMs only)."""
        raise UnsupportedOperation(f"{self.algorithm} has no authenticated encapsulation")

    def auth_decapsulate(
        self, private_key: PrivateKey, ciphertext: bytes, sender_public: PublicKey
    ) -> bytes:
        """RFC 9180 AuthDecap (DHKEMs only)."""
        raise UnsupportedOperation(f"{self.algorithm} has no authenticated decapsulation")


class SignatureScheme(_AsymmetricKeys):
    """Digital signatures.  ``context`` is the FIPS 204/205 context string."""

    #: True when the scheme takes a non-empty context string (ML-DSA, SLH-DSA).
    supports_context: ClassVar[bool] = False

    @abc.abstractmethod
    def sign(self, private_key: PrivateKey, message: bytes, context: bytes = b"") -> bytes:
        """Sign ``message``."""

    @abc.abstractmethod
    def verify(
        self, public_key: PublicKey, message: bytes, signature: bytes, context: bytes = b""
    ) -> None:
        """Verify ``signature``; raise :class:`agile.errors.InvalidSignature` if it does not."""

    def sign_deterministic(
        self, private_key: PrivateKey, message: bytes, context: bytes = b""
    ) -> bytes:
        """Sign with the standard's deterministic variant (ML-DSA with rnd = 0^32)."""
        raise UnsupportedOperation(
            f"{self.provider} has no deterministic signing for {self.algorithm}",
            fix="use the 'reference' provider",
        )

    def sign_internal(
        self, private_key: PrivateKey, message_representative: bytes, randomness: bytes
    ) -> bytes:
        """Run FIPS 204 ML-DSA.Sign_internal on M' with the 32-byte rnd (ACVP internal API)."""
        raise UnsupportedOperation(
            f"{self.provider} does not expose the internal signing interface of {self.algorithm}",
            fix="use the 'reference' provider",
        )

    def verify_internal(
        self, public_key: PublicKey, message_representative: bytes, signature: bytes
    ) -> None:
        """FIPS 204 ML-DSA.Verify_internal on M'; raise InvalidSignature if it fails."""
        raise UnsupportedOperation(
            f"{self.provider} does not expose the internal verification interface of "
            f"{self.algorithm}",
            fix="use the 'reference' provider",
        )

    def sign_mu(self, private_key: PrivateKey, mu: bytes, randomness: bytes | None = None) -> bytes:
        """Sign an externally computed 64-byte mu (FIPS 204 external-mu mode)."""
        raise UnsupportedOperation(f"{self.provider} cannot sign an external mu")

    def verify_mu(self, public_key: PublicKey, mu: bytes, signature: bytes) -> None:
        """Verify a signature over an externally computed mu."""
        raise UnsupportedOperation(f"{self.provider} cannot verify an external mu")

    def _check_context(self, context: bytes) -> None:
        if context and not self.supports_context:
            raise UnsupportedOperation(
                f"{self.algorithm} takes no context string (got {len(context)} bytes)",
                fix="pass context=b'' or use ML-DSA/SLH-DSA",
            )


class AEADContext(abc.ABC):
    """An AEAD bound to one key, so the key schedule runs once per key."""

    @abc.abstractmethod
    def encrypt(self, nonce: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Return ciphertext followed by the tag."""

    @abc.abstractmethod
    def decrypt(self, nonce: bytes, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Return the plaintext; raise :class:`agile.errors.AuthenticationFailed` on a bad tag."""


class AEAD(Implementation):
    """Authenticated encryption with associated data and an explicit nonce."""

    @property
    def key_size(self) -> int:
        return self.descriptor.sizes.key or 0

    @property
    def nonce_size(self) -> int:
        return self.descriptor.sizes.nonce or 0

    @property
    def tag_size(self) -> int:
        return self.descriptor.sizes.tag or 0

    @abc.abstractmethod
    def new(self, key: bytes) -> AEADContext:
        """Bind a key; raise :class:`agile.errors.InvalidKey` on a wrong length."""

    def encrypt(
        self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes = b""
    ) -> bytes:
        return self.new(key).encrypt(nonce, plaintext, associated_data)

    def decrypt(
        self, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes = b""
    ) -> bytes:
        return self.new(key).decrypt(nonce, ciphertext, associated_data)


class KDF(Implementation):
    """HKDF (RFC 5869), with extract and expand available apart for HPKE's labeled forms."""

    @property
    def hash_size(self) -> int:
        return self.descriptor.sizes.output or 0

    @abc.abstractmethod
    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        """HKDF-Extract; an empty salt means hash-length zeros."""

    @abc.abstractmethod
    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """HKDF-Expand; ``length`` is at most 255 times the hash size."""

    def derive(self, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
        return self.expand(self.extract(salt, ikm), info, length)


class PasswordKDF(Implementation):
    """Password hashing for key derivation; parameters are returned so they can be stored."""

    @abc.abstractmethod
    def default_parameters(self) -> dict[str, int]:
        """Return the parameters new derivations use."""

    @abc.abstractmethod
    def derive(
        self, password: bytes, salt: bytes, length: int, parameters: dict[str, int] | None = None
    ) -> bytes:
        """Derive ``length`` bytes; ``parameters`` default to :meth:`default_parameters`."""


class HomomorphicScheme(_AsymmetricKeys):
    """Additively homomorphic public-key encryption: Paillier with g = n + 1.

    :meth:`encrypt` and :meth:`decrypt` work on encoded numbers (integers, floats,
    decimals) and the provider's own ciphertext objects.  The ``raw_`` methods are
    textbook Paillier (EUROCRYPT 1999) on integers, with no encoding and no overflow
    check: a plaintext is an integer m with 0 <= m < n, a ciphertext an integer c in
    Z*_{n^2} (0 < c < n^2 and gcd(c, n) = 1), and a caller-given r must satisfy
    1 < r < n - 1 and gcd(r, n) = 1.  A plaintext or r out of range raises
    :class:`~agile.errors.InvalidArgument`, a ciphertext outside Z*_{n^2}
    :class:`~agile.errors.InvalidCiphertext`, and a key of another type or algorithm
    :class:`~agile.errors.InvalidKey`.
    """

    @abc.abstractmethod
    def encrypt(self, public_key: PublicKey, value: Any, precision: int | None = None) -> Any:
        """Encode and encrypt one number into the provider's ciphertext object."""

    @abc.abstractmethod
    def decrypt(self, private_key: PrivateKey, ciphertext: Any) -> Any:
        """Decrypt and decode one of the provider's ciphertext objects."""

    @abc.abstractmethod
    def raw_encrypt(self, public_key: PublicKey, plaintext: int, r: int | None = None) -> int:
        """Return (1 + n)^m * r^n mod n^2, with a fresh r from the CSPRNG unless r is given."""

    @abc.abstractmethod
    def raw_decrypt(self, private_key: PrivateKey, ciphertext: int) -> int:
        """Return the plaintext m, 0 <= m < n, of a ciphertext in Z*_{n^2}."""

    @abc.abstractmethod
    def raw_add(self, public_key: PublicKey, ciphertext1: int, ciphertext2: int) -> int:
        """Return ciphertext1 * ciphertext2 mod n^2, a ciphertext of m1 + m2 mod n."""
