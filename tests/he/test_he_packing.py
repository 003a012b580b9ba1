"""Packed vectors: slot layout, slot-wise sums, declared additions and overflow detection."""

from __future__ import annotations

from decimal import Decimal

import pytest

import he
from agile.errors import HomomorphicError, PlaintextOverflow
from he.keys import PaillierPrivateKey, PaillierPublicKey
from he.packing import PackedVector, PackingScheme

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]


def test_roundtrip_integers(keypair: Keys) -> None:
    public, private = keypair
    values = list(range(-30, 30))
    vector = he.encrypt_vector(public, values)
    assert he.decrypt_vector(private, vector) == values


def test_ciphertext_count(public_key: PaillierPublicKey) -> None:
    scheme = PackingScheme(value_bits=64, max_additions=2**20 - 1)
    vector = he.encrypt_vector(public_key, [1] * 100, scheme)
    assert scheme.slots(public_key) == 24
    assert len(vector.ciphertexts) == 5


def test_sum_with_decimals(keypair: Keys) -> None:
    public, private = keypair
    scheme = PackingScheme(precision=3)
    first = he.encrypt_vector(public, [Decimal("1.5"), -2, Decimal("0.001")], scheme)
    second = he.encrypt_vector(public, [Decimal("-0.5"), 7, Decimal("-0.002")], scheme)
    result = he.decrypt_vector(private, first + second)
    assert result == [Decimal("1.000"), Decimal("5.000"), Decimal("-0.001")]


def test_sum_extreme_values(keypair: Keys) -> None:
    public, private = keypair
    scheme = PackingScheme(value_bits=8, max_additions=3)
    low = he.encrypt_vector(public, [-128, 127], scheme)
    result = he.decrypt_vector(private, he.packing.total([low] * 4))
    assert result == [-512, 508]


def test_declared_additions_exceeded(public_key: PaillierPublicKey) -> None:
    scheme = PackingScheme(value_bits=8, max_additions=2)
    vector = he.encrypt_vector(public_key, [1, 2], scheme)
    with pytest.raises(PlaintextOverflow, match="declared"):
        he.packing.total([vector] * 4)


def test_value_too_wide(public_key: PaillierPublicKey) -> None:
    with pytest.raises(PlaintextOverflow, match="slot"):
        he.encrypt_vector(public_key, [128], PackingScheme(value_bits=8))


def test_precision_widens_value(public_key: PaillierPublicKey) -> None:
    with pytest.raises(PlaintextOverflow):
        he.encrypt_vector(public_key, [1], PackingScheme(value_bits=8, precision=3))


def test_tampered_slot_detected(keypair: Keys) -> None:
    public, private = keypair
    scheme = PackingScheme(value_bits=8, max_additions=3)
    vector = he.encrypt_vector(public, [1, 2], scheme)
    # 10-bit slots: adding 500 to slot 0 stays inside it but exceeds one 8-bit value.
    bump = public.raw_encrypt(500)
    tampered = PackedVector(
        public, (public.raw_add(vector.ciphertexts[0], bump),), 2, scheme, vector.terms
    )
    with pytest.raises(PlaintextOverflow):
        he.decrypt_vector(private, tampered)


def test_bits_above_slots_detected(keypair: Keys) -> None:
    public, private = keypair
    scheme = PackingScheme(value_bits=8, max_additions=0)
    vector = he.encrypt_vector(public, [1], scheme)
    bump = public.raw_encrypt(1 << (scheme.slots(public) * scheme.slot_bits))
    tampered = PackedVector(public, (public.raw_add(vector.ciphertexts[0], bump),), 1, scheme)
    with pytest.raises(PlaintextOverflow, match="above"):
        he.decrypt_vector(private, tampered)


def test_length_mismatch(public_key: PaillierPublicKey) -> None:
    first = he.encrypt_vector(public_key, [1, 2])
    second = he.encrypt_vector(public_key, [1, 2, 3])
    with pytest.raises(HomomorphicError):
        first + second


def test_scheme_mismatch(public_key: PaillierPublicKey) -> None:
    first = he.encrypt_vector(public_key, [1], PackingScheme(precision=1))
    second = he.encrypt_vector(public_key, [1], PackingScheme(precision=2))
    with pytest.raises(HomomorphicError):
        first + second


def test_slot_too_wide_for_key(public_key: PaillierPublicKey) -> None:
    from agile.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        PackingScheme(value_bits=1024, max_additions=2**1100).slots(public_key)


def test_workers_roundtrip(keypair: Keys) -> None:
    public, private = keypair
    values = list(range(600))
    vector = he.encrypt_vector(public, values, PackingScheme(value_bits=16), workers=2)
    assert he.decrypt_vector(private, vector) == values


def test_fold_total(keypair: Keys) -> None:
    public, private = keypair
    values = list(range(-500, 700))
    scheme = PackingScheme(value_bits=16, max_additions=1000)
    folded = he.packing.fold(he.encrypt_vector(public, values, scheme))
    assert len(folded.ciphertexts) == 1
    assert sum(he.decrypt_vector(private, folded)) == sum(values)


def test_fold_exceeds_additions(public_key: PaillierPublicKey) -> None:
    scheme = PackingScheme(value_bits=16, max_additions=2)
    vector = he.encrypt_vector(public_key, list(range(500)), scheme)
    with pytest.raises(PlaintextOverflow, match="folding"):
        he.packing.fold(vector)


def test_spare_slot_tampered(keypair: Keys) -> None:
    public, private = keypair
    scheme = PackingScheme(value_bits=8, max_additions=3)
    vector = he.encrypt_vector(public, [1], scheme)
    bump = public.raw_encrypt(1 << scheme.slot_bits)
    tampered = PackedVector(public, (public.raw_add(vector.ciphertexts[0], bump),), 1, scheme)
    with pytest.raises(PlaintextOverflow, match="spare slot"):
        he.decrypt_vector(private, tampered)


def test_numpy_array_roundtrip(keypair: Keys) -> None:
    numpy = pytest.importorskip("numpy", reason="numpy is in the test extra")
    public, private = keypair
    values = numpy.array([-5, 0, 2**40, 7], dtype=numpy.int64)
    vector = he.encrypt_vector(public, values, PackingScheme(precision=2))
    assert he.decrypt_vector(private, vector) == [int(v) for v in values]
