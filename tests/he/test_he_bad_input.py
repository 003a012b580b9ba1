"""Bad input to the library and to the file readers: a specific AgileError, never a crash."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import he
from agile.errors import (
    AgileError,
    HomomorphicError,
    InvalidArgument,
    InvalidCiphertext,
    InvalidKey,
    PlaintextOverflow,
)
from he import packing, serialize
from he.encoding import brief_repr
from he.keys import PaillierPrivateKey, PaillierPublicKey
from he.packing import PackedVector, PackingScheme

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]


def test_huge_integer_overflow(public_key: PaillierPublicKey) -> None:
    # CPython's repr() of an int of more than 4300 digits raises ValueError.
    with pytest.raises(PlaintextOverflow, match="bit integer"):
        public_key.encrypt(10**5000)


def test_huge_integer_slot_overflow(public_key: PaillierPublicKey) -> None:
    with pytest.raises(PlaintextOverflow, match="bit integer"):
        he.encrypt_vector(public_key, [10**5000])


def test_brief_repr_huge_fraction() -> None:
    from fractions import Fraction

    assert brief_repr(Fraction(10**5000, 3)) == "<Fraction too large to print>"


def test_brief_repr_long_text() -> None:
    assert len(brief_repr("x" * 5000)) < 130


@pytest.mark.parametrize("r", [1.5, "7", True], ids=["float", "str", "bool"])
def test_randomness_not_integer(public_key: PaillierPublicKey, r: Any) -> None:
    with pytest.raises(InvalidArgument, match="must be an integer"):
        public_key.encrypt(5, r=r)


def test_randomness_one(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="plaintext readable"):
        public_key.encrypt(5, r=1)


def test_randomness_n_minus_one(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="plaintext readable"):
        public_key.encrypt(5, r=public_key.n - 1)


@pytest.mark.parametrize("mask", [0, 1, -1], ids=["zero", "one", "negative"])
def test_mask_out_of_range(public_key: PaillierPublicKey, mask: int) -> None:
    with pytest.raises(InvalidArgument, match="out of range"):
        he.encrypt(public_key, 5, mask=mask)


def test_mask_minus_one(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="out of range"):
        he.encrypt(public_key, 5, mask=public_key.nsquare - 1)


def test_mask_shares_factor(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="shares a factor"):
        he.encrypt(private_key.public_key, 5, mask=private_key.p)


def test_given_mask_decrypts(keypair: Keys) -> None:
    public, private = keypair
    assert private.decrypt(he.encrypt(public, 5, mask=public.mask())) == 5


def test_ciphertext_not_integer(private_key: PaillierPrivateKey) -> None:
    number = he.EncryptedNumber(private_key.public_key, "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidCiphertext, match="must be an integer"):
        private_key.decrypt(number)


def test_negative_scalar_factor(private_key: PaillierPrivateKey) -> None:
    number = he.EncryptedNumber(private_key.public_key, private_key.p)
    with pytest.raises(InvalidCiphertext, match="negative scalar"):
        number * -1


def test_keygen_float_bits() -> None:
    with pytest.raises(InvalidArgument, match="unsupported Paillier size"):
        he.generate_keypair(2048.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [0, -3], ids=["zero", "negative"])
def test_workers_below_one(public_key: PaillierPublicKey, workers: int) -> None:
    with pytest.raises(InvalidArgument, match="workers"):
        he.encrypt_batch(public_key, range(20), workers=workers)


def test_take_many_negative(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="mask count"):
        he.RandomnessPool(public_key).take_many(-1)


def test_packed_plus_int(public_key: PaillierPublicKey) -> None:
    vector = he.encrypt_vector(public_key, [1, 2])
    with pytest.raises(TypeError):
        vector + 1  # type: ignore[operator]


def test_packed_total_non_vector(public_key: PaillierPublicKey) -> None:
    vector = he.encrypt_vector(public_key, [1, 2])
    with pytest.raises(InvalidArgument, match="PackedVector"):
        packing.total([vector, 1])  # type: ignore[list-item]


@pytest.mark.parametrize("length", [-5, 2.5, True], ids=["negative", "float", "bool"])
def test_packed_bad_length(public_key: PaillierPublicKey, length: Any) -> None:
    with pytest.raises(HomomorphicError, match="length"):
        PackedVector(public_key, (), length, PackingScheme())


def test_public_bytes_as_private(public_key: PaillierPublicKey) -> None:
    # p || q and n have the same size, so the error points at the likely mix-up.
    with pytest.raises(InvalidKey, match="public key"):
        PaillierPrivateKey.from_bytes(public_key.to_bytes(), 2048)


@pytest.fixture(scope="module")
def packed_document(public_key: PaillierPublicKey) -> dict[str, Any]:
    vector = he.encrypt_vector(public_key, [1, 2, 3])
    return json.loads(serialize.dumps_json(vector, [3]))  # type: ignore[no-any-return]


def _tamper(document: dict[str, Any], path: tuple[str, ...], value: Any) -> bytes:
    copy = json.loads(json.dumps(document))
    target = copy
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    return json.dumps(copy).encode()


TAMPERED = {
    "terms-infinity": (("terms",), float("inf")),
    "length-infinity": (("length",), float("inf")),
    "length-float": (("length",), 3.7),
    "length-string": (("length",), "3"),
    "terms-bool": (("terms",), True),
    "version-bool": (("version",), True),
    "value-bits-float": (("scheme", "value_bits"), 64.9),
    "precision-infinity": (("scheme", "precision"), float("inf")),
    "ciphertexts-dict": (("ciphertexts",), {"a": "b"}),
    "shape-bool": (("shape",), [True, True, True]),
}


@pytest.mark.parametrize("case", list(TAMPERED), ids=list(TAMPERED))
def test_tampered_field(packed_document: dict[str, Any], case: str) -> None:
    path, value = TAMPERED[case]
    with pytest.raises(AgileError):
        serialize.loads(_tamper(packed_document, path, value))


@pytest.mark.parametrize("prefix", ["0x", " ", "+"], ids=["0x", "space", "plus"])
def test_modulus_not_plain_hex(packed_document: dict[str, Any], prefix: str) -> None:
    data = _tamper(packed_document, ("n",), prefix + packed_document["n"])
    with pytest.raises(InvalidCiphertext, match="hexadecimal digits"):
        serialize.loads(data)


def test_ciphertext_underscore(packed_document: dict[str, Any]) -> None:
    text = packed_document["ciphertexts"][0]
    data = _tamper(packed_document, ("ciphertexts",), [text[:8] + "_" + text[8:]])
    with pytest.raises(InvalidCiphertext, match="hexadecimal digits"):
        serialize.loads(data)


def test_bound_without_prefix(public_key: PaillierPublicKey) -> None:
    document = json.loads(serialize.dumps_json([public_key.encrypt(3)]))
    document["numbers"][0]["bound"] = "3"
    with pytest.raises(InvalidCiphertext, match="bound"):
        serialize.loads(json.dumps(document))


def test_numbers_not_objects(public_key: PaillierPublicKey) -> None:
    document = json.loads(serialize.dumps_json([public_key.encrypt(3)]))
    document["numbers"] = [1]
    with pytest.raises(InvalidCiphertext, match="list of objects"):
        serialize.loads(json.dumps(document))


def test_modulus_small_factor() -> None:
    # 2^2048 - 1 is odd, 2048 bits and not a square, but 3 divides it.
    with pytest.raises(InvalidKey, match="not an odd product of two primes"):
        PaillierPublicKey.from_bytes(b"\xff" * 256, 2048)


@pytest.mark.parametrize("form", ["pem", "bogus"])
def test_provider_private_form(private_key: PaillierPrivateKey, form: str) -> None:
    from he.provider import implementations

    implementation = implementations()[0]
    with pytest.raises(InvalidKey, match=f"not '{form}'"):
        implementation.load_private(private_key.to_bytes(), form)


def test_provider_public_not_bytes() -> None:
    from he.provider import implementations

    with pytest.raises(InvalidKey, match="must be bytes"):
        implementations()[0].load_public("abc")  # type: ignore[arg-type]


def test_plain_addition_reveals_addend(public_key: PaillierPublicKey) -> None:
    # Without rerandomize(), c' / c = 1 + m*n mod n^2 shows the plaintext that was added.
    x = public_key.encrypt(5)
    added = x + 7
    ratio = added.ciphertext * pow(int(x.ciphertext), -1, int(public_key.nsquare))
    assert ratio % public_key.nsquare == 1 + 7 * public_key.n
    hidden = added.rerandomize()
    ratio = hidden.ciphertext * pow(int(x.ciphertext), -1, int(public_key.nsquare))
    assert ratio % public_key.nsquare != 1 + 7 * public_key.n


def test_rerandomize_keeps_value(keypair: Keys) -> None:
    public, private = keypair
    number = public.encrypt(-3) * 4
    assert private.decrypt(number.rerandomize(he.RandomnessPool(public))) == -12


def test_rerandomize_vector_keeps_values(keypair: Keys) -> None:
    public, private = keypair
    vector = he.encrypt_vector(public, [1, -2, 3])
    fresh = vector.rerandomize()
    assert fresh.ciphertexts != vector.ciphertexts
    assert he.decrypt_vector(private, fresh) == [1, -2, 3]


def test_rerandomize_wrong_pool(public_key: PaillierPublicKey) -> None:
    other, _ = he.generate_keypair(2048)
    with pytest.raises(InvalidArgument, match="randomness pool"):
        public_key.encrypt(1).rerandomize(he.RandomnessPool(other))


def test_float_added_to_tiny_decimal(public_key: PaillierPublicKey) -> None:
    tiny = public_key.encrypt(Decimal("1e-650"))
    with pytest.raises(InvalidArgument, match="650 decimals"):
        tiny + 0.5
