"""The secret-sharing interface and the checks every scheme shares.

A scheme splits a secret into ``count`` shares so that any ``threshold`` of
them recover it and fewer reveal nothing about it (Shamir 1979).  Each share
carries its x coordinate (``index``), which is never 0 because the secret sits
at x = 0.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import InvalidShare, InvalidSharingParameters
from ..registry.interfaces import Implementation

__all__ = [
    "Share",
    "SecretSharing",
    "check_parameters",
    "check_indices",
    "check_shares",
    "check_secret",
    "MIN_THRESHOLD",
]

_S = TypeVar("_S")

#: Smallest threshold accepted.  With a threshold of 1 every share equals the
#: secret, so a "share" would be a plain copy; Vault and pyshamir reject it too.
MIN_THRESHOLD = 2


@dataclass(frozen=True, slots=True)
class Share:
    """One share: its x coordinate and its y value (bytes, scheme-specific encoding).

    ``commitments`` contains the public Feldman commitments for verifiable schemes
    and is empty for plain Shamir.
    """

    index: int
    value: bytes
    commitments: tuple[bytes, ...] = ()

    def __repr__(self) -> str:
        # The y value is secret material: keep it out of logs and tracebacks.
        return f"Share(index={self.index}, value=<{len(self.value)} bytes>)"


def check_parameters(threshold: int, count: int, max_count: int) -> None:
    """Raise :class:`InvalidSharingParameters` unless 2 <= threshold <= count <= max_count."""
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise InvalidSharingParameters(f"threshold must be an integer, got {threshold!r}")
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidSharingParameters(f"share count must be an integer, got {count!r}")
    if threshold < MIN_THRESHOLD:
        raise InvalidSharingParameters(
            f"threshold {threshold} is below {MIN_THRESHOLD}",
            fix="use a threshold of at least 2; with 1 every share is a copy of the secret",
        )
    if count > max_count:
        raise InvalidSharingParameters(
            f"share count {count} exceeds the maximum of {max_count}",
            fix=f"split into at most {max_count} shares",
        )
    if threshold > count:
        raise InvalidSharingParameters(
            f"threshold {threshold} exceeds the share count {count}",
            fix="choose a threshold no larger than the number of shares",
        )


def check_secret(secret: Any, fix: str) -> bytes:
    """Return ``secret`` as bytes, or raise :class:`InvalidSharingParameters` for another type.

    A strided memoryview (``view[::2]``) is rejected as well, as every agile data argument
    is, because its bytes are not the buffer's memory in order.
    """
    if not isinstance(secret, bytes | bytearray | memoryview):
        raise InvalidSharingParameters(
            f"the secret has type {type(secret).__name__}, not bytes", fix=fix
        )
    if isinstance(secret, memoryview) and not secret.c_contiguous:
        raise InvalidSharingParameters(
            "the secret is a memoryview that is not C-contiguous",
            fix="pass bytes(view) for a copy in C order, or a contiguous buffer",
        )
    return bytes(secret)


def check_indices(indices: Sequence[int], max_index: int) -> None:
    """Raise :class:`InvalidShare` on a zero, out-of-range or repeated x coordinate."""
    seen: set[int] = set()
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidShare(
                f"share index {index!r} is not an integer",
                fix="give each share's x coordinate as an int from 1 to 255",
            )
        if not 1 <= index <= max_index:
            raise InvalidShare(
                f"share index {index} is outside 1..{max_index}",
                fix="x = 0 is the secret itself; this share is corrupt or forged",
            )
        if index in seen:
            raise InvalidShare(
                f"share index {index} appears twice",
                fix="give each share once; two shares with one index add no information",
            )
        seen.add(index)


def check_shares(shares: Any, kind: type[_S]) -> list[_S]:
    """Return ``shares`` as a list, or raise :class:`InvalidShare` if an item is not a ``kind``."""
    if isinstance(shares, str | bytes | bytearray) or not isinstance(shares, Iterable):
        raise InvalidShare(
            f"shares must be a list of {kind.__name__} objects, not {type(shares).__name__}",
            fix=f"pass a list of {kind.__name__} objects",
        )
    items = list(shares)
    for item in items:
        if not isinstance(item, kind):
            raise InvalidShare(
                f"a share has type {type(item).__name__}, not {kind.__name__}",
                fix="parse or decode each share first",
            )
    return items


class SecretSharing(Implementation):
    """A threshold secret-sharing scheme."""

    #: Largest number of shares (and largest x coordinate) the field allows.
    max_shares: int = 255

    @abc.abstractmethod
    def split(self, secret: bytes, threshold: int, count: int) -> list[Share]:
        """Split ``secret`` into ``count`` shares, any ``threshold`` of which recover it."""

    @abc.abstractmethod
    def combine(self, shares: Sequence[Share]) -> bytes:
        """Recover the secret by interpolation at x = 0 from at least ``threshold`` shares.

        Plain Shamir cannot tell a wrong result from a right one: with fewer than
        threshold shares it returns an unrelated value.  The agile share format
        adds the threshold and a shared digest so that this is detected.
        """
