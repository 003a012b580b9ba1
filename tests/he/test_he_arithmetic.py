"""Homomorphic operations, the overflow budget, aggregates, batches, pools and DJN masks."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

import he
from agile.errors import HomomorphicError, InvalidArgument, PlaintextOverflow
from he.ciphertext import EncryptedNumber
from he.keys import PaillierPrivateKey, PaillierPublicKey

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]


def test_add_integers(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(20) + public.encrypt(22)) == 42


def test_add_negative(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(-50) + public.encrypt(8)) == -42


def test_add_plaintext(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(40) + 2) == 42


def test_add_integer_to_float(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(0.25) + 2) == 2.25


def test_add_integer_to_float_encrypted(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(0.25) + public.encrypt(2)) == 2.25


def test_add_plaintext_to_precision(keypair: Keys) -> None:
    public, private = keypair
    result = private.decrypt(public.encrypt(Decimal("1.25"), precision=2) + 0.5)
    assert result == Decimal("1.75")


def test_subtract(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(50) - public.encrypt(8)) == 42


def test_rsub_plaintext(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(50 - public.encrypt(8)) == 42


def test_scalar_multiply(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(-6) * 7) == -42


def test_scalar_multiply_decimal(keypair: Keys) -> None:
    public, private = keypair
    result = private.decrypt(public.encrypt(Decimal("2.5")) * Decimal("0.5"))
    assert result == Decimal("1.25")


def test_multiply_two_ciphertexts(public_key: PaillierPublicKey) -> None:
    with pytest.raises(HomomorphicError):
        public_key.encrypt(2) * public_key.encrypt(3)


def test_mixed_bases_rejected(public_key: PaillierPublicKey) -> None:
    with pytest.raises(HomomorphicError, match="base"):
        public_key.encrypt(0.5) + public_key.encrypt(Decimal("0.5"))


def test_different_keys_rejected(public_key: PaillierPublicKey) -> None:
    other, _ = he.generate_keypair(2048)
    with pytest.raises(HomomorphicError, match="cannot be combined"):
        public_key.encrypt(1) + other.encrypt(1)


def test_budget_scalar_overflow(public_key: PaillierPublicKey) -> None:
    big = public_key.encrypt(public_key.max_int // 2)
    with pytest.raises(PlaintextOverflow):
        big * 3


def test_budget_sum_overflow(public_key: PaillierPublicKey) -> None:
    big = public_key.encrypt(public_key.max_int // 2 + 1)
    with pytest.raises(PlaintextOverflow):
        big + big


def test_budget_total_overflow(public_key: PaillierPublicKey) -> None:
    big = public_key.encrypt(public_key.max_int // 3 + 1)
    with pytest.raises(PlaintextOverflow):
        he.total([big, big, big])


def test_encode_too_large(public_key: PaillierPublicKey) -> None:
    with pytest.raises(PlaintextOverflow):
        public_key.encrypt(public_key.max_int + 1)


def test_wrapped_value_detected(keypair: Keys) -> None:
    public, private = keypair
    # A ciphertext of n/2 without a bound, as phe or a forger could hand over.
    forged = EncryptedNumber(public, public.raw_encrypt(public.n // 2), 0, 10, None)
    with pytest.raises(PlaintextOverflow, match="overflow gap"):
        private.decrypt(forged)


def test_wrong_key_decrypt(keypair: Keys) -> None:
    public, _ = keypair
    _, other = he.generate_keypair(2048)
    with pytest.raises(HomomorphicError):
        other.decrypt(public.encrypt(1))


def test_total_many(keypair: Keys) -> None:
    public, private = keypair
    values = list(range(-50, 150))
    pool = he.RandomnessPool(public, private_key=private)
    numbers = he.encrypt_batch(public, values, pool=pool)
    assert private.decrypt(he.total(numbers)) == sum(values)


def test_total_mixed_exponents(keypair: Keys) -> None:
    public, private = keypair
    values = [Decimal("1.5"), 2, Decimal("0.125"), -3]
    result = private.decrypt(he.total([public.encrypt(v) for v in values]))
    assert result == Decimal("0.625")


def test_total_empty() -> None:
    with pytest.raises(InvalidArgument):
        he.total([])


def test_mean_exact(keypair: Keys) -> None:
    public, private = keypair
    numbers = [public.encrypt(v) for v in (1, 2, 4)]
    assert private.decrypt(he.mean(numbers)) == Fraction(7, 3)


def test_weighted_total(keypair: Keys) -> None:
    public, private = keypair
    numbers = [public.encrypt(v) for v in (10, 20, 30)]
    assert private.decrypt(he.weighted_total(numbers, [1, -2, 3])) == 60


def test_weighted_total_length_mismatch(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument):
        he.weighted_total([public_key.encrypt(1)], [1, 2])


def test_elementwise_total(keypair: Keys) -> None:
    public, private = keypair
    rows = [[public.encrypt(v) for v in row] for row in ([1, 2], [10, 20], [100, 200])]
    totals = he.elementwise_total(rows)
    assert he.decrypt_batch(private, totals) == [111, 222]


def test_elementwise_ragged(public_key: PaillierPublicKey) -> None:
    rows = [[public_key.encrypt(1)], [public_key.encrypt(1), public_key.encrypt(2)]]
    with pytest.raises(HomomorphicError):
        he.elementwise_total(rows)


def test_batch_workers(keypair: Keys) -> None:
    public, private = keypair
    values = list(range(40))
    numbers = he.encrypt_batch(public, values, workers=2)
    assert he.decrypt_batch(private, numbers) == values


def test_pool_masks_used_once(public_key: PaillierPublicKey) -> None:
    pool = he.RandomnessPool(public_key)
    pool.fill(3)
    masks = [pool.take() for _ in range(3)]
    assert len(set(int(m) for m in masks)) == 3
    assert len(pool) == 0


def test_pool_wrong_private_key(public_key: PaillierPublicKey) -> None:
    _, other = he.generate_keypair(2048)
    with pytest.raises(InvalidArgument):
        he.RandomnessPool(public_key, private_key=other)


def test_djn_encrypt_decrypt() -> None:
    public, private = he.generate_keypair(2048, djn=True)
    pool = he.RandomnessPool(public, djn=True)
    numbers = he.encrypt_batch(public, [5, -7, 11], pool=pool)
    assert private.decrypt(he.total(numbers)) == 9


def test_djn_needs_base(public_key: PaillierPublicKey) -> None:
    from agile.errors import InvalidKey

    with pytest.raises(InvalidKey):
        he.RandomnessPool(public_key, djn=True)
