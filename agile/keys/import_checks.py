"""Checks that an imported key is usable and is the only encoding of itself.

These run once, when a key is imported, so an encryption loads the stored
public key without them.  They reject keys that the providers accept but cannot
use, such as a low-order X25519 point or an even RSA modulus.  They reject
encodings that would let one key enter a keystore twice under two ids, such as
an X25519 key with the unused top bit set.  And they reject keys whose file
limits them to another use.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519

from ..errors import InvalidKey

__all__ = [
    "check_public",
    "check_jwk_use",
    "check_rsa_pss_restriction",
    "reject_rsa_pss",
    "uncompress_point",
]

#: The field prime of Curve25519, 2^255 - 19 (RFC 7748 §4.1).
_P25519 = 2**255 - 19
#: Size of the ML-KEM-768 public key that precedes the X25519 key in an X-Wing public key.
_XWING_MLKEM_PUBLIC_SIZE = 1184
#: The product of the odd primes below 1000: a modulus that shares a factor with it is no
#: RSA modulus.  It catches some damaged moduli, not all.
_SMALL_PRIMES_PRODUCT = 1
for _candidate in range(3, 1000, 2):
    if all(_candidate % divisor for divisor in range(3, int(_candidate**0.5) + 1, 2)):
        _SMALL_PRIMES_PRODUCT *= _candidate
del _candidate


def check_public(algorithm: str, public: bytes) -> None:
    """Raise :class:`InvalidKey` when the stored public key of ``algorithm`` is unusable."""
    if algorithm == "x25519":
        _check_x25519(public, "X25519 public key")
    elif algorithm == "x-wing":
        _check_x25519(public[_XWING_MLKEM_PUBLIC_SIZE:], "X25519 part of the X-Wing public key")
    elif algorithm.startswith(("rsa-oaep-", "rsa-pss-")):
        key = serialization.load_der_public_key(public)
        assert isinstance(key, rsa.RSAPublicKey)
        _check_rsa(key.public_numbers())


def _check_x25519(public: bytes, what: str) -> None:
    value = int.from_bytes(public, "little")
    if value >= _P25519:
        # RFC 7748 §5 has receivers mask the top bit and reduce modulo p, so this key
        # would equal another 32-byte string and could be imported a second time.
        raise InvalidKey(
            f"the {what} is not in canonical form (its top bit is set or its value is "
            "2^255 - 19 or more)",
            fix="export the key again from the program that made it; X25519 keys that "
            "RFC 7748 implementations produce are canonical",
        )
    try:
        x25519.X25519PrivateKey.generate().exchange(
            x25519.X25519PublicKey.from_public_bytes(public)
        )
    except ValueError:
        # OpenSSL rejects an all-zero shared secret, which only a low-order point gives.
        raise InvalidKey(
            f"the {what} is a low-order point, so every shared secret with it is zero",
            fix="import the recipient's real public key; this one cannot be encrypted to",
        ) from None


def _check_rsa(numbers: rsa.RSAPublicNumbers) -> None:
    n, e = numbers.n, numbers.e
    if n % 2 == 0 or _gcd(n, _SMALL_PRIMES_PRODUCT) != 1:
        raise InvalidKey(
            f"the RSA modulus ({n.bit_length()} bits) has a small prime factor, so it is "
            "not the product of two large primes",
            fix="export the public key again; the file is damaged or was edited",
        )
    if e < 3 or e % 2 == 0 or e >= n:
        raise InvalidKey(
            f"the RSA public exponent {e} is invalid (it must be odd, at least 3 and less "
            "than the modulus)",
            fix="export the public key again; the file is damaged or was edited",
        )


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


_CURVES: dict[str, ec.EllipticCurve] = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}
_COORDINATE_SIZES = {"p256": 32, "p384": 48}


def uncompress_point(algorithm: str, data: bytes) -> bytes:
    """Return a compressed SEC 1 point of ``algorithm`` uncompressed, other bytes unchanged.

    The stored form is the uncompressed point, so one key has one encoding.
    """
    size = _COORDINATE_SIZES.get(algorithm)
    if size is None or len(data) != size + 1 or data[:1] not in (b"\x02", b"\x03"):
        return data
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[algorithm], data)
    except ValueError:
        raise InvalidKey(
            f"the {size + 1} bytes are a compressed {algorithm} point that is not on the curve",
            fix="export the public key again; the file is damaged",
        ) from None
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


#: DER of the object identifier id-RSASSA-PSS (1.2.840.113549.1.1.10, RFC 8017 Appendix C).
_RSASSA_PSS_OID = bytes.fromhex("06092a864886f70d01010a")


def check_rsa_pss_restriction(der: bytes, purpose: str) -> None:
    """Reject a key whose algorithm identifier limits it to RSA-PSS, unless it signs.

    pyca/cryptography loads such a key as a plain RSA key and drops the limit, so
    the identifier is read from the DER itself.  It sits within the first 30 bytes
    of a SubjectPublicKeyInfo and of a PKCS#8 PrivateKeyInfo.
    """
    if _RSASSA_PSS_OID in der[:30]:
        reject_rsa_pss(purpose)


def reject_rsa_pss(purpose: str) -> None:
    """Raise :class:`InvalidKey` for an RSA-PSS-only key unless ``purpose`` is signature."""
    if purpose == "signature":
        return
    raise InvalidKey(
        "the RSA key is limited to RSA-PSS signatures (its algorithm is id-RSASSA-PSS, "
        f"1.2.840.113549.1.1.10), so it cannot go into a {purpose} keyset",
        fix="import it into a signature keyset, or import an RSA encryption key "
        "(algorithm rsaEncryption) here",
    )


#: JWK "alg" values (RFC 7518, RFC 8037) that name a signature algorithm.
_JWK_SIGNATURE_ALGS = frozenset(
    {
        *(f"{family}{bits}" for family in ("RS", "PS", "ES", "HS") for bits in (256, 384, 512)),
        "ES256K",
        "EdDSA",
        "Ed25519",
        "Ed448",
    }
)
_JWK_KEM_OPS = frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits"})
_JWK_SIGNATURE_OPS = frozenset({"sign", "verify"})


def check_jwk_use(jwk: dict[str, Any], purpose: str) -> None:
    """Reject a JWK whose ``use``, ``key_ops`` or ``alg`` member limits it to another purpose."""
    expected_use = {"kem": "enc", "signature": "sig"}.get(purpose)
    use = jwk.get("use")
    if use is not None and use != expected_use:
        raise InvalidKey(
            f'the JWK member "use" is {use!r}, so the key may not go into a {purpose} keyset',
            fix=_jwk_fix(purpose),
        )
    operations = jwk.get("key_ops")
    if operations is not None:
        allowed = _JWK_SIGNATURE_OPS if purpose == "signature" else _JWK_KEM_OPS
        if not isinstance(operations, list) or not allowed.intersection(operations):
            raise InvalidKey(
                f'the JWK member "key_ops" is {operations!r}, so the key may not go into a '
                f"{purpose} keyset",
                fix=_jwk_fix(purpose),
            )
    alg = jwk.get("alg")
    if alg is not None:
        signs = alg in _JWK_SIGNATURE_ALGS
        if not isinstance(alg, str) or signs != (purpose == "signature"):
            raise InvalidKey(
                f'the JWK member "alg" is {alg!r}, so the key may not go into a {purpose} keyset',
                fix=_jwk_fix(purpose),
            )


def _jwk_fix(purpose: str) -> str:
    other = "signature" if purpose != "signature" else "kem"
    return (
        f"import it into a {other} keyset, or use a key made for this purpose; removing the "
        "member only hides that the key owner limited it"
    )
