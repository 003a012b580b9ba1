"""Encrypted numbers built by hand with hostile fields: exponent, base, bound, key."""

from __future__ import annotations

from decimal import Decimal

import pytest

import he
from agile.errors import AgileError, InvalidArgument, InvalidKey, PlaintextOverflow
from he import PaillierPrivateKey, PaillierPublicKey


def test_huge_exponent_rejected(public_key: PaillierPublicKey) -> None:
    """Decoding 10 ** (10 ** 12) would never finish."""
    ciphertext = public_key.encrypt(5).ciphertext
    with pytest.raises(InvalidArgument, match="outside -20000..20000"):
        he.EncryptedNumber(public_key, ciphertext, exponent=-(10**12))


def test_float_exponent_rejected(public_key: PaillierPublicKey) -> None:
    ciphertext = public_key.encrypt(5).ciphertext
    with pytest.raises(InvalidArgument, match="not an integer"):
        he.EncryptedNumber(public_key, ciphertext, exponent=-1.5)  # type: ignore[arg-type]


def test_unknown_base_rejected(public_key: PaillierPublicKey) -> None:
    """Base 7 would decrypt 5 * 7^-1 to 0.714..., a value that was never encrypted."""
    ciphertext = public_key.encrypt(5).ciphertext
    with pytest.raises(InvalidArgument, match="neither 10 nor 16"):
        he.EncryptedNumber(public_key, ciphertext, exponent=-1, base=7)


def test_negative_bound_rejected(public_key: PaillierPublicKey) -> None:
    """A negative bound would let three values near n/3 sum past n and wrap silently."""
    ciphertext = public_key.encrypt(int(public_key.max_int)).ciphertext
    with pytest.raises(InvalidArgument, match="not a non-negative integer"):
        he.EncryptedNumber(public_key, ciphertext, bound=-1)


def test_honest_bound_catches_wrap(public_key: PaillierPublicKey) -> None:
    number = public_key.encrypt(int(public_key.max_int))
    with pytest.raises(PlaintextOverflow):
        he.total([number, number, number])


def test_public_key_type_rejected(private_key: PaillierPrivateKey) -> None:
    ciphertext = private_key.public_key.encrypt(5).ciphertext
    with pytest.raises(InvalidKey, match="expected a PaillierPublicKey, got str"):
        he.EncryptedNumber("key", ciphertext)  # type: ignore[arg-type]


def test_valid_fields_accepted(private_key: PaillierPrivateKey) -> None:
    number = private_key.public_key.encrypt(12)
    copy = he.EncryptedNumber(number.public_key, number.ciphertext, -1, 10, number.bound)
    assert private_key.decrypt(copy) == Decimal("1.2")


def test_modulus_float_rejected() -> None:
    """mpz(1.5) would silently make a key with n = 1."""
    with pytest.raises(InvalidKey, match="modulus n must be an integer, got float"):
        PaillierPublicKey(1.5)  # type: ignore[arg-type]


def test_modulus_text_rejected() -> None:
    with pytest.raises(InvalidKey, match="modulus n must be an integer, got str"):
        PaillierPublicKey("abc")  # type: ignore[arg-type]


def test_primes_text_rejected() -> None:
    with pytest.raises(InvalidKey, match="factor p must be an integer"):
        PaillierPrivateKey.from_primes("7", "11")  # type: ignore[arg-type]


def test_decrypt_with_public_key(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidKey, match="expected a PaillierPrivateKey"):
        he.decrypt(public_key, public_key.encrypt(1))  # type: ignore[arg-type]


def test_encrypt_with_private_key(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidKey, match="expected a PaillierPublicKey"):
        he.encrypt(private_key, 1)  # type: ignore[arg-type]


def test_pool_with_text_key() -> None:
    with pytest.raises(InvalidKey, match="got str"):
        he.RandomnessPool("key")  # type: ignore[arg-type]


def test_vector_key_text() -> None:
    with pytest.raises(InvalidKey, match="got str"):
        he.encrypt_vector("key", [1])  # type: ignore[arg-type]


def test_vector_scheme_text(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="scheme must be a PackingScheme"):
        he.encrypt_vector(public_key, [1], "scheme")  # type: ignore[arg-type]


def test_decrypt_vector_of_number(private_key: PaillierPrivateKey) -> None:
    number = private_key.public_key.encrypt(1)
    with pytest.raises(InvalidArgument, match="expected a PackedVector"):
        he.decrypt_vector(private_key, number)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda key: he.encrypt_batch(key, None),  # type: ignore[arg-type]
        lambda key: he.total(5),  # type: ignore[arg-type]
        lambda key: he.mean(5),  # type: ignore[arg-type]
        lambda key: he.elementwise_total([1, 2]),  # type: ignore[list-item]
    ],
    ids=["encrypt_batch", "total", "mean", "elementwise_total"],
)
def test_not_iterable(public_key: PaillierPublicKey, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match="must be a list or another iterable"):
        call(public_key)


def test_binary_file_error_does_not_quote_the_file() -> None:
    """An error on a binary file names the offset, not the file's bytes."""
    from he.serialize import loads_json

    # No zero bytes: json.loads guesses UTF-16 or UTF-32 from zeros among the first four.
    data = b"\xf6" + bytes(range(1, 256)) * 400
    with pytest.raises(AgileError) as caught:
        loads_json(data)
    assert len(str(caught.value)) < 300
    assert "byte 0 is not UTF-8" in str(caught.value)
