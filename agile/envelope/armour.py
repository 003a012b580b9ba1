"""ASCII armour: base64 of the binary envelope between BEGIN and END lines.

The format follows RFC 7468's textual encoding: a ``-----BEGIN LABEL-----``
line, base64 in lines of 64 characters, and a matching ``-----END LABEL-----``
line.  Armour adds no integrity of its own; the envelope inside carries it.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import InvalidEnvelope

__all__ = ["armour", "dearmour", "dearmour_if_armoured", "is_armoured", "LABELS"]

LABELS = {1: "AGILE ENCRYPTED MESSAGE", 2: "AGILE SIGNATURE"}
_BEGIN = b"-----BEGIN AGILE "
_BLOCK = re.compile(
    rb"\A\s*-----BEGIN (AGILE [A-Z ]+)-----\r?\n(.*?)\r?\n?-----END \1-----\s*\Z", re.DOTALL
)


def armour(envelope: bytes) -> bytes:
    """Return ``envelope`` as armoured ASCII text (bytes)."""
    from .format import MAGIC

    kind = envelope[len(MAGIC) + 1] if len(envelope) > len(MAGIC) + 1 else 1
    label = LABELS.get(kind, LABELS[1]).encode()
    text = base64.b64encode(envelope)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (
        b"-----BEGIN "
        + label
        + b"-----\n"
        + b"\n".join(lines)
        + b"\n-----END "
        + label
        + b"-----\n"
    )


#: Whitespace of any length, then the start of a BEGIN line (format.md: "ASCII armour").
_LEADING_BEGIN = re.compile(rb"\s*" + re.escape(_BEGIN))
_LEADING_BEGIN_TEXT = re.compile(r"\s*" + re.escape(_BEGIN.decode()))


def is_armoured(data: bytes | bytearray | memoryview | str) -> bool:
    """Return whether ``data`` starts with a BEGIN line, after any amount of whitespace."""
    if isinstance(data, str):
        return _LEADING_BEGIN_TEXT.match(data) is not None
    return _LEADING_BEGIN.match(data) is not None


def dearmour(data: bytes | str) -> bytes:
    """Return the binary envelope inside armoured text; raise :class:`InvalidEnvelope`."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    match = _BLOCK.match(bytes(data))
    if match is None or match.group(1).decode() not in LABELS.values():
        raise InvalidEnvelope(
            "armoured envelope is malformed (missing or mismatched BEGIN/END lines)",
            fix="pass the whole armoured block, from its BEGIN line to its END line",
        )
    label = match.group(1).decode()
    body = b"".join(match.group(2).split())
    try:
        envelope = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidEnvelope(
            f"armoured {label} has invalid base64: {error}",
            fix="pass the block unchanged, as 'agile encrypt --armor' or 'agile sign --armor' "
            "wrote it",
        ) from None

    # The label names the envelope kind. Armour carries no integrity, so a mismatch is damage
    # or a cut-and-paste mistake, and a reader that trusted the label would mislead its user.
    kind = _kind(envelope)
    if kind is not None and kind in LABELS and LABELS[kind] != label:
        raise InvalidEnvelope(
            f"armour label {label!r} does not match the envelope inside ({LABELS[kind]!r})",
            fix="pass the block unchanged, as 'agile encrypt --armor' or 'agile sign --armor' "
            "wrote it",
        )
    return envelope


def _kind(envelope: bytes) -> int | None:
    """Return the kind byte of an envelope with agile's magic, else None."""
    from .format import MAGIC

    if len(envelope) > len(MAGIC) + 1 and envelope.startswith(MAGIC):
        return envelope[len(MAGIC) + 1]
    return None


def dearmour_if_armoured(data: bytes | bytearray | memoryview | str) -> bytes:
    if is_armoured(data):
        return dearmour(data if isinstance(data, str) else bytes(data))
    if isinstance(data, str):
        raise InvalidEnvelope(
            "text input is not an armoured agile envelope (no '-----BEGIN AGILE' line)",
            fix="pass the binary envelope as bytes, or the whole armoured block as text",
        )
    return bytes(data) if not isinstance(data, bytes) else data
