"""Division of an encrypted number by a plaintext number: exact, with the divisor in the clear."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from agile.errors import InvalidArgument
from he import EncryptedQuotient, PaillierPrivateKey, PaillierPublicKey


@pytest.mark.parametrize(
    ("value", "divisor", "expected"),
    [
        (10, 4, Fraction(5, 2)),
        (10, -3, Fraction(-10, 3)),
        (10, Fraction(2, 3), Fraction(15)),
        (10, Decimal("0.5"), Fraction(20)),
        (Decimal("1.5"), 3, Fraction(1, 2)),
        (7, 0.25, Fraction(28)),
    ],
    ids=["int", "negative", "fraction", "decimal", "decimal-value", "float"],
)
def test_division_exact(
    public_key: PaillierPublicKey,
    private_key: PaillierPrivateKey,
    value: Any,
    divisor: Any,
    expected: Fraction,
) -> None:
    assert private_key.decrypt(public_key.encrypt(value) / divisor) == expected


def test_division_gives_quotient(public_key: PaillierPublicKey) -> None:
    assert isinstance(public_key.encrypt(1) / 2, EncryptedQuotient)


def test_quotient_divided_again(
    public_key: PaillierPublicKey, private_key: PaillierPrivateKey
) -> None:
    quotient = public_key.encrypt(10) / 2

    assert private_key.decrypt(quotient / Fraction(5, 3)) == Fraction(3)


@pytest.mark.parametrize("divisor", [0, Fraction(0), True, "2", None, float("nan"), float("inf")])
def test_bad_divisor_rejected(public_key: PaillierPublicKey, divisor: Any) -> None:
    with pytest.raises(InvalidArgument):
        public_key.encrypt(1) / divisor
