"""Shamir over GF(2^8): Vault/pyshamir interoperability and every rejected input."""

from __future__ import annotations

import itertools
import os

import pyshamir
import pytest
from pyshamir import _utils as pyshamir_field

from agile.errors import InsufficientShares, InvalidShare, InvalidSharingParameters
from agile.sharing import gf256
from agile.sharing.base import Share


def test_multiply_matches_pyshamir() -> None:
    for a, b in itertools.product(range(256), range(0, 256, 3)):
        assert gf256.multiply(a, b) == pyshamir_field.mul(a, b), (a, b)


def test_inverse_roundtrip() -> None:
    for a in range(1, 256):
        assert gf256.multiply(a, gf256.inverse(a)) == 1, a


def test_inverse_of_zero() -> None:
    with pytest.raises(ZeroDivisionError):
        gf256.inverse(0)


def test_split_combine_every_subset() -> None:
    secret = os.urandom(32)
    shares = gf256.split(secret, 3, 5)
    for subset in itertools.combinations(shares, 3):
        assert gf256.combine(list(subset)) == secret


def test_combine_with_more_than_threshold() -> None:
    secret = os.urandom(17)
    shares = gf256.split(secret, 2, 4)
    assert gf256.combine(shares) == secret


def test_vault_layout() -> None:
    shares = gf256.split(b"abc", 2, 3)
    encoded = gf256.to_vault(shares[1])
    assert len(encoded) == 4
    assert encoded[-1] == 2


def test_agile_shares_combine_in_pyshamir() -> None:
    secret = os.urandom(32)
    shares = [bytearray(gf256.to_vault(share)) for share in gf256.split(secret, 3, 5)]
    assert bytes(pyshamir.combine([shares[0], shares[2], shares[4]])) == secret


def test_pyshamir_shares_combine_here() -> None:
    secret = os.urandom(32)
    parts = pyshamir.split(secret, 5, 3)
    shares = [gf256.from_vault(bytes(part)) for part in parts[1:4]]
    assert gf256.combine(shares) == secret


def test_leading_zeros_preserved() -> None:
    secret = bytes(5) + b"\x01" + bytes(3)
    shares = gf256.split(secret, 2, 3)
    assert gf256.combine(shares[1:]) == secret


def test_all_zero_secret() -> None:
    secret = bytes(32)
    assert gf256.combine(gf256.split(secret, 3, 3)) == secret


def test_single_byte_secret() -> None:
    assert gf256.combine(gf256.split(b"\xff", 2, 2)) == b"\xff"


def test_maximum_share_count() -> None:
    secret = os.urandom(4)
    shares = gf256.split(secret, 2, 255)
    assert gf256.combine([shares[0], shares[254]]) == secret


def test_threshold_above_count() -> None:
    with pytest.raises(InvalidSharingParameters, match="threshold 4 exceeds"):
        gf256.split(b"k", 4, 3)


def test_count_above_255() -> None:
    with pytest.raises(InvalidSharingParameters, match="256 exceeds"):
        gf256.split(b"k", 2, 256)


def test_threshold_one_rejected() -> None:
    with pytest.raises(InvalidSharingParameters, match="below 2"):
        gf256.split(b"k", 1, 3)


def test_empty_secret() -> None:
    with pytest.raises(InvalidSharingParameters, match="empty"):
        gf256.split(b"", 2, 3)


def test_non_integer_threshold() -> None:
    with pytest.raises(InvalidSharingParameters, match="integer"):
        gf256.split(b"k", 2.0, 3)  # type: ignore[arg-type]


def test_duplicate_index() -> None:
    shares = gf256.split(b"secret", 2, 3)
    with pytest.raises(InvalidShare, match="appears twice"):
        gf256.combine([shares[0], shares[0]])


def test_zero_index() -> None:
    shares = gf256.split(b"secret", 2, 3)
    with pytest.raises(InvalidShare, match="outside 1..255"):
        gf256.combine([Share(0, shares[0].value), shares[1]])


def test_mixed_lengths() -> None:
    first = gf256.split(b"secret", 2, 3)
    second = gf256.split(b"longer secret", 2, 3)
    with pytest.raises(InvalidShare, match="value bytes"):
        gf256.combine([first[0], second[1]])


def test_one_share() -> None:
    shares = gf256.split(b"secret", 2, 3)
    with pytest.raises(InsufficientShares):
        gf256.combine(shares[:1])


def test_vault_share_too_short() -> None:
    with pytest.raises(InvalidShare, match="at least 2 bytes"):
        gf256.from_vault(b"\x01")


def test_vault_share_zero_x() -> None:
    with pytest.raises(InvalidShare, match="x coordinate 0"):
        gf256.from_vault(b"\x01\x00")


def test_share_repr_hides_value() -> None:
    share = gf256.split(b"topsecret", 2, 2)[0]
    assert share.value.hex() not in repr(share)


def test_split_text_secret_named() -> None:
    with pytest.raises(InvalidSharingParameters, match="has type str, not bytes"):
        gf256.split("abc", 2, 3)  # type: ignore[arg-type]


def test_combine_non_integer_index() -> None:
    shares = gf256.split(b"secret", 2, 2)
    with pytest.raises(InvalidShare, match="index 1.5"):
        gf256.combine([Share(1.5, shares[0].value), shares[1]])  # type: ignore[arg-type]


def test_combine_text_value() -> None:
    with pytest.raises(InvalidShare, match="type str"):
        gf256.combine([Share(1, "ab"), Share(2, "cd")])  # type: ignore[arg-type]


def test_from_vault_text() -> None:
    with pytest.raises(InvalidShare, match="type str"):
        gf256.from_vault("0102")  # type: ignore[arg-type]
