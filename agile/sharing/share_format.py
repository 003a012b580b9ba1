"""The agile share format, version 1: self-describing GF(2^8) Shamir shares.

A plain Shamir share cannot tell its holder how many shares are needed, which
split it belongs to, or whether a combination came out right.  A version 1
share adds a header and shares a digest together with the secret, in the
manner of SLIP-0039's digest share::

    version (1 byte, = 1) | secret id (8 bytes) | threshold (1) | index (1) | y bytes

The y bytes are a Shamir share (polynomial 0x11B, as in :mod:`.gf256`) of
``secret || digest``, where digest is the first 16 bytes of
SHA-256("agile-share-v1" | secret id | threshold | secret).  Because the digest
is shared, not published, fewer than ``threshold`` shares still reveal nothing
about the secret.  On combination the digest is recomputed, so a tampered share
or a mixture of splits raises :class:`InvalidShare` instead of returning a
wrong secret with probability 1 - 2^-128.

The text form for paper is ``agile-share-v1:`` followed by the base32 (RFC 4648
§6) of the binary share and a 4-byte SHA-256 checksum, in groups of five
characters joined by ``-``.  The checksum catches copying mistakes before any
arithmetic is done.  The reader ignores case, and spaces and dashes both in the
prefix and between groups, so a share retyped as "AGILE SHARE V1: AF7JF K6FGI"
reads as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InsufficientShares, InvalidShare
from . import gf256
from .base import Share, check_parameters, check_secret, check_shares

__all__ = [
    "VERSION",
    "ALGORITHM",
    "TEXT_PREFIX",
    "AgileShare",
    "split",
    "combine",
    "encode",
    "decode",
    "encode_text",
    "decode_text",
    "is_share_text",
    "parse",
    "text_body_length",
]

VERSION = 1
#: The registry id of the scheme under this format, which policies name.
ALGORITHM = "shamir-gf256"
TEXT_PREFIX = "agile-share-v1:"
SECRET_ID_SIZE = 8
DIGEST_SIZE = 16
CHECKSUM_SIZE = 4
HEADER_SIZE = 1 + SECRET_ID_SIZE + 1 + 1
_DIGEST_LABEL = b"agile-share-v1"
_GROUP = 5
#: TEXT_PREFIX as the reader matches it: any case, with spaces or dashes or nothing
#: between its words, because people retype paper shares that way.
_PREFIX_PATTERN = re.compile(r"agile[\s-]*share[\s-]*v1\s*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AgileShare:
    """One parsed version 1 share."""

    secret_id: bytes
    threshold: int
    index: int
    value: bytes

    def __repr__(self) -> str:
        return (
            f"AgileShare(secret_id={self.secret_id.hex()}, threshold={self.threshold}, "
            f"index={self.index}, value=<{len(self.value)} bytes>)"
        )


def _digest(secret_id: bytes, threshold: int, secret: bytes) -> bytes:
    material = _DIGEST_LABEL + secret_id + bytes([threshold]) + secret
    return hashlib.sha256(material).digest()[:DIGEST_SIZE]


def split(secret: bytes, threshold: int, count: int) -> list[AgileShare]:
    """Split ``secret`` into ``count`` version 1 shares, any ``threshold`` of which recover it."""
    # The header stores the threshold in one byte: check it before the digest encodes it.
    check_parameters(threshold, count, gf256.MAX_SHARES)
    secret = check_secret(
        secret, fix="pass the secret as bytes (encode text first, for example with .encode())"
    )
    if not secret:
        # Let gf256 raise its error for an empty secret, not after the digest makes it non-empty.
        gf256.split(secret, threshold, count)
    secret_id = os.urandom(SECRET_ID_SIZE)
    payload = secret + _digest(secret_id, threshold, secret)
    return [
        AgileShare(secret_id, threshold, share.index, share.value)
        for share in gf256.split(payload, threshold, count)
    ]


def combine(shares: Sequence[AgileShare]) -> bytes:
    """Recover the secret; raise if the shares are too few, mixed or tampered with."""
    shares = check_shares(shares, AgileShare)
    if not shares:
        raise InsufficientShares("no shares given", fix="give at least the threshold of shares")
    first = shares[0]
    for share in shares[1:]:
        if share.secret_id != first.secret_id:
            raise InvalidShare(
                f"share {share.index} belongs to secret {share.secret_id.hex()}, share "
                f"{first.index} to secret {first.secret_id.hex()}",
                fix="combine only shares of one split",
            )
        if share.threshold != first.threshold:
            raise InvalidShare(
                f"share {share.index} names threshold {share.threshold}, share {first.index} "
                f"names {first.threshold}",
                fix="a share header was altered; drop the share that disagrees",
            )
    if len(shares) < first.threshold:
        raise InsufficientShares(
            f"{len(shares)} share(s) of secret {first.secret_id.hex()} given, the threshold is "
            f"{first.threshold}",
            fix=f"give at least {first.threshold} shares",
        )
    payload = gf256.combine([Share(share.index, share.value) for share in shares])
    if len(payload) <= DIGEST_SIZE:
        raise InvalidShare(
            f"share values have {len(payload)} bytes, too short to hold a secret and its digest",
            fix="the shares are truncated",
        )
    secret, digest = payload[:-DIGEST_SIZE], payload[-DIGEST_SIZE:]
    if not hmac.compare_digest(digest, _digest(first.secret_id, first.threshold, secret)):
        raise InvalidShare(
            f"the shares of secret {first.secret_id.hex()} do not combine to a consistent secret",
            fix="a share was altered or corrupted; try another set of shares",
        )
    return secret


def encode(share: AgileShare) -> bytes:
    """Encode a share in the binary layout."""
    return (
        bytes([VERSION])
        + share.secret_id
        + bytes([share.threshold, share.index])
        + bytes(share.value)
    )


def decode(data: bytes) -> AgileShare:
    """Decode the binary layout; raise :class:`InvalidShare` on a bad version or length."""
    if len(data) < HEADER_SIZE + DIGEST_SIZE + 1:
        raise InvalidShare(
            f"an agile share needs at least {HEADER_SIZE + DIGEST_SIZE + 1} bytes, got {len(data)}",
            fix="the share is truncated",
        )
    if data[0] != VERSION:
        raise InvalidShare(
            f"unsupported agile share version {data[0]}",
            fix=f"this agile reads version {VERSION}; for a Vault share use --format vault",
        )
    secret_id = bytes(data[1 : 1 + SECRET_ID_SIZE])
    threshold, index = data[1 + SECRET_ID_SIZE], data[2 + SECRET_ID_SIZE]
    if threshold < 2 or index == 0:
        raise InvalidShare(
            f"share header has threshold {threshold} and index {index}",
            fix="the share is corrupt: threshold must be at least 2 and index at least 1",
        )
    return AgileShare(secret_id, threshold, index, bytes(data[HEADER_SIZE:]))


def _checksum(binary: bytes) -> bytes:
    return hashlib.sha256(binary).digest()[:CHECKSUM_SIZE]


def encode_text(share: AgileShare) -> str:
    """Encode a share as ``agile-share-v1:`` and dash-separated base32 groups."""
    binary = encode(share)
    text = base64.b32encode(binary + _checksum(binary)).decode("ascii").rstrip("=")
    groups = [text[i : i + _GROUP] for i in range(0, len(text), _GROUP)]
    return TEXT_PREFIX + "-".join(groups)


def decode_text(text: str) -> AgileShare:
    """Decode the text form; raise :class:`InvalidShare` on a bad prefix, character or checksum."""
    if not isinstance(text, str):
        raise InvalidShare(
            f"share text has type {type(text).__name__}, not str",
            fix="pass the share text; use decode() for the binary layout",
        )
    body = _text_body(text)
    if body is None:
        raise InvalidShare(
            f"share text does not start with {TEXT_PREFIX!r}",
            fix="give an agile share, or use --format vault for Vault shares",
        )
    count = len(_PREFIX_PATTERN.findall(text))
    if count > 1:
        raise InvalidShare(
            f"the text contains {count} shares, not one",
            fix="give one share per file; on standard input, one share per line",
        )
    if not body:
        raise InvalidShare(
            f"share text has nothing after {TEXT_PREFIX!r}",
            fix="the share is truncated; copy the whole share",
        )
    stray = re.search(r"[^A-Z2-7]", body)
    if stray:
        raise InvalidShare(
            f"share text contains {stray.group()!r}, a character outside base32 (A-Z, 2-7)",
            fix="check the share for copying mistakes",
        )
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        # 1, 3 or 6 characters after the last full group of 8 encode no whole byte.
        raise InvalidShare(
            f"share text has {len(body)} base32 characters, a length that no share has",
            fix="the share is truncated or has an extra character; copy the whole share",
        ) from None
    shortest = HEADER_SIZE + DIGEST_SIZE + 1 + CHECKSUM_SIZE
    if len(raw) < shortest:
        raise InvalidShare(
            f"share text contains {len(raw)} bytes, fewer than the {shortest} of the shortest "
            "share and its checksum",
            fix="the share is truncated; copy the whole share",
        )
    binary, checksum = raw[:-CHECKSUM_SIZE], raw[-CHECKSUM_SIZE:]
    if not hmac.compare_digest(checksum, _checksum(binary)):
        raise InvalidShare(
            "share text checksum does not match",
            fix="check the share for copying mistakes (a changed or missing character)",
        )
    return decode(binary)


def _text_body(text: str) -> str | None:
    """Return the base32 characters after the prefix, upper case, or None without a prefix."""
    match = _PREFIX_PATTERN.match(text.strip())
    if match is None:
        return None
    return re.sub(r"[\s-]", "", text.strip()[match.end() :]).upper()


def is_share_text(text: str) -> bool:
    """Return whether ``text`` starts with the text form's prefix, as the reader matches it."""
    return _PREFIX_PATTERN.match(text.strip()) is not None


def text_body_length(text: str) -> int | None:
    """Return the number of characters after the prefix, without separators (None: no prefix).

    The header does not record a share's length, so a share cut at a length that a share
    could have fails only the checksum.  A length below that of a valid share of the same
    split shows that it is truncated.
    """
    body = _text_body(text)
    return None if body is None else len(body)


def parse(text: str) -> AgileShare:
    """Parse a share given as its text form or as hex of the binary layout."""
    if not isinstance(text, str):
        raise InvalidShare(
            f"a share to parse has type {type(text).__name__}, not str",
            fix="pass the share text; use decode() for the binary layout",
        )
    stripped = text.strip()
    if is_share_text(stripped):
        return decode_text(stripped)
    try:
        binary = bytes.fromhex(stripped)
    except ValueError:
        raise InvalidShare(
            f"share is neither {TEXT_PREFIX}... text nor hex",
            fix="give the share exactly as 'agile share split' wrote it",
        ) from None
    return decode(binary)
