"""Hybrid Public Key Encryption (RFC 9180) on the registry's KEM, KDF and AEAD implementations.

A :class:`Suite` binds one KEM, one KDF and one AEAD implementation, looked up
once.  :func:`setup_sender` and :func:`setup_recipient` run the KEM and the key
schedule and return a :class:`Context` that seals or opens any number of
messages and exports secrets; :func:`seal` and :func:`open` are the
single-shot forms (RFC 9180 §6).

Notes on this implementation:

* All four modes (§5.1): base, PSK, auth and auth-PSK.  The auth modes need a
  KEM with AuthEncap and AuthDecap, which only the DHKEMs (``x25519``,
  ``p256``, ``p384``) have.  The ML-KEM and X-Wing KEMs of draft-ietf-hpke-pq
  (0x0040-0x0042, 0x647a) work in base and PSK mode.
* The KEM's own labeled derivations (DHKEM's ExtractAndExpand and
  DeriveKeyPair, with ``suite_id = "KEM" || kem_id``) run inside the KEM
  provider.  This module runs the HPKE-level ones, with
  ``suite_id = "HPKE" || kem_id || kdf_id || aead_id`` (§5.1).
* Only the two-stage HKDF KDFs (0x0001-0x0003) are supported.  The one-stage
  SHAKE and TurboSHAKE KDFs (0x0010-0x0013) of draft-ietf-hpke-pq have another
  key schedule and raise :class:`~agile.errors.UnsupportedAlgorithm`.
* The export-only AEAD (0xFFFF, :data:`EXPORT_ONLY`) gives a context that can
  only export (§5.3); seal and open raise UnsupportedOperation.
* Contexts are one-way, as in §5.2: a sender context seals and a recipient
  context opens.  The nonce is ``base_nonce XOR seq``.  A context raises
  :class:`~agile.errors.MessageLimitReached` rather than reuse a nonce once the
  sequence number reaches ``2**(8*Nn) - 1``.  A lock serializes seal and open, so
  threads that share a context never reuse a nonce.
* PSK inputs (§5.1 VerifyPSKInputs): ``psk`` and ``psk_id`` are both set or
  both empty, and set only in the PSK modes.  The PSK must be at least 32 bytes
  long, because §5.1.2 requires 32 bytes of entropy and the length is the part
  that can be checked.
* ``seed`` pins the sender's randomness for test vectors: it is passed to the
  KEM's derandomized encapsulation (DHKEM ikmE, ML-KEM m, X-Wing eseed).  The
  ``openssl`` and ``pqcrypto`` providers do not expose it for ML-KEM; the
  ``reference`` provider does.
* :func:`derive_key_pair` is HPKE's DeriveKeyPair.  For ML-KEM and X-Wing it
  first derives the seed with SHAKE256 (draft-ietf-hpke-pq), so it differs
  from the registry's ``derive_key_pair``, which takes ``ikm`` as the seed.
* The key schedule caches ``psk_id_hash`` and ``info_hash`` per suite, each in
  its own table, because both come from public inputs.  A repeated ``info`` then
  costs four KDF calls instead of six, and a new ``info`` with a repeated
  ``psk_id`` costs five.
* The single-shot :func:`seal` and :func:`open` derive only the key and base
  nonce (no exporter secret) and make no context object: three KDF calls after
  the cached hashes, then one AEAD call with ``seq = 0``.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from . import registry
from .errors import (
    AuthenticationFailed,
    InvalidArgument,
    InvalidCiphertext,
    InvalidKey,
    MessageLimitReached,
    UnsupportedAlgorithm,
    UnsupportedOperation,
)
from .registry import (
    AEAD,
    KDF,
    KEM,
    AEADContext,
    Family,
    Implementation,
    KeyForm,
    PrivateKey,
    PublicKey,
)

__all__ = [
    "EXPORT_ONLY",
    "EXPORT_ONLY_AEAD_ID",
    "MIN_PSK_LENGTH",
    "Mode",
    "Role",
    "Suite",
    "Context",
    "hpke_suite_id",
    "kem_suite_id",
    "labeled_extract",
    "labeled_expand",
    "derive_key_pair",
    "key_schedule",
    "key_schedule_secrets",
    "setup_sender",
    "setup_recipient",
    "seal",
    "open",
    "send_export",
    "receive_export",
]

#: The AEAD name accepted by :meth:`Suite.from_ids` for the export-only suite.
EXPORT_ONLY = "export-only"
#: RFC 9180 §7.3: the AEAD id of the export-only mode.
EXPORT_ONLY_AEAD_ID = 0xFFFF
#: RFC 9180 §5.1.2: a PSK must have at least 32 bytes of entropy, so its length is checked.
MIN_PSK_LENGTH = 32

_VERSION_LABEL = b"HPKE-v1"

# Names from the IANA HPKE registries and draft-ietf-hpke-pq, for error messages about
# codepoints that agile does not implement.
_KEM_NAMES = {
    0x0010: "DHKEM(P-256, HKDF-SHA256)",
    0x0011: "DHKEM(P-384, HKDF-SHA384)",
    0x0012: "DHKEM(P-521, HKDF-SHA512)",
    0x0020: "DHKEM(X25519, HKDF-SHA256)",
    0x0021: "DHKEM(X448, HKDF-SHA512)",
    0x0040: "ML-KEM-512",
    0x0041: "ML-KEM-768",
    0x0042: "ML-KEM-1024",
    0x0050: "MLKEM768-P256",
    0x0051: "MLKEM1024-P384",
    0x647A: "MLKEM768-X25519 (X-Wing)",
}
_KDF_NAMES = {
    0x0001: "HKDF-SHA256",
    0x0002: "HKDF-SHA384",
    0x0003: "HKDF-SHA512",
    0x0010: "SHAKE128",
    0x0011: "SHAKE256",
    0x0012: "TurboSHAKE128",
    0x0013: "TurboSHAKE256",
}
_AEAD_NAMES = {
    0x0001: "AES-128-GCM",
    0x0002: "AES-256-GCM",
    0x0003: "ChaCha20Poly1305",
    EXPORT_ONLY_AEAD_ID: "Export-only",
}

# draft-ietf-hpke-pq §3 and §4: these KEMs derive their private-key seed, of this many
# bytes, as SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", Nsk) under the KEM's suite_id.
_SHAKE256_SEED_LENGTHS = {0x0040: 64, 0x0041: 64, 0x0042: 64, 0x647A: 32}
_MIN_IKM_LENGTH = 32
# Entries kept per suite for the key schedule's psk_id and info hashes, and the largest
# psk_id plus info, in bytes, that is cached.
_CONTEXT_CACHE_SIZE = 64
_CONTEXT_CACHE_MAX_INPUT = 1024

# Registry ids by HPKE codepoint, from the descriptor table.
_KEM_IDS = {d.hpke_kem_id: d.id for d in registry.descriptors(Family.KEM) if d.hpke_kem_id}
_KDF_IDS = {d.hpke_kdf_id: d.id for d in registry.descriptors(Family.KDF) if d.hpke_kdf_id}
_AEAD_IDS = {d.hpke_aead_id: d.id for d in registry.descriptors(Family.AEAD) if d.hpke_aead_id}


class Mode(enum.IntEnum):
    """RFC 9180 §5: the four HPKE modes, with their one-byte codes."""

    BASE = 0x00
    PSK = 0x01
    AUTH = 0x02
    AUTH_PSK = 0x03

    @property
    def uses_psk(self) -> bool:
        return self in (Mode.PSK, Mode.AUTH_PSK)

    @property
    def authenticates_sender(self) -> bool:
        return self in (Mode.AUTH, Mode.AUTH_PSK)


class Role(enum.StrEnum):
    """Side of a one-way HPKE context: the sender seals and the recipient opens."""

    SENDER = "sender"
    RECIPIENT = "recipient"


def kem_suite_id(kem_id: int) -> bytes:
    """Return the suite_id that a KEM uses inside its own derivations (RFC 9180 §4.1)."""
    return b"KEM" + _i2osp(kem_id, 2)


def hpke_suite_id(kem_id: int, kdf_id: int, aead_id: int) -> bytes:
    """Return the suite_id of the HPKE key schedule and exporter (RFC 9180 §5.1)."""
    return b"HPKE" + _i2osp(kem_id, 2) + _i2osp(kdf_id, 2) + _i2osp(aead_id, 2)


class KeyedHMAC:
    """HMAC (RFC 2104 §2) with the key's inner and outer hash states computed once.

    A MAC then costs two copies of a hash state and two short hash calls instead
    of a fresh HMAC key set-up, and a key used for several MACs (an HKDF PRK) is
    padded once.  The key is XORed with the pads as
    one integer, so no table lookup is indexed by key bytes.
    """

    __slots__ = ("_inner", "_outer", "size")

    def __init__(self, key: bytes, new: Callable[..., Any], block_size: int) -> None:
        inner_key, outer_key = _padded_keys(key, new, block_size)
        self._inner = new(inner_key)
        self._outer = new(outer_key)
        self.size: int = self._inner.digest_size

    def mac(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()  # type: ignore[no-any-return]

    def expand(self, info: bytes, length: int) -> bytes:
        """Return HKDF-Expand (RFC 5869 §2.3) with this key as the PRK."""
        if length <= self.size:
            return self.mac(info + b"\x01")[:length]
        blocks = []
        previous = b""
        for counter in range(1, -(-length // self.size) + 1):
            previous = self.mac(previous + info + bytes([counter]))
            blocks.append(previous)
        return b"".join(blocks)[:length]


def _padded_keys(key: bytes, new: Callable[..., Any], block_size: int) -> tuple[bytes, bytes]:
    """Return RFC 2104's ``K XOR ipad`` and ``K XOR opad`` for a hash with ``block_size``."""
    if len(key) > block_size:
        key = new(key).digest()
    padded = int.from_bytes(key.ljust(block_size, b"\x00"), "big")
    inner_pad, outer_pad = _PADS[block_size]
    return (
        (padded ^ inner_pad).to_bytes(block_size, "big"),
        (padded ^ outer_pad).to_bytes(block_size, "big"),
    )


def hmac_once(key: bytes, data: bytes, new: Callable[..., Any], block_size: int) -> bytes:
    """Return HMAC(key, data) (RFC 2104 §2) for a key that is used once."""
    inner_key, outer_key = _padded_keys(key, new, block_size)
    return new(outer_key + new(inner_key + data).digest()).digest()  # type: ignore[no-any-return]


# RFC 2104 ipad and opad, as integers of one hash block, by block size in bytes.
_PADS = {
    size: (int.from_bytes(b"\x36" * size, "big"), int.from_bytes(b"\x5c" * size, "big"))
    for size in (64, 128)
}

# hashlib constructor and block size of the HKDFs whose ``openssl`` implementation is
# plain HMAC (agile.registry.providers._dhkem.hkdf_extract and hkdf_expand).
_HMAC_HASHES: dict[str, tuple[Callable[..., Any], int]] = {
    "hkdf-sha256": (hashlib.sha256, 64),
    "hkdf-sha384": (hashlib.sha384, 128),
    "hkdf-sha512": (hashlib.sha512, 128),
}


class _HMACSchedule:
    """The RFC 9180 §5.1 key schedule of one suite, run as :class:`KeyedHMAC`.

    Used when the suite's KDF is the ``openssl`` provider's HKDF.  That HKDF is
    plain HMAC, so the outputs are the same, without OpenSSL's set-up per call.
    It keeps the parts that stay the same between messages: the pad states of the
    empty salt, ``psk_id_hash`` of the empty ``psk_id`` and the label prefixes.  Nk and
    Nn are at most one hash output, so each LabeledExpand is one HMAC.
    """

    __slots__ = (
        "new",
        "block_size",
        "prefix",
        "empty_salt",
        "empty_psk_id_hash",
        "key_label",
        "nonce_label",
        "n_k",
        "n_n",
        "cipher",
    )

    def __init__(
        self,
        suite_id: bytes,
        new: Callable[..., Any],
        block_size: int,
        n_k: int,
        n_n: int,
        cipher: Any = None,
    ) -> None:
        self.new = new
        self.block_size = block_size
        self.prefix = _VERSION_LABEL + suite_id
        self.empty_salt = KeyedHMAC(b"", new, block_size)
        self.empty_psk_id_hash = self.extract_empty_salt(b"psk_id_hash", b"")
        self.key_label = _i2osp(n_k, 2) + self.prefix + b"key"
        self.nonce_label = _i2osp(n_n, 2) + self.prefix + b"base_nonce"
        self.n_k = n_k
        self.n_n = n_n
        #: The pyca/cryptography AEAD class when the suite's AEAD is the ``openssl``
        #: provider's (which wraps that class), else None.
        self.cipher = cipher

    def extract_empty_salt(self, label: bytes, ikm: bytes) -> bytes:
        """LabeledExtract("", label, ikm); an empty HKDF salt is an HMAC key of zeros."""
        return self.empty_salt.mac(self.prefix + label + ikm)

    def secret(self, shared_secret: bytes, psk: bytes) -> bytes:
        """LabeledExtract(shared_secret, "secret", psk)."""
        return hmac_once(shared_secret, self.prefix + b"secret" + psk, self.new, self.block_size)

    def key_and_nonce(self, context: bytes, secret: bytes) -> tuple[bytes, bytes]:
        """LabeledExpand(secret, "key" / "base_nonce", context, Nk / Nn): T(1) of HKDF-Expand."""
        prk = KeyedHMAC(secret, self.new, self.block_size)
        key = prk.mac(self.key_label + context + b"\x01")[: self.n_k]
        nonce = prk.mac(self.nonce_label + context + b"\x01")[: self.n_n]
        return key, nonce

    def base(self, shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
        """Return ``(key, base_nonce)`` of the base mode (no PSK) for ``info``."""
        context = b"\x00" + self.empty_psk_id_hash + self.extract_empty_salt(b"info_hash", info)
        return self.key_and_nonce(context, self.secret(shared_secret, b""))


# The pyca/cryptography classes behind the ``openssl`` provider's HPKE AEADs (the table of
# agile.registry.providers.openssl).
_OPENSSL_AEADS: dict[str, Any] = {
    "aes-128-gcm": AESGCM,
    "aes-256-gcm": AESGCM,
    "chacha20-poly1305": ChaCha20Poly1305,
}


def labeled_extract(kdf: KDF, suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """Run RFC 9180 §4 LabeledExtract: Extract(salt, "HPKE-v1" || suite_id || label || ikm)."""
    return kdf.extract(salt, _VERSION_LABEL + suite_id + label + ikm)


def labeled_expand(
    kdf: KDF, suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int
) -> bytes:
    """Run RFC 9180 §4 LabeledExpand.  ``length`` is encoded in two bytes, so it is < 2**16."""
    if not 0 <= length <= 0xFFFF:
        raise InvalidArgument(
            f"LabeledExpand length {length} does not fit in two bytes",
            fix="request at most 65535 bytes",
        )
    labeled_info = _i2osp(length, 2) + _VERSION_LABEL + suite_id + label + info
    return kdf.expand(prk, labeled_info, length)


def _shake256_labeled_derive(
    suite_id: bytes, ikm: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    # draft-ietf-hpke-hpke §4 LabeledDerive for one-stage KDFs, with SHAKE256 as Derive:
    # ikm || "HPKE-v1" || suite_id || I2OSP(len(label), 2) || label || I2OSP(L, 2) || context.
    labeled_ikm = (
        ikm
        + _VERSION_LABEL
        + suite_id
        + _i2osp(len(label), 2)
        + label
        + _i2osp(length, 2)
        + context
    )
    return hashlib.shake_256(labeled_ikm).digest(length)


@dataclass(frozen=True, eq=False)
class Suite:
    """An HPKE ciphersuite: one KEM, one KDF and one AEAD implementation (``None``: export-only).

    The implementations are looked up once, here, so that setting up a context
    does no registry lookups.
    """

    kem_impl: KEM
    kdf_impl: KDF
    aead_impl: AEAD | None
    kem_id: int = field(init=False)
    kdf_id: int = field(init=False)
    aead_id: int = field(init=False)
    #: RFC 9180 §7 sizes in bytes: encapsulated key, public key, KEM shared secret.
    n_enc: int = field(init=False)
    n_pk: int = field(init=False)
    n_secret: int = field(init=False)
    #: KDF output, AEAD key, AEAD nonce and AEAD tag sizes (0 for the export-only AEAD).
    n_h: int = field(init=False)
    n_k: int = field(init=False)
    n_n: int = field(init=False)
    n_t: int = field(init=False)
    suite_id: bytes = field(init=False)
    # psk_id_hash by psk_id and info_hash by info, both public inputs.  They are cached
    # apart: a caller whose info changes with every message (the envelope's binds the
    # message's salt) still repeats psk_id, so its key schedule runs five KDF calls, not six.
    _psk_id_hashes: dict[bytes, bytes] = field(init=False, repr=False, default_factory=dict)
    _info_hashes: dict[bytes, bytes] = field(init=False, repr=False, default_factory=dict)
    # The key schedule as KeyedHMAC when the KDF is the ``openssl`` provider's HKDF and
    # the suite has a real AEAD; None otherwise, and then every KDF call goes through the
    # registry.
    _hmac_schedule: _HMACSchedule | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        kem_id = _codepoint(self.kem_impl, KEM, "hpke_kem_id", "kem")
        kdf_id = _codepoint(self.kdf_impl, KDF, "hpke_kdf_id", "kdf")
        if self.aead_impl is None:
            aead_id, n_k, n_n, n_t = EXPORT_ONLY_AEAD_ID, 0, 0, 0
        else:
            aead_id = _codepoint(self.aead_impl, AEAD, "hpke_aead_id", "aead")
            n_k, n_n, n_t = (
                self.aead_impl.key_size,
                self.aead_impl.nonce_size,
                self.aead_impl.tag_size,
            )

        sizes = self.kem_impl.descriptor.sizes
        suite_id = hpke_suite_id(kem_id, kdf_id, aead_id)
        values: dict[str, object] = {
            "kem_id": kem_id,
            "kdf_id": kdf_id,
            "aead_id": aead_id,
            "n_enc": sizes.ciphertext or 0,
            "n_pk": sizes.public_key or 0,
            "n_secret": sizes.shared_secret or 0,
            "n_h": self.kdf_impl.hash_size,
            "n_k": n_k,
            "n_n": n_n,
            "n_t": n_t,
            "suite_id": suite_id,
        }
        hmac_hash = _HMAC_HASHES.get(self.kdf_impl.algorithm)
        if (
            hmac_hash is not None
            and self.kdf_impl.provider == "openssl"
            and self.aead_impl is not None
            and max(n_k, n_n) <= self.kdf_impl.hash_size
        ):
            cipher = None
            if self.aead_impl.provider == "openssl":
                cipher = _OPENSSL_AEADS.get(self.aead_impl.algorithm)
            values["_hmac_schedule"] = _HMACSchedule(suite_id, *hmac_hash, n_k, n_n, cipher)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_ids(
        cls,
        kem: str,
        kdf: str,
        aead: str,
        provider: str | None = None,
        *,
        kdf_provider: str | None = None,
        aead_provider: str | None = None,
    ) -> Suite:
        """Build a suite from registry ids; ``aead`` may be :data:`EXPORT_ONLY`.

        ``provider`` chooses the KEM's provider, for example ``"reference"`` for
        derandomized ML-KEM.  The KDF and AEAD come from the preferred provider
        unless ``kdf_provider`` or ``aead_provider`` names one.  The three registry
        lookups cost about as much as a key schedule, so keep the suite and reuse it.
        """
        kem_impl = registry.kem(kem, provider)
        kdf_impl = registry.kdf(kdf, kdf_provider)
        aead_impl = None if aead == EXPORT_ONLY else registry.aead(aead, aead_provider)
        return cls(kem_impl, kdf_impl, aead_impl)

    @classmethod
    def from_codepoints(
        cls,
        kem_id: int,
        kdf_id: int,
        aead_id: int,
        provider: str | None = None,
        *,
        kdf_provider: str | None = None,
        aead_provider: str | None = None,
    ) -> Suite:
        """Build a suite from IANA HPKE codepoints; an unknown one raises UnsupportedAlgorithm."""
        kem = _lookup_codepoint("KEM", kem_id, _KEM_IDS, _KEM_NAMES)
        kdf = _lookup_codepoint("KDF", kdf_id, _KDF_IDS, _KDF_NAMES)
        if aead_id == EXPORT_ONLY_AEAD_ID:
            aead = EXPORT_ONLY
        else:
            aead = _lookup_codepoint("AEAD", aead_id, _AEAD_IDS, _AEAD_NAMES)
        return cls.from_ids(
            kem, kdf, aead, provider, kdf_provider=kdf_provider, aead_provider=aead_provider
        )

    @property
    def kem(self) -> str:
        return self.kem_impl.algorithm

    @property
    def kdf(self) -> str:
        return self.kdf_impl.algorithm

    @property
    def aead(self) -> str:
        return EXPORT_ONLY if self.aead_impl is None else self.aead_impl.algorithm

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Suite):
            return NotImplemented
        return (self.kem_impl, self.kdf_impl, self.aead_impl) == (
            other.kem_impl,
            other.kdf_impl,
            other.aead_impl,
        )

    def __hash__(self) -> int:
        return hash((self.suite_id, self.kem_impl.provider))

    def __repr__(self) -> str:
        aead = EXPORT_ONLY if self.aead_impl is None else _implementation_name(self.aead_impl)
        return (
            f"Suite(kem={_implementation_name(self.kem_impl)}, "
            f"kdf={_implementation_name(self.kdf_impl)}, aead={aead})"
        )


class Context:
    """An HPKE encryption context (RFC 9180 §5.2): seals or opens in order, and exports.

    A sender context seals and a recipient context opens; both export.  Each
    message uses the next sequence number, so the recipient must open the
    ciphertexts in the order they were sealed.  ``key``, ``base_nonce`` and
    ``exporter_secret`` are exposed for test vectors.
    """

    __slots__ = (
        "suite",
        "mode",
        "role",
        "key",
        "base_nonce",
        "exporter_secret",
        "_aead",
        "_base_nonce_int",
        "_seq",
        "_max_seq",
        "_lock",
    )

    def __init__(
        self,
        suite: Suite,
        mode: Mode,
        role: Role,
        key: bytes,
        base_nonce: bytes,
        exporter_secret: bytes,
    ) -> None:
        self.suite = suite
        self.mode = mode
        self.role = role
        self.key = key
        self.base_nonce = base_nonce
        self.exporter_secret = exporter_secret

        # Bind the AEAD key once per context; a message then costs one AEAD call.
        self._aead: AEADContext | None = None
        if suite.aead_impl is not None:
            self._aead = suite.aead_impl.new(key)
        self._base_nonce_int = int.from_bytes(base_nonce, "big")

        # RFC 9180 §5.2: seq runs from 0 and must never reach 2**(8*Nn) - 1 in use.
        self._seq = 0
        self._max_seq = (1 << (8 * suite.n_n)) - 1
        self._lock = threading.Lock()

    @property
    def sequence_number(self) -> int:
        """Sequence number of the next message this context seals or opens."""
        return self._seq

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt ``plaintext`` with the next nonce and return the ciphertext and tag."""
        aead = self._require(Role.SENDER, "seal")
        plaintext = _bytes(plaintext, "plaintext")
        aad = _bytes(aad, "aad")
        with self._lock:
            seq = self._seq
            nonce = self._nonce(seq)
            ciphertext = aead.encrypt(nonce, plaintext, aad)
            self._seq = seq + 1
        return ciphertext

    def open(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """Decrypt the next ciphertext; a wrong key or tampering raises AuthenticationFailed."""
        aead = self._require(Role.RECIPIENT, "open")
        ciphertext = _bytes(ciphertext, "ciphertext")
        aad = _bytes(aad, "aad")
        if len(ciphertext) < self.suite.n_t:
            raise _short_ciphertext(self.suite, ciphertext)

        with self._lock:
            seq = self._seq
            nonce = self._nonce(seq)
            try:
                plaintext = aead.decrypt(nonce, ciphertext, aad)
            except AuthenticationFailed as error:
                # RFC 9180 §5.2: a failed open leaves the sequence number unchanged.
                raise _open_failed(self.suite, seq) from error
            self._seq = seq + 1
        return plaintext

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """Derive ``length`` secret bytes for ``exporter_context`` (RFC 9180 §5.3 Export)."""
        limit = 255 * self.suite.n_h
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= limit:
            raise InvalidArgument(
                f"HPKE export length {length!r} is out of range for {self.suite.kdf}",
                fix=f"request between 1 and {limit} bytes",
            )
        return labeled_expand(
            self.suite.kdf_impl,
            self.suite.suite_id,
            self.exporter_secret,
            b"sec",
            _bytes(exporter_context, "exporter_context"),
            length,
        )

    def _require(self, role: Role, operation: str) -> AEADContext:
        if self._aead is None:
            raise UnsupportedOperation(
                f"an export-only HPKE context (AEAD id 0xFFFF) cannot {operation}",
                fix="use export(), or build the suite with a real AEAD",
            )
        if self.role is not role:
            raise UnsupportedOperation(
                f"a {self.role.value} HPKE context cannot {operation}",
                fix=f"{operation} with the context from setup_{role.value}()",
            )
        return self._aead

    def _nonce(self, seq: int) -> bytes:
        # Called with the lock held.  RFC 9180 §5.2 raises MessageLimitReachedError when
        # the counter would wrap; checking before use means the last nonce is never used.
        if seq >= self._max_seq:
            raise MessageLimitReached(
                f"HPKE context reached its message limit ({self._max_seq} messages)",
                fix="set up a new context with a fresh encapsulation",
            )
        return (self._base_nonce_int ^ seq).to_bytes(self.suite.n_n, "big")

    def __repr__(self) -> str:
        return f"<hpke.Context {self.role.value} {self.mode.name} {self.suite!r} seq={self._seq}>"


def derive_key_pair(suite: Suite, ikm: bytes) -> PrivateKey:
    """Derive the suite KEM's key pair from ``ikm`` with HPKE's DeriveKeyPair.

    The DHKEMs use RFC 9180 §7.1.3, which their providers implement.  ML-KEM
    and X-Wing first derive a seed with SHAKE256 (draft-ietf-hpke-pq), so for
    them the result differs from the registry's ``derive_key_pair``, which
    loads ``ikm`` itself as the FIPS 203 or X-Wing seed.
    """
    ikm = _bytes(ikm, "ikm")
    kem = suite.kem_impl
    seed_length = _SHAKE256_SEED_LENGTHS.get(suite.kem_id)
    if seed_length is None:
        return kem.derive_key_pair(ikm)

    if len(ikm) < _MIN_IKM_LENGTH:
        raise InvalidArgument(
            f"HPKE DeriveKeyPair ikm is {len(ikm)} bytes, shorter than {_MIN_IKM_LENGTH}",
            fix=f"pass at least {_MIN_IKM_LENGTH} bytes of uniformly random ikm",
        )
    if KeyForm.SEED not in kem.private_forms:
        raise UnsupportedOperation(
            f"{kem.provider} cannot load {kem.algorithm} private keys from a seed",
            fix="choose a provider that loads seeds, for example 'openssl' or 'reference'",
        )
    seed = _shake256_labeled_derive(
        kem_suite_id(suite.kem_id), ikm, b"DeriveKeyPair", b"", seed_length
    )
    return kem.load_private(seed, KeyForm.SEED)


def _cached_extract(suite: Suite, cache: dict[bytes, bytes], label: bytes, value: bytes) -> bytes:
    """Return LabeledExtract("", label, value), cached per suite for short public values."""
    digest = cache.get(value)
    if digest is None:
        if suite._hmac_schedule is not None:
            digest = suite._hmac_schedule.extract_empty_salt(label, value)
        else:
            digest = labeled_extract(suite.kdf_impl, suite.suite_id, b"", label, value)
        if len(value) <= _CONTEXT_CACHE_MAX_INPUT:
            if len(cache) >= _CONTEXT_CACHE_SIZE:
                cache.clear()
            cache[value] = digest
    return digest


def _schedule_secrets(
    suite: Suite, mode: Mode, shared_secret: bytes, info: bytes, psk: bytes, psk_id: bytes
) -> tuple[bytes, bytes]:
    """Return ``(key_schedule_context, secret)`` of RFC 9180 §5.1 KeySchedule.

    The inputs are checked already.  ``psk_id_hash`` and ``info_hash`` depend on
    public inputs only, so caching them changes no output.
    """
    psk_id_hash = _cached_extract(suite, suite._psk_id_hashes, b"psk_id_hash", psk_id)
    info_hash = _cached_extract(suite, suite._info_hashes, b"info_hash", info)
    context = bytes([mode]) + psk_id_hash + info_hash
    if suite._hmac_schedule is not None:
        return context, suite._hmac_schedule.secret(shared_secret, psk)
    secret = labeled_extract(suite.kdf_impl, suite.suite_id, shared_secret, b"secret", psk)
    return context, secret


def _key_and_nonce(suite: Suite, context: bytes, secret: bytes) -> tuple[bytes, bytes]:
    if suite._hmac_schedule is not None:
        return suite._hmac_schedule.key_and_nonce(context, secret)
    kdf = suite.kdf_impl
    key = labeled_expand(kdf, suite.suite_id, secret, b"key", context, suite.n_k)
    base_nonce = labeled_expand(kdf, suite.suite_id, secret, b"base_nonce", context, suite.n_n)
    return key, base_nonce


def key_schedule_secrets(
    suite: Suite,
    mode: Mode | int,
    shared_secret: bytes,
    info: bytes = b"",
    psk: bytes = b"",
    psk_id: bytes = b"",
) -> tuple[bytes, bytes]:
    """Return ``(key_schedule_context, secret)`` of the RFC 9180 §5.1 key schedule.

    :func:`key_schedule` derives the key, base nonce and exporter secret from these
    two values; test vectors list them, so a runner can compare each step.
    """
    mode = _mode(mode)
    psk = _bytes(psk, "psk")
    psk_id = _bytes(psk_id, "psk_id")
    _verify_psk_inputs(mode, psk, psk_id)
    return _schedule_secrets(
        suite, mode, _bytes(shared_secret, "shared_secret"), _bytes(info, "info"), psk, psk_id
    )


def key_schedule(
    suite: Suite,
    mode: Mode | int,
    shared_secret: bytes,
    info: bytes = b"",
    psk: bytes = b"",
    psk_id: bytes = b"",
    *,
    role: Role | str = Role.SENDER,
) -> Context:
    """Run the RFC 9180 §5.1 key schedule on a KEM shared secret and return a context."""
    mode = _mode(mode)
    context, secret = key_schedule_secrets(suite, mode, shared_secret, info, psk, psk_id)
    # The export-only AEAD has Nk = Nn = 0, and an HKDF output of length 0 is empty.
    key = b""
    base_nonce = b""
    if suite.aead_impl is not None:
        key, base_nonce = _key_and_nonce(suite, context, secret)
    exporter_secret = labeled_expand(
        suite.kdf_impl, suite.suite_id, secret, b"exp", context, suite.n_h
    )

    return Context(suite, mode, _role(role), key, base_nonce, exporter_secret)


def _encapsulate(
    suite: Suite,
    pk_r: PublicKey,
    mode: Mode | int,
    psk: bytes,
    psk_id: bytes,
    sender_key: PrivateKey | None,
    seed: bytes | None,
) -> tuple[Mode, bytes, bytes]:
    """Check the sender's inputs and return ``(mode, enc, shared_secret)``."""
    mode = _check_mode_args(mode, psk, psk_id, sender_key, "sender_key")
    _check_key(suite, pk_r, PublicKey, "recipient public key")

    kem = suite.kem_impl
    # _check_mode_args ensures that sender_key is given exactly in the auth modes.
    if sender_key is not None:
        _check_key(suite, sender_key, PrivateKey, "sender private key")
        enc, shared_secret = kem.auth_encapsulate(pk_r, sender_key, seed=_optional_bytes(seed))
    elif seed is None:
        enc, shared_secret = kem.encapsulate(pk_r)
    else:
        enc, shared_secret = kem.encapsulate_derandomized(pk_r, _bytes(seed, "seed"))
    return mode, enc, shared_secret


def _decapsulate(
    suite: Suite,
    enc: bytes,
    sk_r: PrivateKey,
    mode: Mode | int,
    psk: bytes,
    psk_id: bytes,
    sender_public: PublicKey | None,
) -> tuple[Mode, bytes]:
    """Check the recipient's inputs and return ``(mode, shared_secret)``."""
    mode = _check_mode_args(mode, psk, psk_id, sender_public, "sender_public")
    _check_key(suite, sk_r, PrivateKey, "recipient private key")
    enc = _bytes(enc, "enc")
    if len(enc) != suite.n_enc:
        raise InvalidCiphertext(
            f"HPKE enc is {len(enc)} bytes, but {suite.kem} encapsulations are {suite.n_enc}",
            fix="pass the enc value that setup_sender or seal returned",
        )

    kem = suite.kem_impl
    # _check_mode_args ensures that sender_public is given exactly in the auth modes.
    if sender_public is not None:
        _check_key(suite, sender_public, PublicKey, "sender public key")
        return mode, kem.auth_decapsulate(sk_r, enc, sender_public)
    return mode, kem.decapsulate(sk_r, enc)


def _single_shot_keys(
    suite: Suite, mode: Mode, shared_secret: bytes, info: bytes, psk: bytes, psk_id: bytes
) -> tuple[bytes, bytes]:
    """Return the ``(key, base_nonce)`` of a context that seals or opens one message.

    This is :func:`key_schedule` without the exporter secret and the context
    object, which a single-shot Seal or Open (RFC 9180 §6.1) never uses: one
    KDF call and one lock fewer.  ``mode`` and the PSK inputs are checked already.
    """
    psk = _bytes(psk, "psk")
    psk_id = _bytes(psk_id, "psk_id")
    context, secret = _schedule_secrets(
        suite, mode, _bytes(shared_secret, "shared_secret"), _bytes(info, "info"), psk, psk_id
    )
    return _key_and_nonce(suite, context, secret)


def _plain_base(mode: object, psk: object, psk_id: object) -> bool:
    """True for base mode with no PSK, given as plain values that need no conversion."""
    return (
        (mode is Mode.BASE or (type(mode) is int and mode == Mode.BASE))
        and type(psk) is bytes
        and not psk
        and type(psk_id) is bytes
        and not psk_id
    )


def _open_failed(suite: Suite, seq: int) -> AuthenticationFailed:
    return AuthenticationFailed(
        f"HPKE open failed for message {seq} with {suite.aead}: wrong key, "
        "or tampered enc, ciphertext, aad, info or PSK, or messages out of order",
        fix="check that the recipient key, info, aad and PSK match the sender's",
    )


def _short_ciphertext(suite: Suite, ciphertext: bytes) -> InvalidCiphertext:
    return InvalidCiphertext(
        f"HPKE ciphertext is {len(ciphertext)} bytes, shorter than the "
        f"{suite.n_t}-byte tag of {suite.aead}",
        fix="pass the whole ciphertext as seal returned it",
    )


def setup_sender(
    suite: Suite,
    pk_r: PublicKey,
    info: bytes = b"",
    mode: Mode | int = Mode.BASE,
    psk: bytes = b"",
    psk_id: bytes = b"",
    sender_key: PrivateKey | None = None,
    seed: bytes | None = None,
) -> tuple[bytes, Context]:
    """Encapsulate to ``pk_r`` and return ``(enc, sender context)`` (RFC 9180 §5.1.1-§5.1.4).

    ``sender_key`` is the sender's KEM private key in the auth modes; ``seed``
    makes the encapsulation deterministic, for test vectors only.
    """
    mode, enc, shared_secret = _encapsulate(suite, pk_r, mode, psk, psk_id, sender_key, seed)
    return enc, key_schedule(suite, mode, shared_secret, info, psk, psk_id, role=Role.SENDER)


def setup_recipient(
    suite: Suite,
    enc: bytes,
    sk_r: PrivateKey,
    info: bytes = b"",
    mode: Mode | int = Mode.BASE,
    psk: bytes = b"",
    psk_id: bytes = b"",
    sender_public: PublicKey | None = None,
) -> Context:
    """Decapsulate ``enc`` with ``sk_r`` and return the recipient context (RFC 9180 §5.1)."""
    mode, shared_secret = _decapsulate(suite, enc, sk_r, mode, psk, psk_id, sender_public)
    return key_schedule(suite, mode, shared_secret, info, psk, psk_id, role=Role.RECIPIENT)


def seal(
    suite: Suite,
    pk_r: PublicKey,
    plaintext: bytes,
    info: bytes = b"",
    aad: bytes = b"",
    *,
    mode: Mode | int = Mode.BASE,
    psk: bytes = b"",
    psk_id: bytes = b"",
    sender_key: PrivateKey | None = None,
    seed: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Encrypt one message to ``pk_r`` and return ``(enc, ciphertext)`` (RFC 9180 §6.1)."""
    fast = suite._hmac_schedule
    if (
        fast is not None
        and _plain_base(mode, psk, psk_id)
        and sender_key is None
        and seed is None
        and type(pk_r) is PublicKey
        and pk_r.algorithm == suite.kem_impl.algorithm
        and type(plaintext) is bytes
        and type(info) is bytes
        and type(aad) is bytes
    ):
        # Base mode with checked, plain inputs: what setup_sender and Context.seal do,
        # without the exporter secret, the context object and the input conversions.
        enc, shared_secret = suite.kem_impl.encapsulate(pk_r)
        key, base_nonce = fast.base(shared_secret, info)
        if fast.cipher is not None:
            return enc, fast.cipher(key).encrypt(base_nonce, plaintext, aad)
        assert suite.aead_impl is not None  # _hmac_schedule is set only with an AEAD
        return enc, suite.aead_impl.new(key).encrypt(base_nonce, plaintext, aad)
    if suite.aead_impl is None:
        # The export-only context raises the error that explains why it cannot seal.
        enc, context = setup_sender(suite, pk_r, info, mode, psk, psk_id, sender_key, seed)
        return enc, context.seal(plaintext, aad)
    checked, enc, shared_secret = _encapsulate(suite, pk_r, mode, psk, psk_id, sender_key, seed)
    key, base_nonce = _single_shot_keys(suite, checked, shared_secret, info, psk, psk_id)
    plaintext = _bytes(plaintext, "plaintext")
    aad = _bytes(aad, "aad")
    # RFC 9180 §5.2: the first message has seq = 0, so its nonce is base_nonce itself.
    return enc, suite.aead_impl.new(key).encrypt(base_nonce, plaintext, aad)


def open(  # noqa: A001 - RFC 9180 §6.1 names the single-shot operations Seal and Open
    suite: Suite,
    enc: bytes,
    sk_r: PrivateKey,
    ciphertext: bytes,
    info: bytes = b"",
    aad: bytes = b"",
    *,
    mode: Mode | int = Mode.BASE,
    psk: bytes = b"",
    psk_id: bytes = b"",
    sender_public: PublicKey | None = None,
) -> bytes:
    """Decrypt one message sealed by :func:`seal` (RFC 9180 §6.1)."""
    fast = suite._hmac_schedule
    if (
        fast is not None
        and _plain_base(mode, psk, psk_id)
        and sender_public is None
        and type(sk_r) is PrivateKey
        and sk_r.algorithm == suite.kem_impl.algorithm
        and type(enc) is bytes
        and len(enc) == suite.n_enc
        and type(ciphertext) is bytes
        and len(ciphertext) >= suite.n_t
        and type(info) is bytes
        and type(aad) is bytes
    ):
        # Base mode with checked, plain inputs: what setup_recipient and Context.open
        # do, without the exporter secret, the context object and the input conversions.
        key, base_nonce = fast.base(suite.kem_impl.decapsulate(sk_r, enc), info)
        assert suite.aead_impl is not None  # _hmac_schedule is set only with an AEAD
        try:
            if fast.cipher is not None:
                return fast.cipher(key).decrypt(base_nonce, ciphertext, aad)  # type: ignore[no-any-return]
            return suite.aead_impl.new(key).decrypt(base_nonce, ciphertext, aad)
        except (AuthenticationFailed, InvalidTag) as error:
            raise _open_failed(suite, 0) from error
    if suite.aead_impl is None:
        context = setup_recipient(suite, enc, sk_r, info, mode, psk, psk_id, sender_public)
        return context.open(ciphertext, aad)
    checked, shared_secret = _decapsulate(suite, enc, sk_r, mode, psk, psk_id, sender_public)
    key, base_nonce = _single_shot_keys(suite, checked, shared_secret, info, psk, psk_id)
    ciphertext = _bytes(ciphertext, "ciphertext")
    aad = _bytes(aad, "aad")
    if len(ciphertext) < suite.n_t:
        raise _short_ciphertext(suite, ciphertext)
    try:
        # RFC 9180 §5.2: the first message has seq = 0, so its nonce is base_nonce itself.
        return suite.aead_impl.new(key).decrypt(base_nonce, ciphertext, aad)
    except AuthenticationFailed as error:
        raise _open_failed(suite, 0) from error


def send_export(
    suite: Suite,
    pk_r: PublicKey,
    exporter_context: bytes,
    length: int,
    info: bytes = b"",
    *,
    mode: Mode | int = Mode.BASE,
    psk: bytes = b"",
    psk_id: bytes = b"",
    sender_key: PrivateKey | None = None,
    seed: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Encapsulate to ``pk_r`` and return ``(enc, exported secret)`` (RFC 9180 §6.2)."""
    enc, context = setup_sender(suite, pk_r, info, mode, psk, psk_id, sender_key, seed)
    return enc, context.export(exporter_context, length)


def receive_export(
    suite: Suite,
    enc: bytes,
    sk_r: PrivateKey,
    exporter_context: bytes,
    length: int,
    info: bytes = b"",
    *,
    mode: Mode | int = Mode.BASE,
    psk: bytes = b"",
    psk_id: bytes = b"",
    sender_public: PublicKey | None = None,
) -> bytes:
    """Decapsulate ``enc`` and export the secret that :func:`send_export` returned."""
    context = setup_recipient(suite, enc, sk_r, info, mode, psk, psk_id, sender_public)
    return context.export(exporter_context, length)


# Input checks.


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def _implementation_name(implementation: KEM | KDF | AEAD) -> str:
    return f"{implementation.algorithm}/{implementation.provider}"


def _codepoint(implementation: Implementation, kind: type, attribute: str, family: str) -> int:
    if not isinstance(implementation, kind):
        raise InvalidArgument(
            f"{family}_impl must be a registry {kind.__name__}, "
            f"got {type(implementation).__name__}",
            fix=f"use agile.registry.{family}(ID) or Suite.from_ids",
        )
    value = getattr(implementation.descriptor, attribute)
    if value is None:
        raise UnsupportedAlgorithm(
            f"{implementation.algorithm!r} has no HPKE {family.upper()} codepoint",
            fix=f"choose an HPKE {family.upper()}: {', '.join(_supported_ids(family))}",
        )
    return int(value)


def _supported_ids(family: str) -> list[str]:
    table = {"kem": _KEM_IDS, "kdf": _KDF_IDS, "aead": _AEAD_IDS}[family]
    return list(table.values())


def _lookup_codepoint(
    family: str, codepoint: int, table: dict[int, str], names: dict[int, str]
) -> str:
    if not isinstance(codepoint, int) or isinstance(codepoint, bool):
        raise InvalidArgument(
            f"HPKE {family} id must be an integer, got {codepoint!r}",
            fix="pass the codepoint from the IANA HPKE registry, for example 0x0020",
        )
    if codepoint in table:
        return table[codepoint]
    name = names.get(codepoint, "unassigned")
    supported = ", ".join(f"0x{key:04X} ({value})" for key, value in sorted(table.items()))
    raise UnsupportedAlgorithm(
        f"HPKE {family} id 0x{codepoint:04X} ({name}) is not supported",
        fix=f"use one of: {supported}",
    )


def _mode(mode: Mode | int) -> Mode:
    if type(mode) is Mode:
        return mode
    try:
        return Mode(mode)
    except ValueError:
        raise InvalidArgument(
            f"unknown HPKE mode {mode!r}",
            fix="use Mode.BASE, Mode.PSK, Mode.AUTH or Mode.AUTH_PSK",
        ) from None


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidArgument(
            f"unknown HPKE context role {role!r}",
            fix="use Role.SENDER or Role.RECIPIENT",
        ) from None


def _bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgument(
        f"HPKE {name} must be bytes, got {type(value).__name__}",
        fix=f"encode {name} to bytes first",
    )


def _optional_bytes(value: object) -> bytes | None:
    return None if value is None else _bytes(value, "seed")


def _verify_psk_inputs(mode: Mode, psk: bytes, psk_id: bytes) -> None:
    # RFC 9180 §5.1 VerifyPSKInputs, plus the §5.1.2 minimum PSK length.
    if bool(psk) != bool(psk_id):
        present, missing = ("psk", "psk_id") if psk else ("psk_id", "psk")
        raise InvalidArgument(
            f"HPKE {present} is set but {missing} is missing",
            fix="pass both psk and psk_id, or neither",
        )
    if psk and not mode.uses_psk:
        raise InvalidArgument(
            f"HPKE mode {mode.name} takes no PSK, but psk and psk_id are set",
            fix="use Mode.PSK or Mode.AUTH_PSK, or drop psk and psk_id",
        )
    if not psk and mode.uses_psk:
        raise InvalidArgument(
            f"HPKE mode {mode.name} requires psk and psk_id",
            fix="pass a PSK of at least 32 bytes and its psk_id",
        )
    if psk and len(psk) < MIN_PSK_LENGTH:
        raise InvalidArgument(
            f"HPKE PSK is {len(psk)} bytes, shorter than the minimum of {MIN_PSK_LENGTH}",
            fix=f"use a uniformly random PSK of at least {MIN_PSK_LENGTH} bytes",
        )


def _check_mode_args(
    mode: Mode | int,
    psk: bytes,
    psk_id: bytes,
    sender: object,
    sender_name: str,
) -> Mode:
    mode = _mode(mode)
    _verify_psk_inputs(mode, _bytes(psk, "psk"), _bytes(psk_id, "psk_id"))
    if mode.authenticates_sender and sender is None:
        raise InvalidArgument(
            f"HPKE mode {mode.name} requires {sender_name}",
            fix=f"pass {sender_name}, or use Mode.BASE or Mode.PSK",
        )
    if not mode.authenticates_sender and sender is not None:
        raise InvalidArgument(
            f"{sender_name} is set, but HPKE mode {mode.name} does not authenticate the sender",
            fix=f"use Mode.AUTH or Mode.AUTH_PSK, or drop {sender_name}",
        )
    return mode


def _check_key(suite: Suite, key: object, kind: type, description: str) -> None:
    if not isinstance(key, kind):
        raise InvalidKey(
            f"the {description} must be an agile.registry.{kind.__name__}, "
            f"got {type(key).__name__}",
            fix=f"load it with agile.registry.kem({suite.kem!r}).load_* first",
        )
    if key.algorithm != suite.kem:  # type: ignore[attr-defined]
        raise InvalidKey(
            f"the {description} is a {key.algorithm} key, "  # type: ignore[attr-defined]
            f"but the suite's KEM is {suite.kem}",
            fix=f"use a {suite.kem} key, or a suite whose KEM matches the key",
        )
