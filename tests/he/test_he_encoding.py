"""Encodings of integers, floats, decimals and numpy values, and the inputs named in the brief."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from agile.errors import InvalidArgument
from he.encoding import EncodedNumber, encode
from he.keys import PaillierPrivateKey, PaillierPublicKey

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]


def test_three_inputs_sum(keypair: Keys) -> None:
    public, private = keypair
    parts = [public.encrypt(v) for v in (445, 0.16413409062205825, 2**-965)]
    result = private.decrypt(parts[0] + parts[1] + parts[2])
    assert result == pytest.approx(445.16413409062205, abs=1e-12)


def test_three_inputs_exact(keypair: Keys) -> None:
    public, private = keypair
    parts = [public.encrypt(v) for v in (445, 0.16413409062205825, 2**-965)]
    exact = he_decrypt_exact(private, parts[0] + parts[1] + parts[2])
    assert exact == 445 + Fraction(0.16413409062205825) + Fraction(2) ** -965


def he_decrypt_exact(private: PaillierPrivateKey, number: object) -> Fraction:
    from he import decrypt_exact

    return decrypt_exact(private, number)  # type: ignore[arg-type]


def test_tiny_float_roundtrip(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(2**-965)) == 2**-965


def test_numpy_int64_precision(keypair: Keys) -> None:
    numpy = pytest.importorskip("numpy", reason="numpy is in the test extra")
    public, private = keypair
    value = numpy.int64(-9_223_372_036_854_775_807)
    result = private.decrypt(public.encrypt(value, precision=4))
    assert result == int(value)


def test_numpy_int64_plain(keypair: Keys) -> None:
    numpy = pytest.importorskip("numpy", reason="numpy is in the test extra")
    public, private = keypair
    assert private.decrypt(public.encrypt(numpy.int64(123))) == 123


def test_numpy_float32(keypair: Keys) -> None:
    numpy = pytest.importorskip("numpy", reason="numpy is in the test extra")
    public, private = keypair
    value = numpy.float32(1.5)
    assert private.decrypt(public.encrypt(value)) == 1.5


def test_negative_integer(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(-17)) == -17


def test_decimal_exact(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(Decimal("-12.345"))) == Decimal("-12.345")


def test_decimal_type(keypair: Keys) -> None:
    public, private = keypair
    assert isinstance(private.decrypt(public.encrypt(Decimal("1.5"))), Decimal)


def test_precision_rounds_half_even() -> None:
    assert encode(Decimal("0.0125"), 3).mantissa == 12
    assert encode(Decimal("0.0135"), 3).mantissa == 14


def test_precision_float_point_one() -> None:
    assert encode(0.1, 3) == EncodedNumber(100, -3, 10)


def test_fraction_decimal_denominator() -> None:
    assert encode(Fraction(3, 8)) == EncodedNumber(375, -3, 10)


def test_fraction_third_needs_precision() -> None:
    with pytest.raises(InvalidArgument, match="no exact decimal"):
        encode(Fraction(1, 3))


def test_fraction_third_with_precision() -> None:
    assert encode(Fraction(1, 3), 2) == EncodedNumber(33, -2, 10)


def test_float_exact_base16() -> None:
    encoded = encode(0.75)
    assert encoded.base == 16
    assert encoded.to_fraction() == Fraction(3, 4)


def test_reject_nan() -> None:
    with pytest.raises(InvalidArgument):
        encode(float("nan"))


def test_reject_infinity() -> None:
    with pytest.raises(InvalidArgument):
        encode(Decimal("Infinity"))


def test_reject_bool() -> None:
    with pytest.raises(InvalidArgument):
        encode(True)


def test_reject_string() -> None:
    with pytest.raises(InvalidArgument):
        encode("12")


def test_reject_negative_precision() -> None:
    with pytest.raises(InvalidArgument):
        encode(1, -1)


def test_decimal_huge_exponent_rejected() -> None:
    from agile.errors import PlaintextOverflow

    with pytest.raises(PlaintextOverflow, match="integer digits"):
        encode(Decimal("1e999999999999999999"))
    with pytest.raises(PlaintextOverflow, match="integer digits"):
        encode(Decimal("1e999999999999999999"), precision=2)


def test_decimal_tiny_exponent() -> None:
    assert encode(Decimal("-1e-999999999999999999"), precision=3) == EncodedNumber(0, -3, 10)
    assert encode(Decimal("0.0015"), precision=3) == EncodedNumber(2, -3, 10)
    assert encode(Decimal("0.00051"), precision=3) == EncodedNumber(1, -3, 10)
    with pytest.raises(InvalidArgument, match="exponent below") as caught:
        encode(Decimal("1e-999999999999999999"))
    assert "precision=" in (caught.value.fix or "")
