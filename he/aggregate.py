"""Aggregates of many ciphertexts: sums, element-wise sums, means and weighted sums.

A sum of k ciphertexts is their product modulo n^2.  Numbers are grouped by
exponent so that each group is one plain product and only the group totals are
rescaled (one exponentiation per distinct exponent, not per number).  The
overflow budget is the sum of the operands' bounds, checked once before any
multiplication.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from agile.errors import HomomorphicError, InvalidArgument

from .ciphertext import EncryptedNumber, EncryptedQuotient, _as_list, _check_budget
from .engine import product
from .keys import check_same_key

__all__ = ["total", "elementwise_total", "mean", "weighted_total"]


def total(numbers: Iterable[EncryptedNumber]) -> EncryptedNumber:
    """Return the encrypted sum of ``numbers`` (at least one, all under one key)."""
    items = _as_list(numbers, "numbers")
    if not items:
        raise InvalidArgument("cannot sum an empty list of ciphertexts", fix="pass at least one")
    first = items[0]
    for item in items:
        if not isinstance(item, EncryptedNumber):
            raise InvalidArgument(
                f"expected EncryptedNumber items, got {type(item).__name__}",
                fix="encrypt the values first",
            )
        check_same_key(first.public_key, item.public_key)

    groups: dict[tuple[int, int], list[EncryptedNumber]] = {}
    for item in items:
        groups.setdefault((item.exponent, item.base), []).append(item)

    # Reuse the pairwise rules (base compatibility, rescaling, budget) on one
    # representative per group, whose bound is the group's total bound.
    public_key = first.public_key
    partials = []
    for group in groups.values():
        bounds = [item.bound for item in group]
        bound = None if None in bounds else sum(bounds)  # type: ignore[arg-type]
        _check_budget(public_key, bound, "the sum")
        ciphertext = product((item.ciphertext for item in group), public_key.nsquare)
        partials.append(
            EncryptedNumber(
                public_key, ciphertext, group[0].exponent, group[0].base, bound, fresh=False
            )
        )
    result = partials[0]
    for partial in partials[1:]:
        result = result + partial
    return result


def elementwise_total(rows: Iterable[Sequence[EncryptedNumber]]) -> list[EncryptedNumber]:
    """Return the encrypted column sums of equally long rows of ciphertexts."""
    table = [_as_list(row, "rows") for row in _as_list(rows, "rows")]
    if not table:
        raise InvalidArgument("cannot sum an empty list of rows", fix="pass at least one row")
    width = len(table[0])
    for index, row in enumerate(table):
        if len(row) != width:
            raise HomomorphicError(
                f"row {index} has {len(row)} values, row 0 has {width}",
                fix="sum vectors of the same length only",
            )
    return [total(column) for column in zip(*table, strict=True)]


def mean(numbers: Iterable[EncryptedNumber]) -> EncryptedQuotient:
    """Return the encrypted mean; decrypting it gives the exact Fraction sum / count."""
    items = _as_list(numbers, "numbers")
    return EncryptedQuotient(total(items), len(items))


def weighted_total(numbers: Sequence[EncryptedNumber], weights: Sequence[Any]) -> EncryptedNumber:
    """Return the encrypted sum of weight_i * number_i for plaintext weights."""
    numbers = _as_list(numbers, "numbers")
    weights = _as_list(weights, "weights")
    if len(numbers) != len(weights):
        raise InvalidArgument(
            f"{len(numbers)} ciphertexts but {len(weights)} weights",
            fix="pass one weight per ciphertext",
        )
    return total(number * weight for number, weight in zip(numbers, weights, strict=True))
