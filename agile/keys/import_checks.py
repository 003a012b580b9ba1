"""Checks that an imported key is usable and is the only encoding of itself.

These run once, when a key is imported, so an encryption loads the stored
public key without them.  They reject keys that the providers accept but cannot
use, such as a low-order X25519 point or an even RSA modulus.  They reject
encodings that would let one key enter a keystore twice under two ids, such as
an X25519 key with the unused top bit set.  And they reject keys whose file
limits them to another use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519

from ..errors import InvalidKey

__all__ = [
    "check_public",
    "check_jwk_alg",
    "check_jwk_use",
    "check_rsa_pss_restriction",
    "check_certificate_rsa_pss",
    "uncompress_point",
]

#: The field prime of Curve25519, 2^255 - 19 (RFC 7748 §4.1).
_P25519 = 2**255 - 19
#: Size of the ML-KEM-768 public key that precedes the X25519 key in an X-Wing public key.
_XWING_MLKEM_PUBLIC_SIZE = 1184
#: Size of the ML-DSA-65 public key that precedes the Ed25519 key in a composite public key.
_MLDSA65_PUBLIC_SIZE = 1952
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
    elif algorithm in ("ml-kem-512", "ml-kem-768", "ml-kem-1024"):
        _check_mlkem(public, f"{algorithm} public key")
    elif algorithm == "x-wing":
        _check_mlkem(public[:_XWING_MLKEM_PUBLIC_SIZE], "ML-KEM-768 part of the X-Wing public key")
        _check_x25519(public[_XWING_MLKEM_PUBLIC_SIZE:], "X25519 part of the X-Wing public key")
    elif algorithm.startswith(("rsa-oaep-", "rsa-pss-")):
        key = serialization.load_der_public_key(public)
        assert isinstance(key, rsa.RSAPublicKey)
        _check_rsa(key.public_numbers())
    elif algorithm == "ed25519":
        _check_edwards(public, _ED25519, "Ed25519 public key")
    elif algorithm == "ml-dsa-65-ed25519":
        _check_edwards(
            public[_MLDSA65_PUBLIC_SIZE:], _ED25519, "Ed25519 part of the composite public key"
        )
    elif algorithm == "ed448":
        _check_edwards(public, _ED448, "Ed448 public key")


@dataclass(frozen=True)
class _Edwards:
    """An Edwards curve's field and constants, as RFC 8032 §5.1 and §5.2 give them."""

    name: str
    p: int
    a: int
    d: int
    #: y-coordinates of the points of small order (dividing the cofactor).
    small_order_y: frozenset[int]


_P448 = 2**448 - 2**224 - 1
#: y of the Ed25519 points of order 8 is this value or p minus it.  It is a root of
#: 8-torsion, found by multiplying points by the group order (the tests do so again).
_ED25519_ORDER_8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_ED25519 = _Edwards(
    "Ed25519",
    _P25519,
    -1,
    -121665 * pow(121666, -1, _P25519) % _P25519,
    frozenset({0, 1, _P25519 - 1, _ED25519_ORDER_8_Y, _P25519 - _ED25519_ORDER_8_Y}),
)
# Ed448's cofactor is 4: its small-order points are (0, 1), (0, -1) and (+-1, 0).
_ED448 = _Edwards("Ed448", _P448, 1, -39081 % _P448, frozenset({0, 1, _P448 - 1}))


def _check_edwards(public: bytes, curve: _Edwards, what: str) -> None:
    """Raise :class:`InvalidKey` unless ``public`` is the canonical encoding of a usable point.

    RFC 8032 §5.1.3 and §5.2.3 decode y from all bits but the last, which is
    the sign of x.  A y of p or more is another encoding of a smaller y, so the
    key could be imported twice under two ids.  A point of small order lets
    one signature verify for many messages under verifiers that accept it.
    """
    value = int.from_bytes(public, "little")
    sign_bit = 8 * len(public) - 1
    y = value & ((1 << sign_bit) - 1)
    if y >= curve.p or (curve is _ED448 and public[-1] & 0x7F):
        raise InvalidKey(
            f"the {what} is not in canonical form (its y-coordinate is {curve.name}'s field "
            "prime or more)",
            fix=f"export the key again from the program that made it; {curve.name} keys that "
            "RFC 8032 implementations produce are canonical",
        )
    # x^2 = (1 - y^2) / (a - d y^2) from a x^2 + y^2 = 1 + d x^2 y^2.
    y2 = y * y % curve.p
    x2 = (1 - y2) * pow((curve.a - curve.d * y2) % curve.p, -1, curve.p) % curve.p
    on_curve = x2 == 0 or pow(x2, (curve.p - 1) // 2, curve.p) == 1
    if not on_curve or (x2 == 0 and value >> sign_bit):
        raise InvalidKey(
            f"the {what} is not a point on {curve.name}",
            fix="export the public key again; the file is damaged or was edited",
        )
    if y in curve.small_order_y:
        raise InvalidKey(
            f"the {what} is a point of small order, which no RFC 8032 key pair has and "
            "which lets one signature verify for many messages",
            fix="import the signer's real public key; this one proves nothing",
        )


#: Size of rho, the seed of the matrix A, which ends an ML-KEM encapsulation key.
_MLKEM_RHO_SIZE = 32


def _check_mlkem(public: bytes, what: str) -> None:
    """Raise :class:`InvalidKey` when the t part of an ML-KEM encapsulation key is all zero.

    The encapsulation key is ByteEncode_12 of t = A s + e (in NTT form) followed by
    rho (FIPS 203, K-PKE.KeyGen).  With t = 0 the ciphertext's second part is the
    encoded message plus small noise, so anyone with the ciphertext recovers the
    message and from it the shared secret.  The FIPS 203 modulus check of
    encapsulation keys accepts such a key.
    """
    if any(public[:-_MLKEM_RHO_SIZE]):
        return
    raise InvalidKey(
        f"the {what} has an all-zero t vector, so anyone with a ciphertext for it "
        "can compute the shared secret",
        fix="import the recipient's real public key; this one cannot be encrypted to",
    )


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
    """Raise :class:`InvalidKey` when the key is limited to RSA-PSS in a way agile breaks.

    pyca/cryptography loads such a key as a plain RSA key and drops the limit, so
    the identifier is read from the DER itself.  It sits within the first 30 bytes
    of a SubjectPublicKeyInfo and of a PKCS#8 PrivateKeyInfo.  An RSA-PSS key may
    only sign.  When its identifier carries RSASSA-PSS-params, they must allow
    the RSA-PSS form of agile's signatures (see :func:`_check_pss_parameters`).
    """
    if _RSASSA_PSS_OID not in der[:30]:
        return
    reject_rsa_pss(purpose)
    try:
        children = _children(der, 0)
        # PrivateKeyInfo starts with its INTEGER version; SubjectPublicKeyInfo does not.
        identifier = children[1] if der[children[0][0]] == _INTEGER else children[0]
        _check_pss_parameters(der, identifier)
    except IndexError:
        raise InvalidKey(
            "the RSA-PSS key's algorithm identifier is not valid DER",
            fix="export the key again; the file is damaged",
        ) from None


def check_certificate_rsa_pss(tbs_certificate: bytes, purpose: str) -> None:
    """Apply :func:`check_rsa_pss_restriction` to the key of a certificate's TBSCertificate."""
    reject_rsa_pss(purpose)
    try:
        fields = _children(tbs_certificate, 0)
        # RFC 5280 §4.1: [0] version (optional), serial, signature, issuer, validity,
        # subject, then subjectPublicKeyInfo.
        first = 1 if tbs_certificate[fields[0][0]] == 0xA0 else 0
        spki = fields[first + 5]
        _check_pss_parameters(tbs_certificate, _children(tbs_certificate, spki[0])[0])
    except IndexError:
        raise InvalidKey(
            "the certificate's RSA-PSS key identifier is not valid DER",
            fix="export the certificate again; the file is damaged",
        ) from None


_INTEGER = 0x02
_SEQUENCE = 0x30
#: DER contents of the hash identifiers RSASSA-PSS-params may name (RFC 8017 Appendix A.2.3).
_HASH_NAMES = {
    bytes.fromhex("2b0e03021a"): "SHA-1",
    bytes.fromhex("608648016503040204"): "SHA-224",
    bytes.fromhex("608648016503040201"): "SHA-256",
    bytes.fromhex("608648016503040202"): "SHA-384",
    bytes.fromhex("608648016503040203"): "SHA-512",
}
_SHA256_CONTENTS = bytes.fromhex("608648016503040201")
#: DER contents of id-mgf1 (1.2.840.113549.1.1.8).
_MGF1_CONTENTS = bytes.fromhex("2a864886f70d010108")
#: The RSA-PSS form of agile's rsa-pss-*-sha256 signatures: its salt length in bytes.
_PSS_SALT_SIZE = 32

#: A DER element: where its tag starts, where its contents start, and its end.
_Element = tuple[int, int, int]


def _element(data: bytes, offset: int) -> _Element:
    """Return the element at ``offset``; raise IndexError when it runs past ``data``."""
    first = data[offset + 1]
    if first < 0x80:
        start, length = offset + 2, first
    elif 0x81 <= first <= 0x84:
        start = offset + 2 + (first & 0x7F)
        if start > len(data):
            raise IndexError("DER length runs past the data")
        length = int.from_bytes(data[offset + 2 : start], "big")
    else:
        raise IndexError("DER length form is not supported")
    if start + length > len(data):
        raise IndexError("DER element runs past the data")
    return offset, start, start + length


def _children(data: bytes, offset: int) -> list[_Element]:
    """Return the elements inside the constructed element at ``offset``."""
    _, position, end = _element(data, offset)
    children = []
    while position < end:
        child = _element(data, position)
        if child[2] > end:
            raise IndexError("DER element runs past its parent")
        children.append(child)
        position = child[2]
    return children


def _contents(data: bytes, element: _Element) -> bytes:
    """Return the contents octets of ``element``."""
    return data[element[1] : element[2]]


def _algorithm_oid(data: bytes, identifier: _Element) -> bytes:
    """Return the OID contents of an AlgorithmIdentifier element."""
    oid = _children(data, identifier[0])[0]
    return _contents(data, oid)


def _check_pss_parameters(data: bytes, identifier: _Element) -> None:
    """Raise :class:`InvalidKey` when RSASSA-PSS-params forbid agile's RSA-PSS form.

    agile signs with SHA-256, MGF1 with SHA-256, a 32-byte salt and trailer 0xbc.
    Parameters in a key's identifier limit the key to their hash, mask
    generation and trailer, and to salts of at least their length (RFC 4055
    §3.1).  Absent parameters leave the key unlimited.  Absent fields take the
    defaults of RFC 8017 Appendix A.2.3: SHA-1, MGF1 with SHA-1, 20 bytes, 1.
    """
    fields = _children(data, identifier[0])
    if len(fields) == 1:
        return
    if data[fields[1][0]] != _SEQUENCE:
        raise IndexError("RSASSA-PSS-params is not a SEQUENCE")
    hash_oid = mgf_hash_oid = bytes.fromhex("2b0e03021a")
    mgf_oid = _MGF1_CONTENTS
    salt, trailer = 20, 1
    for field in _children(data, fields[1][0]):
        tag = data[field[0]]
        inner = _children(data, field[0])[0]
        if tag == 0xA0:
            hash_oid = _algorithm_oid(data, inner)
        elif tag == 0xA1:
            mgf_oid = _algorithm_oid(data, inner)
            mgf_hash_oid = _algorithm_oid(data, _children(data, inner[0])[1])
        elif tag == 0xA2:
            salt = int.from_bytes(_contents(data, inner), "big")
        elif tag == 0xA3:
            trailer = int.from_bytes(_contents(data, inner), "big")
    if (
        hash_oid == _SHA256_CONTENTS
        and mgf_oid == _MGF1_CONTENTS
        and mgf_hash_oid == _SHA256_CONTENTS
        and salt <= _PSS_SALT_SIZE
        and trailer == 1
    ):
        return
    hash_name = _HASH_NAMES.get(hash_oid, "an unknown hash")
    mask = (
        f"MGF1 with {_HASH_NAMES.get(mgf_hash_oid, 'an unknown hash')}"
        if mgf_oid == _MGF1_CONTENTS
        else "a mask generation function other than MGF1"
    )
    raise InvalidKey(
        f"the RSA-PSS key is limited to {hash_name}, {mask}, salts of at least {salt} bytes "
        f"and trailer field {trailer}, but agile's RSA-PSS signs with SHA-256, MGF1 with "
        f"SHA-256, a {_PSS_SALT_SIZE}-byte salt and trailer field 1",
        fix="import an RSA key without RSA-PSS parameters, or one whose parameters name "
        f"SHA-256, MGF1 with SHA-256 and a minimum salt of {_PSS_SALT_SIZE} bytes or less",
    )


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
#: JWK "alg" values (RFC 7518 §4.1, RFC 8037 §3.2) that name a key management algorithm.
_JWK_ENCRYPTION_ALGS = frozenset(
    {
        "RSA1_5",
        "RSA-OAEP",
        *(f"RSA-OAEP-{bits}" for bits in (256, 384, 512)),
        "dir",
        "ECDH-ES",
        *(f"ECDH-ES+A{bits}KW" for bits in (128, 192, 256)),
        *(f"A{bits}KW" for bits in (128, 192, 256)),
        *(f"A{bits}GCMKW" for bits in (128, 192, 256)),
        *(f"PBES2-HS{bits}+A{bits // 2}KW" for bits in (256, 384, 512)),
    }
)
#: The "key_ops" values (RFC 7517 §4.3) that allow a key into a keyset of each purpose.
_JWK_OPS = {
    "signature": frozenset({"sign", "verify"}),
    "kem": frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits"}),
}


#: The purpose of keyset that each RFC 7517 §4.2 "use" value names (case-sensitive).
_JWK_USES = {"sig": "signature", "enc": "kem"}
#: The words for what a key of each purpose does, in messages.
_PURPOSE_WORDS = {"signature": "signing", "kem": "encryption"}


def check_jwk_use(jwk: dict[str, Any], purpose: str, algorithms: dict[str, str]) -> None:
    """Reject a JWK whose ``use``, ``key_ops`` or ``alg`` keeps it from a ``purpose`` keyset.

    ``algorithms`` maps each keyset purpose that the key's type allows to the
    algorithm agile would run with it there (an RSA key: ``rsa-pss-N-sha256`` in
    a signature keyset, ``rsa-oaep-N`` in a kem keyset).  The fix names the other
    purpose only when its keyset takes the key with these members.  Otherwise it
    names the "alg" or "use" values under which agile could use the key.
    """
    _check_use_value(jwk)
    _check_key_ops_value(jwk)
    _check_alg_value(jwk, algorithms)
    if not algorithms:
        return  # The key's type or size is not supported, and parsing reports that.

    problems = {
        name: _limit_problem(jwk, name, algorithm) for name, algorithm in algorithms.items()
    }
    if purpose in problems and problems[purpose] is None:
        return
    fitting = [name for name, problem in problems.items() if problem is None]
    if fitting:
        member = problems.get(purpose)
        if member is None:
            return  # The key's type has no algorithm of this purpose; parsing reports that.
        raise InvalidKey(
            f'the JWK member "{member}" is {jwk[member]!r}, so the key may not go into a '
            f"{purpose} keyset",
            fix=_jwk_fix(fitting[0]),
        )

    # No keyset takes the key: report the member that stops the use its owner declared.
    target = _declared_purpose(jwk)
    if target not in algorithms:
        target = purpose if purpose in algorithms else next(iter(algorithms))
    member = problems[target]
    assert member is not None
    ordered = sorted(algorithms.items(), key=lambda item: item[0] != target)
    if member == "alg":
        uses = " or ".join(
            f'{algorithm} (JWK "alg" {" or ".join(map(repr, _jwk_algs_for(algorithm)))})'
            for _, algorithm in ordered
        )
        fix = (
            'ask the key\'s owner to export it with one of those "alg" values if it is meant for '
            "them; removing the member only hides that the owner limited the key"
        )
    else:
        uses = " or ".join(
            f"{_PURPOSE_WORDS[name]} with {algorithm}" for name, algorithm in ordered
        )
        allowed = " or ".join(_PURPOSE_WORDS[name] for name in algorithms)
        fix = (
            f'ask the key\'s owner to export it with a "{member}" that allows {allowed}, or '
            f'import a key made for what "{member}" names'
        )
    raise InvalidKey(
        f'the JWK member "{member}" is {jwk[member]!r}, but agile can use this key only for {uses}',
        fix=fix,
    )


def _check_use_value(jwk: dict[str, Any]) -> None:
    """Reject a "use" other than the values RFC 7517 §4.2 defines, "sig" and "enc"."""
    if "use" not in jwk or jwk["use"] in _JWK_USES:
        return
    use = jwk["use"]
    if isinstance(use, str) and use.lower() in _JWK_USES:
        fix = f'write "{use.lower()}": "use" values are case-sensitive (RFC 7517 §4.2)'
    else:
        fix = 'write "sig" for a signing key or "enc" for an encryption key'
    raise InvalidKey(
        f'the JWK member "use" is {json.dumps(use)[:60]}, which agile does not know '
        '(RFC 7517 §4.2 defines "sig" and "enc")',
        fix=fix,
    )


def _check_key_ops_value(jwk: dict[str, Any]) -> None:
    """Reject a "key_ops" that is no array, or that contradicts "use" (RFC 7517 §4.3)."""
    if "key_ops" not in jwk:
        return
    operations = jwk["key_ops"]
    if not isinstance(operations, list) or not all(isinstance(item, str) for item in operations):
        raise InvalidKey(
            f'the JWK member "key_ops" must be an array of strings, got '
            f"{json.dumps(operations)[:60]}",
            fix='write the operations as a JSON array such as ["sign", "verify"] (RFC 7517 '
            "§4.3), or remove the member",
        )
    use = jwk.get("use")
    if use is not None and not _JWK_OPS[_JWK_USES[use]].intersection(operations):
        raise InvalidKey(
            f'the JWK members "use" ({use!r}) and "key_ops" ({operations!r}) contradict each other',
            fix="ask the key's owner to export it again with one of the two members; RFC 7517 "
            "§4.3 requires them to agree",
        )


def _check_alg_value(jwk: dict[str, Any], algorithms: dict[str, str]) -> None:
    """Reject an "alg" that is no string, is "none", or is not a JWA name agile recognizes."""
    if "alg" not in jwk:
        return
    alg = jwk["alg"]
    if not isinstance(alg, str):
        raise InvalidKey(
            f'the JWK member "alg" must be a string, got {json.dumps(alg)[:60]}',
            fix="write the algorithm name as one JSON string (RFC 7517 §4.4), or remove the member",
        )
    if alg == "none":
        values = sorted(
            {name for algorithm in algorithms.values() for name in _jwk_algs_for(algorithm)}
        )
        expected = f" ({', '.join(map(repr, values))})" if values else ""
        raise InvalidKey(
            "the JWK member \"alg\" is 'none', which RFC 7518 §3.6 registers for unsecured JWS "
            "(no signature and no key); agile does not use unsecured JWS",
            fix=f'ask the key\'s owner to export it with the "alg" it is meant for{expected}',
        )
    if alg not in _JWK_SIGNATURE_ALGS and alg not in _JWK_ENCRYPTION_ALGS:
        raise InvalidKey(
            f'the JWK member "alg" is {alg!r}, which is no JWA algorithm that agile knows',
            fix=_unknown_alg_fix(alg),
        )


def _limit_problem(jwk: dict[str, Any], purpose: str, algorithm: str) -> str | None:
    """Return the first member that keeps the key from ``algorithm`` in a ``purpose`` keyset."""
    if "use" in jwk and _JWK_USES[jwk["use"]] != purpose:
        return "use"
    if "key_ops" in jwk and not _JWK_OPS[purpose].intersection(jwk["key_ops"]):
        return "key_ops"
    if "alg" in jwk and jwk["alg"] not in _jwk_algs_for(algorithm):
        return "alg"
    return None


def _declared_purpose(jwk: dict[str, Any]) -> str | None:
    """Return the purpose that "use", "key_ops" or "alg" declares, in that order, if any."""
    if "use" in jwk:
        return _JWK_USES[jwk["use"]]
    if "key_ops" in jwk:
        named = [name for name, ops in _JWK_OPS.items() if ops.intersection(jwk["key_ops"])]
        if len(named) == 1:
            return named[0]
    alg = jwk.get("alg")
    if alg in _JWK_SIGNATURE_ALGS:
        return "signature"
    if alg in _JWK_ENCRYPTION_ALGS:
        return "kem"
    return None


def _unknown_alg_fix(alg: str) -> str:
    """Return the fix for an unknown "alg": the registered name when only the case differs."""
    known = sorted(_JWK_SIGNATURE_ALGS | _JWK_ENCRYPTION_ALGS)
    same_letters = [name for name in known if name.lower() == alg.lower()]
    if same_letters:
        return f"write {same_letters[0]!r}: JWA algorithm names are case-sensitive"
    return (
        'write the algorithm as RFC 7518 or RFC 8037 names it ("PS256", "ES256", "EdDSA", '
        '"ECDH-ES", "RSA-OAEP-256", ...), or export the key again'
    )


#: The JWK "alg" values (RFC 7518 §3.1 and §4.1, RFC 8037 §3.1) of the algorithm agile
#: runs with a key of each kind.  Any other "alg" limits the key to another algorithm.
_JWK_ALGS_FOR = {
    "ed25519": ("EdDSA", "Ed25519"),
    "ed448": ("EdDSA", "Ed448"),
    "ecdsa-p256-sha256": ("ES256",),
    "ecdsa-p384-sha384": ("ES384",),
    "rsa-pss-": ("PS256",),
    "rsa-oaep-": ("RSA-OAEP-256",),
    # agile uses EC and OKP KEM keys for ECDH key agreement (the DHKEM of HPKE), which JWA
    # names "ECDH-ES" in direct mode (RFC 7518 §4.6).  The "ECDH-ES+A128KW" family adds AES
    # key wrap, which agile never runs.
    "x25519": ("ECDH-ES",),
    "p256": ("ECDH-ES",),
    "p384": ("ECDH-ES",),
}


def check_jwk_alg(jwk: dict[str, Any], algorithm: str) -> None:
    """Reject a JWK whose ``alg`` names another algorithm than the one agile runs with it.

    :func:`check_jwk_use` has checked the purpose.  Here ``alg`` must also be the
    same algorithm: an RSA key marked "RS256" must not sign RSA-PSS, and one
    marked "RSA-OAEP" (SHA-1) must not wrap keys with RSA-OAEP-SHA256.
    """
    alg = jwk.get("alg")
    if alg is None:
        return
    expected = _jwk_algs_for(algorithm)
    if not expected:
        raise InvalidKey(
            f'the JWK member "alg" is {alg!r}, but {algorithm} keys have no JWK "alg"',
            fix='export the key without an "alg" member, or as PEM',
        )
    if alg in expected:
        return
    raise InvalidKey(
        f'the JWK member "alg" is {alg!r}, but agile would use this key for {algorithm}, '
        f'whose JWK "alg" is {" or ".join(map(repr, expected))}',
        fix="use a key made for that algorithm; removing the member only hides that the key "
        "owner limited it",
    )


def _jwk_algs_for(algorithm: str) -> tuple[str, ...]:
    """Return the JWK "alg" values that name ``algorithm``, or () when JWA has none."""
    return next(
        (algs for prefix, algs in _JWK_ALGS_FOR.items() if algorithm.startswith(prefix)), ()
    )


def _jwk_fix(fitting: str) -> str:
    return (
        f"import it into a {fitting} keyset, or use a key made for this purpose; removing the "
        "member only hides that the key owner limited it"
    )
