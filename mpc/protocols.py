"""The computations parties run on shares, and what each one opens.

Every party contributes one vector of 64-bit signed integers.  All operations
here are linear in the shares, so each party computes its share of the result
locally and only the requested outputs are reconstructed:

- ``sum``: the element-wise sum over all parties (one output per element).
- ``mean``: the element-wise sum divided by the number of contributing parties.
- ``count``: the number of contributing parties (one output).
- ``total``: the sum of every element of every party's vector (one output).
- ``variance``: the element-wise population variance over the parties.  It needs
  one multiplication per element, done with Beaver triples from a dealer
  (:mod:`mpc.beaver`), and opens n * sum(x^2) - (sum x)^2 only.

For the linear operations each party appends a hidden 1 to its vector, so the
count is computed on shares like any other value.  For ``variance`` each party
shares x followed by x^2, which it computes on its own input.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from decimal import Decimal, localcontext
from pathlib import Path

from agile.errors import InvalidArgument

from .field import MODULUS, embed, lift

__all__ = [
    "OPERATIONS",
    "BEAVER_OPERATIONS",
    "check_operation",
    "prepare",
    "local_result",
    "variance_sums",
    "finalize",
    "read_integers",
]

OPERATIONS = ("sum", "mean", "count", "total", "variance")
#: Operations that multiply shared values and so need triples from a dealer.
BEAVER_OPERATIONS = ("variance",)
#: An input cell: ASCII digits with an optional sign.  int() alone would also accept
#: "1_0" (as 10) and non-ASCII digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")


def check_operation(operation: object) -> str:
    """Return ``operation`` if it is one of OPERATIONS, else raise :class:`InvalidArgument`."""
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise InvalidArgument(
            f"unknown MPC operation {operation!r}", fix=f"use one of: {', '.join(OPERATIONS)}"
        )
    return operation


def prepare(operation: str, values: Sequence[int]) -> list[int]:
    """Return the field vector a party shares: its values, then the count marker 1.

    For ``variance`` the vector is the values followed by their squares.
    """
    check_operation(operation)
    if operation == "variance":
        return [*embed(values), *embed(value * value for value in values)]
    return [*embed(values), 1]


def local_result(operation: str, share_vectors: Sequence[Sequence[int]]) -> list[int]:
    """Combine the share vectors received from all parties into this party's output shares."""
    check_operation(operation)
    sums = [sum(column) % MODULUS for column in zip(*share_vectors, strict=True)]
    values, count = sums[:-1], sums[-1]
    if operation == "sum":
        return values
    if operation == "mean":
        return [*values, count]
    if operation == "count":
        return [count]
    return [sum(values) % MODULUS]


def variance_sums(share_vectors: Sequence[Sequence[int]]) -> tuple[list[int], list[int]]:
    """Return shares of sum x and of sum x^2 per element from the received x || x^2 vectors."""
    sums = [sum(column) % MODULUS for column in zip(*share_vectors, strict=True)]
    half = len(sums) // 2
    return sums[:half], sums[half:]


def _decimal(numerator: int, denominator: int) -> str:
    if numerator % denominator == 0:
        return str(numerator // denominator)
    with localcontext() as context:
        context.prec = 34
        return str((Decimal(numerator) / Decimal(denominator)).normalize())


def finalize(operation: str, opened: Sequence[int], parties: int = 1) -> list[str]:
    """Turn opened field elements into the printed results, one string per output.

    ``parties`` is the number of contributing parties (the divisor of ``variance``).
    """
    check_operation(operation)
    if operation == "variance":
        return [_decimal(value, parties * parties) for value in lift(opened)]
    if operation == "mean":
        count = opened[-1]
        return [_decimal(value, count) for value in lift(opened[:-1])]
    return [str(value) for value in lift(opened)]


def read_integers(path: str | Path) -> list[int]:
    """Read every cell of a CSV file, row by row, as an integer.

    A cell is ASCII digits with an optional sign; blank cells are skipped.
    """
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidArgument(
            f"input path {path!r} is not a file path", fix="give the path of a CSV file of integers"
        )
    values = []
    data = Path(path).read_bytes()
    try:
        # utf-8-sig drops the byte order mark that spreadsheet programs write.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidArgument(
            f"{str(path)!r} is not UTF-8 text (byte {error.start} is {data[error.start]:#04x})",
            fix="give a CSV text file of integers, separated by commas or newlines",
        ) from None
    for row_number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        for cell in row:
            cell_text = cell.strip()
            if not cell_text:
                continue
            if not _INTEGER.fullmatch(cell_text):
                raise InvalidArgument(
                    f"{str(path)!r} line {row_number}: {cell_text[:40]!r} is not an integer",
                    fix="give integers only, separated by commas or newlines",
                )
            if len(cell_text.lstrip("+-").lstrip("0")) > 19:
                # No 64-bit value has more than 19 digits, and int() raises ValueError
                # above 4300 digits.
                raise InvalidArgument(
                    f"{str(path)!r} line {row_number}: {cell_text[:40]!r} is outside the 64-bit "
                    "signed range",
                    fix="give integers from -9223372036854775808 to 9223372036854775807",
                )
            values.append(int(cell_text))
    return values
