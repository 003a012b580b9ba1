"""Registry implementations of the secret-sharing algorithms.

``shamir-gf256`` and ``shamir-prime`` are pure Python (provider ``python``);
``feldman-vss-ristretto255`` does its group arithmetic in libsodium through
rbcl (provider ``libsodium``).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import gf256, prime
from .base import SecretSharing, Share

__all__ = ["ShamirGF256", "ShamirPrime", "FeldmanRistretto255", "implementations"]


class ShamirGF256(SecretSharing):
    """Byte-wise Shamir over GF(2^8) with polynomial 0x11B, shares as in Vault."""

    algorithm = "shamir-gf256"
    provider = "python"
    max_shares = gf256.MAX_SHARES

    def split(self, secret: bytes, threshold: int, count: int) -> list[Share]:
        return gf256.split(secret, threshold, count)

    def combine(self, shares: Sequence[Share]) -> bytes:
        return gf256.combine(shares)


class ShamirPrime(SecretSharing):
    """Shamir over the ristretto255 scalar field; the secret is one 32-byte scalar."""

    algorithm = "shamir-prime"
    provider = "python"
    max_shares = prime.MAX_SHARES

    def split(self, secret: bytes, threshold: int, count: int) -> list[Share]:
        return prime.split(secret, threshold, count)

    def combine(self, shares: Sequence[Share]) -> bytes:
        return prime.combine(shares)


class FeldmanRistretto255(SecretSharing):
    """Shamir over the ristretto255 scalar field with Feldman commitments on every share."""

    algorithm = "feldman-vss-ristretto255"
    provider = "libsodium"
    max_shares = prime.MAX_SHARES

    def split(self, secret: bytes, threshold: int, count: int) -> list[Share]:
        return prime.feldman_split(secret, threshold, count)

    def combine(self, shares: Sequence[Share]) -> bytes:
        return prime.feldman_combine(shares)

    def verify(self, share: Share, commitments: Sequence[bytes] | None = None) -> bool:
        """Return whether ``share`` matches ``commitments`` (default: its own copy of them)."""
        return prime.feldman_verify(share, commitments)


def implementations() -> list[SecretSharing]:
    return [ShamirGF256(), ShamirPrime(), FeldmanRistretto255()]
