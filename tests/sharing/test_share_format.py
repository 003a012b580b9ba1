"""The agile share format: header, shared digest and paper text form."""

from __future__ import annotations

import os

import pytest

from agile.errors import InsufficientShares, InvalidShare, InvalidSharingParameters
from agile.sharing import share_format
from agile.sharing.share_format import AgileShare


def _text_shares(secret: bytes, threshold: int, count: int) -> list[str]:
    return [share_format.encode_text(s) for s in share_format.split(secret, threshold, count)]


def test_text_roundtrip() -> None:
    secret = os.urandom(32)
    texts = _text_shares(secret, 3, 5)
    assert share_format.combine([share_format.parse(t) for t in texts[2:]]) == secret


def test_text_prefix() -> None:
    assert _text_shares(b"k", 2, 2)[0].startswith("agile-share-v1:")


def test_hex_binary_accepted() -> None:
    secret = b"hex form"
    shares = share_format.split(secret, 2, 2)
    parsed = [share_format.parse(share_format.encode(s).hex()) for s in shares]
    assert share_format.combine(parsed) == secret


def test_text_ignores_case_and_spacing() -> None:
    secret = b"paper"
    texts = _text_shares(secret, 2, 2)
    prefix = share_format.TEXT_PREFIX
    sloppy = prefix + texts[0][len(prefix) :].lower().replace("-", " ")
    parsed = [share_format.parse(sloppy), share_format.parse(texts[1])]
    assert share_format.combine(parsed) == secret


def test_below_threshold_raises() -> None:
    shares = share_format.split(os.urandom(32), 3, 5)
    with pytest.raises(InsufficientShares, match="threshold is 3"):
        share_format.combine(shares[:2])


def test_no_shares() -> None:
    with pytest.raises(InsufficientShares):
        share_format.combine([])


def test_two_secrets_rejected() -> None:
    first = share_format.split(b"first secret", 2, 3)
    second = share_format.split(b"other secret", 2, 3)
    with pytest.raises(InvalidShare, match="belongs to secret"):
        share_format.combine([first[0], second[1]])


def test_tampered_value_rejected() -> None:
    shares = share_format.split(os.urandom(32), 2, 3)
    value = bytearray(shares[0].value)
    value[3] ^= 0x01
    tampered = AgileShare(shares[0].secret_id, 2, shares[0].index, bytes(value))
    with pytest.raises(InvalidShare, match="consistent secret"):
        share_format.combine([tampered, shares[1]])


def test_forged_secret_id_caught() -> None:
    # Shares of another split relabelled with this split's id still fail the digest.
    first = share_format.split(b"same length!", 2, 3)
    second = share_format.split(b"same length?", 2, 3)
    forged = AgileShare(first[0].secret_id, 2, second[1].index, second[1].value)
    with pytest.raises(InvalidShare):
        share_format.combine([first[0], forged])


def test_lowered_threshold_caught() -> None:
    shares = share_format.split(os.urandom(16), 3, 3)
    lowered = [AgileShare(s.secret_id, 2, s.index, s.value) for s in shares[:2]]
    with pytest.raises(InvalidShare):
        share_format.combine(lowered)


def test_mixed_threshold_headers() -> None:
    shares = share_format.split(os.urandom(16), 2, 3)
    altered = AgileShare(shares[1].secret_id, 3, shares[1].index, shares[1].value)
    with pytest.raises(InvalidShare, match="names threshold"):
        share_format.combine([shares[0], altered])


def test_text_typo_caught_by_checksum() -> None:
    text = _text_shares(b"secret", 2, 2)[0]
    position = len(share_format.TEXT_PREFIX) + 3
    replacement = "B" if text[position] != "B" else "C"
    typo = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(InvalidShare, match="checksum"):
        share_format.parse(typo)


def test_text_invalid_character() -> None:
    with pytest.raises(InvalidShare, match="base32"):
        share_format.parse(share_format.TEXT_PREFIX + "AAAA1-AAAAA")


def test_wrong_prefix() -> None:
    with pytest.raises(InvalidShare, match="does not start"):
        share_format.decode_text("agile-share-v9:AAAA")


def test_neither_text_nor_hex() -> None:
    with pytest.raises(InvalidShare, match="neither"):
        share_format.parse("not a share")


def test_unknown_version() -> None:
    binary = bytearray(share_format.encode(share_format.split(b"k", 2, 2)[0]))
    binary[0] = 2
    with pytest.raises(InvalidShare, match="version 2"):
        share_format.decode(bytes(binary))


def test_truncated_binary() -> None:
    binary = share_format.encode(share_format.split(b"k", 2, 2)[0])
    with pytest.raises(InvalidShare, match="at least 28 bytes"):
        share_format.decode(binary[:20])


def test_zero_index_header() -> None:
    binary = bytearray(share_format.encode(share_format.split(b"k", 2, 2)[0]))
    binary[share_format.HEADER_SIZE - 1] = 0
    with pytest.raises(InvalidShare, match="index 0"):
        share_format.decode(bytes(binary))


def test_empty_secret() -> None:
    with pytest.raises(InvalidSharingParameters, match="empty"):
        share_format.split(b"", 2, 3)


def test_leading_zeros_preserved() -> None:
    secret = bytes(8) + b"\x07"
    assert share_format.combine(share_format.split(secret, 2, 2)) == secret


@pytest.mark.parametrize("threshold", [-1, 0, 1, 256])
def test_split_threshold_out_of_range(threshold: int) -> None:
    with pytest.raises(InvalidSharingParameters, match=f"threshold {threshold}"):
        share_format.split(b"secret", threshold, 255)


def test_split_rejects_text_secret() -> None:
    with pytest.raises(InvalidSharingParameters, match="type str"):
        share_format.split("secret", 2, 3)  # type: ignore[arg-type]


def test_parse_rejects_bytes() -> None:
    text = _text_shares(b"k", 2, 2)[0]
    with pytest.raises(InvalidShare, match="type bytes"):
        share_format.parse(text.encode())  # type: ignore[arg-type]
