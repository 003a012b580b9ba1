"""Encodings of numbers as Paillier plaintexts: a signed integer mantissa times base^exponent.

Paillier encrypts integers modulo n.  A number becomes ``mantissa * base**exponent``
with an integer mantissa, and only the mantissa is encrypted.  The exponent and
base travel in the clear beside the ciphertext, as in phe 1.5.

* Integers (``int``, ``numpy.int64`` and other integral types) have exponent 0.
* With an explicit ``precision`` P (decimal digits kept), any real value is
  scaled by 10^P and rounded half to even: ``encode(Decimal("1.2345"), 3)``
  stores 1234 with base 10 and exponent -3.  Decimal, Fraction and integer
  inputs are scaled exactly before the single rounding step.
* Without a precision, a ``float`` is encoded exactly in base 16 (phe's base),
  with the exponent that makes its lowest significant bit an integer, so that
  0.1 is the binary double nearest 0.1 and 2**-965 keeps all its bits.  A
  ``Decimal`` is encoded exactly in base 10 with its own exponent, and a
  ``Fraction`` exactly in base 10 when its denominator divides a power of ten.

Decoding returns an ``int`` for exponent >= 0, a ``Decimal`` (exact) for base 10
and a ``float`` (correctly rounded from the exact fraction) for base 16.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from agile.errors import InvalidArgument, PlaintextOverflow

__all__ = [
    "DECIMAL_BASE",
    "FLOAT_BASE",
    "MAX_PRECISION",
    "MAX_EXPONENT",
    "EncodedNumber",
    "encode",
    "check_precision",
    "brief_repr",
]

#: Base of encodings with an explicit decimal precision, and of Decimal values.
DECIMAL_BASE = 10
#: Base of exact float encodings; phe 1.5 uses 16 too, so these cross to phe unchanged.
FLOAT_BASE = 16
#: Largest accepted precision: 10^600 still leaves room in a 2048-bit plaintext.
MAX_PRECISION = 600
#: Largest |exponent| of an encoding.  Rescaling or decoding costs base^|exponent|, so
#: a Decimal that needs more (Decimal("1e-99999999")) or a file that names more is
#: rejected instead of hanging.
MAX_EXPONENT = 20_000
#: Integer digits above which a Decimal fits no Paillier plaintext, because a 4096-bit
#: n has about 1233 digits.  Such a Decimal is rejected before 10^exponent is computed.
_MAX_INTEGER_DIGITS = 1300
_FLOAT_MANTISSA_BITS = 53
#: Maximum length of a repr quoted in an error message.
_MAX_REPR = 100
#: Integers above this many bits (about 90 decimal digits) are quoted by their size.
_MAX_REPR_BITS = 300


def brief_repr(value: Any) -> str:
    """Return repr(value) cut to about 100 characters, for error messages.

    An integer of more than 4300 digits has no repr at all in CPython 3.11 (its str() raises
    ValueError), so large integers are described by their bit length instead.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        bits = int(value).bit_length()
        if bits > _MAX_REPR_BITS:
            return f"<{'negative ' if value < 0 else ''}{bits}-bit integer>"
    try:
        # A number read from a file or a command line is shown as written, not as
        # Decimal('1.5'); other values (strings, containers) keep their repr.
        text = str(value) if isinstance(value, Decimal | Fraction) else repr(value)
    except ValueError:  # a Fraction or a container holding such an integer
        return f"<{type(value).__name__} too large to print>"
    if len(text) > _MAX_REPR:
        return f"{text[:_MAX_REPR]}... ({len(text)} characters)"
    return text


@dataclass(frozen=True, slots=True)
class EncodedNumber:
    """A signed integer mantissa with an exponent: the value is mantissa * base**exponent."""

    mantissa: int
    exponent: int = 0
    base: int = DECIMAL_BASE

    def to_fraction(self) -> Fraction:
        """Return the exact value."""
        if self.exponent >= 0:
            return Fraction(self.mantissa * self.base**self.exponent)
        return Fraction(self.mantissa, self.base**-self.exponent)

    def decode(self) -> int | float | Decimal:
        """Return an int (exponent >= 0), an exact Decimal (base 10) or a float (base 16)."""
        if self.exponent >= 0:
            return self.mantissa * self.base**self.exponent
        if self.base == DECIMAL_BASE:
            digits = tuple(int(d) for d in str(abs(self.mantissa)))
            return Decimal((int(self.mantissa < 0), digits, self.exponent))
        try:
            return float(self.to_fraction())
        except OverflowError:
            raise PlaintextOverflow(
                f"decrypted value of {abs(self.mantissa).bit_length()}-bit mantissa and "
                f"exponent {self.exponent} exceeds the float range",
                fix="decrypt it exactly with decrypt_exact() to get a Fraction",
            ) from None


def check_precision(precision: Any) -> int:
    """Return ``precision`` as an int in [0, MAX_PRECISION], or raise InvalidArgument."""
    if isinstance(precision, bool) or not isinstance(precision, numbers.Integral):
        raise InvalidArgument(
            f"precision {precision!r} is not an integer",
            fix="pass the number of decimal digits to keep, for example precision=3",
        )
    digits = int(precision)
    if not 0 <= digits <= MAX_PRECISION:
        raise InvalidArgument(
            f"precision {digits} is out of range 0..{MAX_PRECISION}",
            fix="pass the number of decimal digits to keep, for example precision=3",
        )
    return digits


def encode(value: Any, precision: int | None = None) -> EncodedNumber:
    """Encode a number as the module docstring describes; raise InvalidArgument for non-numbers."""
    if precision is not None:
        digits = check_precision(precision)
        if isinstance(value, Decimal) and value.is_finite() and value:
            _check_decimal_size(value)
            if value.adjusted() < -(digits + 1):
                # |value| < 10^-(digits+1) < 0.5 * 10^-digits, so it rounds to zero.
                # Fraction(value) could cost 10^|exponent| to compute.
                return EncodedNumber(0, -digits, DECIMAL_BASE)

    exact = _exact_fraction(value)

    if precision is not None:
        # round() of a Fraction rounds half to even, the IEEE 754 default.
        return EncodedNumber(round(exact * 10**digits), -digits, DECIMAL_BASE)

    if exact.denominator == 1:
        return EncodedNumber(exact.numerator, 0, DECIMAL_BASE)
    if isinstance(value, float) or _is_numpy_float(value):
        return _encode_float(float(value))
    return _encode_decimal_fraction(exact, value)


def _exact_fraction(value: Any) -> Fraction:
    if isinstance(value, bool):
        raise InvalidArgument(
            f"{value!r} is a bool, not a number",
            fix="pass 1 or 0 if a count is meant",
        )
    if isinstance(value, numbers.Integral):
        return Fraction(operator.index(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidArgument(f"cannot encrypt {value}", fix="pass a finite number")
        if value:
            _check_decimal_size(value)
            if value.adjusted() < -MAX_EXPONENT:
                raise InvalidArgument(
                    f"{brief_repr(value)} needs a decimal exponent below -{MAX_EXPONENT}",
                    fix="pass precision= with the number of decimal digits to keep",
                )
        return Fraction(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidArgument(f"cannot encrypt {value}", fix="pass a finite number")
        return Fraction(number)
    raise InvalidArgument(
        f"cannot encrypt a {type(value).__name__}: {brief_repr(value)}",
        fix="pass an int, float, Decimal, Fraction or numpy number",
    )


def _check_decimal_size(value: Decimal) -> None:
    if value.adjusted() >= _MAX_INTEGER_DIGITS:
        raise PlaintextOverflow(
            f"{brief_repr(value)} has {value.adjusted() + 1} integer digits, more than the "
            f"{_MAX_INTEGER_DIGITS} that fit any Paillier plaintext",
            fix="check the input, or scale the values down before encrypting",
        )


def _is_numpy_float(value: Any) -> bool:
    return type(value).__module__ == "numpy" and isinstance(value, numbers.Real)


def _encode_float(number: float) -> EncodedNumber:
    # A double is m * 2^(e - 53) with |m| < 2^53 (frexp's e); 16^k with 4k <= e - 53
    # therefore turns it into an integer, exactly.  Subnormals only lower e further.
    binary_exponent = math.frexp(number)[1] - _FLOAT_MANTISSA_BITS
    exponent = math.floor(binary_exponent / 4)
    mantissa = Fraction(number) * Fraction(FLOAT_BASE) ** -exponent
    return EncodedNumber(int(mantissa), exponent, FLOAT_BASE)


def _encode_decimal_fraction(exact: Fraction, value: Any) -> EncodedNumber:
    denominator = exact.denominator
    twos = (denominator & -denominator).bit_length() - 1
    fives = 0
    rest = denominator >> twos
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    if rest != 1:
        raise InvalidArgument(
            f"{brief_repr(value)} has no exact decimal encoding",
            fix="pass precision= with the number of decimal digits to keep",
        )
    digits = max(twos, fives)
    return EncodedNumber(int(exact * 10**digits), -digits, DECIMAL_BASE)
