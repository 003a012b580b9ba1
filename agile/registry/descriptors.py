"""Algorithm descriptors: one table of data about every algorithm agile defines.

A descriptor says what an algorithm is (family, strength, standards, sizes); it
does not implement anything.  Implementations live in ``providers/`` and
``hybrid/`` and are looked up by id through :mod:`agile.registry.lookup`.

``category`` is the NIST security strength category (1 to 5) that the algorithm
reaches against a classical attacker; 0 means weaker than category 1 (for
example 112-bit RSA-2048).  Whether the algorithm also resists a quantum
attacker is the separate flag ``quantum_safe``: X25519 is category 1 but not
quantum-safe.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["Family", "Sizes", "AlgorithmDescriptor", "DESCRIPTORS", "BY_ID"]


class Family(str, enum.Enum):  # noqa: UP042 - str() and format() stay as released
    KEM = "kem"
    SIGNATURE = "signature"
    AEAD = "aead"
    KDF = "kdf"
    PASSWORD_KDF = "password-kdf"
    HOMOMORPHIC = "homomorphic"
    SECRET_SHARING = "secret-sharing"


@dataclass(frozen=True, slots=True)
class Sizes:
    """Byte sizes; ``None`` where a size does not apply or varies (DER encodings give a maximum)."""

    public_key: int | None = None
    private_key: int | None = None
    ciphertext: int | None = None
    shared_secret: int | None = None
    signature: int | None = None
    key: int | None = None
    nonce: int | None = None
    tag: int | None = None
    output: int | None = None


@dataclass(frozen=True, slots=True)
class AlgorithmDescriptor:
    id: str
    family: Family
    category: int | None
    classical_bits: int | None
    quantum_safe: bool
    standards: tuple[str, ...]
    sizes: Sizes = field(default_factory=Sizes)
    components: tuple[str, ...] = ()
    hpke_kem_id: int | None = None
    hpke_kdf_id: int | None = None
    hpke_aead_id: int | None = None
    #: Private-key form stored by agile: "seed" where the standard defines one,
    #: else "raw", "pkcs8" or "expanded".
    private_key_form: str | None = None
    legacy: bool = False

    @property
    def hybrid(self) -> bool:
        return bool(self.components)

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form used by ``agile algorithms --json`` (without providers)."""
        sizes = {name: getattr(self.sizes, name) for name in Sizes.__slots__}
        return {
            "id": self.id,
            "family": self.family.value,
            "category": self.category,
            "classical_bits": self.classical_bits,
            "quantum_safe": self.quantum_safe,
            "hybrid": self.hybrid,
            "components": list(self.components),
            "standards": list(self.standards),
            "sizes": {name: value for name, value in sizes.items() if value is not None},
            "private_key_form": self.private_key_form,
            "legacy": self.legacy,
        }


K, S, A, D, P, H, X = (
    Family.KEM,
    Family.SIGNATURE,
    Family.AEAD,
    Family.KDF,
    Family.PASSWORD_KDF,
    Family.HOMOMORPHIC,
    Family.SECRET_SHARING,
)


def _slh(name: str, category: int, public: int, signature: int) -> AlgorithmDescriptor:
    return AlgorithmDescriptor(
        f"slh-dsa-{name}",
        S,
        category,
        None,
        True,
        ("FIPS 205",),
        Sizes(public_key=public, private_key=2 * public, signature=signature),
        private_key_form="expanded",
    )


# fmt: off
DESCRIPTORS: tuple[AlgorithmDescriptor, ...] = (
    # KEMs.  The classical ones are the RFC 9180 DHKEMs, so that every KEM plugs into HPKE.
    AlgorithmDescriptor(
        "x25519", K, 1, 128, False, ("RFC 7748", "RFC 9180 DHKEM(X25519, HKDF-SHA256)"),
        Sizes(public_key=32, private_key=32, ciphertext=32, shared_secret=32),
        hpke_kem_id=0x0020, private_key_form="raw"),
    AlgorithmDescriptor(
        "p256", K, 1, 128, False, ("FIPS 186-5", "SEC 1", "RFC 9180 DHKEM(P-256, HKDF-SHA256)"),
        Sizes(public_key=65, private_key=32, ciphertext=65, shared_secret=32),
        hpke_kem_id=0x0010, private_key_form="raw"),
    AlgorithmDescriptor(
        "p384", K, 3, 192, False, ("FIPS 186-5", "SEC 1", "RFC 9180 DHKEM(P-384, HKDF-SHA384)"),
        Sizes(public_key=97, private_key=48, ciphertext=97, shared_secret=48),
        hpke_kem_id=0x0011, private_key_form="raw"),
    AlgorithmDescriptor(
        "ml-kem-512", K, 1, None, True, ("FIPS 203", "draft-ietf-hpke-pq"),
        Sizes(public_key=800, private_key=64, ciphertext=768, shared_secret=32),
        hpke_kem_id=0x0040, private_key_form="seed"),
    AlgorithmDescriptor(
        "ml-kem-768", K, 3, None, True, ("FIPS 203", "draft-ietf-hpke-pq"),
        Sizes(public_key=1184, private_key=64, ciphertext=1088, shared_secret=32),
        hpke_kem_id=0x0041, private_key_form="seed"),
    AlgorithmDescriptor(
        "ml-kem-1024", K, 5, None, True, ("FIPS 203", "draft-ietf-hpke-pq"),
        Sizes(public_key=1568, private_key=64, ciphertext=1568, shared_secret=32),
        hpke_kem_id=0x0042, private_key_form="seed"),
    AlgorithmDescriptor(
        "x-wing", K, 3, 128, True, ("draft-connolly-cfrg-xwing-kem", "FIPS 203", "RFC 7748"),
        Sizes(public_key=1216, private_key=32, ciphertext=1120, shared_secret=32),
        components=("ml-kem-768", "x25519"), hpke_kem_id=0x647A, private_key_form="seed"),
    AlgorithmDescriptor(
        "rsa-oaep-2048", K, 0, 112, False, ("RFC 8017 RSAES-OAEP (SHA-256, MGF1-SHA-256)",),
        Sizes(ciphertext=256, shared_secret=32), private_key_form="pkcs8", legacy=True),
    AlgorithmDescriptor(
        "rsa-oaep-3072", K, 1, 128, False, ("RFC 8017 RSAES-OAEP (SHA-256, MGF1-SHA-256)",),
        Sizes(ciphertext=384, shared_secret=32), private_key_form="pkcs8", legacy=True),

    # Signatures.
    AlgorithmDescriptor(
        "ed25519", S, 1, 128, False, ("RFC 8032",),
        Sizes(public_key=32, private_key=32, signature=64), private_key_form="raw"),
    AlgorithmDescriptor(
        "ed448", S, 3, 224, False, ("RFC 8032",),
        Sizes(public_key=57, private_key=57, signature=114), private_key_form="raw"),
    AlgorithmDescriptor(
        "ecdsa-p256-sha256", S, 1, 128, False, ("FIPS 186-5",),
        Sizes(public_key=65, private_key=32, signature=72), private_key_form="raw"),
    AlgorithmDescriptor(
        "ecdsa-p384-sha384", S, 3, 192, False, ("FIPS 186-5",),
        Sizes(public_key=97, private_key=48, signature=104), private_key_form="raw"),
    AlgorithmDescriptor(
        "rsa-pss-2048-sha256", S, 0, 112, False, ("RFC 8017 RSASSA-PSS", "FIPS 186-5"),
        Sizes(signature=256), private_key_form="pkcs8", legacy=True),
    AlgorithmDescriptor(
        "rsa-pss-3072-sha256", S, 1, 128, False, ("RFC 8017 RSASSA-PSS", "FIPS 186-5"),
        Sizes(signature=384), private_key_form="pkcs8", legacy=True),
    AlgorithmDescriptor(
        "ml-dsa-44", S, 2, None, True, ("FIPS 204",),
        Sizes(public_key=1312, private_key=32, signature=2420), private_key_form="seed"),
    AlgorithmDescriptor(
        "ml-dsa-65", S, 3, None, True, ("FIPS 204",),
        Sizes(public_key=1952, private_key=32, signature=3309), private_key_form="seed"),
    AlgorithmDescriptor(
        "ml-dsa-87", S, 5, None, True, ("FIPS 204",),
        Sizes(public_key=2592, private_key=32, signature=4627), private_key_form="seed"),
    _slh("sha2-128s", 1, 32, 7856),
    _slh("sha2-128f", 1, 32, 17088),
    _slh("sha2-192s", 3, 48, 16224),
    _slh("sha2-192f", 3, 48, 35664),
    _slh("sha2-256s", 5, 64, 29792),
    _slh("sha2-256f", 5, 64, 49856),
    _slh("shake-128s", 1, 32, 7856),
    _slh("shake-128f", 1, 32, 17088),
    _slh("shake-192s", 3, 48, 16224),
    _slh("shake-192f", 3, 48, 35664),
    _slh("shake-256s", 5, 64, 29792),
    _slh("shake-256f", 5, 64, 49856),
    AlgorithmDescriptor(
        "ml-dsa-65-ed25519", S, 3, 128, True,
        ("draft-ietf-lamps-pq-composite-sigs", "FIPS 204", "RFC 8032"),
        Sizes(public_key=1984, private_key=64, signature=3373),
        components=("ml-dsa-65", "ed25519"), private_key_form="seed"),

    # AEADs.
    AlgorithmDescriptor(
        "aes-128-gcm", A, 1, 128, True, ("NIST SP 800-38D",),
        Sizes(key=16, nonce=12, tag=16), hpke_aead_id=0x0001),
    AlgorithmDescriptor(
        "aes-256-gcm", A, 5, 256, True, ("NIST SP 800-38D",),
        Sizes(key=32, nonce=12, tag=16), hpke_aead_id=0x0002),
    AlgorithmDescriptor(
        "chacha20-poly1305", A, 5, 256, True, ("RFC 8439",),
        Sizes(key=32, nonce=12, tag=16), hpke_aead_id=0x0003),
    AlgorithmDescriptor(
        "xchacha20-poly1305", A, 5, 256, True, ("draft-irtf-cfrg-xchacha",),
        Sizes(key=32, nonce=24, tag=16)),
    AlgorithmDescriptor(
        "aes-256-gcm-siv", A, 5, 256, True, ("RFC 8452",),
        Sizes(key=32, nonce=12, tag=16)),

    # KDFs.  Category follows the hash's collision strength on NIST's scale.
    AlgorithmDescriptor(
        "hkdf-sha256", D, 2, 128, True, ("RFC 5869",), Sizes(output=32), hpke_kdf_id=0x0001),
    AlgorithmDescriptor(
        "hkdf-sha384", D, 4, 192, True, ("RFC 5869",), Sizes(output=48), hpke_kdf_id=0x0002),
    AlgorithmDescriptor(
        "hkdf-sha512", D, 5, 256, True, ("RFC 5869",), Sizes(output=64), hpke_kdf_id=0x0003),
    AlgorithmDescriptor("argon2id", P, None, None, True, ("RFC 9106",)),
    AlgorithmDescriptor("scrypt", P, None, None, True, ("RFC 7914",)),

    # Homomorphic encryption (implemented in the he package).
    AlgorithmDescriptor(
        "paillier-2048", H, 0, 112, False, ("Paillier 1999",), Sizes(ciphertext=512)),
    AlgorithmDescriptor(
        "paillier-3072", H, 1, 128, False, ("Paillier 1999",), Sizes(ciphertext=768)),
    AlgorithmDescriptor(
        "paillier-4096", H, 1, 152, False, ("Paillier 1999",), Sizes(ciphertext=1024)),

    # Secret sharing.  Shamir is information-theoretically secure; Feldman's commitments
    # rest on discrete logarithms in ristretto255.
    AlgorithmDescriptor("shamir-gf256", X, None, None, True, ("Shamir 1979",)),
    AlgorithmDescriptor(
        "shamir-prime", X, None, None, True, ("Shamir 1979", "RFC 9496 ristretto255 scalar field")),
    AlgorithmDescriptor(
        "feldman-vss-ristretto255", X, 1, 128, False, ("Feldman 1987", "RFC 9496")),
)
# fmt: on

BY_ID: dict[str, AlgorithmDescriptor] = {d.id: d for d in DESCRIPTORS}
