"""ASCII armour: base64 of the binary envelope between BEGIN and END lines.

The format follows RFC 7468's textual encoding: a ``-----BEGIN LABEL-----``
line, base64 in lines of 64 characters, and a matching ``-----END LABEL-----``
line.  Armour adds no integrity of its own; the envelope inside carries it.

:class:`ArmourReader` and :class:`ArmourWriter` decode and encode while the
envelope streams, so armoured files of any size need only a few blocks of
memory.  :func:`dearmour` is the same reader applied to bytes in memory.
"""

from __future__ import annotations

import binascii
import io
import re
from typing import BinaryIO

from ..errors import InvalidArgument, InvalidEnvelope
from .format import read_block, write_all

__all__ = [
    "armour",
    "dearmour",
    "dearmour_if_armoured",
    "is_armoured",
    "open_envelope_stream",
    "ArmourReader",
    "ArmourWriter",
    "LABELS",
    "check_armor_flag",
]

LABELS = {1: "AGILE ENCRYPTED MESSAGE", 2: "AGILE SIGNATURE"}
_BEGIN = b"-----BEGIN AGILE "
#: A BEGIN line; spaces, tabs and a CR may follow it, as they may follow the END line.
_BEGIN_LINE = re.compile(rb"-----BEGIN (AGILE [A-Z ]+)-----[ \t\r]*\Z")
#: The UTF-8 byte order mark that some editors write at the start of a text file.
_BOM = b"\xef\xbb\xbf"
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_WHITESPACE = b" \t\n\r\x0b\x0c"

#: Bytes of envelope per armour line: 48 bytes are 64 base64 characters.
_LINE_BYTES = 48
#: Bytes of envelope that the writer encodes at a time: 64 lines.
_GROUP_BYTES = 64 * _LINE_BYTES
#: Bytes read from the source at a time.
_BLOCK_SIZE = 1 << 16
#: Longest BEGIN or END line accepted. The ones agile writes are at most 39 bytes.
_MAX_BOUNDARY_LINE = 128
#: Characters of a bad BEGIN or END line that an error message shows.
_SHOWN_LINE = 48
#: Bytes of magic, version and kind: enough to compare the kind with the label.
_KIND_OFFSET = 9

_FIX_BLOCK = "pass the whole armoured block, from its BEGIN line to its END line"
_FIX_LEADING_TEXT = (
    "cut off the text before the '-----BEGIN AGILE' line and pass the armoured block "
    "from its BEGIN line to its END line"
)
_FIX_UNCHANGED = (
    "pass the block unchanged, as 'agile encrypt --armor' or 'agile sign --armor' wrote it"
)


def _malformed(detail: str) -> InvalidEnvelope:
    return InvalidEnvelope(f"armoured envelope is malformed ({detail})", fix=_FIX_BLOCK)


def _text_before_begin() -> InvalidEnvelope:
    return InvalidEnvelope(
        "armoured envelope is malformed (text before the BEGIN line)", fix=_FIX_LEADING_TEXT
    )


def check_armor_flag(armor: object) -> None:
    """Raise :class:`InvalidArgument` unless ``armor`` is a bool.

    Any non-empty string is true, so ``armor="no"`` would armour the output.
    """
    if not isinstance(armor, bool):
        raise InvalidArgument(
            f"armor must be a bool, got {type(armor).__name__}",
            fix="pass armor=True for ASCII armour or armor=False for binary output",
        )


def _bad_begin_line(line: bytes) -> InvalidEnvelope:
    shown = line[:_SHOWN_LINE].decode("ascii", "replace")
    if len(line) > _SHOWN_LINE:
        shown += "..."
    expected = " or ".join(f"'-----BEGIN {label}-----'" for label in LABELS.values())
    return _malformed(f"{shown!r} is not a BEGIN line; expected {expected}")


def armour(envelope: bytes) -> bytes:
    """Return ``envelope`` as armoured ASCII text (bytes)."""
    from .format import MAGIC

    kind = envelope[len(MAGIC) + 1] if len(envelope) > len(MAGIC) + 1 else 1
    label = LABELS.get(kind, LABELS[1]).encode()
    text = binascii.b2a_base64(envelope, newline=False)
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


class ArmourWriter:
    """Write an envelope to ``destination`` as armoured text while it is produced.

    The output is byte for byte what :func:`armour` returns for the whole
    envelope.  Call :meth:`close` after the last write to add the END line.
    """

    def __init__(self, destination: BinaryIO, kind: int) -> None:
        self._destination = destination
        self._label = LABELS[kind].encode()
        self._pending = b""
        #: Armoured bytes written to ``destination`` so far.
        self.written = 0
        self._emit(b"-----BEGIN " + self._label + b"-----\n")

    def _emit(self, data: bytes) -> None:
        write_all(self._destination, data)
        self.written += len(data)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encode ``data`` and write every complete 64-character line. Return ``len(data)``."""
        view = memoryview(data).cast("B")
        size = len(view)
        if self._pending:
            missing = _LINE_BYTES - len(self._pending)
            self._pending += bytes(view[:missing])
            view = view[missing:]
            if len(self._pending) < _LINE_BYTES:
                return size
            self._emit(binascii.b2a_base64(self._pending, newline=True))
            self._pending = b""

        # Encode a few KiB at a time, so a large chunk needs no second copy of its size.
        whole = len(view) - len(view) % _LINE_BYTES
        for start in range(0, whole, _GROUP_BYTES):
            text = binascii.b2a_base64(
                view[start : min(start + _GROUP_BYTES, whole)], newline=False
            )
            lines = [text[i : i + 64] for i in range(0, len(text), 64)]
            self._emit(b"\n".join(lines) + b"\n")
        self._pending = bytes(view[whole:])
        return size

    def close(self) -> None:
        """Write the last partial line and the END line."""
        if self._pending:
            self._emit(binascii.b2a_base64(self._pending, newline=True))
            self._pending = b""
        self._emit(b"-----END " + self._label + b"-----\n")


class ArmourReader(io.RawIOBase):
    """A binary stream of the envelope inside armoured text read from ``source``.

    ``head`` contains text already read from ``source``.  The constructor
    parses the BEGIN line.  Base64 is decoded as it is read, and the END line
    and the whitespace after it are checked before the reader reports the end
    of the envelope.  Damage raises :class:`InvalidEnvelope` from the read that
    meets it, so bytes read before it came from undamaged text (but armour has
    no integrity of its own: the envelope's tags decide what is authentic).
    """

    def __init__(self, source: BinaryIO, head: bytes = b"") -> None:
        super().__init__()
        self._source = source
        self._text = bytearray(head)
        self._eof = False
        self._quads = bytearray()  # base64 characters not decoded yet (fewer than 4 between reads)
        self._decoded = bytearray()  # decoded bytes not returned yet
        self._padded = False
        self._finished = False
        self._line_start = True
        self._prefix = b""  # the first decoded bytes, to compare the kind with the label
        self.label = self._read_begin()
        self._end_line = b"-----END " + self.label.encode("ascii") + b"-----"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._decoded and not self._finished:
            self._advance()
        size = min(len(buffer), len(self._decoded))
        buffer[:size] = self._decoded[:size]
        del self._decoded[:size]
        return size

    def readall(self) -> bytes:
        parts = []
        while not self._finished:
            self._advance()
            parts.append(bytes(self._decoded))
            self._decoded.clear()
        parts.append(bytes(self._decoded))
        self._decoded.clear()
        return b"".join(parts)

    # Parsing.

    def _fill(self) -> None:
        block = read_block(self._source, _BLOCK_SIZE)
        if block:
            self._text += block
        else:
            self._eof = True

    def _skip_whitespace(self) -> None:
        """Drop whitespace until a non-whitespace byte is at the front of the text, or the end."""
        while True:
            stripped = self._text.lstrip(_WHITESPACE)
            del self._text[: len(self._text) - len(stripped)]
            if self._text or self._eof:
                return
            self._fill()

    def _read_begin(self) -> str:
        while len(self._text) < len(_BOM) and not self._eof:
            self._fill()
        if self._text.startswith(_BOM):
            del self._text[: len(_BOM)]
        self._skip_whitespace()
        newline = self._text.find(b"\n")
        while newline < 0 and not self._eof and len(self._text) <= _MAX_BOUNDARY_LINE:
            self._fill()
            newline = self._text.find(b"\n")
        if newline < 0 and self._eof and self._text.startswith(_BEGIN):
            raise _malformed("the text ends after the BEGIN line")
        if newline < 0 or newline > _MAX_BOUNDARY_LINE:
            raise _bad_begin_line(bytes(self._text[:_MAX_BOUNDARY_LINE]))
        line = bytes(self._text[:newline])
        match = _BEGIN_LINE.match(line)
        label = match.group(1).decode("ascii") if match else None
        if label not in LABELS.values():
            raise _bad_begin_line(line)
        del self._text[: newline + 1]
        assert label is not None
        return label

    def _advance(self) -> None:
        """Decode the complete lines read so far, or reach the END line and finish."""
        last = self._text.rfind(b"\n")
        if last < 0 and not self._eof and len(self._text) < _BLOCK_SIZE:
            self._fill()
            return
        if self._eof:
            size, ends_line = len(self._text), True
        elif last >= 0:
            size, ends_line = last + 1, True
        else:
            # One line longer than a block: decode it in parts.
            size, ends_line = len(self._text), False
        if size == 0:
            raise _malformed(f"no END line; expected {self._end_line.decode('ascii')!r}")
        chunk = bytes(self._text[:size])
        del self._text[:size]

        # A line whose first non-whitespace byte is '-' ends the base64, so it must be the END
        # line. A '-' elsewhere is not base64, and decoding reports it.
        start = 0
        if not self._line_start:
            start = chunk.find(b"\n") + 1 or len(chunk)
        boundary = -1
        dash = chunk.find(b"-", start)
        if dash >= 0:
            line_begin = chunk.rfind(b"\n", 0, dash) + 1
            if line_begin >= start and not chunk[line_begin:dash].strip(_WHITESPACE):
                boundary = line_begin
        if boundary < 0:
            self._decode(chunk.translate(None, _WHITESPACE))
            self._line_start = ends_line
            return
        self._decode(chunk[:boundary].translate(None, _WHITESPACE))
        line_end = chunk.find(b"\n", boundary)
        if line_end < 0:
            line_end = len(chunk)
        line = chunk[boundary:line_end].strip(_WHITESPACE)
        if line != self._end_line:
            shown = line[:_SHOWN_LINE].decode("ascii", "replace")
            raise _malformed(
                f"END line {shown!r} does not match the BEGIN line; expected "
                f"{self._end_line.decode('ascii')!r}"
            )
        self._text[:0] = chunk[line_end + 1 :]
        self._finish()

    def _invalid_base64(self, reason: object) -> InvalidEnvelope:
        return InvalidEnvelope(
            f"armoured {self.label} has invalid base64: {reason}", fix=_FIX_UNCHANGED
        )

    def _decode(self, characters: bytes) -> None:
        if characters.translate(None, _BASE64_ALPHABET):
            raise self._invalid_base64("Only base64 data is allowed")
        self._quads += characters
        whole = len(self._quads) - len(self._quads) % 4
        if not whole:
            return
        if self._padded:
            raise self._invalid_base64("Excess data after padding")
        try:
            data = binascii.a2b_base64(self._quads[:whole], strict_mode=True)
        except binascii.Error as error:
            raise self._invalid_base64(error) from None
        self._padded = self._quads[whole - 1] == ord("=")
        del self._quads[:whole]
        if len(self._prefix) < _KIND_OFFSET + 1:
            self._prefix += data[: _KIND_OFFSET + 1 - len(self._prefix)]
            if len(self._prefix) > _KIND_OFFSET:
                _check_label(self.label, self._prefix)
        self._decoded += data

    def _finish(self) -> None:
        if self._quads:
            raise self._invalid_base64("Incorrect padding")
        # Only whitespace may follow the END line, so that one input contains exactly one envelope.
        while True:
            if self._text.strip(_WHITESPACE):
                raise _malformed("text after the END line")
            self._text.clear()
            if self._eof:
                break
            self._fill()
        self._finished = True


def _check_label(label: str, envelope: bytes) -> None:
    """Raise InvalidEnvelope when ``envelope`` has agile's magic and a kind other than ``label``."""
    from .format import MAGIC

    if len(envelope) <= _KIND_OFFSET or not envelope.startswith(MAGIC):
        return
    kind = envelope[_KIND_OFFSET]
    # The label names the envelope kind. Armour carries no integrity, so a mismatch is damage
    # or a cut-and-paste mistake, and a reader that trusted the label would mislead its user.
    if kind in LABELS and LABELS[kind] != label:
        raise InvalidEnvelope(
            f"armour label {label!r} does not match the envelope inside ({LABELS[kind]!r})",
            fix=_FIX_UNCHANGED,
        )


#: A UTF-8 byte order mark, whitespace of any length, then the start of a BEGIN line
#: (format.md: "ASCII armour").
_LEADING_BEGIN = re.compile(rb"(?:" + re.escape(_BOM) + rb")?\s*" + re.escape(_BEGIN))
_LEADING_BEGIN_TEXT = re.compile("\ufeff?" + r"\s*" + re.escape(_BEGIN.decode()))


def is_armoured(data: bytes | bytearray | memoryview | str) -> bool:
    """Return whether ``data`` starts with a BEGIN line, after a byte order mark and whitespace."""
    if isinstance(data, str):
        return _LEADING_BEGIN_TEXT.match(data) is not None
    return _LEADING_BEGIN.match(data) is not None


def dearmour(data: bytes | str) -> bytes:
    """Return the binary envelope inside armoured text; raise :class:`InvalidEnvelope`."""
    if isinstance(data, str):
        data = data.removeprefix("\ufeff").encode("ascii", "replace")
    return ArmourReader(io.BytesIO(data)).readall()


def dearmour_if_armoured(data: bytes | bytearray | memoryview | str) -> bytes:
    if is_armoured(data):
        return dearmour(data if isinstance(data, str) else bytes(data))
    if _has_begin_line_later(data):
        raise _text_before_begin()
    if isinstance(data, str):
        raise InvalidEnvelope(
            "text input is not an armoured agile envelope (no '-----BEGIN AGILE' line)",
            fix="pass the binary envelope as bytes, or the whole armoured block as text",
        )
    return bytes(data) if not isinstance(data, bytes) else data


def _has_begin_line_later(data: bytes | bytearray | memoryview | str) -> bool:
    """Return whether a BEGIN line follows other text in ``data``, which is not armoured."""
    from .format import MAGIC

    if isinstance(data, str):
        return _BEGIN.decode("ascii") in data
    # A binary envelope starts with the magic; its ciphertext may contain any bytes.
    if bytes(data[: len(MAGIC)]) == MAGIC:
        return False
    return _BEGIN in bytes(data)


class _Prefixed(io.RawIOBase):
    """A stream that replays already-read bytes before reading on."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._rest.read(), b""
            return data
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += read_block(self._rest, size - len(data))
            return data
        return read_block(self._rest, size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_envelope_stream(source: BinaryIO, head: bytes = b"") -> BinaryIO:
    """Return a binary stream of the envelope in ``source``, decoding armour when present.

    ``head`` contains bytes already read from ``source``.  Armour may follow a
    UTF-8 byte order mark and any amount of whitespace, which is skipped in
    bounded memory: a binary envelope starts with 0x89, never with whitespace.
    """
    from .format import MAGIC

    text = bytes(head)
    if text.startswith(MAGIC):
        return _Prefixed(text, source)  # type: ignore[return-value]
    while len(text) < len(_BOM) and _BOM.startswith(text):
        block = read_block(source, len(_BOM) - len(text))
        if not block:
            break
        text += block
    # A byte order mark is text: it may come before armour, never before a binary envelope.
    marked = text.startswith(_BOM)
    text = text.removeprefix(_BOM)
    while not text.lstrip(_WHITESPACE):
        block = read_block(source, _BLOCK_SIZE)
        if not block:
            return _binary(text, source, marked)
        text = block

    # Read up to one boundary line past the whitespace: enough to tell armour from the rest.
    skipped = len(text) - len(text.lstrip(_WHITESPACE))
    while len(text) - skipped < _MAX_BOUNDARY_LINE and text[skipped] != MAGIC[0]:
        block = read_block(source, _MAX_BOUNDARY_LINE)
        if not block:
            break
        text += block
    if text.startswith(_BEGIN, skipped):
        return ArmourReader(source, text[skipped:])  # type: ignore[return-value]
    if _BEGIN in text:
        raise _text_before_begin()
    return _binary(text, source, marked)


def _binary(text: bytes, source: BinaryIO, marked: bool) -> BinaryIO:
    """Return the stream of a binary envelope whose first bytes are ``text``."""
    if marked:
        raise _malformed("the input starts with a UTF-8 byte order mark, but no BEGIN line follows")
    return _Prefixed(text, source)  # type: ignore[return-value]
