"""JSON and binary files of encrypted numbers and packed vectors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import he
from agile.errors import HomomorphicError, InvalidCiphertext
from he import serialize
from he.keys import PaillierPrivateKey, PaillierPublicKey
from he.packing import PackedVector, PackingScheme

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]
DUMPS = [serialize.dumps_json, serialize.dumps_binary]


@pytest.mark.parametrize("dump", DUMPS, ids=["json", "binary"])
def test_numbers_roundtrip(keypair: Keys, dump) -> None:  # type: ignore[no-untyped-def]
    public, private = keypair
    numbers = [public.encrypt(v) for v in (7, Decimal("-1.25"), 0.5)]
    loaded, shape = serialize.loads(dump(numbers, [2, 1]))
    assert shape == [2, 1]
    assert he.decrypt_batch(private, loaded) == [7, Decimal("-1.25"), 0.5]


@pytest.mark.parametrize("dump", DUMPS, ids=["json", "binary"])
def test_bounds_survive(public_key: PaillierPublicKey, dump) -> None:  # type: ignore[no-untyped-def]
    numbers = [public_key.encrypt(-99)]
    loaded, _ = serialize.loads(dump(numbers))
    assert loaded[0].bound == 99


@pytest.mark.parametrize("dump", DUMPS, ids=["json", "binary"])
def test_packed_roundtrip(keypair: Keys, dump) -> None:  # type: ignore[no-untyped-def]
    public, private = keypair
    vector = he.encrypt_vector(public, [1, -2, 3], PackingScheme(precision=2))
    loaded, _ = serialize.loads(dump(vector + vector))
    assert isinstance(loaded, PackedVector)
    assert loaded.terms == 2
    assert he.decrypt_vector(private, loaded) == [
        Decimal("2.00"),
        Decimal("-4.00"),
        Decimal("6.00"),
    ]


def test_binary_smaller_than_json(public_key: PaillierPublicKey) -> None:
    vector = he.encrypt_vector(public_key, list(range(100)))
    assert len(serialize.dumps_binary(vector)) < len(serialize.dumps_json(vector))


def test_wrong_key_rejected(public_key: PaillierPublicKey) -> None:
    other, _ = he.generate_keypair(2048)
    data = serialize.dumps_json([public_key.encrypt(1)])
    with pytest.raises(HomomorphicError, match="encrypted under key"):
        serialize.loads(data, other)


def _edit(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    document = json.loads(data)
    change(document)
    return json.dumps(document).encode()


def test_unknown_version(public_key: PaillierPublicKey) -> None:
    data = _edit(serialize.dumps_json([public_key.encrypt(1)]), lambda d: d.update(version=2))
    with pytest.raises(InvalidCiphertext, match="version"):
        serialize.loads(data)


def test_key_id_mismatch(public_key: PaillierPublicKey) -> None:
    data = _edit(serialize.dumps_json([public_key.encrypt(1)]), lambda d: d.update(key_id="00" * 8))
    with pytest.raises(InvalidCiphertext, match="key id"):
        serialize.loads(data)


def test_ciphertext_out_of_range(public_key: PaillierPublicKey) -> None:
    big = format(public_key.nsquare + 1, "x")
    data = _edit(
        serialize.dumps_json([public_key.encrypt(1)]),
        lambda d: d["numbers"][0].update(ciphertext=big),
    )
    with pytest.raises(InvalidCiphertext, match="out of range"):
        serialize.loads(data)


def test_ciphertext_shares_factor(keypair: Keys) -> None:
    public, private = keypair
    bad = format(private.p * 3, "x")
    data = _edit(
        serialize.dumps_json([public.encrypt(1)]), lambda d: d["numbers"][0].update(ciphertext=bad)
    )
    with pytest.raises(InvalidCiphertext, match="shares a factor"):
        serialize.loads(data)


def test_truncated_binary(public_key: PaillierPublicKey) -> None:
    data = serialize.dumps_binary([public_key.encrypt(1)])
    with pytest.raises(InvalidCiphertext):
        serialize.loads(data[:-1])


def test_not_json() -> None:
    with pytest.raises(InvalidCiphertext):
        serialize.loads(b"hello")


def test_shape_mismatch(public_key: PaillierPublicKey) -> None:
    # The writer rejects such a shape, so the file is edited after writing.
    data = _edit(serialize.dumps_json([public_key.encrypt(1)], [1]), lambda d: d.update(shape=[2]))
    with pytest.raises(InvalidCiphertext, match="shape"):
        serialize.loads(data)


def test_packed_terms_over_declared(public_key: PaillierPublicKey) -> None:
    vector = he.encrypt_vector(public_key, [1], PackingScheme(max_additions=1))
    data = _edit(serialize.dumps_json(vector), lambda d: d.update(terms=5))
    from agile.errors import PlaintextOverflow

    with pytest.raises(PlaintextOverflow):
        serialize.loads(data)


def _tampered_numbers(public_key: PaillierPublicKey, change) -> bytes:  # type: ignore[no-untyped-def]
    document = json.loads(serialize.dumps_json([public_key.encrypt(5), public_key.encrypt(7)]))
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize("exponent", [10**11, -(10**11), 5_000_000, 1.7, True])
def test_tampered_exponent_rejected(public_key: PaillierPublicKey, exponent) -> None:  # type: ignore[no-untyped-def]
    data = _tampered_numbers(public_key, lambda d: d["numbers"][0].update(exponent=exponent))
    with pytest.raises(InvalidCiphertext, match="exponent"):
        serialize.loads(data)


def test_empty_numbers_rejected(public_key: PaillierPublicKey) -> None:
    data = _tampered_numbers(public_key, lambda d: d.update(numbers=[]))
    with pytest.raises(InvalidCiphertext, match="empty"):
        serialize.loads(data)


def test_negative_bound_rejected(public_key: PaillierPublicKey) -> None:
    data = _tampered_numbers(public_key, lambda d: d["numbers"][0].update(bound="-1"))
    with pytest.raises(InvalidCiphertext, match="negative"):
        serialize.loads(data)


def test_negative_modulus_rejected(public_key: PaillierPublicKey) -> None:
    data = _tampered_numbers(public_key, lambda d: d.update(n="-5"))
    with pytest.raises(InvalidCiphertext, match="negative"):
        serialize.loads(data)


def test_deeply_nested_json_rejected() -> None:
    with pytest.raises(InvalidCiphertext):
        serialize.loads(b"[" * 100_000)


def test_newer_version_message_kept(public_key: PaillierPublicKey) -> None:
    data = _tampered_numbers(public_key, lambda d: d.update(version=2))
    with pytest.raises(InvalidCiphertext, match="unsupported agile-he version 2") as caught:
        serialize.loads(data)
    assert "upgrade agile" in (caught.value.fix or "")


@pytest.mark.parametrize("dump", DUMPS, ids=["json", "binary"])
def test_computed_number_rerandomized(keypair: Keys, dump) -> None:  # type: ignore[no-untyped-def]
    public, private = keypair
    computed = public.encrypt(5) + 7
    (loaded,), _ = serialize.loads(dump([computed]))
    assert loaded.ciphertext != computed.ciphertext
    assert private.decrypt(loaded) == 12


def test_fresh_number_written_unchanged(public_key: PaillierPublicKey) -> None:
    number = public_key.encrypt(5)
    (loaded,), _ = serialize.loads(serialize.dumps_json([number]))
    assert loaded.ciphertext == number.ciphertext
