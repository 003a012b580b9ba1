"""ASCII armour: damaged base64, a label that names the wrong kind, plain text input."""

from __future__ import annotations

import base64

import pytest

from agile.envelope.armour import armour, dearmour, dearmour_if_armoured
from agile.envelope.format import MAGIC
from agile.errors import InvalidEnvelope

#: The preamble of an encrypted envelope (kind 1) and of a signature envelope (kind 2).
ENCRYPTED = MAGIC + b"\x01\x01" + bytes(8)
SIGNATURE = MAGIC + b"\x01\x02" + bytes(8)


def _block(label: bytes, body: bytes) -> bytes:
    return b"-----BEGIN " + label + b"-----\n" + body + b"\n-----END " + label + b"-----\n"


def test_round_trip() -> None:
    assert dearmour(armour(SIGNATURE)) == SIGNATURE


def test_bad_base64_names_label() -> None:
    with pytest.raises(InvalidEnvelope, match="armoured AGILE SIGNATURE has invalid base64"):
        dearmour(_block(b"AGILE SIGNATURE", b"AA!A"))


def test_bad_base64_has_fix() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        dearmour(_block(b"AGILE SIGNATURE", b"AA!A"))
    assert caught.value.fix is not None


@pytest.mark.parametrize(
    ("label", "inner"),
    [(b"AGILE SIGNATURE", ENCRYPTED), (b"AGILE ENCRYPTED MESSAGE", SIGNATURE)],
    ids=["encrypted-as-signature", "signature-as-encrypted"],
)
def test_label_kind_mismatch(label: bytes, inner: bytes) -> None:
    with pytest.raises(InvalidEnvelope, match="does not match the envelope inside"):
        dearmour(_block(label, base64.b64encode(inner)))


def test_label_other_data_left_to_parser() -> None:
    """Bytes without agile's magic pass through, so the header parser names the damage."""
    assert dearmour(_block(b"AGILE SIGNATURE", b"AAAA")) == bytes(3)


def test_plain_text_has_fix() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        dearmour_if_armoured("hello")
    assert caught.value.fix is not None


@pytest.mark.parametrize(
    "data",
    [
        b"\n" * 100 + armour(ENCRYPTED),
        bytearray(b" \t\r\n" * 50 + armour(ENCRYPTED)),
        memoryview(b"\n" * 100 + armour(ENCRYPTED)),
        "\n" * 100 + armour(ENCRYPTED).decode(),
    ],
    ids=["bytes", "bytearray", "memoryview", "str"],
)
def test_long_leading_whitespace(data: bytes | bytearray | memoryview | str) -> None:
    """format.md lets any whitespace precede the BEGIN line, not only the first 64 bytes."""
    assert dearmour_if_armoured(data) == ENCRYPTED


def test_binary_not_armoured() -> None:
    assert dearmour_if_armoured(ENCRYPTED) == ENCRYPTED
