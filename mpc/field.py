"""Vector Shamir sharing over the prime field of the ristretto255 group order.

The MPC protocols compute on Shamir shares over Z/L, L the 253-bit prime order
of ristretto255 (RFC 9496 §4).  Signed integers are embedded as v mod L, and an
opened value above L/2 is read back as negative.  Inputs are range-checked to
64-bit signed integers, so a sum of at most 255 parties times 2^24 elements
(below 2^96 in magnitude) and a product of two such sums (below 2^192) stay far
below L/2 and cannot wrap.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import mul
from typing import Literal

from agile.errors import InvalidArgument, MPCError
from agile.sharing.prime import ORDER, lagrange_at_zero

__all__ = [
    "MODULUS",
    "ELEMENT_SIZE",
    "INPUT_MIN",
    "INPUT_MAX",
    "MAX_LENGTH",
    "check_inputs",
    "embed",
    "lift",
    "share_vector",
    "reconstruct_vector",
    "encode_vector",
    "decode_vector",
]

MODULUS = ORDER
ELEMENT_SIZE = 32
INPUT_MIN = -(2**63)
INPUT_MAX = 2**63 - 1
#: Maximum input vector length, so that the bound in the module docstring holds.
MAX_LENGTH = 2**24
_RANDOM_MASK = 2**252 - 1
_HALF = MODULUS // 2


def check_inputs(values: Sequence[int], source: str = "input") -> None:
    """Raise :class:`InvalidArgument` unless every value is a 64-bit signed integer."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidArgument(
            f"{source} is a {type(values).__name__}, not a list of integers",
            fix="pass the values as a list of int",
        )
    if len(values) > MAX_LENGTH:
        raise InvalidArgument(
            f"{source} has {len(values)} values, more than the maximum of {MAX_LENGTH}",
            fix="split the computation into smaller vectors",
        )
    for position, value in enumerate(values, start=1):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{source} value {position} is not an integer: {value!r}")
        if not INPUT_MIN <= value <= INPUT_MAX:
            raise InvalidArgument(
                f"{source} value {position} ({value}) is outside the 64-bit signed range",
                fix=f"give integers from {INPUT_MIN} to {INPUT_MAX}",
            )


def embed(values: Iterable[int]) -> list[int]:
    """Map signed integers into the field."""
    return [value % MODULUS for value in values]


def lift(values: Iterable[int]) -> list[int]:
    """Map field elements back to signed integers (above L/2 means negative)."""
    return [value - MODULUS if value > _HALF else value for value in values]


def _random_elements(count: int) -> list[int]:
    # Uniform on [0, 2^252) instead of [0, L): L - 2^252 < 2^125, so the two distributions
    # differ by less than 2^-127 in statistical distance, and no reduction is needed.
    data = os.urandom(count * ELEMENT_SIZE)
    view = memoryview(data)
    from_bytes = int.from_bytes
    return [
        from_bytes(view[i : i + ELEMENT_SIZE], "little") & _RANDOM_MASK
        for i in range(0, len(data), ELEMENT_SIZE)
    ]


def share_vector(
    values: Sequence[int], threshold: int, indices: Sequence[int]
) -> dict[int, list[int]]:
    """Shamir-share every field element with a random polynomial of degree threshold - 1.

    Returns the share vector of each x coordinate in ``indices``.
    """
    degree = threshold - 1
    length = len(values)
    coefficients = [list(values)]
    randomness = _random_elements(length * degree)
    for k in range(degree):
        coefficients.append(randomness[k * length : (k + 1) * length])

    shares: dict[int, list[int]] = {}
    for x in indices:
        # Horner's rule per element, vectorised as a list comprehension per coefficient.
        accumulator = coefficients[-1]
        for k in range(degree - 1, -1, -1):
            lower = coefficients[k]
            accumulator = [(a * x + b) % MODULUS for a, b in zip(accumulator, lower, strict=True)]
        shares[x] = accumulator
    return shares


def reconstruct_vector(points: Mapping[int, Sequence[int]]) -> list[int]:
    """Interpolate every element at x = 0 from the share vectors of at least threshold parties."""
    indices = list(points)
    weights = lagrange_at_zero(indices, MODULUS)
    vectors = [points[x] for x in indices]
    length = len(vectors[0])
    if any(len(vector) != length for vector in vectors):
        raise MPCError(
            "share vectors to reconstruct have different lengths",
            fix="a party sent a malformed result; rerun the computation",
        )
    # One pass over the columns: sum_i w_i * y_i, reduced once per element.
    return [sum(map(mul, weights, column)) % MODULUS for column in zip(*vectors, strict=True)]


def encode_vector(values: Sequence[int]) -> bytes:
    """Encode field elements as 32-byte little-endian integers, concatenated."""
    # map over the unbound method keeps the per-element loop in C.
    little: Literal["little"] = "little"
    return b"".join(map(int.to_bytes, values, repeat(ELEMENT_SIZE), repeat(little)))  # type: ignore[arg-type]


def decode_vector(data: bytes, length: int, source: str) -> list[int]:
    """Decode ``length`` field elements; raise :class:`MPCError` on a wrong size or value."""
    if len(data) != length * ELEMENT_SIZE:
        raise MPCError(
            f"{source} carries {len(data)} bytes, expected {length * ELEMENT_SIZE}",
            fix="the parties disagree on the vector length; give every party equally long inputs",
        )
    view = memoryview(data)
    from_bytes = int.from_bytes
    values = [
        from_bytes(view[i : i + ELEMENT_SIZE], "little") for i in range(0, len(data), ELEMENT_SIZE)
    ]
    if max(values, default=0) >= MODULUS:
        raise MPCError(f"{source} carries a value outside the field", fix="the sender is faulty")
    return values
