"""Wording shared by the error messages of encrypted and signature envelopes."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["join_limited"]

#: Items an error message lists before it summarizes the rest as "and N more".
MAX_LISTED = 10


def join_limited(items: Sequence[str], separator: str = ", ", limit: int = MAX_LISTED) -> str:
    """Join the first ``limit`` items and count the rest, so that a message stays one short line.

    An envelope names up to 1,024 recipients, and listing every key id would
    print a line of about 18 KB.
    """
    listed = separator.join(items[:limit])
    if len(items) > limit:
        return f"{listed} and {len(items) - limit} more"
    return listed
