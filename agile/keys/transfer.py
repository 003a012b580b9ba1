"""Key import and export: PEM (PKCS#8 and SubjectPublicKeyInfo), JWK, raw and seed forms.

Imported keys are converted to the form the registry stores (see
``AlgorithmDescriptor.private_key_form``) and parsed by the registry before
they are added, so a key that its algorithm rejects never reaches a keyset.
PEM covers what pyca/cryptography parses: RSA, EC P-256/P-384, X25519,
Ed25519, Ed448, ML-KEM-768/1024 and ML-DSA-44/65/87, and X-Wing, which agile
encodes itself (see :data:`XWING_OID`).  JWK covers the classical key types of
RFC 7517/7518/8037 (``RSA``, ``EC``, ``OKP``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as UnsupportedAlgorithmError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, mlkem, rsa, x25519

from .. import registry
from ..errors import AgileError, InvalidKey, UnsupportedAlgorithm
from .import_checks import (
    check_certificate_rsa_pss,
    check_jwk_alg,
    check_jwk_use,
    check_public,
    check_rsa_pss_restriction,
    uncompress_point,
)
from .model import check_key_id

__all__ = ["ImportedKey", "parse_key", "export_public", "FORMATS", "XWING_OID"]

FORMATS = ("pem", "der", "jwk", "raw", "seed")

#: id-XWing, the object identifier that the X-Wing Internet-Draft
#: (draft-connolly-cfrg-xwing-kem) assigns.  As in the implementations that use it, the
#: BIT STRING of a SubjectPublicKeyInfo is the 1216-byte public key, and the OCTET STRING
#: of a PKCS#8 PrivateKeyInfo is the 32-byte seed, with no inner ASN.1.
XWING_OID = "1.3.6.1.4.1.62253.25722"
# The DER of AlgorithmIdentifier { id-XWing } (parameters absent), and of what precedes the
# key bytes in each structure.  The sizes are fixed, so the DER of a key is one of two
# byte strings with the key at the end, and parsing is a comparison of the prefix.
_XWING_ALGORITHM = bytes.fromhex("300d060b2b0601040183e62d81c87a")
_XWING_SPKI = bytes.fromhex("308204d4") + _XWING_ALGORITHM + bytes.fromhex("038204c100")
_XWING_PKCS8 = bytes.fromhex("3034020100") + _XWING_ALGORITHM + bytes.fromhex("0420")
_XWING_PUBLIC_SIZE = 1216
_XWING_SEED_SIZE = 32
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----")
#: The start of a PEM encapsulation boundary at the beginning of a line (RFC 7468 §2).
_PEM_BEGIN = re.compile(rb"(?m)^-----BEGIN ")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ImportedKey:
    """A key ready for a keyset: algorithm, stored form, bytes (no ``private`` if public-only)."""

    algorithm: str
    form: str
    private: bytes | None = field(repr=False)
    public: bytes
    #: Key id carried by the file (a JWK ``kid``), kept so envelopes name the same key everywhere.
    key_id: str | None = None

    def __post_init__(self) -> None:
        if self.key_id is not None:
            check_key_id(self.key_id)


#: The base64url alphabet (RFC 4648 §5).  JWK key values use it without "=" padding
#: (RFC 7515 §2, RFC 7517 §2).
_BASE64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64url(text: str, name: str) -> bytes:
    """Decode the JWK member ``name``; raise InvalidKey unless it is unpadded base64url."""
    # urlsafe_b64decode skips characters outside the alphabet, and "=" in the middle, so
    # without these checks many strings would decode to the same key.
    unpadded = text.rstrip("=")
    invalid = next((char for char in unpadded if char not in _BASE64URL_ALPHABET), None)
    if invalid is not None:
        raise InvalidKey(
            f"the JWK member {name!r} contains {invalid!r}, which is not a base64url "
            "character (A-Z, a-z, 0-9, '-' and '_')",
            fix=f"export the key again; RFC 7515 §2 requires {name!r} to be unpadded base64url",
        )
    if unpadded != text:
        raise InvalidKey(
            f"the JWK member {name!r} ends with '=' padding, which base64url in a JWK must "
            "not have (RFC 7515 §2)",
            fix=f"remove the trailing '=' characters from {name!r}, or export the key again",
        )
    if len(text) % 4 == 1:
        raise InvalidKey(
            f"the JWK member {name!r} has {len(text)} base64url characters, a length that "
            "no byte string encodes to",
            fix="export the key again; the value was cut short or has extra characters",
        )
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url_encode(data) != text:
        # The last character carries bits beyond the data, which encoders set to zero.
        raise InvalidKey(
            f"the JWK member {name!r} is not in canonical form: its last character has "
            "unused bits set",
            fix="export the key again from the program that made it; base64url encoders "
            "write those bits as zero",
        )
    return data


def _member(jwk: dict[str, Any], name: str) -> str:
    """Return the JWK string member ``name``; raise InvalidKey when it is missing or no string."""
    if name not in jwk:
        raise KeyError(name)
    value = jwk[name]
    if not isinstance(value, str):
        raise InvalidKey(
            f"the JWK member {name!r} must be a string, got a JSON {_JSON_TYPES[type(value)]}",
            fix="export the key again; JWK members such as kty, crv, kid and the base64url "
            "key values are strings (RFC 7517)",
        )
    return value


def _member_bytes(jwk: dict[str, Any], name: str) -> bytes:
    return _b64url(_member(jwk, name), name)


def _member_int(jwk: dict[str, Any], name: str) -> int:
    return int.from_bytes(_member_bytes(jwk, name), "big")


_EC = {
    "secp256r1": ("p256", "ecdsa-p256-sha256", 32),
    "secp384r1": ("p384", "ecdsa-p384-sha384", 48),
}
_MLKEM: dict[type[Any], str] = {
    mlkem.MLKEM768PrivateKey: "ml-kem-768",
    mlkem.MLKEM1024PrivateKey: "ml-kem-1024",
}
_MLKEM_PUBLIC: dict[type[Any], str] = {
    mlkem.MLKEM768PublicKey: "ml-kem-768",
    mlkem.MLKEM1024PublicKey: "ml-kem-1024",
}
_MLDSA: dict[type[Any], str] = {
    mldsa.MLDSA44PrivateKey: "ml-dsa-44",
    mldsa.MLDSA65PrivateKey: "ml-dsa-65",
    mldsa.MLDSA87PrivateKey: "ml-dsa-87",
}
_MLDSA_PUBLIC: dict[type[Any], str] = {
    mldsa.MLDSA44PublicKey: "ml-dsa-44",
    mldsa.MLDSA65PublicKey: "ml-dsa-65",
    mldsa.MLDSA87PublicKey: "ml-dsa-87",
}


_SUPPORTED_CURVES = "import a P-256 (secp256r1) or P-384 (secp384r1) key"
_SUPPORTED_TYPES = (
    "import an RSA, EC P-256/P-384, X25519, Ed25519, Ed448, ML-KEM-768/1024 or ML-DSA key"
)

#: RSA modulus sizes the registry has ids for (rsa-oaep-N, rsa-pss-N-sha256).
_RSA_BITS = (2048, 3072)


def _for_purpose(kem: str | None, signature: str | None, purpose: str, what: str) -> str:
    algorithm = None
    if purpose == "kem":
        algorithm = kem
    elif purpose == "signature":
        algorithm = signature
    if algorithm is None:
        other = "signature" if kem is None else "kem"
        raise UnsupportedAlgorithm(
            f"{what} keys cannot go into a {purpose} keyset",
            fix=f"import it into a {other} keyset",
        )
    return algorithm


def _jwk_algorithms(key: Any) -> dict[str, str]:
    """Return the algorithm agile would run with ``key`` in a keyset of each purpose it allows."""
    public = key.public_key() if hasattr(key, "public_key") else key
    algorithms = {}
    for purpose in ("signature", "kem"):
        with contextlib.suppress(UnsupportedAlgorithm):
            algorithms[purpose] = _from_cryptography_public(public, purpose)[0]
    return algorithms


def _rsa_algorithm(bits: int, purpose: str) -> str:
    """Return the registry id of an RSA key of ``bits`` for ``purpose``."""
    if bits not in _RSA_BITS:
        raise UnsupportedAlgorithm(
            f"RSA keys of {bits} bits are not supported",
            fix=f"import an RSA key of {' or '.join(map(str, _RSA_BITS))} bits",
        )
    return _for_purpose(f"rsa-oaep-{bits}", f"rsa-pss-{bits}-sha256", purpose, "RSA")


def _from_cryptography_private(key: Any, purpose: str) -> tuple[str, str, bytes]:
    """Return ``(algorithm, form, bytes)`` in the registry's stored form."""
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = _rsa_algorithm(key.key_size, purpose)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return algorithm, "pkcs8", der
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _EC:
            raise UnsupportedAlgorithm(
                f"EC curve {key.curve.name} is not supported", fix=_SUPPORTED_CURVES
            )
        kem, signature, size = _EC[key.curve.name]
        algorithm = _for_purpose(kem, signature, purpose, key.curve.name)
        return algorithm, "raw", key.private_numbers().private_value.to_bytes(size, "big")
    if isinstance(key, x25519.X25519PrivateKey):
        return _for_purpose("x25519", None, purpose, "X25519"), "raw", key.private_bytes_raw()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return _for_purpose(None, "ed25519", purpose, "Ed25519"), "raw", key.private_bytes_raw()
    if isinstance(key, ed448.Ed448PrivateKey):
        return _for_purpose(None, "ed448", purpose, "Ed448"), "raw", key.private_bytes_raw()
    for cls, name in _MLKEM.items():
        if isinstance(key, cls):
            return _for_purpose(name, None, purpose, name), "seed", key.private_bytes_raw()
    for cls, name in _MLDSA.items():
        if isinstance(key, cls):
            return _for_purpose(None, name, purpose, name), "seed", key.private_bytes_raw()
    raise UnsupportedAlgorithm(f"cannot import a {type(key).__name__}", fix=_SUPPORTED_TYPES)


def _from_cryptography_public(key: Any, purpose: str) -> tuple[str, bytes]:
    if isinstance(key, rsa.RSAPublicKey):
        algorithm = _rsa_algorithm(key.key_size, purpose)
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return algorithm, der
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC:
            raise UnsupportedAlgorithm(
                f"EC curve {key.curve.name} is not supported", fix=_SUPPORTED_CURVES
            )
        kem, signature, _size = _EC[key.curve.name]
        point = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _for_purpose(kem, signature, purpose, key.curve.name), point
    if isinstance(key, x25519.X25519PublicKey):
        return _for_purpose("x25519", None, purpose, "X25519"), key.public_bytes_raw()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _for_purpose(None, "ed25519", purpose, "Ed25519"), key.public_bytes_raw()
    if isinstance(key, ed448.Ed448PublicKey):
        return _for_purpose(None, "ed448", purpose, "Ed448"), key.public_bytes_raw()
    for cls, name in _MLKEM_PUBLIC.items():
        if isinstance(key, cls):
            return _for_purpose(name, None, purpose, name), key.public_bytes_raw()
    for cls, name in _MLDSA_PUBLIC.items():
        if isinstance(key, cls):
            return _for_purpose(None, name, purpose, name), key.public_bytes_raw()
    raise UnsupportedAlgorithm(f"cannot import a {type(key).__name__}", fix=_SUPPORTED_TYPES)


def _jwk_to_cryptography(jwk: dict[str, Any]) -> tuple[Any, bool]:
    """Return ``(key object, is_private)`` for an RFC 7517 JWK of type RSA, EC or OKP."""
    if "kty" not in jwk and isinstance(jwk.get("keys"), list):
        raise InvalidKey(
            f'the JSON is a JWK set (a "keys" array of {len(jwk["keys"])}), not one key',
            fix='pass one key of the set\'s "keys" array as its own JSON object',
        )
    kty = _member(jwk, "kty")
    private = "d" in jwk
    if kty == "OKP":
        classes: dict[str, tuple[Any, Any]] = {
            "X25519": (x25519.X25519PrivateKey, x25519.X25519PublicKey),
            "Ed25519": (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey),
            "Ed448": (ed448.Ed448PrivateKey, ed448.Ed448PublicKey),
        }
        crv = _member(jwk, "crv")
        if crv not in classes:
            raise UnsupportedAlgorithm(
                f"JWK OKP curve {crv!r} is not supported", fix="use X25519, Ed25519 or Ed448"
            )
        private_cls, public_cls = classes[crv]
        if private:
            key = _okp_private(private_cls, crv, _member_bytes(jwk, "d"))
            # An 'x' other than the public key of 'd' means a damaged file or two keys mixed.
            if "x" in jwk and _member_bytes(jwk, "x") != key.public_key().public_bytes_raw():
                raise InvalidKey(
                    f"the JWK's public key 'x' does not match its private key 'd' ({jwk['crv']})",
                    fix="export the key again; the file was damaged or mixes two keys",
                )
            return key, True
        x = _member_bytes(jwk, "x")
        if len(x) != _OKP_SIZES[crv]:
            raise InvalidKey(
                f"the JWK member 'x' is {len(x)} bytes; {crv} public keys are "
                f"{_OKP_SIZES[crv]} bytes",
                fix="export the key again; the file is damaged or cut short",
            )
        return public_cls.from_public_bytes(x), False
    if kty == "EC":
        return _jwk_ec(jwk, private)
    if kty == "RSA":
        public_numbers = rsa.RSAPublicNumbers(_member_int(jwk, "e"), _member_int(jwk, "n"))
        if private:
            numbers = rsa.RSAPrivateNumbers(
                p=_member_int(jwk, "p"),
                q=_member_int(jwk, "q"),
                d=_member_int(jwk, "d"),
                dmp1=_member_int(jwk, "dp"),
                dmq1=_member_int(jwk, "dq"),
                iqmp=_member_int(jwk, "qi"),
                public_numbers=public_numbers,
            )
            return numbers.private_key(), True
        return public_numbers.public_key(), False
    raise UnsupportedAlgorithm(f"JWK key type {kty!r} is not supported", fix="use RSA, EC or OKP")


#: Sizes in bytes of the private and public keys of each JWK OKP curve (RFC 8037).
_OKP_SIZES = {"X25519": 32, "Ed25519": 32, "Ed448": 57}


def _okp_private(private_cls: Any, crv: str, d: bytes) -> Any:
    size = _OKP_SIZES[crv]
    if len(d) != size:
        raise InvalidKey(
            f"the JWK member 'd' is {len(d)} bytes; {crv} private keys are {size} bytes",
            fix="export the key again; the file is damaged or cut short",
        )
    return private_cls.from_private_bytes(d)


def _jwk_ec(jwk: dict[str, Any], private: bool) -> tuple[Any, bool]:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
    crv = _member(jwk, "crv")
    if crv not in curves:
        raise UnsupportedAlgorithm(
            f"JWK EC curve {crv!r} is not supported", fix="use P-256 or P-384"
        )
    x, y = _member_int(jwk, "x"), _member_int(jwk, "y")
    point = ec.EllipticCurvePublicNumbers(x, y, curves[crv])
    if not private:
        return point.public_key(), False
    key = ec.derive_private_key(_member_int(jwk, "d"), curves[crv])
    if key.public_key().public_numbers() != point:
        raise InvalidKey(
            f"the JWK's public key 'x', 'y' does not match its private key 'd' ({crv})",
            fix="export the key again; the file was damaged or mixes two keys",
        )
    return key, True


def _checked(algorithm: str, form: str, private: bytes | None, public: bytes | None) -> ImportedKey:
    """Parse the key with the registry, so that only keys its provider accepts are imported.

    A public key also passes :func:`check_public`, which the registry leaves to import.
    """
    implementation = registry.get(algorithm)
    if private is not None:
        parsed = implementation.load_private(private, form)  # type: ignore[attr-defined]
        return ImportedKey(algorithm, parsed.form.value, parsed.data, parsed.public_key.data)
    assert public is not None
    parsed_public = implementation.load_public(uncompress_point(algorithm, public))  # type: ignore[attr-defined]
    check_public(algorithm, parsed_public.data)
    return ImportedKey(algorithm, form, None, parsed_public.data)


#: JSON names of the values json.loads returns, for messages about a wrong JWK.
_JSON_TYPES = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def parse_key(
    data: bytes,
    purpose: str,
    *,
    format: str | None = None,
    algorithm: str | None = None,
    public: bool | None = None,
) -> ImportedKey:
    """Parse a key file for a keyset of ``purpose``.

    ``format`` is ``pem``, ``jwk``, ``raw`` or ``seed`` (detected for PEM and
    JWK when ``None``).  Raw and seed bytes need ``algorithm``.  ``public``
    says whether raw bytes are a public (True) or private (False) key; with
    ``None`` the bytes decide, and bytes that parse as both are refused.  For
    PEM and JWK, True keeps only the public part of a private key, and False
    rejects a public key.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidKey(
            f"key data must be bytes, got {type(data).__name__}",
            fix="read the key file in binary mode ('rb'), or encode PEM text with .encode()",
        )
    data = bytes(data)
    if purpose == "aead":
        # Symmetric keys have no public part and no standard file form that names an algorithm.
        raise InvalidKey(
            "keys of an aead keyset cannot be imported",
            fix="generate them with 'agile keyset create NAME --purpose aead' or "
            "'agile keyset add-key NAME'",
        )
    stripped = data.strip()
    if stripped.startswith(_UTF8_BOM):
        # Editors on Windows put a byte order mark before PEM and JSON text.
        stripped = stripped[len(_UTF8_BOM) :].strip()
    if algorithm is not None:
        _check_algorithm_purpose(algorithm, purpose)
    if format is None:
        format = _detect_format(data, stripped, algorithm)
    if format not in FORMATS:
        raise InvalidKey(f"unknown key format {format!r}", fix=f"use one of: {', '.join(FORMATS)}")

    try:
        if format == "pem":
            return _choose_part(_parse_pem(stripped, purpose, algorithm), public)
        if format == "jwk":
            jwk = json.loads(stripped)
            if not isinstance(jwk, dict):
                raise InvalidKey(
                    f"a JWK must be a JSON object, got a JSON {_JSON_TYPES[type(jwk)]}",
                    fix='pass one RFC 7517 key object such as {"kty": "OKP", ...}, '
                    "not a JWK set or another JSON value",
                )
            key, is_private = _jwk_to_cryptography(jwk)
            check_jwk_use(jwk, purpose, _jwk_algorithms(key))
            imported = _from_object(key, is_private, purpose, algorithm)
            check_jwk_alg(jwk, imported.algorithm)
            if "kid" in jwk:
                imported = replace(imported, key_id=_member(jwk, "kid"))
            return _choose_part(imported, public)
        if format == "der":
            # Binary: bytes that strip() removes (0x0c, 0x20) may end a valid DER encoding.
            return _choose_part(_parse_der(data, purpose, algorithm), public)
    except AgileError:
        # Raised on purpose with its own fix (a wrong --algorithm, a rejected key).
        raise
    except KeyError as error:
        raise InvalidKey(
            f"the JWK has no member {error}",
            fix="pass a complete RFC 7517/7518 JWK (OKP: crv, x; EC: crv, x, y; RSA: n, e; "
            "a private key adds d, and for RSA p, q, dp, dq, qi)",
        ) from None
    except (ValueError, TypeError, RecursionError) as error:
        # RecursionError: json.loads gives up on deeply nested arrays, which no JWK contains.
        raise InvalidKey(
            f"cannot parse the {format.upper()} key: {error}",
            fix="pass an unencrypted PKCS#8 or SubjectPublicKeyInfo PEM, or a JWK",
        ) from None

    if algorithm is None:
        raise InvalidKey(
            f"{format} key bytes need an algorithm", fix="pass --algorithm ID for raw or seed keys"
        )
    _check_size(algorithm, format, data, public)
    if public is None:
        public = format == "raw" and _raw_is_public(algorithm, data)
    if public:
        return _checked(algorithm, format, None, data)
    return _checked(algorithm, format, data, None)


#: Keyset purposes whose keys can be imported (aead keys have no file form to import).
_IMPORT_PURPOSES = ("kem", "signature", "homomorphic")


def _check_algorithm_purpose(algorithm: str, purpose: str) -> None:
    """Raise UnsupportedAlgorithm when ``algorithm`` is of another family than ``purpose``.

    The fix never names an algorithm of ``purpose`` for the same bytes: an RSA
    signing key would otherwise be offered to the keyset as an RSA-OAEP key.
    """
    family = registry.descriptor(algorithm).family.value
    if family == purpose:
        return
    if family in _IMPORT_PURPOSES:
        fix = f"import the key into a {family} keyset; to create one, pass --purpose {family}"
    else:
        fix = f"keys of {family} algorithms cannot be imported; leave --algorithm out"
    article = "an" if family[0] in "aeiou" else "a"
    raise UnsupportedAlgorithm(
        f"{algorithm} is {article} {family} algorithm, so its keys cannot go into a {purpose} "
        "keyset",
        fix=fix,
    )


def _detect_format(data: bytes, stripped: bytes, algorithm: str | None) -> str:
    if stripped.startswith((b"{", b"[")):
        # A JSON array is no JWK, but parsing it as JSON gives the clearer error.
        return "jwk"
    if stripped.startswith(b"Key-Id:") or _PEM_BEGIN.search(stripped):
        # RFC 7468 §2 lets explanatory text precede the block, so BEGIN may come later.
        return "pem"
    if data[:1] == b"\x30" and _der_kind(data) is not None:
        return "der"
    if algorithm and _stored_form(algorithm) == "seed":
        # Bytes of the public key's size are the public key, not a seed.
        public_size = registry.descriptor(algorithm).sizes.public_key
        return "raw" if len(data) == public_size else "seed"
    return "raw"


#: Sizes in bytes of a compressed SEC 1 point, per algorithm that accepts one on import.
_COMPRESSED_SIZES = {
    "p256": 33,
    "ecdsa-p256-sha256": 33,
    "p384": 49,
    "ecdsa-p384-sha384": 49,
}


def _check_size(algorithm: str, format: str, data: bytes, public: bool | None) -> None:
    """Raise InvalidKey naming the sizes that work when raw or seed bytes have none of them."""
    sizes = registry.descriptor(algorithm).sizes
    form = _stored_form(algorithm)
    private_size = sizes.private_key if form in ("raw", "seed") else None
    public_size = sizes.public_key
    if private_size is None or public_size is None:
        return  # Sizes vary (RSA, Paillier) or are not tabulated: the parser decides.
    compressed = _COMPRESSED_SIZES.get(algorithm)
    public_sizes = {public_size} | ({compressed} if compressed else set())
    if format == "seed":
        accepted, what = {private_size}, f"{algorithm} seeds are {private_size} bytes"
    elif public is True:
        accepted, what = public_sizes, _public_sizes_text(algorithm, public_size, compressed)
    elif public is False:
        accepted, what = {private_size}, f"raw {algorithm} private keys are {private_size} bytes"
    else:
        accepted = {private_size} | public_sizes
        what = f"raw {algorithm} private keys are {private_size} bytes and " + _public_sizes_text(
            algorithm, public_size, compressed
        )
    if len(data) in accepted:
        return
    raise InvalidKey(
        f"{len(data)} {format} bytes are not a valid {algorithm} key: {what}",
        fix="check --algorithm and --format: a seed is --format seed, key bytes are --format raw",
    )


def _public_sizes_text(algorithm: str, size: int, compressed: int | None) -> str:
    if compressed is None:
        return f"{algorithm} public keys are {size} bytes"
    return f"{algorithm} public keys are {size} bytes, or {compressed} as a compressed point"


def _choose_part(imported: ImportedKey, public: bool | None) -> ImportedKey:
    """Apply ``public`` to a PEM or JWK key: keep only its public part, or require a private one."""
    if public and imported.private is not None:
        return replace(imported, private=None)
    if public is False and imported.private is None:
        raise InvalidKey(
            f"the file contains a public {imported.algorithm} key, but a private key was requested",
            fix="pass the private key file, or leave out --private",
        )
    return imported


def _raw_is_public(algorithm: str, data: bytes) -> bool:
    """Return whether raw bytes of ``algorithm`` are a public key, by size or by parsing both ways.

    Some forms are ambiguous: any 32 bytes are an X25519 or Ed25519 private scalar
    and a public point, and a Paillier n has the length of p || q.  Guessing there
    would import a different key than the intended one.
    """
    by_size = _raw_size_is_public(algorithm, data)
    if by_size is not None:
        return by_size
    as_private = as_public = True
    try:
        _checked(algorithm, "raw", data, None)
    except AgileError:
        as_private = False
    try:
        # Only the provider's parser decides here: a public key that import_checks
        # rejects (a low-order point) must still count as one, not turn the bytes
        # into a private key.
        registry.get(algorithm).load_public(uncompress_point(algorithm, data))  # type: ignore[attr-defined]
    except AgileError:
        as_public = False
    if as_private and as_public:
        raise InvalidKey(
            f"these {len(data)} raw bytes parse both as a private and as a public {algorithm} key",
            fix="pass --public or --private; in Python, public=True or public=False",
        )
    return as_public


def _raw_size_is_public(algorithm: str, data: bytes) -> bool | None:
    """Return whether raw bytes are a public key by their size, or None when it fits both.

    Deciding by size before parsing lets a damaged public key get the public-key
    check's error (a point off the curve) instead of a complaint about its size
    as a private key.
    """
    sizes = registry.descriptor(algorithm).sizes
    private_size = sizes.private_key if _stored_form(algorithm) in ("raw", "seed") else None
    if private_size is None or sizes.public_key is None:
        return None  # Sizes vary (RSA, Paillier), so only parsing distinguishes the kinds.
    public_sizes = {sizes.public_key, _COMPRESSED_SIZES.get(algorithm)}
    if len(data) in public_sizes and len(data) != private_size:
        return True
    if len(data) == private_size and len(data) not in public_sizes:
        return False
    return None


def _stored_form(algorithm: str) -> str | None:
    return registry.descriptor(algorithm).private_key_form


def _from_object(key: Any, is_private: bool, purpose: str, algorithm: str | None) -> ImportedKey:
    if is_private:
        name, form, private = _from_cryptography_private(key, purpose)
        name = _pick(name, algorithm)
        return _checked(name, form, private, None)
    name, public_bytes = _from_cryptography_public(key, purpose)
    name = _pick(name, algorithm)
    return _checked(name, _stored_form(name) or "raw", None, public_bytes)


def _pick(detected: str, requested: str | None) -> str:
    if requested is not None and requested != detected:
        raise InvalidKey(
            f"the key is a {detected} key, not {requested}",
            fix=f"pass --algorithm {detected} or leave --algorithm out",
        )
    return detected


#: The line that ``export_public`` writes before a PEM block to carry the key id.  RFC 7468
#: §2 lets text precede the encapsulation boundary, and PEM parsers skip it.
_KEY_ID_LINE = re.compile(rb"Key-Id: ([!-~]{1,64})\s*")
#: PEM labels (RFC 7468) that hold a key agile reads; other labels are rejected by name.
_KEY_LABELS = (
    b"PUBLIC KEY",
    b"PRIVATE KEY",
    b"RSA PUBLIC KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"CERTIFICATE",
    b"ENCRYPTED PRIVATE KEY",
)
#: Fix for an encrypted private key: decrypt it into the import through a pipe, so that
#: the plaintext key never lands in a file.
_ENCRYPTED_FIX = (
    "decrypt it on the way in: openssl pkey -in KEY.pem | agile keyset import NAME - "
    "(in Python, load it with cryptography's load_pem_private_key and its password)"
)


def _parse_pem(data: bytes, purpose: str, algorithm: str | None) -> ImportedKey:
    begin = _PEM_BEGIN.search(data)
    if begin is None:
        raise InvalidKey(
            "the PEM input has no '-----BEGIN ...-----' line",
            fix="pass the whole PEM file, including its BEGIN and END lines",
        )
    key_id = _preamble_key_id(data[: begin.start()])
    imported = _parse_pem_block(data[begin.start() :], purpose, algorithm)
    return replace(imported, key_id=key_id) if key_id is not None else imported


def _preamble_key_id(preamble: bytes) -> str | None:
    """Return the id of the ``Key-Id:`` line in the text before a PEM block, if any.

    Other text there (a mail header, a comment) is skipped, as RFC 7468 §2 allows.
    """
    lines = [line for line in preamble.splitlines() if line.startswith(b"Key-Id:")]
    if len(lines) > 1:
        raise InvalidKey(
            f"the text before the PEM block has {len(lines)} 'Key-Id:' lines",
            fix="keep the one line with the key's id, or delete them all and pass --key-id",
        )
    if not lines:
        return None
    found = _KEY_ID_LINE.fullmatch(lines[0])
    if found is None:
        line = lines[0].decode("ascii", "replace").strip()
        raise InvalidKey(
            f"invalid key id line {line[:80]!r} before the PEM block",
            fix="write 'Key-Id: ID' with an id of 1 to 64 printable ASCII characters, or "
            "delete the line and pass --key-id",
        )
    return found.group(1).decode("ascii")


def _parse_pem_block(data: bytes, purpose: str, algorithm: str | None) -> ImportedKey:
    blocks = len(_PEM_BEGIN.findall(data))
    if blocks > 1:
        # pyca/cryptography reads the first block only, and the others would be dropped unseen.
        raise InvalidKey(
            f"the PEM input contains {blocks} blocks, expected one key",
            fix="split the file and import one key per file",
        )
    first_line = data.split(b"\n", 1)[0].strip()
    label = first_line.removeprefix(b"-----BEGIN ").removesuffix(b"-----")
    if label not in _KEY_LABELS:
        text = label.decode("ascii", "replace")
        raise InvalidKey(
            f"the PEM block is a {text[:40]!r}, not a key or certificate",
            fix="pass a PUBLIC KEY, PRIVATE KEY or CERTIFICATE PEM block",
        )
    if b"ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in data:
        raise InvalidKey("the PEM private key is encrypted with a password", fix=_ENCRYPTED_FIX)
    xwing = _parse_xwing_pem(data, purpose, algorithm)
    if xwing is not None:
        return xwing
    block = _PEM_BLOCK.search(data)
    der = b""
    if block is not None:
        with contextlib.suppress(ValueError):  # pyca/cryptography reports the broken base64
            der = base64.b64decode(b"".join(block.group(2).split()), validate=True)
    if label == b"CERTIFICATE":
        certificate = x509.load_pem_x509_certificate(data)
        return _from_certificate(certificate, purpose, algorithm)
    check_rsa_pss_restriction(der, purpose)
    if b"PRIVATE KEY" in label:
        key = serialization.load_pem_private_key(data, password=None)
        return _from_object(key, True, purpose, algorithm)
    return _from_object(serialization.load_pem_public_key(data), False, purpose, algorithm)


def _from_certificate(
    certificate: x509.Certificate, purpose: str, algorithm: str | None
) -> ImportedKey:
    """Return the public key of an X.509 certificate; its chain and dates are not checked."""
    if certificate.public_key_algorithm_oid == x509.oid.PublicKeyAlgorithmOID.RSASSA_PSS:
        check_certificate_rsa_pss(certificate.tbs_certificate_bytes, purpose)
    return _from_object(certificate.public_key(), False, purpose, algorithm)


def _der_kind(data: bytes) -> str | None:
    """Return ``private``, ``public`` or ``certificate`` for DER that parses as one, else None."""
    if data.startswith(_XWING_PKCS8):
        return "private"
    if data.startswith(_XWING_SPKI):
        return "public"
    loaders = (
        ("private", lambda: serialization.load_der_private_key(data, password=None)),
        ("public", lambda: serialization.load_der_public_key(data)),
        ("certificate", lambda: x509.load_der_x509_certificate(data)),
    )
    for kind, load in loaders:
        try:
            load()
        except (ValueError, TypeError, UnsupportedAlgorithmError):
            continue
        return kind
    return None


def _parse_der(data: bytes, purpose: str, algorithm: str | None) -> ImportedKey:
    """Parse a DER PKCS#8 PrivateKeyInfo, SubjectPublicKeyInfo or X.509 certificate."""
    # An X-Wing PrivateKeyInfo is short enough for a one-byte length, then its version 0.
    xwing = _parse_xwing_der(data, data[2:5] == b"\x02\x01\x00", purpose, algorithm)
    if xwing is not None:
        return xwing
    kind = _der_kind(data)
    if kind is None:
        raise InvalidKey(
            f"the {len(data)} bytes are not a DER PKCS#8 private key, SubjectPublicKeyInfo or "
            "X.509 certificate",
            fix="pass the key as PEM or DER, or raw bytes with --format raw and --algorithm",
        )
    if kind == "certificate":
        return _from_certificate(x509.load_der_x509_certificate(data), purpose, algorithm)
    check_rsa_pss_restriction(data, purpose)
    if kind == "private":
        key = serialization.load_der_private_key(data, password=None)
        return _from_object(key, True, purpose, algorithm)
    return _from_object(serialization.load_der_public_key(data), False, purpose, algorithm)


def _parse_xwing_pem(data: bytes, purpose: str, algorithm: str | None) -> ImportedKey | None:
    """Return the X-Wing key of a PEM block, or None when the block holds another algorithm."""
    block = _PEM_BLOCK.search(data)
    if block is None:
        return None
    try:
        der = base64.b64decode(b"".join(block.group(2).split()), validate=True)
    except ValueError:
        return None  # pyca/cryptography reports the broken base64
    return _parse_xwing_der(der, block.group(1) == b"PRIVATE KEY", purpose, algorithm)


def _parse_xwing_der(
    der: bytes, private: bool, purpose: str, algorithm: str | None
) -> ImportedKey | None:
    """Return the X-Wing key of a DER structure, or None when it contains another algorithm."""
    # The AlgorithmIdentifier starts within the first 9 bytes of both structures.
    if _XWING_ALGORITHM not in der[: 9 + len(_XWING_ALGORITHM)]:
        return None
    if private:
        prefix, size, expected = _XWING_PKCS8, _XWING_SEED_SIZE, "PKCS#8 key with a 32-byte seed"
    else:
        prefix, size, expected = _XWING_SPKI, _XWING_PUBLIC_SIZE, "1216-byte public key"
    if len(der) != len(prefix) + size or not der.startswith(prefix):
        raise InvalidKey(
            f"the PEM block names X-Wing ({XWING_OID}) but is not an X-Wing {expected} "
            f"({len(der)} bytes of DER)",
            fix="export the key again; agile reads the encoding of the X-Wing draft, "
            "without optional fields",
        )

    name = _pick(_for_purpose("x-wing", None, purpose, "X-Wing"), algorithm)
    key = der[len(prefix) :]
    if private:
        return _checked(name, "seed", key, None)
    return _checked(name, "raw", None, key)


def _pem_public(der: bytes) -> bytes:
    """Return a SubjectPublicKeyInfo as a PEM block, in 64-character lines (RFC 7468 §2)."""
    text = base64.encodebytes(der).replace(b"\n", b"")
    lines = [text[start : start + 64] for start in range(0, len(text), 64)]
    return b"-----BEGIN PUBLIC KEY-----\n" + b"\n".join(lines) + b"\n-----END PUBLIC KEY-----\n"


#: DER of the AlgorithmIdentifier { id-RSASSA-PSS, RSASSA-PSS-params } that limits an RSA
#: key to the RSA-PSS form agile signs with: SHA-256, MGF1 with SHA-256, a 32-byte salt and
#: the default trailer field 1 (RFC 4055 §3.1).  The hash identifiers carry NULL
#: parameters, as OpenSSL 3.0 writes them in the RSA-PSS keys it generates.
_RSA_PSS_ALGORITHM = bytes.fromhex(
    "3041"  # AlgorithmIdentifier
    "06092a864886f70d01010a"  # id-RSASSA-PSS (1.2.840.113549.1.1.10)
    "3034"  # RSASSA-PSS-params
    "a00f300d06096086480165030402010500"  # [0] hashAlgorithm: id-sha256, NULL
    "a11c301a06092a864886f70d010108"  # [1] maskGenAlgorithm: id-mgf1 (1.2.840.113549.1.1.8)
    "300d06096086480165030402010500"  # with id-sha256, NULL
    "a203020120"  # [2] saltLength: 32
)


def _der_element(tag: int, contents: bytes) -> bytes:
    """Return a DER element with a definite length (X.690 §8.1.3)."""
    size = len(contents)
    if size < 0x80:
        return bytes([tag, size]) + contents
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + contents


def _rsa_pss_spki(public: bytes) -> bytes:
    """Return the SubjectPublicKeyInfo of an rsa-pss-* key, limited to agile's RSA-PSS form.

    The keystore stores RSA public keys with the rsaEncryption identifier, which
    pyca/cryptography writes.  An importer would take such a file for an RSA-OAEP
    key, so the export names id-RSASSA-PSS and its parameters.
    """
    key = serialization.load_der_public_key(public)
    assert isinstance(key, rsa.RSAPublicKey)
    rsa_public_key = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    bit_string = _der_element(0x03, b"\x00" + rsa_public_key)
    return _der_element(0x30, _RSA_PSS_ALGORITHM + bit_string)


def _public_der(algorithm: str, public: bytes, handle: Any) -> bytes:
    """Return the DER SubjectPublicKeyInfo of a public key."""
    if algorithm == "x-wing":
        return _XWING_SPKI + public
    if algorithm.startswith("rsa-pss-"):
        return _rsa_pss_spki(public)
    if handle is None or not hasattr(handle, "public_bytes"):
        raise UnsupportedAlgorithm(
            f"{algorithm} public keys have no SubjectPublicKeyInfo encoding here",
            fix="export with --format raw",
        )
    return handle.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def export_public(
    algorithm: str, public: bytes, format: str = "pem", key_id: str | None = None
) -> bytes:
    """Return a public key as a SubjectPublicKeyInfo (PEM or DER), a JWK or raw bytes.

    A JWK carries ``key_id`` as its ``kid``, and a PEM file as a ``Key-Id:`` line
    before the block, so that an importing keystore keeps the id.  DER and raw
    bytes have no room for it.  An rsa-pss-* key is exported with the
    id-RSASSA-PSS identifier or the JWK "alg" PS256, so that no importer can
    take it for an encryption key.
    """
    if format == "raw":
        return public
    if format not in ("pem", "der", "jwk"):
        raise InvalidKey(f"unknown export format {format!r}", fix="use pem, der, jwk or raw")
    openssl = (
        registry.get(algorithm, "openssl")
        if "openssl" in registry.providers_for(algorithm)
        else None
    )
    handle = openssl.load_public(public).handle if openssl is not None else None  # type: ignore[attr-defined]
    if format == "der":
        return _public_der(algorithm, public, handle)
    if format == "pem":
        prefix = f"Key-Id: {key_id}\n".encode("ascii") if key_id is not None else b""
        return prefix + _pem_public(_public_der(algorithm, public, handle))
    jwk = _public_jwk(algorithm, public, handle)
    if key_id is not None:
        jwk["kid"] = key_id
    return (json.dumps(jwk) + "\n").encode()


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: The JWK "alg" written for each algorithm, the first that import accepts for it
#: (:func:`check_jwk_alg`), so that an importer keeps the key to its purpose.
_EXPORT_ALGS = {
    "x25519": "ECDH-ES",
    "p256": "ECDH-ES",
    "p384": "ECDH-ES",
    "ed25519": "EdDSA",
    "ed448": "EdDSA",
    "ecdsa-p256-sha256": "ES256",
    "ecdsa-p384-sha384": "ES384",
    "rsa-oaep-2048": "RSA-OAEP-256",
    "rsa-oaep-3072": "RSA-OAEP-256",
    "rsa-pss-2048-sha256": "PS256",
    "rsa-pss-3072-sha256": "PS256",
}


def _public_jwk(algorithm: str, public: bytes, handle: Any) -> dict[str, str]:
    jwk = _public_jwk_members(algorithm, public, handle)
    jwk["alg"] = _EXPORT_ALGS[algorithm]
    return jwk


def _public_jwk_members(algorithm: str, public: bytes, handle: Any) -> dict[str, str]:
    okp = {"x25519": "X25519", "ed25519": "Ed25519", "ed448": "Ed448"}
    if algorithm in okp:
        return {"kty": "OKP", "crv": okp[algorithm], "x": _b64url_encode(public)}
    if algorithm in _EXPORT_ALGS and isinstance(handle, ec.EllipticCurvePublicKey):
        size = (handle.curve.key_size + 7) // 8
        point = handle.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[handle.curve.name]
        return {
            "kty": "EC",
            "crv": crv,
            "x": _b64url_encode(point.x.to_bytes(size, "big")),
            "y": _b64url_encode(point.y.to_bytes(size, "big")),
        }
    if algorithm in _EXPORT_ALGS and isinstance(handle, rsa.RSAPublicKey):
        numbers = handle.public_numbers()
        return {
            "kty": "RSA",
            "n": _b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url_encode(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    formats = (
        "pem, der or raw" if hasattr(handle, "public_bytes") or algorithm == "x-wing" else "raw"
    )
    raise UnsupportedAlgorithm(
        f"{algorithm} has no JWK encoding", fix=f"export with --format {formats}"
    )
