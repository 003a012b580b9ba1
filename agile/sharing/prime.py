"""Shamir sharing over the ristretto255 scalar field, and Feldman's verifiable variant.

The field is Z/L with L = 2^252 + 27742317777372353535851937790883648493, the
order of the ristretto255 group (RFC 9496 §4).  A secret is one canonical
32-byte little-endian scalar (RFC 9496 §4.4 scalar encoding), for example a
private key or a key-encryption key reduced modulo L.

Feldman VSS (Feldman 1987) publishes the commitments C_k = a_k * B for every
coefficient a_k of the sharing polynomial, B the ristretto255 generator.  A
holder of share (x, y) checks y * B == sum_k x^k * C_k, so a dealer or holder
that hands out a wrong share is caught, and named by its index.  C_0 = s * B is
public: an attacker may test guesses of s against it, so Feldman suits
high-entropy secrets (keys) only, never passwords or other guessable values.

Group operations come from libsodium through rbcl.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

import rbcl

from ..errors import InsufficientShares, InvalidArgument, InvalidShare, InvalidSharingParameters
from .base import (
    MIN_THRESHOLD,
    Share,
    check_indices,
    check_parameters,
    check_secret,
    check_shares,
)

# rbcl writes its bundled libsodium to a new temporary file on every import and
# never removes it (2.7 MB per process).  The library is loaded by then, so the
# file can go.  The attribute rbcl._sodium is the loaded library, not the module.
with contextlib.suppress(AttributeError, KeyError, OSError):
    os.unlink(sys.modules["rbcl._sodium"].lib_path)

__all__ = [
    "ORDER",
    "SCALAR_SIZE",
    "POINT_SIZE",
    "MAX_SHARES",
    "encode_scalar",
    "decode_scalar",
    "lagrange_at_zero",
    "split",
    "combine",
    "feldman_split",
    "feldman_verify",
    "feldman_check",
    "feldman_combine",
]

#: Order of the ristretto255 group, a 253-bit prime (RFC 9496 §4).
ORDER = 2**252 + 27742317777372353535851937790883648493
SCALAR_SIZE = 32
POINT_SIZE = 32
#: Encoding of the identity element of ristretto255 (RFC 9496 §4.3.2).
_IDENTITY = bytes(POINT_SIZE)
#: Shares carry x in one byte in the agile share format; keep the same limit here.
MAX_SHARES = 255


def encode_scalar(value: int) -> bytes:
    """Encode an integer, reduced modulo L, as 32 little-endian bytes."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(
            f"a scalar to encode has type {type(value).__name__}, not int",
            fix="pass an int; it is reduced modulo the group order",
        )
    return (value % ORDER).to_bytes(SCALAR_SIZE, "little")


def decode_scalar(data: bytes, what: str = "scalar") -> int:
    """Decode a canonical 32-byte scalar; raise :class:`InvalidShare` if it is not below L."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidShare(
            f"{what} has type {type(data).__name__}, not bytes",
            fix="pass the 32-byte little-endian scalar as bytes",
        )
    if len(data) != SCALAR_SIZE:
        raise InvalidShare(
            f"{what} has {len(data)} bytes, expected {SCALAR_SIZE}",
            fix="the value is truncated or belongs to another scheme",
        )
    value = int.from_bytes(data, "little")
    if value >= ORDER:
        raise InvalidShare(
            f"{what} is not a canonical scalar (not below the group order)",
            fix="the value is corrupt",
        )
    return value


def _secret_scalar(secret: bytes) -> int:
    secret = check_secret(secret, fix="pass a 32-byte little-endian scalar as bytes")
    if len(secret) != SCALAR_SIZE:
        raise InvalidSharingParameters(
            f"the secret has {len(secret)} bytes, a ristretto255 scalar has {SCALAR_SIZE}",
            fix="share a 32-byte little-endian scalar below the group order, or use shamir-gf256 "
            "for arbitrary bytes",
        )
    value = int.from_bytes(secret, "little")
    if value >= ORDER:
        raise InvalidSharingParameters(
            "the secret is not a canonical scalar (not below the group order)",
            fix="reduce it modulo the group order first (libsodium scalar_reduce of a hash)",
        )
    return value


def lagrange_at_zero(indices: Sequence[int], modulus: int = ORDER) -> list[int]:
    """Return the Lagrange weights l_i(0) = prod_{j != i} x_j / (x_j - x_i) modulo ``modulus``."""
    weights = []
    for i, xi in enumerate(indices):
        numerator = 1
        denominator = 1
        for j, xj in enumerate(indices):
            if i != j:
                numerator = numerator * xj % modulus
                denominator = denominator * (xj - xi) % modulus
        weights.append(numerator * pow(denominator, -1, modulus) % modulus)
    return weights


def _coefficients(secret: int, threshold: int) -> list[int]:
    # Non-zero random coefficients: a zero top coefficient would lower the degree.
    coefficients = [secret]
    while len(coefficients) < threshold:
        value = secrets.randbelow(ORDER)
        if value:
            coefficients.append(value)
    return coefficients


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % ORDER
    return result


def split(secret: bytes, threshold: int, count: int) -> list[Share]:
    """Split a 32-byte scalar into ``count`` shares with x = 1..count."""
    check_parameters(threshold, count, MAX_SHARES)
    coefficients = _coefficients(_secret_scalar(secret), threshold)
    return [Share(x, encode_scalar(_evaluate(coefficients, x))) for x in range(1, count + 1)]


def combine(shares: Sequence[Share]) -> bytes:
    """Interpolate the secret scalar at x = 0 from every given share."""
    shares = check_shares(shares, Share)
    if len(shares) < MIN_THRESHOLD:
        raise InsufficientShares(
            f"{len(shares)} share(s) given, at least {MIN_THRESHOLD} are needed",
            fix="give at least the threshold number of shares",
        )
    indices = [share.index for share in shares]
    check_indices(indices, MAX_SHARES)
    values = [decode_scalar(share.value, f"share {share.index}") for share in shares]
    secret = 0
    for value, weight in zip(values, lagrange_at_zero(indices), strict=True):
        secret = (secret + value * weight) % ORDER
    return encode_scalar(secret)


def _base_multiply(scalar: int) -> bytes:
    return rbcl.crypto_scalarmult_ristretto255_base_allow_scalar_zero(encode_scalar(scalar))


def feldman_split(secret: bytes, threshold: int, count: int) -> list[Share]:
    """Split a 32-byte scalar and attach the commitments a_k * B to every share."""
    check_parameters(threshold, count, MAX_SHARES)
    coefficients = _coefficients(_secret_scalar(secret), threshold)
    commitments = tuple(_base_multiply(a) for a in coefficients)
    return [
        Share(x, encode_scalar(_evaluate(coefficients, x)), commitments)
        for x in range(1, count + 1)
    ]


def _check_commitments(commitments: Sequence[bytes]) -> None:
    if len(commitments) < MIN_THRESHOLD:
        raise InvalidShare(
            f"{len(commitments)} commitment(s), at least {MIN_THRESHOLD} are needed",
            fix="the share lacks its Feldman commitments",
        )
    for k, point in enumerate(commitments):
        if (
            not isinstance(point, bytes)
            or len(point) != POINT_SIZE
            or not rbcl.crypto_core_ristretto255_is_valid_point(point)
        ):
            raise InvalidShare(
                f"commitment {k} is not a valid ristretto255 point encoding",
                fix="the commitments are corrupt",
            )
        # Coefficients a_1.. are drawn non-zero, so only C_0 (s = 0) can be the identity.  An
        # identity appended to the list would raise the threshold that the list implies.
        if k and point == _IDENTITY:
            raise InvalidShare(
                f"commitment {k} is the identity point, which no dealing produces",
                fix="the commitments were padded or altered; use the dealer's published list",
            )


def feldman_verify(share: Share, commitments: Sequence[bytes] | None = None) -> bool:
    """Return whether y * B equals sum_k x^k * C_k.

    ``commitments`` are the dealer's published C_k; without them the share's own
    copy is used, which only shows that the share is consistent with itself.
    """
    if not isinstance(share, Share):
        raise InvalidShare(
            f"a share has type {type(share).__name__}, not Share",
            fix="pass a Share from feldman_split",
        )
    if commitments is not None:
        reference = _reference_commitments([share], commitments)
    else:
        reference = tuple(share.commitments)
    _check_commitments(reference)
    y = decode_scalar(share.value, f"share {share.index}")
    expected = bytes(POINT_SIZE)
    power = 1
    for point in reference:
        term = rbcl.crypto_scalarmult_ristretto255_allow_scalar_zero(encode_scalar(power), point)
        expected = rbcl.crypto_core_ristretto255_add(expected, term)
        power = power * share.index % ORDER
    return _base_multiply(y) == expected


def _reference_commitments(
    shares: Sequence[Share], commitments: Sequence[bytes] | None
) -> tuple[bytes, ...]:
    """Return the commitments to check against: the given ones, else those most shares carry.

    A forged share can carry commitments of its own dealing.  Taking the first
    share's copy as the reference would then flag every honest share, so the
    copy held by most shares wins, and a tie needs the dealer's published list.
    """
    if commitments is not None:
        if isinstance(commitments, bytes | str) or not isinstance(commitments, Iterable):
            raise InvalidShare(
                f"commitments must be a list of 32-byte points, got a {type(commitments).__name__}",
                fix="pass the list of commitments the dealer published",
            )
        return tuple(commitments)
    tally = Counter(tuple(share.commitments) for share in shares if share.commitments)
    ranked = tally.most_common()
    if not ranked:
        return ()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        raise InvalidShare(
            f"the shares carry {len(ranked)} different sets of Feldman commitments, and no set "
            "is held by more shares than the others",
            fix="pass the commitments the dealer published (commitments=...) to find the bad "
            "shares",
        )
    return ranked[0][0]


def feldman_check(shares: Iterable[Share], commitments: Sequence[bytes] | None = None) -> list[int]:
    """Return the indices of shares that fail verification against the reference commitments.

    The reference is ``commitments`` (the dealer's published list) when given,
    else the set of commitments that most shares carry.  A share that carries
    other commitments than the reference fails too.
    """
    shares = check_shares(shares, Share)
    if not shares:
        return []
    reference = _reference_commitments(shares, commitments)
    bad = []
    for share in shares:
        own = tuple(share.commitments)
        if own not in ((), reference) or not feldman_verify(share, reference):
            bad.append(share.index)
    return bad


def feldman_combine(shares: Sequence[Share], commitments: Sequence[bytes] | None = None) -> bytes:
    """Verify every share against the commitments, then recover the secret.

    The commitments are ``commitments`` when given, else the set most shares
    carry (see :func:`feldman_check`).  Raises :class:`InvalidShare` naming the
    failing indices, and :class:`InsufficientShares` when fewer shares than the
    number of commitments (the threshold) are given.
    """
    shares = check_shares(shares, Share)
    if not shares:
        raise InsufficientShares("no shares given", fix="give at least the threshold of shares")
    reference = _reference_commitments(shares, commitments)
    threshold = len(reference)
    bad = feldman_check(shares, reference)
    if bad:
        raise InvalidShare(
            f"share(s) {', '.join(map(str, bad))} do not match the Feldman commitments",
            fix="drop those shares and combine the others, or ask the dealer for new ones",
        )
    if len(shares) < threshold:
        raise InsufficientShares(
            f"{len(shares)} share(s) given, the threshold is {threshold}",
            fix=f"give at least {threshold} shares",
        )
    secret = combine(shares)
    # The interpolated secret must match C_0 = s * B; a mismatch means inconsistent shares.
    if _base_multiply(int.from_bytes(secret, "little")) != reference[0]:
        raise InvalidShare(
            "the recovered secret does not match commitment C_0",
            fix="the shares come from different dealings",
        )
    return secret
