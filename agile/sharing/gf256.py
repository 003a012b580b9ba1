"""Shamir secret sharing over GF(2^8), byte-wise, in HashiCorp Vault's share layout.

The field is GF(2)[x] / (x^8 + x^4 + x^3 + x + 1), polynomial 0x11B, the AES field
that Vault's ``shamir`` package and pyshamir use.  Each secret byte gets its own
random polynomial of degree ``threshold - 1``.  A Vault share is the y bytes
followed by one x byte, so shares interoperate with Vault and pyshamir both ways.

Speed comes from treating the secret as a vector: multiplying every byte of a
vector by one field element is one ``bytes.translate`` with that element's
multiplication row, and adding two vectors is one XOR of two Python integers.

NOTE: this is not constant time.  Table look-ups index memory by secret bytes,
so a local attacker who can observe the cache may learn share or secret bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache

from ..errors import InsufficientShares, InvalidShare, InvalidSharingParameters
from .base import (
    MIN_THRESHOLD,
    Share,
    check_indices,
    check_parameters,
    check_secret,
    check_shares,
)

__all__ = [
    "FIELD_POLYNOMIAL",
    "MAX_SHARES",
    "multiply",
    "inverse",
    "split",
    "combine",
    "to_vault",
    "from_vault",
]

#: The reduction polynomial x^8 + x^4 + x^3 + x + 1 (FIPS 197 §4.2).
FIELD_POLYNOMIAL = 0x11B
#: x coordinates are the non-zero field elements, so at most 255 shares.
MAX_SHARES = 255
#: 0x03 generates the multiplicative group of this field (FIPS 197 §4.2).
_GENERATOR = 3


def _build_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 510
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        # Multiply by the generator 3 = x + 1: (value * x) + value, reduced.
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= FIELD_POLYNOMIAL
        value = doubled ^ value
    # A doubled table lets log sums index it without a modulo.
    for power in range(255, 510):
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _build_tables()


def multiply(a: int, b: int) -> int:
    """Multiply two field elements."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def inverse(a: int) -> int:
    """Return the multiplicative inverse of a non-zero field element."""
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return _EXP[255 - _LOG[a]]


@lru_cache(maxsize=256)
def _row(factor: int) -> bytes:
    """Return the 256-byte table that ``bytes.translate`` uses to multiply by ``factor``."""
    if factor == 0:
        return bytes(256)
    shift = _LOG[factor]
    return bytes([0] + [_EXP[_LOG[value] + shift] for value in range(1, 256)])


def split(
    secret: bytes,
    threshold: int,
    count: int,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> list[Share]:
    """Split ``secret`` into ``count`` shares with x = 1..count.

    Raises :class:`InvalidSharingParameters` for an empty secret, a threshold
    below 2 or above ``count``, or more than 255 shares.
    """
    check_parameters(threshold, count, MAX_SHARES)
    secret = check_secret(
        secret, fix="pass the secret as bytes (encode text first, for example with .encode())"
    )
    if len(secret) == 0:
        raise InvalidSharingParameters(
            "the secret is empty", fix="give a secret of at least one byte"
        )
    length = len(secret)

    # Coefficient k of every byte's polynomial, as one integer per k (k = 0 is the secret).
    randomness = random_bytes(length * (threshold - 1))
    coefficients = [int.from_bytes(secret, "big")]
    for k in range(threshold - 1):
        coefficients.append(int.from_bytes(randomness[k * length : (k + 1) * length], "big"))

    shares = []
    for x in range(1, count + 1):
        row = _row(x)

        # Horner's rule, on all bytes at once: acc = acc * x + a_k.
        accumulator = coefficients[-1].to_bytes(length, "big")
        for k in range(threshold - 2, -1, -1):
            product = int.from_bytes(accumulator.translate(row), "big")
            accumulator = (product ^ coefficients[k]).to_bytes(length, "big")
        shares.append(Share(x, accumulator))
    return shares


def _lagrange_at_zero(indices: Sequence[int]) -> list[int]:
    """Return l_i(0) = prod_{j != i} x_j / (x_i - x_j); subtraction is XOR in GF(2^8)."""
    weights = []
    for i, xi in enumerate(indices):
        log_numerator = 0
        log_denominator = 0
        for j, xj in enumerate(indices):
            if i != j:
                log_numerator += _LOG[xj]
                log_denominator += _LOG[xi ^ xj]
        weights.append(_EXP[(log_numerator - log_denominator) % 255])
    return weights


def combine(shares: Sequence[Share]) -> bytes:
    """Interpolate the secret at x = 0 from the given shares.

    Every given share is used, so give exactly the shares you have.  With fewer
    than the threshold the result is a random-looking wrong value, which this
    function cannot detect (the agile share format detects it).
    """
    shares = check_shares(shares, Share)
    if len(shares) < MIN_THRESHOLD:
        raise InsufficientShares(
            f"{len(shares)} share(s) given, at least {MIN_THRESHOLD} are needed",
            fix="give at least the threshold number of shares",
        )
    for share in shares:
        if not isinstance(share.value, bytes | bytearray | memoryview):
            raise InvalidShare(
                f"share {share.index!r} has a value of type {type(share.value).__name__}, "
                "not bytes",
                fix="decode the share first; for a Vault share in hex use "
                "from_vault(bytes.fromhex(text))",
            )
    length = len(shares[0].value)
    if length == 0:
        raise InvalidShare("share 1 has an empty value", fix="the share file is truncated")
    for share in shares:
        if len(share.value) != length:
            raise InvalidShare(
                f"share {share.index} has {len(share.value)} value bytes, share "
                f"{shares[0].index} has {length}",
                fix="combine only shares produced by one split",
            )
    indices = [share.index for share in shares]
    check_indices(indices, MAX_SHARES)

    # Lagrange weights depend only on the x coordinates: compute them once for all bytes.
    result = 0
    for share, weight in zip(shares, _lagrange_at_zero(indices), strict=True):
        result ^= int.from_bytes(bytes(share.value).translate(_row(weight)), "big")
    return result.to_bytes(length, "big")


def to_vault(share: Share) -> bytes:
    """Encode a share as Vault does: y bytes, then the x byte."""
    return bytes(share.value) + bytes([share.index])


def from_vault(data: bytes) -> Share:
    """Decode a Vault share; raise :class:`InvalidShare` if it has no y byte or x is 0."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidShare(
            f"a Vault share has type {type(data).__name__}, not bytes",
            fix="pass the raw share bytes; decode hex text with bytes.fromhex first",
        )
    if len(data) < 2:
        raise InvalidShare(
            f"a Vault share needs at least 2 bytes, got {len(data)}",
            fix="the share is truncated; use the full share",
        )
    index = data[-1]
    if index == 0:
        raise InvalidShare("Vault share has x coordinate 0", fix="the share is corrupt")
    return Share(index, bytes(data[:-1]))
