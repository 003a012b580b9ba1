"""The RFC 9180 DHKEM construction over a small Diffie-Hellman primitive.

Each provider supplies a :class:`DHGroup`: X25519 from OpenSSL or libsodium,
P-256 and P-384 from OpenSSL.  :class:`DHKEM` turns it into a KEM with RFC 9180
§4.1 Encap/Decap, AuthEncap/AuthDecap and §7.1.3 DeriveKeyPair.  Every classical
KEM thus plugs into HPKE and matches the RFC's test vectors.
"""

from __future__ import annotations

import abc
import hmac
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ...errors import InvalidArgument, InvalidCiphertext, InvalidKey, UnsupportedOperation
from ..interfaces import KEM, KeyForm, PrivateKey, PublicKey
from ._checks import describe as _describe

__all__ = [
    "DHKEMParams",
    "DHGroup",
    "DHKEM",
    "X25519_PARAMS",
    "P256_PARAMS",
    "P384_PARAMS",
    "hkdf_extract",
    "hkdf_expand",
]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973",
    16,
)


@dataclass(frozen=True, slots=True)
class DHKEMParams:
    """One row of RFC 9180 §7.1 Table 2, plus the group order for rejection sampling."""

    kem_id: int
    nsecret: int
    nenc: int
    npk: int
    nsk: int
    hash_name: str
    #: Order of the prime-order group, or None for X25519 (every 32-byte string is a key).
    order: int | None = None
    #: RFC 9180 §7.1.3 bitmask applied to the first candidate byte.
    bitmask: int = 0xFF

    @property
    def suite_id(self) -> bytes:
        return b"KEM" + self.kem_id.to_bytes(2, "big")


X25519_PARAMS = DHKEMParams(0x0020, 32, 32, 32, 32, "sha256")
P256_PARAMS = DHKEMParams(0x0010, 32, 65, 65, 32, "sha256", _P256_ORDER)
P384_PARAMS = DHKEMParams(0x0011, 48, 97, 97, 48, "sha384", _P384_ORDER)


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """Run HKDF-Extract (RFC 5869 §2.2).

    HMAC pads the key with zeros, so an empty salt acts as HashLen zero bytes, as the RFC requires.
    """
    return hmac.digest(salt, ikm, hash_name)


def hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """Run HKDF-Expand (RFC 5869 §2.3) through OpenSSL."""
    algorithm = _HASHES[hash_name]()
    if isinstance(length, bool) or not isinstance(length, int):
        raise InvalidArgument(
            f"HKDF-{hash_name.upper()} output length {length!r} is not an integer",
            fix=f"request a whole number of bytes between 1 and {255 * algorithm.digest_size}",
        )
    if not 0 < length <= 255 * algorithm.digest_size:
        raise InvalidArgument(
            f"HKDF-{hash_name.upper()} output length {length} is out of range",
            fix=f"request between 1 and {255 * algorithm.digest_size} bytes",
        )
    return HKDFExpand(algorithm, length, info).derive(prk)


class DHGroup(abc.ABC):
    """The Diffie-Hellman primitive under a DHKEM: parse, serialize, generate and DH."""

    params: DHKEMParams

    @abc.abstractmethod
    def generate(self) -> Any:
        """Return a new private-key object."""

    @abc.abstractmethod
    def private_from_bytes(self, data: bytes) -> Any:
        """Parse a raw private key, raising InvalidKey when it is out of range."""

    @abc.abstractmethod
    def private_to_bytes(self, private: Any) -> bytes:
        """Return the raw private key (Nsk bytes)."""

    @abc.abstractmethod
    def public_of(self, private: Any) -> Any:
        """Return the public-key object of a private key."""

    @abc.abstractmethod
    def public_from_bytes(self, data: bytes) -> Any:
        """Parse a serialized public key, raising InvalidKey when it is not a valid point."""

    @abc.abstractmethod
    def public_to_bytes(self, public: Any) -> bytes:
        """Return SerializePublicKey (RFC 9180 §7.1.1)."""

    @abc.abstractmethod
    def dh(self, private: Any, public: Any) -> bytes:
        """Return the DH output, or raise ValueError when it is all zeros (the identity)."""

    def public_from_spki(self, data: bytes) -> Any:
        """Parse a DER SubjectPublicKeyInfo; raise InvalidKey when it is not for this group."""
        raise UnsupportedOperation(
            f"the DH group of KEM {self.params.kem_id:#06x} reads only raw public keys here",
            fix="pass the raw public key",
        )


class DHKEM(KEM):
    """DHKEM(Group, HKDF) from RFC 9180 §4.1 over a provider's :class:`DHGroup`.

    Private-key handles are ``(private object, public object)`` pairs, and public-key
    handles are the group's public objects, so nothing is parsed twice.
    """

    private_forms = frozenset({KeyForm.RAW})
    #: The provider's DH primitive, set by the subclass bound to one algorithm id.
    group: ClassVar[DHGroup]

    def __init__(self) -> None:
        self.params = self.group.params
        self._hash = self.params.hash_name
        self._suite_id = self.params.suite_id

    # RFC 9180 §4: labeled HKDF with the KEM's suite_id.

    def _labeled_extract(self, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return hkdf_extract(self._hash, salt, b"HPKE-v1" + self._suite_id + label + ikm)

    def _labeled_expand(self, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + self._suite_id + label + info
        return hkdf_expand(self._hash, prk, labeled_info, length)

    def _extract_and_expand(self, dh: bytes, kem_context: bytes) -> bytes:
        eae_prk = self._labeled_extract(b"", b"eae_prk", dh)
        return self._labeled_expand(eae_prk, b"shared_secret", kem_context, self.params.nsecret)

    # Keys.

    def _wrap_private(self, private: Any) -> PrivateKey:
        public = self.group.public_of(private)
        public_key = PublicKey(
            self.algorithm, self.provider, self.group.public_to_bytes(public), public
        )
        return PrivateKey(
            self.algorithm,
            self.provider,
            KeyForm.RAW,
            self.group.private_to_bytes(private),
            public_key,
            (private, public),
        )

    def generate(self) -> PrivateKey:
        return self._wrap_private(self.group.generate())

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        self._form(form)
        if not isinstance(data, bytes) or len(data) != self.params.nsk:
            raise InvalidKey(
                f"{self.algorithm} private key must be {self.params.nsk} bytes, "
                f"got {_describe(data)}",
                fix="pass the raw private key",
            )
        return self._wrap_private(self.group.private_from_bytes(data))

    def load_public(self, data: bytes) -> PublicKey:
        if not isinstance(data, bytes) or len(data) != self.params.npk:
            raise InvalidKey(
                f"{self.algorithm} public key must be {self.params.npk} bytes, "
                f"got {_describe(data)}",
                fix="pass the raw X25519 key or the uncompressed SEC 1 point",
            )
        return PublicKey(self.algorithm, self.provider, data, self.group.public_from_bytes(data))

    def derive_key_pair(self, ikm: bytes) -> PrivateKey:
        """RFC 9180 §7.1.3 DeriveKeyPair, with rejection sampling for the NIST curves."""
        if not isinstance(ikm, bytes) or not ikm:
            raise InvalidArgument(
                f"{self.algorithm} DeriveKeyPair needs non-empty ikm bytes, got {_describe(ikm)}",
                fix=f"pass at least {self.params.nsk} bytes of secret input keying material",
            )
        dkp_prk = self._labeled_extract(b"", b"dkp_prk", ikm)
        if self.params.order is None:
            raw = self._labeled_expand(dkp_prk, b"sk", b"", self.params.nsk)
            return self._wrap_private(self.group.private_from_bytes(raw))

        for counter in range(256):
            candidate = bytearray(
                self._labeled_expand(dkp_prk, b"candidate", bytes([counter]), self.params.nsk)
            )
            candidate[0] &= self.params.bitmask
            scalar = int.from_bytes(candidate, "big")
            if 0 < scalar < self.params.order:
                return self._wrap_private(self.group.private_from_bytes(bytes(candidate)))
        # For P-256 this happens with probability below 2^-8000.  RFC 9180 §7.1.3 calls it
        # DeriveKeyPairError.
        raise InvalidArgument(
            f"{self.algorithm} DeriveKeyPair found no valid scalar in 256 candidates",
            fix="use different input keying material",
        )

    def exchange(self, private_key: bytes, public_key: bytes, encoding: str = "raw") -> bytes:
        """Return the raw DH output of a private scalar and a peer key, for conformance tests.

        ``encoding`` is "raw" (the KEM's public-key encoding) or "asn" (DER SPKI).  A big-endian
        EC scalar may come with leading zero bytes or shorter than Nsk, as Wycheproof gives it.
        """
        if type(private_key) is not bytes:
            raise InvalidKey(f"{self.algorithm} private key must be bytes")
        if self.params.order is not None:
            scalar = int.from_bytes(private_key, "big")
            if scalar.bit_length() > 8 * self.params.nsk:
                raise InvalidKey(
                    f"{self.algorithm} private scalar is longer than {self.params.nsk} bytes"
                )
            private_key = scalar.to_bytes(self.params.nsk, "big")
        elif len(private_key) != self.params.nsk:
            raise InvalidKey(
                f"{self.algorithm} private key must be {self.params.nsk} bytes, "
                f"got {_describe(private_key)}"
            )
        private = self.group.private_from_bytes(private_key)
        if encoding == "asn":
            public = self.group.public_from_spki(public_key)
        elif encoding == "raw":
            public = self.load_public(public_key).handle
        else:
            raise InvalidArgument(
                f"unknown public-key encoding {encoding!r}", fix="use 'raw' or 'asn'"
            )
        return self._dh_encap(private, public)

    # Encapsulation (RFC 9180 §4.1).

    def _dh_encap(self, private: Any, public: Any) -> bytes:
        try:
            return self.group.dh(private, public)
        except ValueError:
            raise InvalidKey(
                f"{self.algorithm} recipient public key is a low-order point "
                "(all-zero shared value)",
                fix="obtain a valid recipient key",
            ) from None

    def _encap_with(self, ephemeral: Any, recipient: PublicKey, sender: PrivateKey | None):
        public_r = self._public_handle(recipient)
        private_e, public_e = ephemeral, self.group.public_of(ephemeral)
        dh = self._dh_encap(private_e, public_r)
        enc = self.group.public_to_bytes(public_e)
        kem_context = enc + recipient.data
        if sender is not None:
            private_s, _ = self._private_handle(sender)
            dh += self._dh_encap(private_s, public_r)
            kem_context += sender.public_key.data
        return enc, self._extract_and_expand(dh, kem_context)

    def encapsulate(self, public_key: PublicKey) -> tuple[bytes, bytes]:
        return self._encap_with(self.group.generate(), public_key, None)

    def encapsulate_derandomized(self, public_key: PublicKey, seed: bytes) -> tuple[bytes, bytes]:
        """Encap with the ephemeral key from DeriveKeyPair(seed), as RFC 9180's vectors use."""
        ephemeral, _ = self.derive_key_pair(seed).handle
        return self._encap_with(ephemeral, public_key, None)

    def auth_encapsulate(
        self, public_key: PublicKey, sender_key: PrivateKey, seed: bytes | None = None
    ) -> tuple[bytes, bytes]:
        if seed is None:
            ephemeral = self.group.generate()
        else:
            ephemeral, _ = self.derive_key_pair(seed).handle
        return self._encap_with(ephemeral, public_key, sender_key)

    # Decapsulation.

    def _parse_enc(self, ciphertext: bytes) -> Any:
        if not isinstance(ciphertext, bytes) or len(ciphertext) != self.params.nenc:
            raise InvalidCiphertext(
                f"{self.algorithm} encapsulation must be {self.params.nenc} bytes, "
                f"got {_describe(ciphertext)}",
                fix="pass the enc value exactly as the sender produced it",
            )
        try:
            return self.group.public_from_bytes(ciphertext)
        except InvalidKey as error:
            raise InvalidCiphertext(
                f"{self.algorithm} encapsulation is not a valid public key: {error}",
                fix="the ciphertext was corrupted or forged",
            ) from None

    def _dh_decap(self, private: Any, public: Any, value_name: str = "encapsulation") -> bytes:
        try:
            return self.group.dh(private, public)
        except ValueError:
            raise InvalidCiphertext(
                f"{self.algorithm} {value_name} is a low-order point (all-zero shared value)",
                fix="the value was corrupted or forged",
            ) from None

    def decapsulate(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        private_r, _ = self._private_handle(private_key)
        public_e = self._parse_enc(ciphertext)
        dh = self._dh_decap(private_r, public_e)
        return self._extract_and_expand(dh, ciphertext + private_key.public_key.data)

    def auth_decapsulate(
        self, private_key: PrivateKey, ciphertext: bytes, sender_public: PublicKey
    ) -> bytes:
        private_r, _ = self._private_handle(private_key)
        public_s = self._public_handle(sender_public)
        public_e = self._parse_enc(ciphertext)
        dh = self._dh_decap(private_r, public_e)
        dh += self._dh_decap(private_r, public_s, "sender public key")
        kem_context = ciphertext + private_key.public_key.data + sender_public.data
        return self._extract_and_expand(dh, kem_context)
