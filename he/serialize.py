"""Versioned, self-describing files of encrypted numbers and packed vectors, JSON or binary.

Both forms carry the format name and version, the algorithm, the key id and n
itself (public).  An aggregator can therefore multiply ciphertexts without any
key file, and a decrypter can check that it has the right key.  Every
ciphertext is checked on loading (0 < c < n^2 and gcd(c, n) = 1).  A number
computed from other ciphertexts (``fresh`` is False) is written under a fresh
mask, so that the file does not show the scalars or plaintexts that produced it.

JSON form (``kind`` is ``numbers`` or ``packed``)::

    {"format": "agile-he", "version": 1, "kind": "numbers",
     "algorithm": "paillier-2048", "key_id": "<16 hex>", "n": "<hex>",
     "shape": [3, 3],                       # optional row lengths
     "numbers": [{"ciphertext": "<hex>", "exponent": -3, "base": 10, "bound": "0x<hex>"|null}]}

    {"format": "agile-he", "version": 1, "kind": "packed", ..., "length": 6, "terms": 1,
     "scheme": {"value_bits": 64, "max_additions": 1048575, "precision": 3},
     "ciphertexts": ["<hex>", ...]}

Binary form: the 4 bytes ``AGHE``, a version byte (1) and a 4-byte big-endian
length L.  Then come L bytes of the JSON document above without its big
integers (no ``n``, ``ciphertexts`` or ``ciphertext`` fields), n in bits/8
bytes, and each ciphertext in bits/4 bytes, in order.

NOTE: neither form is authenticated.  Paillier ciphertexts are malleable by
design, and anyone can also change an exponent or a bound.  Protect files in
transit with an agile envelope or a signature where that matters.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from gmpy2 import mpz

from agile.errors import AgileError, HomomorphicError, InvalidArgument, InvalidCiphertext

from .ciphertext import EncryptedNumber
from .encoding import MAX_EXPONENT, brief_repr
from .engine import RandomnessPool
from .keys import PaillierPublicKey, parameters_for
from .packing import PackedVector, PackingScheme

__all__ = [
    "FORMAT",
    "VERSION",
    "MAGIC",
    "Document",
    "dumps_json",
    "loads_json",
    "dumps_binary",
    "loads_binary",
    "loads",
]

FORMAT = "agile-he"
VERSION = 1
MAGIC = b"AGHE"
#: Magic, version byte and 4-byte header length of the binary form.
_PREFIX_SIZE = 9
_HEX = re.compile(r"[0-9a-fA-F]+")

#: Content of a file: a list of EncryptedNumbers or one PackedVector, and an optional shape.
Document = tuple[list[EncryptedNumber] | PackedVector, list[int] | None]


def _invalid(message: str) -> InvalidCiphertext:
    return InvalidCiphertext(
        f"invalid {FORMAT} file: {message}",
        fix="pass a file written by 'agile he' or he.serialize.dumps_json or dumps_binary, "
        "unmodified",
    )


def _header(
    item: list[EncryptedNumber] | PackedVector,
    shape: list[int] | None,
    pool: RandomnessPool | None,
) -> tuple[dict[str, Any], PaillierPublicKey, list[mpz]]:
    if isinstance(item, PackedVector):
        key = item.public_key
        header: dict[str, Any] = {"kind": "packed", "length": item.length, "terms": item.terms}
        header["scheme"] = item.scheme.to_dict()
        ciphertexts = list(item.ciphertexts)
        count = item.length
    else:
        if not isinstance(item, list | tuple):
            raise InvalidArgument(
                f"cannot serialize a {type(item).__name__}",
                fix="pass a list of EncryptedNumber or one PackedVector",
            )
        if not item:
            raise InvalidArgument("cannot serialize an empty list", fix="pass at least one number")
        for number in item:
            if not isinstance(number, EncryptedNumber):
                # A quotient (x / k, a mean) keeps its divisor in the clear and has no file form.
                raise InvalidArgument(
                    f"cannot serialize a {type(number).__name__} in a list of numbers",
                    fix="serialize EncryptedNumber values; for a quotient, write its numerator "
                    "and keep the divisor beside the file",
                )
        key = item[0].public_key
        count = len(item)
        for number in item:
            if number.public_key != key:
                raise HomomorphicError(
                    "numbers of different keys cannot share one file",
                    fix="write one file per key",
                )
        header = {"kind": "numbers"}
        header["numbers"] = [
            {
                "exponent": number.exponent,
                "base": number.base,
                "bound": None if number.bound is None else hex(number.bound),
            }
            for number in item
        ]
        # A computed number gets a fresh mask, so that the file does not show the scalars or
        # plaintexts that produced it (phe 1.5 obfuscates in EncryptedNumber.ciphertext()).
        ciphertexts = [
            number.ciphertext if number.fresh else number.rerandomize(pool).ciphertext
            for number in item
        ]
    document = {
        "format": FORMAT,
        "version": VERSION,
        "algorithm": key.algorithm,
        "key_id": key.key_id,
        **header,
    }
    if shape is not None:
        document["shape"] = _check_shape(shape, count)
    return document, key, ciphertexts


def _check_shape(shape: Any, count: int) -> list[int]:
    """Return ``shape`` as a list of row lengths adding up to ``count``, or raise."""
    if isinstance(shape, str | bytes) or not isinstance(shape, list | tuple):
        raise InvalidArgument(
            f"shape {brief_repr(shape)} is not a list of row lengths",
            fix="pass the number of values of each row, or None",
        )
    if not all(_is_int(width) and width >= 0 for width in shape) or sum(shape) != count:
        raise InvalidArgument(
            f"shape {brief_repr(shape)} does not split {count} values into rows",
            fix="pass non-negative row lengths that add up to the number of values",
        )
    return list(shape)


def dumps_json(
    item: list[EncryptedNumber] | PackedVector,
    shape: list[int] | None = None,
    *,
    pool: RandomnessPool | None = None,
) -> bytes:
    """Serialize to the JSON form (UTF-8 bytes), with masks for computed numbers from ``pool``."""
    document, key, ciphertexts = _header(item, shape, pool)
    document["n"] = format(key.n, "x")
    if document["kind"] == "packed":
        document["ciphertexts"] = [format(c, "x") for c in ciphertexts]
    else:
        for entry, c in zip(document["numbers"], ciphertexts, strict=True):
            entry["ciphertext"] = format(c, "x")
    return json.dumps(document, separators=(",", ":")).encode()


def dumps_binary(
    item: list[EncryptedNumber] | PackedVector,
    shape: list[int] | None = None,
    *,
    pool: RandomnessPool | None = None,
) -> bytes:
    """Serialize to the compact binary form, with masks for computed numbers from ``pool``."""
    document, key, ciphertexts = _header(item, shape, pool)
    header = json.dumps(document, separators=(",", ":")).encode()
    size = key.bits // 8
    parts = [MAGIC, bytes([VERSION]), struct.pack(">I", len(header)), header]
    parts.append(int(key.n).to_bytes(size, "big"))
    parts.extend(int(c).to_bytes(2 * size, "big") for c in ciphertexts)
    return b"".join(parts)


def loads(data: bytes | str, public_key: PaillierPublicKey | None = None) -> Document:
    """Parse either form (bytes, or the JSON form as str), telling them apart by the magic."""
    if isinstance(data, str):
        return loads_json(data, public_key)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgument(
            f"expected bytes or str, got {type(data).__name__}",
            fix="pass the contents of a file written by he.serialize",
        )
    data = bytes(data)
    # A file cut inside the 4-byte magic is a truncated binary file, not bad JSON.
    if data.startswith(MAGIC) or (data and MAGIC.startswith(data)):
        return loads_binary(data, public_key)
    return loads_json(data, public_key)


def _check_document(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _invalid("the format field is missing or not 'agile-he'")
    version = document.get("version")
    if not _is_int(version) or version != VERSION:
        raise InvalidCiphertext(
            f"unsupported {FORMAT} version {brief_repr(version)}",
            fix=f"this agile reads version {VERSION}; upgrade agile to read newer files",
        )
    if document.get("kind") not in ("numbers", "packed"):
        raise _invalid(f"unknown kind {brief_repr(document.get('kind'))}")
    return document


def _key(
    document: dict[str, Any], n: int, public_key: PaillierPublicKey | None
) -> PaillierPublicKey:
    bits = parameters_for(str(document.get("algorithm"))).bits
    if n <= 0:
        raise _invalid(f"the modulus n is {'zero' if n == 0 else 'negative'}")
    key = PaillierPublicKey(mpz(n))
    key.validate(bits)
    if key.key_id != document.get("key_id"):
        raise _invalid(
            f"key id {brief_repr(document.get('key_id'))} does not match n (id {key.key_id})"
        )
    if public_key is not None and public_key != key:
        raise HomomorphicError(
            f"the file is encrypted under key {key.key_id}, not key {public_key.key_id}",
            fix="use the keyset (or key file) the values were encrypted with",
        )
    return public_key or key


def _build(document: dict[str, Any], key: PaillierPublicKey, ciphertexts: list[int]) -> Document:
    checked = [key.check_ciphertext(c) for c in ciphertexts]
    shape = document.get("shape")
    if shape is not None and (
        not isinstance(shape, list) or not all(_is_int(x) and x >= 0 for x in shape)
    ):
        raise _invalid(f"shape {brief_repr(shape)} is not a list of row lengths")
    try:
        if document["kind"] == "packed":
            scheme = PackingScheme.from_dict(document["scheme"])
            # PackedVector checks that both are integers (a JSON 1e999 is a float, infinity).
            vector = PackedVector(
                key, tuple(checked), document["length"], scheme, document["terms"]
            )
            result: list[EncryptedNumber] | PackedVector = vector
            count = vector.length
        else:
            entries = _entries(document)
            if len(entries) != len(checked):
                raise _invalid(f"{len(entries)} number entries but {len(checked)} ciphertexts")
            if not entries:
                raise _invalid("the list of numbers is empty")
            result = [
                EncryptedNumber(
                    key,
                    c,
                    _exponent(entry["exponent"]),
                    _base(entry["base"]),
                    _bound(entry["bound"]),
                )
                for entry, c in zip(entries, checked, strict=True)
            ]
            count = len(result)
    except AgileError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise _invalid(f"missing or malformed field: {_describe(error)}") from None
    if shape is not None and sum(shape) != count:
        raise _invalid(
            f"shape {brief_repr(shape)} has {sum(shape)} values, but the file has {count}"
        )
    return result, shape


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hex(value: Any, name: str) -> int:
    # int(value, 16) alone would also take "0x1f", " 1f", "1_f" and "-1f".
    if isinstance(value, str) and value.startswith("-"):
        raise _invalid(f"{name} {brief_repr(value)} is negative")
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise _invalid(f"{name} {brief_repr(value)} is not a string of hexadecimal digits")
    return int(value, 16)


def _hex_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, list):
        raise _invalid(f"{name} is a {type(value).__name__}, not a list")
    return [_hex(item, f"{name}[{index}]") for index, item in enumerate(value)]


def _entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    entries = document["numbers"]
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise _invalid("numbers is not a list of objects")
    return entries


def _exponent(value: Any) -> int:
    # Decoding or rescaling costs base^|exponent|, so a tampered exponent of 10^11 would hang.
    if not _is_int(value) or abs(value) > MAX_EXPONENT:
        raise _invalid(
            f"exponent {brief_repr(value)} is not an integer in -{MAX_EXPONENT}..{MAX_EXPONENT}"
        )
    return value


def _bound(value: Any) -> int | None:
    if value is None:
        return None
    # The writer uses Python's hex(), so a bound carries a "0x" prefix, unlike the ciphertexts.
    if isinstance(value, str) and value.startswith("-"):
        raise _invalid(f"bound {brief_repr(value)} is negative")
    if not isinstance(value, str) or not value.startswith("0x"):
        raise _invalid(f"bound {brief_repr(value)} is not a hexadecimal string starting with 0x")
    return _hex(value[2:], "bound")


def _base(value: Any) -> int:
    if not _is_int(value) or value not in (10, 16):
        raise _invalid(f"encoding base {brief_repr(value)} is neither 10 nor 16")
    return int(value)


def _describe(error: Exception) -> str:
    """Describe a parse error in one short line, without quoting the input it came from.

    A UnicodeDecodeError's repr contains the whole input, which may be megabytes
    of someone else's data.
    """
    if isinstance(error, UnicodeDecodeError):
        return f"byte {error.start} is not UTF-8"
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r:.60}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"


def loads_json(data: bytes | str, public_key: PaillierPublicKey | None = None) -> Document:
    """Parse the JSON form; with ``public_key``, the file must be under that key."""
    try:
        document = _check_document(json.loads(data))
        n = _hex(document["n"], "n")
        if document["kind"] == "packed":
            ciphertexts = _hex_list(document["ciphertexts"], "ciphertexts")
        else:
            ciphertexts = [
                _hex(entry["ciphertext"], f"numbers[{index}].ciphertext")
                for index, entry in enumerate(_entries(document))
            ]
    except AgileError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as error:
        raise _invalid(f"not valid JSON of this format ({_describe(error)})") from None
    key = _key(document, n, public_key)
    return _build(document, key, ciphertexts)


def loads_binary(data: bytes, public_key: PaillierPublicKey | None = None) -> Document:
    """Parse the binary form; with ``public_key``, the file must be under that key."""
    if not data.startswith(MAGIC[: len(data)]) or not data:
        raise _invalid("the magic bytes 'AGHE' are missing")
    if len(data) < _PREFIX_SIZE:
        raise _invalid(
            f"the file is cut short: it ends after {len(data)} bytes, inside the "
            f"{_PREFIX_SIZE}-byte prefix (magic, version and header length)"
        )
    if data[4] != VERSION:
        raise InvalidCiphertext(
            f"unsupported {FORMAT} binary version {data[4]}",
            fix=f"this agile reads version {VERSION}; upgrade agile to read newer files",
        )
    (length,) = struct.unpack(">I", data[5:_PREFIX_SIZE])
    end = _PREFIX_SIZE + length
    if end > len(data):
        raise _invalid(
            f"the file is cut short: its {length}-byte header needs {end} bytes, the file "
            f"has {len(data)}"
        )
    try:
        document = _check_document(json.loads(data[9:end]))
    except AgileError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise _invalid(f"the header is not JSON ({error})") from None
    bits = parameters_for(str(document.get("algorithm"))).bits
    size = bits // 8
    body = data[end:]
    if len(body) < size or (len(body) - size) % (2 * size):
        raise _invalid(
            f"the body of {len(body)} bytes is not n ({size} bytes) plus whole ciphertexts "
            f"({2 * size} bytes each): the file is cut short or has extra bytes"
        )
    n = int.from_bytes(body[:size], "big")
    ciphertexts = [
        int.from_bytes(body[offset : offset + 2 * size], "big")
        for offset in range(size, len(body), 2 * size)
    ]
    key = _key(document, n, public_key)
    return _build(document, key, ciphertexts)
