"""Hostile shares: wrong types, padded Feldman commitments, non-share items."""

from __future__ import annotations

import pytest

from agile.errors import InvalidShare
from agile.sharing import gf256, prime, share_format
from agile.sharing.base import Share

SECRET = bytes(31) + b"\x07"


def test_prime_value_not_bytes() -> None:
    shares = prime.split(SECRET, 2, 3)
    with pytest.raises(InvalidShare, match="share 1 has type str, not bytes"):
        prime.combine([Share(1, "a" * 32), shares[1]])  # type: ignore[arg-type]


def test_prime_items_not_shares() -> None:
    with pytest.raises(InvalidShare, match="a share has type int, not Share"):
        prime.combine([1, 2])  # type: ignore[list-item]


def test_prime_shares_not_a_list() -> None:
    with pytest.raises(InvalidShare, match="not int"):
        prime.combine(5)  # type: ignore[arg-type]


def test_gf256_items_not_shares() -> None:
    with pytest.raises(InvalidShare, match="a share has type int, not Share"):
        gf256.combine([1, 2])  # type: ignore[list-item]


def test_agile_items_not_shares() -> None:
    with pytest.raises(InvalidShare, match="not AgileShare"):
        share_format.combine([1, 2, 3])  # type: ignore[list-item]


def test_decode_text_not_str() -> None:
    with pytest.raises(InvalidShare, match="type int, not str"):
        share_format.decode_text(5)  # type: ignore[arg-type]


def test_feldman_identity_commitment_appended() -> None:
    """An identity point appended to every share's commitments must not raise the threshold."""
    shares = prime.feldman_split(SECRET, 3, 5)
    padded = [Share(s.index, s.value, s.commitments + (bytes(32),)) for s in shares]
    with pytest.raises(InvalidShare, match="commitment 3 is the identity point"):
        prime.feldman_combine(padded[:3])


def test_feldman_identity_rejected_on_verify() -> None:
    share = prime.feldman_split(SECRET, 2, 3)[0]
    with pytest.raises(InvalidShare, match="identity point"):
        prime.feldman_verify(share, share.commitments + (bytes(32),))


def test_feldman_zero_secret_accepted() -> None:
    """C_0 is the identity when the secret is 0, and that dealing stays valid."""
    shares = prime.feldman_split(bytes(32), 2, 3)
    assert prime.feldman_combine(shares[:2]) == bytes(32)


def test_feldman_commitments_as_list() -> None:
    shares = prime.feldman_split(SECRET, 2, 3)
    listed = [Share(s.index, s.value, list(s.commitments)) for s in shares]  # type: ignore[arg-type]
    assert prime.feldman_combine(listed[:2]) == SECRET


def test_feldman_commitments_not_a_list() -> None:
    shares = prime.feldman_split(SECRET, 2, 3)
    with pytest.raises(InvalidShare, match="commitments must be a list"):
        prime.feldman_combine(shares, 5)  # type: ignore[arg-type]


def test_feldman_commitment_not_bytes() -> None:
    shares = prime.feldman_split(SECRET, 2, 3)
    texts = tuple("x" * 32 for _ in shares[0].commitments)
    forged = [Share(s.index, s.value, texts) for s in shares]  # type: ignore[arg-type]
    with pytest.raises(InvalidShare, match="not a valid ristretto255 point"):
        prime.feldman_combine(forged)
