"""Beaver multiplication triples (Beaver 1991) on Shamir shares.

A trusted dealer draws random a and b, computes c = a * b, and Shamir-shares
all three.  To multiply shared x and y, the parties open d = x - a and
e = y - b, which are uniformly random and reveal nothing, and each computes
its share of x * y = c + d * b + e * a + d * e.  The right side is linear in
the shares (d and e are public), so the result has the same polynomial degree
as the inputs and needs no degree reduction.

The dealer is trusted: it has a, b and c, so with the opened d and e it
could compute x and y.  Run it on a machine none of the parties controls, or
accept that it learns the inputs of multiplications.
"""

from __future__ import annotations

from collections.abc import Sequence

from agile.errors import MPCError

from .field import MODULUS, _random_elements, share_vector

__all__ = ["deal_triples", "split_triples", "mask", "product"]


def deal_triples(length: int, threshold: int, indices: Sequence[int]) -> dict[int, list[int]]:
    """Return each party's shares of ``length`` triples, as the vector a || b || c."""
    a = _random_elements(length)
    b = _random_elements(length)
    c = [x * y % MODULUS for x, y in zip(a, b, strict=True)]
    return share_vector([*a, *b, *c], threshold, indices)


def split_triples(vector: Sequence[int], length: int) -> tuple[list[int], list[int], list[int]]:
    """Return the first ``length`` triples of a || b || c as (a, b, c).

    The dealer cannot know the input length, so it may send more triples than needed.
    Each triple is independent and the unused ones are never opened, so they are dropped.
    Raises :class:`MPCError` if the dealer sent fewer.
    """
    dealt, remainder = divmod(len(vector), 3)
    if remainder:
        raise MPCError(
            f"the dealer sent {len(vector)} values, not a whole number of triples",
            fix="run the dealer of the same agile version as the parties",
        )
    if dealt < length:
        raise MPCError(
            f"the dealer sent {dealt} {'triple' if dealt == 1 else 'triples'}, {length} are "
            "needed (one per input integer)",
            fix=f"start the dealer with --length {length} or more",
        )
    return (
        list(vector[:length]),
        list(vector[dealt : dealt + length]),
        list(vector[2 * dealt : 2 * dealt + length]),
    )


def mask(x: Sequence[int], y: Sequence[int], a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Return this party's shares of d = x - a followed by e = y - b."""
    d = [(u - v) % MODULUS for u, v in zip(x, a, strict=True)]
    e = [(u - v) % MODULUS for u, v in zip(y, b, strict=True)]
    return d + e


def product(
    a: Sequence[int], b: Sequence[int], c: Sequence[int], opened: Sequence[int]
) -> list[int]:
    """Return shares of x * y from the triple shares and the opened d || e."""
    length = len(a)
    d, e = opened[:length], opened[length:]
    return [
        (ci + di * bi + ei * ai + di * ei) % MODULUS
        for ai, bi, ci, di, ei in zip(a, b, c, d, e, strict=True)
    ]
