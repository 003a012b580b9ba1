"""Encrypted numbers: homomorphic addition and scalar multiplication with an overflow budget.

An :class:`EncryptedNumber` is a Paillier ciphertext of an encoded mantissa
(see :mod:`he.encoding`) plus its exponent, base and ``bound``, the largest
magnitude the mantissa can have given how it was produced.  Every operation
updates the bound, and an operation whose result could exceed the key's
``max_int`` (n/3) raises :class:`agile.errors.PlaintextOverflow` at once, before
anything wraps modulo n.  Ciphertexts imported without a bound (``bound=None``)
skip that check.  Their decryption still rejects any value in the middle third
of [0, n), because a wrapped result lands there.

Adding numbers of different exponents scales the one with the larger exponent
down first (one exponentiation).  Numbers with exponent 0 mix with either base;
two non-zero exponents must share their base.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gmpy2 import mpz

from agile.errors import (
    HomomorphicError,
    InvalidArgument,
    PlaintextOverflow,
)

from .encoding import (
    DECIMAL_BASE,
    FLOAT_BASE,
    MAX_EXPONENT,
    MAX_PRECISION,
    EncodedNumber,
    brief_repr,
    encode,
)
from .keys import (
    PaillierPrivateKey,
    PaillierPublicKey,
    check_decryption_key,
    check_private_key,
    check_public_key,
    check_same_key,
)

if TYPE_CHECKING:
    from .engine import RandomnessPool

__all__ = [
    "EncryptedNumber",
    "EncryptedQuotient",
    "encrypt",
    "encrypt_batch",
    "decrypt",
    "decrypt_batch",
    "decrypt_exact",
]

log = logging.getLogger("agile.he")


def _check_budget(public_key: PaillierPublicKey, bound: int | None, operation: str) -> None:
    if bound is not None and bound > public_key.max_int:
        raise PlaintextOverflow(
            f"{operation} could reach a {bound.bit_length()}-bit magnitude, above the "
            f"{public_key.max_int.bit_length()}-bit plaintext limit of key {public_key.key_id}",
            fix="aggregate fewer values, lower the precision or use a larger key",
        )


@dataclass(frozen=True, eq=False, slots=True)
class EncryptedNumber:
    """A ciphertext of mantissa * base**exponent under ``public_key``."""

    public_key: PaillierPublicKey
    ciphertext: mpz
    exponent: int = 0
    base: int = DECIMAL_BASE
    #: Largest possible |mantissa|, or None when unknown (imported without one).
    bound: int | None = None
    #: False when the ciphertext was computed from other ciphertexts or scalars without a
    #: new mask.  The he.serialize writers rerandomize such numbers before they write them.
    fresh: bool = True

    def __post_init__(self) -> None:
        # A number built by hand gets the checks of a file loader: a huge exponent would
        # hang decoding, and a negative bound would let a sum wrap past the overflow check.
        check_public_key(self.public_key)
        exponent = self.exponent
        if isinstance(exponent, bool) or not isinstance(exponent, int):
            raise InvalidArgument(
                f"exponent {brief_repr(exponent)} is not an integer",
                fix="pass the exponent that he.encrypt or he.serialize.loads gave",
            )
        if abs(exponent) > MAX_EXPONENT:
            raise InvalidArgument(
                f"exponent {brief_repr(exponent)} is outside -{MAX_EXPONENT}..{MAX_EXPONENT}",
                fix="lower the precision or the number of products with fractional scalars",
            )
        if self.base not in (DECIMAL_BASE, FLOAT_BASE) or isinstance(self.base, bool):
            raise InvalidArgument(
                f"encoding base {brief_repr(self.base)} is neither 10 nor 16",
                fix="pass the base that he.encrypt or he.serialize.loads gave",
            )
        bound = self.bound
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, int | mpz) or bound < 0
        ):
            raise InvalidArgument(
                f"bound {brief_repr(bound)} is not a non-negative integer or None",
                fix="pass the bound that he.encrypt or he.serialize.loads gave, or None if unknown",
            )

    # Alignment of exponents.

    def decrease_exponent_to(self, exponent: int) -> EncryptedNumber:
        """Return the same value with a lower exponent (the mantissa grows by base^difference)."""
        if exponent > self.exponent:
            raise InvalidArgument(
                f"new exponent {exponent} is above the current {self.exponent}",
                fix="an exponent can only be lowered",
            )
        if exponent == self.exponent:
            return self
        factor = self.base ** (self.exponent - exponent)
        bound = None if self.bound is None else self.bound * factor
        _check_budget(self.public_key, bound, "rescaling")
        return replace(
            self,
            ciphertext=self.public_key.raw_multiply(self.ciphertext, factor),
            exponent=exponent,
            bound=bound,
            fresh=False,
        )

    def _common_base(self, other_exponent: int, other_base: int) -> int:
        if self.exponent == 0:
            return other_base
        if other_exponent == 0 or other_base == self.base:
            return self.base
        raise HomomorphicError(
            f"cannot combine a base-{self.base} encoding (exponent {self.exponent}) with a "
            f"base-{other_base} one (exponent {other_exponent})",
            fix="encode all operands the same way: all with precision=P, or all as floats",
        )

    def _rebased(self, base: int) -> EncryptedNumber:
        return self if self.base == base else replace(self, base=base)

    def rerandomize(self, pool: RandomnessPool | None = None) -> EncryptedNumber:
        """Return the same value under a fresh mask (from ``pool``, else computed now).

        Results of ``x * k`` and ``x + plaintext`` are computed from their inputs
        without fresh randomness, so anyone who saw x can test a guess of k or read the
        plaintext that was added (c' / c = 1 + m*n mod n^2).  Rerandomize such a
        result before it goes to a party that saw the inputs.
        """
        mask = _fresh_masks(self.public_key, pool, 1)[0]
        ciphertext = self.ciphertext * mask % self.public_key.nsquare
        return replace(self, ciphertext=ciphertext, fresh=True)

    # Arithmetic.

    def __add__(self, other: Any) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            return self._add_encrypted(other)
        return self._add_plain(other)

    __radd__ = __add__

    def __neg__(self) -> EncryptedNumber:
        return self * -1

    def __sub__(self, other: Any) -> EncryptedNumber:
        return self + (-other)

    def __rsub__(self, other: Any) -> EncryptedNumber:
        return (-self) + other

    def __mul__(self, scalar: Any) -> EncryptedNumber:
        if isinstance(scalar, EncryptedNumber):
            raise HomomorphicError(
                "Paillier cannot multiply two ciphertexts",
                fix="multiply a ciphertext by a plaintext scalar only",
            )
        encoded = encode(scalar)
        base = self._common_base(encoded.exponent, encoded.base)
        bound = None if self.bound is None else self.bound * abs(encoded.mantissa)
        _check_budget(self.public_key, bound, "the product")
        return EncryptedNumber(
            self.public_key,
            self.public_key.raw_multiply(self.ciphertext, encoded.mantissa),
            self.exponent + encoded.exponent,
            base,
            bound,
            fresh=False,
        )

    __rmul__ = __mul__

    def __truediv__(self, divisor: Any) -> EncryptedQuotient:
        """Divide by a plaintext number exactly: the quotient decrypts to a Fraction.

        Paillier has no division, so the divisor stays in the clear beside the
        ciphertext, as for a mean.  A Fraction, Decimal or float divisor a/b
        multiplies the ciphertext by b and keeps a.
        """
        return EncryptedQuotient(self, 1) / divisor

    def _add_encrypted(self, other: EncryptedNumber) -> EncryptedNumber:
        check_same_key(self.public_key, other.public_key)
        base = self._common_base(other.exponent, other.base)
        left, right = self._rebased(base), other._rebased(base)
        exponent = min(left.exponent, right.exponent)
        left, right = left.decrease_exponent_to(exponent), right.decrease_exponent_to(exponent)
        bound = None
        if left.bound is not None and right.bound is not None:
            bound = left.bound + right.bound
        _check_budget(self.public_key, bound, "the sum")
        return EncryptedNumber(
            self.public_key,
            self.public_key.raw_add(left.ciphertext, right.ciphertext),
            exponent,
            base,
            bound,
            fresh=False,
        )

    def _add_plain(self, value: Any) -> EncryptedNumber:
        encoded = encode(value)
        mixed = encoded.exponent != 0 and self.exponent < 0 and encoded.base != self.base
        if mixed and self.base == DECIMAL_BASE:
            # A float added to a base-10 number with decimals is rounded, half to even, to those
            # decimals.  Exact plaintexts (int, Decimal, Fraction) are aligned without rounding.
            if -self.exponent > MAX_PRECISION:
                raise InvalidArgument(
                    f"cannot add the float {brief_repr(value)} to a decimal number with "
                    f"{-self.exponent} decimals: floats are rounded to at most {MAX_PRECISION}",
                    fix="add the value as a Decimal, for example Decimal(str(value))",
                )
            encoded = encode(value, precision=-self.exponent)
        base = self._common_base(encoded.exponent, encoded.base)
        target = self._rebased(base)
        exponent = min(target.exponent, encoded.exponent)
        target = target.decrease_exponent_to(exponent)
        # An exponent-0 plaintext takes the ciphertext's base, so scale by the common base.
        mantissa = encoded.mantissa * base ** (encoded.exponent - exponent)
        bound = None if target.bound is None else target.bound + abs(mantissa)
        _check_budget(self.public_key, bound, "the sum")
        key = self.public_key
        # Adding a known plaintext needs no fresh mask: (1 + m*n) keeps the old randomness.
        plain = (1 + (mantissa % key.n) * key.n) % key.nsquare
        ciphertext = target.ciphertext * plain % key.nsquare
        return replace(target, ciphertext=ciphertext, bound=bound, fresh=False)


@dataclass(frozen=True, eq=False, slots=True)
class EncryptedQuotient:
    """An encrypted numerator with a plaintext divisor, as a mean is; decrypts to a Fraction."""

    numerator: EncryptedNumber
    divisor: int

    @property
    def public_key(self) -> PaillierPublicKey:
        """The public key of the numerator."""
        return self.numerator.public_key

    def __truediv__(self, divisor: Any) -> EncryptedQuotient:
        """Divide by a further plaintext number (see :meth:`EncryptedNumber.__truediv__`)."""
        exact = _exact_divisor(divisor)
        numerator = self.numerator if exact.denominator == 1 else self.numerator * exact.denominator
        return EncryptedQuotient(numerator, self.divisor * exact.numerator)


def _exact_divisor(divisor: Any) -> Fraction:
    """Return a plaintext divisor as a non-zero Fraction; raise InvalidArgument otherwise."""
    if isinstance(divisor, bool) or not isinstance(divisor, int | Fraction | Decimal | float):
        raise InvalidArgument(
            f"cannot divide an encrypted number by a {type(divisor).__name__}",
            fix="divide by a plaintext int, Fraction, Decimal or float",
        )
    try:
        exact = Fraction(divisor)
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"divisor {divisor!r} is not a finite number", fix="divide by a finite number"
        ) from None
    if exact == 0:
        raise InvalidArgument(
            "division of an encrypted number by zero", fix="divide by a non-zero number"
        )
    return exact


def _as_list(items: Any, name: str) -> list[Any]:
    """Return an iterable argument as a list, or raise InvalidArgument for a non-iterable."""
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise InvalidArgument(
            f"{name} must be a list or another iterable, not {type(items).__name__}",
            fix=f"pass the {name} as a list",
        )
    return list(items)


def _fresh_masks(
    public_key: PaillierPublicKey, pool: RandomnessPool | None, count: int
) -> list[mpz]:
    """Return ``count`` fresh masks r^n mod n^2 of ``public_key``, from ``pool`` if given."""
    if pool is None:
        return [public_key.mask() for _ in range(count)]
    if pool.public_key != public_key:
        raise InvalidArgument(
            f"randomness pool of key {pool.public_key.key_id} used with key {public_key.key_id}",
            fix="use a pool made for this public key",
        )
    return pool.take_many(count)


def _mantissa_for(public_key: PaillierPublicKey, encoded: EncodedNumber, value: Any) -> int:
    if abs(encoded.mantissa) > public_key.max_int:
        bits = abs(encoded.mantissa).bit_length()
        raise PlaintextOverflow(
            f"value {brief_repr(value)} encodes to a {bits}-bit mantissa, above the "
            f"{public_key.max_int.bit_length()}-bit limit of key {public_key.key_id}",
            fix="lower the precision or use a larger key",
        )
    return encoded.mantissa % public_key.n


def encrypt(
    public_key: PaillierPublicKey,
    value: Any,
    precision: int | None = None,
    *,
    r: int | None = None,
    mask: int | None = None,
) -> EncryptedNumber:
    """Encrypt one number, checking a caller-given ``r`` or ``mask`` (a ready r^n) first."""
    if r is not None and mask is not None:
        raise InvalidArgument("pass r or mask, not both", fix="drop one of them")
    check_public_key(public_key)
    encoded = encode(value, precision)
    plaintext = _mantissa_for(public_key, encoded, value)
    mask = public_key.mask(r) if mask is None else public_key.check_mask(mask)
    return EncryptedNumber(
        public_key,
        public_key.raw_encrypt(plaintext, mask),
        encoded.exponent,
        encoded.base,
        abs(encoded.mantissa),
    )


def encrypt_batch(
    public_key: PaillierPublicKey,
    values: Iterable[Any],
    precision: int | None = None,
    *,
    pool: RandomnessPool | None = None,
    workers: int | None = 1,
) -> list[EncryptedNumber]:
    """Encrypt many numbers, taking masks from ``pool`` and computing any shortfall in parallel."""
    from .engine import RandomnessPool

    check_public_key(public_key)
    items = _as_list(values, "values")
    encoded = [encode(value, precision) for value in items]
    plaintexts = [_mantissa_for(public_key, e, v) for e, v in zip(encoded, items, strict=True)]
    if pool is None:
        pool = RandomnessPool(public_key)
    elif pool.public_key != public_key:
        raise InvalidArgument(
            f"randomness pool of key {pool.public_key.key_id} used with key {public_key.key_id}",
            fix="use a pool made for this public key",
        )
    masks = pool.take_many(len(items), workers=workers)
    return [
        EncryptedNumber(
            public_key, public_key.raw_encrypt(m, r), e.exponent, e.base, abs(e.mantissa)
        )
        for m, r, e in zip(plaintexts, masks, encoded, strict=True)
    ]


def _signed(private_key: PaillierPrivateKey, value: mpz) -> int:
    public = private_key.public_key
    if value <= public.max_int:
        return int(value)
    if value >= public.n - public.max_int:
        return int(value - public.n)
    raise PlaintextOverflow(
        f"decrypted plaintext lies in the overflow gap of key {public.key_id}: the sum "
        "wrapped around n, or the ciphertext was not produced by honest additions",
        fix="aggregate fewer values or lower the precision, then encrypt again",
    )


def _decrypt_encoded(private_key: PaillierPrivateKey, number: EncryptedNumber) -> EncodedNumber:
    if not isinstance(number, EncryptedNumber):
        raise InvalidArgument(
            f"expected an EncryptedNumber, got {type(number).__name__}",
            fix="decrypt values produced by he.encrypt or loaded by he.serialize.loads",
        )
    check_private_key(private_key)
    check_decryption_key(number.public_key, private_key)
    value = private_key.raw_decrypt(number.ciphertext)
    return EncodedNumber(_signed(private_key, value), number.exponent, number.base)


def decrypt(
    private_key: PaillierPrivateKey, number: EncryptedNumber | EncryptedQuotient
) -> int | float | Decimal | Fraction:
    """Decrypt and decode; a quotient (a mean) decrypts to an exact Fraction."""
    if isinstance(number, EncryptedQuotient):
        return decrypt_exact(private_key, number)
    check_private_key(private_key)
    return _decrypt_encoded(private_key, number).decode()


def decrypt_exact(
    private_key: PaillierPrivateKey, number: EncryptedNumber | EncryptedQuotient
) -> Fraction:
    """Decrypt to the exact value as a Fraction, whatever the encoding; a quotient too."""
    if isinstance(number, EncryptedQuotient):
        return decrypt_exact(private_key, number.numerator) / number.divisor
    return _decrypt_encoded(private_key, number).to_fraction()


def decrypt_batch(
    private_key: PaillierPrivateKey, numbers: Sequence[EncryptedNumber | EncryptedQuotient]
) -> list[int | float | Decimal | Fraction]:
    """Decrypt many numbers with the CRT (one p- and one q-sized exponentiation each)."""
    return [decrypt(private_key, number) for number in numbers]
