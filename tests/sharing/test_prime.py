"""Shamir over the ristretto255 scalar field and Feldman verification."""

from __future__ import annotations

import itertools
import os

import pytest

from agile.errors import InsufficientShares, InvalidShare, InvalidSharingParameters
from agile.registry import lookup
from agile.sharing import SecretSharing, prime
from agile.sharing.base import Share


def _scalar() -> bytes:
    return prime.encode_scalar(int.from_bytes(os.urandom(64), "little"))


def _corrupt(share: Share) -> Share:
    value = prime.encode_scalar(prime.decode_scalar(share.value) + 1)
    return Share(share.index, value, share.commitments)


def test_combine_every_subset() -> None:
    secret = _scalar()
    shares = prime.split(secret, 3, 5)
    for subset in itertools.combinations(shares, 3):
        assert prime.combine(list(subset)) == secret


def test_secret_wrong_length() -> None:
    with pytest.raises(InvalidSharingParameters, match="32"):
        prime.split(b"short", 2, 3)


def test_secret_not_canonical() -> None:
    with pytest.raises(InvalidSharingParameters, match="canonical"):
        prime.split(prime.ORDER.to_bytes(32, "little"), 2, 3)


def test_share_not_canonical() -> None:
    shares = prime.split(_scalar(), 2, 3)
    bad = Share(1, (prime.ORDER + 1).to_bytes(32, "little"))
    with pytest.raises(InvalidShare, match="canonical"):
        prime.combine([bad, shares[1]])


def test_feldman_all_verify() -> None:
    shares = prime.feldman_split(_scalar(), 3, 5)
    for share in shares:
        assert prime.feldman_verify(share), share.index


def test_feldman_identifies_bad_share() -> None:
    shares = prime.feldman_split(_scalar(), 3, 5)
    shares[3] = _corrupt(shares[3])
    assert prime.feldman_check(shares) == [4]


def test_feldman_combine_names_bad_share() -> None:
    shares = prime.feldman_split(_scalar(), 2, 3)
    with pytest.raises(InvalidShare, match="share\\(s\\) 2 do not match"):
        prime.feldman_combine([shares[0], _corrupt(shares[1])])


def test_feldman_combine_recovers() -> None:
    secret = _scalar()
    shares = prime.feldman_split(secret, 3, 4)
    assert prime.feldman_combine(shares[1:]) == secret


def test_feldman_below_threshold() -> None:
    shares = prime.feldman_split(_scalar(), 3, 4)
    with pytest.raises(InsufficientShares, match="threshold is 3"):
        prime.feldman_combine(shares[:2])


def test_feldman_other_dealing_commitments() -> None:
    first = prime.feldman_split(_scalar(), 2, 3)
    second = prime.feldman_split(_scalar(), 2, 3)
    assert prime.feldman_check([first[0], second[1]], first[0].commitments) == [2]


def test_feldman_invalid_point() -> None:
    share = prime.feldman_split(_scalar(), 2, 2)[0]
    broken = Share(share.index, share.value, (b"\x01" * 32, share.commitments[1]))
    with pytest.raises(InvalidShare, match="not a valid ristretto255 point"):
        prime.feldman_verify(broken)


def test_lagrange_weights_sum_to_one() -> None:
    assert sum(prime.lagrange_at_zero([1, 4, 9])) % prime.ORDER == 1


@pytest.mark.parametrize(
    ("algorithm", "provider"),
    [
        ("shamir-gf256", "python"),
        ("shamir-prime", "python"),
        ("feldman-vss-ristretto255", "libsodium"),
    ],
)
def test_registered(algorithm: str, provider: str) -> None:
    implementation = lookup.get(algorithm, provider)
    assert isinstance(implementation, SecretSharing)


@pytest.mark.parametrize("algorithm", ["shamir-gf256", "shamir-prime", "feldman-vss-ristretto255"])
def test_registry_roundtrip(algorithm: str) -> None:
    implementation = lookup.get(algorithm)
    secret = _scalar()
    shares = implementation.split(secret, 2, 3)  # type: ignore[attr-defined]
    assert implementation.combine(shares[1:]) == secret  # type: ignore[attr-defined]


def test_split_int_secret_named() -> None:
    with pytest.raises(InvalidSharingParameters, match="has type int, not bytes"):
        prime.split(5, 2, 3)  # type: ignore[arg-type]


def test_feldman_forged_first_share_named() -> None:
    shares = prime.feldman_split(_scalar(), 3, 5)
    forged = prime.feldman_split(_scalar(), 3, 5)[3]
    assert prime.feldman_check([forged, *shares[:3]]) == [4]


def test_feldman_forged_first_combine_names_it() -> None:
    shares = prime.feldman_split(_scalar(), 3, 5)
    forged = prime.feldman_split(_scalar(), 3, 5)[3]
    with pytest.raises(InvalidShare, match=r"share\(s\) 4 do not match"):
        prime.feldman_combine([forged, *shares[:3]])


def test_feldman_tie_needs_commitments() -> None:
    shares = prime.feldman_split(_scalar(), 2, 3)
    forged = prime.feldman_split(_scalar(), 2, 3)[2]
    with pytest.raises(InvalidShare, match="2 different sets"):
        prime.feldman_check([forged, shares[0]])


def test_feldman_published_commitments() -> None:
    secret = _scalar()
    shares = prime.feldman_split(secret, 2, 3)
    published = shares[0].commitments
    forged = prime.feldman_split(_scalar(), 2, 3)[2]
    assert prime.feldman_check([forged, shares[0]], published) == [3]
    bare = [Share(share.index, share.value) for share in shares[1:]]
    assert prime.feldman_combine(bare, published) == secret
