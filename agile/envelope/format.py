"""Envelope format v1: byte layout, limits and header parsing (no keys needed).

The full specification is ``docs/format.md``.  All integers are big-endian.
Every length is checked against a limit before anything of that length is
read or allocated, so a crafted header cannot make a reader allocate more than
:data:`MAX_HEADER` bytes for the header or two chunks for the payload.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import InvalidArgument, InvalidEnvelope

__all__ = [
    "MAGIC",
    "VERSION",
    "KIND_ENCRYPTED",
    "KIND_SIGNATURE",
    "MAX_HEADER",
    "MAX_STANZA",
    "MAX_RECIPIENTS",
    "MIN_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "SALT_SIZE",
    "COMMITMENT_SIZE",
    "MAC_SIZE",
    "Stanza",
    "SignatureEntry",
    "Header",
    "encode_payload_section",
    "encode_stanzas",
    "parse_header",
    "read_header",
    "read_header_bytes",
    "read_stream_header",
    "check_binary_stream",
    "check_buffer",
    "check_open",
    "read_block",
    "write_all",
]

#: 8 bytes; the high first byte and CR LF catch 7-bit and line-ending damage, as PNG's do.
MAGIC = b"\x89agile\r\n"
VERSION = 1
KIND_ENCRYPTED = 1
KIND_SIGNATURE = 2
_KIND_NAMES = {KIND_ENCRYPTED: "encrypted", KIND_SIGNATURE: "signature"}

#: magic, version, kind, header length (u32).
PREAMBLE_SIZE = len(MAGIC) + 1 + 1 + 4

MAX_HEADER = 1 << 20
MAX_STANZA = 1 << 16
MAX_RECIPIENTS = 1024
MAX_SIGNATURES = 64
MAX_SIGNATURE_SIZE = 1 << 17
MIN_CHUNK_SIZE = 1 << 10
MAX_CHUNK_SIZE = 1 << 24
DEFAULT_CHUNK_SIZE = 1 << 18
MAX_ID_SIZE = 64
_PRINTABLE = re.compile(rb"[\x21-\x7e]+\Z")

SALT_SIZE = 32
COMMITMENT_SIZE = 32
MAC_SIZE = 32


@dataclass(frozen=True, slots=True)
class Stanza:
    """One recipient: the key id, the algorithm, and the algorithm-specific body."""

    key_id: str
    algorithm: str
    body: bytes = field(repr=False)

    @property
    def kdf(self) -> str | None:
        """KDF id that protects the data key (HPKE and KEM transport stanzas), else None.

        It is read from the stanza as stored, so only decryption proves it.
        """
        suite = self._suite()
        return suite[0] if suite is not None else None

    @property
    def aead(self) -> str | None:
        """AEAD id that protects the data key (HPKE and KEM transport stanzas), else None."""
        suite = self._suite()
        return suite[1] if suite is not None else None

    def _suite(self) -> tuple[str, str] | None:
        # Imported here because recipients.py builds on this module.
        from .recipients import stanza_suite

        return stanza_suite(self)


@dataclass(frozen=True, slots=True)
class SignatureEntry:
    """One signature of a signature envelope."""

    key_id: str
    algorithm: str
    signature: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed envelope header.

    For an encrypted envelope ``payload_context`` is the immutable part that
    every payload chunk is bound to (magic, version, kind, payload section),
    ``authenticated`` is every header byte before the MAC, and ``length`` is
    the offset where the payload starts.
    """

    version: int
    kind: str
    length: int
    payload_algorithm: str | None = None
    chunk_size: int = 0
    salt: bytes = field(default=b"", repr=False)
    commitment: bytes = field(default=b"", repr=False)
    recipients: tuple[Stanza, ...] = ()
    mac: bytes = field(default=b"", repr=False)
    payload_context: bytes = field(default=b"", repr=False)
    authenticated: bytes = field(default=b"", repr=False)
    digest_algorithm: str | None = None
    signatures: tuple[SignatureEntry, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form printed by ``agile inspect --json``.

        A recipient whose stanza wraps the data key with a KDF and an AEAD (HPKE
        and KEM transport) also has ``kdf`` and ``aead``, their registry ids.
        """
        # Imported here because recipients.py builds on this module.
        from .recipients import stanza_suite

        data: dict[str, object] = {"version": self.version, "kind": self.kind}
        if self.kind == "encrypted":
            data["payload_algorithm"] = self.payload_algorithm
            data["chunk_size"] = self.chunk_size
            data["header_size"] = self.length
            recipients = []
            for stanza in self.recipients:
                entry = {"key_id": stanza.key_id, "algorithm": stanza.algorithm}
                suite = stanza_suite(stanza)
                if suite is not None:
                    entry["kdf"], entry["aead"] = suite
                recipients.append(entry)
            data["recipients"] = recipients
        else:
            data["digest_algorithm"] = self.digest_algorithm
            data["signatures"] = [
                {"key_id": s.key_id, "algorithm": s.algorithm} for s in self.signatures
            ]
        return data


# Encoding.


# Identifiers already encoded: the same algorithm ids and key ids come back in every envelope.
_encoded_ids: dict[str, bytes] = {}


def encode_id(value: str) -> bytes:
    """Return ``u8 length || value``, or raise InvalidArgument for an id readers would reject."""
    encoded = _encoded_ids.get(value) if isinstance(value, str) else None
    if encoded is not None:
        return encoded
    data = value.encode("ascii") if isinstance(value, str) and value.isascii() else b""
    if not 1 <= len(data) <= MAX_ID_SIZE or not _PRINTABLE.match(data):
        raise InvalidArgument(
            f"identifier {value!r} must be 1 to {MAX_ID_SIZE} printable ASCII characters",
            fix="use letters, digits and punctuation without spaces, as key ids and algorithm "
            "ids are",
        )
    encoded = bytes([len(data)]) + data
    if len(_encoded_ids) >= _CHECKED_IDS_SIZE:
        _encoded_ids.clear()
    _encoded_ids[value] = encoded
    return encoded


def encode_payload_section(
    payload_algorithm: str, chunk_size: int, salt: bytes, commitment: bytes
) -> bytes:
    return encode_id(payload_algorithm) + struct.pack(">I", chunk_size) + salt + commitment


def encode_stanzas(stanzas: list[Stanza] | tuple[Stanza, ...]) -> bytes:
    if not 1 <= len(stanzas) <= MAX_RECIPIENTS:
        raise InvalidArgument(
            f"an envelope needs 1 to {MAX_RECIPIENTS} recipients, got {len(stanzas)}",
            fix=f"encrypt to at most {MAX_RECIPIENTS} recipients, and split larger groups",
        )
    parts = [struct.pack(">H", len(stanzas))]
    for stanza in stanzas:
        inner = encode_id(stanza.key_id) + encode_id(stanza.algorithm) + stanza.body
        if len(inner) > MAX_STANZA:
            raise InvalidArgument(
                f"recipient stanza of {len(inner)} bytes exceeds {MAX_STANZA}",
                fix="encrypt to a KEM whose ciphertext fits in a stanza",
            )
        parts.append(struct.pack(">I", len(inner)) + inner)
    return b"".join(parts)


def preamble(kind: int, length: int) -> bytes:
    return MAGIC + bytes([VERSION, kind]) + struct.pack(">I", length)


# Parsing.


class _Reader:
    def __init__(self, data: bytes, offset: int, end: int) -> None:
        self.data = data
        self.offset = offset
        self.end = end

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.offset + size > self.end:
            raise InvalidEnvelope(f"envelope header is truncated in {what}")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int(struct.unpack(">H", self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int(struct.unpack(">I", self.take(4, what))[0])

    def ident(self, what: str) -> str:
        size = self.u8(what)
        if not 1 <= size <= MAX_ID_SIZE:
            raise InvalidEnvelope(f"{what} length {size} is out of range 1..{MAX_ID_SIZE}")
        raw = self.take(size, what)
        if not _PRINTABLE.match(raw):
            raise InvalidEnvelope(f"{what} is not printable ASCII")
        return raw.decode("ascii")


def _check_preamble(data: bytes) -> tuple[int, int]:
    """Return ``(kind, header length)`` from the first :data:`PREAMBLE_SIZE` bytes."""
    if len(data) < PREAMBLE_SIZE:
        raise InvalidEnvelope(
            f"input of {len(data)} bytes is too short for an agile envelope",
            fix="pass a complete envelope file",
        )
    if data[: len(MAGIC)] != MAGIC:
        raise InvalidEnvelope(
            "input is not an agile envelope (bad magic bytes)",
            fix="pass a file written by 'agile encrypt' or 'agile sign'",
        )
    version, kind = data[len(MAGIC)], data[len(MAGIC) + 1]
    if version != VERSION:
        raise InvalidEnvelope(
            f"envelope format version {version} is not supported (this agile reads {VERSION})",
            fix="upgrade agile",
        )
    if kind not in _KIND_NAMES:
        raise InvalidEnvelope(f"unknown envelope kind {kind}")
    length = int(struct.unpack(">I", data[len(MAGIC) + 2 : PREAMBLE_SIZE])[0])
    if not PREAMBLE_SIZE < length <= MAX_HEADER:
        raise InvalidEnvelope(
            f"envelope header length {length} is out of range {PREAMBLE_SIZE + 1}..{MAX_HEADER}",
            fix="the file is damaged or not an agile envelope",
        )
    return kind, length


def parse_header(data: bytes) -> Header:
    """Parse the header at the start of ``data`` (which may continue with the payload)."""
    kind, length = _check_preamble(data)
    if len(data) < length:
        raise InvalidEnvelope(
            f"envelope is truncated: header needs {length} bytes, {len(data)} present"
        )
    if kind == KIND_ENCRYPTED:
        return _parse_encrypted(data, length)
    return _parse_signature(data, length)


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

# Identifiers already checked, by their raw bytes: the same algorithm ids and key ids
# come back in every envelope, and a dictionary hit is cheaper than the regex.
_checked_ids: dict[bytes, str] = {}
_CHECKED_IDS_SIZE = 4096


def _truncated(what: str) -> InvalidEnvelope:
    return InvalidEnvelope(f"envelope header is truncated in {what}")


def _ident_at(data: bytes, offset: int, end: int, what: str, index: int = -1) -> tuple[str, int]:
    """Return the id at ``offset`` and the offset after it (``what`` names it in errors).

    With ``index`` >= 0, ``what`` is formatted with it, only when there is an error.
    """
    if offset >= end:
        raise _truncated(what.format(index))
    size = data[offset]
    if not 1 <= size <= MAX_ID_SIZE:
        raise InvalidEnvelope(
            f"{what.format(index)} length {size} is out of range 1..{MAX_ID_SIZE}"
        )
    stop = offset + 1 + size
    if stop > end:
        raise _truncated(what.format(index))
    raw = data[offset + 1 : stop]
    value = _checked_ids.get(raw)
    if value is None:
        if not _PRINTABLE.match(raw):
            raise InvalidEnvelope(f"{what.format(index)} is not printable ASCII")
        value = raw.decode("ascii")
        if len(_checked_ids) >= _CHECKED_IDS_SIZE:
            _checked_ids.clear()
        _checked_ids[bytes(raw)] = value
    return value, stop


def _parse_encrypted(data: bytes, length: int) -> Header:
    # The same checks, in the same order and with the same messages, as a field-by-field
    # reader. They are written out inline because every decrypt parses a header.
    end = length - MAC_SIZE
    payload_algorithm, offset = _ident_at(data, PREAMBLE_SIZE, end, "payload algorithm")
    if offset + 4 > end:
        raise _truncated("chunk size")
    (chunk_size,) = _U32.unpack_from(data, offset)
    offset += 4
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise InvalidEnvelope(
            f"chunk size {chunk_size} is out of range {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}"
        )
    if offset + SALT_SIZE > end:
        raise _truncated("salt")
    salt = data[offset : offset + SALT_SIZE]
    offset += SALT_SIZE
    if offset + COMMITMENT_SIZE > end:
        raise _truncated("key commitment")
    commitment = data[offset : offset + COMMITMENT_SIZE]
    payload_end = offset = offset + COMMITMENT_SIZE

    if offset + 2 > end:
        raise _truncated("recipient count")
    (count,) = _U16.unpack_from(data, offset)
    offset += 2
    if not 1 <= count <= MAX_RECIPIENTS:
        raise InvalidEnvelope(f"recipient count {count} is out of range 1..{MAX_RECIPIENTS}")
    stanzas = []
    for index in range(count):
        if offset + 4 > end:
            raise _truncated(f"recipient {index} length")
        (size,) = _U32.unpack_from(data, offset)
        offset += 4
        if size > MAX_STANZA:
            raise InvalidEnvelope(f"recipient {index} length {size} exceeds {MAX_STANZA}")
        stop = offset + size
        if stop > end:
            raise _truncated(f"recipient {index}")
        key_id, inner = _ident_at(data, offset, stop, "recipient {} key id", index)
        algorithm, inner = _ident_at(data, inner, stop, "recipient {} algorithm", index)
        stanzas.append(Stanza(key_id, algorithm, data[inner:stop]))
        offset = stop
    if offset != end:
        raise InvalidEnvelope(f"envelope header has {end - offset} unexpected bytes before its MAC")

    context = data[: len(MAGIC) + 2] + data[PREAMBLE_SIZE:payload_end]
    return Header(
        version=VERSION,
        kind="encrypted",
        length=length,
        payload_algorithm=payload_algorithm,
        chunk_size=chunk_size,
        salt=salt,
        commitment=commitment,
        recipients=tuple(stanzas),
        mac=data[end:length],
        payload_context=bytes(context),
        authenticated=bytes(data[:end]),
    )


def _parse_signature(data: bytes, length: int) -> Header:
    reader = _Reader(data, PREAMBLE_SIZE, length)
    digest_algorithm = reader.ident("digest algorithm")
    count = reader.u16("signature count")
    if not 1 <= count <= MAX_SIGNATURES:
        raise InvalidEnvelope(f"signature count {count} is out of range 1..{MAX_SIGNATURES}")
    entries = []
    for index in range(count):
        key_id = reader.ident(f"signature {index} key id")
        algorithm = reader.ident(f"signature {index} algorithm")
        size = reader.u32(f"signature {index} length")
        if size > MAX_SIGNATURE_SIZE:
            raise InvalidEnvelope(f"signature {index} length {size} exceeds {MAX_SIGNATURE_SIZE}")
        entries.append(SignatureEntry(key_id, algorithm, reader.take(size, f"signature {index}")))
    if reader.offset != length:
        raise InvalidEnvelope(f"signature envelope has {length - reader.offset} trailing bytes")
    if len(data) != length:
        raise InvalidEnvelope(
            f"signature envelope has {len(data) - length} bytes after its declared end"
        )
    return Header(
        version=VERSION,
        kind="signature",
        length=length,
        digest_algorithm=digest_algorithm,
        signatures=tuple(entries),
    )


def read_header_bytes(stream: BinaryIO, start: bytes = b"") -> bytes:
    """Read exactly the header bytes from ``stream``, checking the length before reading.

    ``start`` contains bytes already read from the stream (at most the preamble).
    """
    start += _read_exact(stream, PREAMBLE_SIZE - len(start))
    _kind, length = _check_preamble(start)
    rest = _read_exact(stream, length - PREAMBLE_SIZE)
    if len(rest) != length - PREAMBLE_SIZE:
        raise InvalidEnvelope(
            f"envelope is truncated: header needs {length} bytes, "
            f"{PREAMBLE_SIZE + len(rest)} present"
        )
    return start + rest


def check_binary_stream(stream: object, name: str) -> None:
    """Raise InvalidArgument unless ``stream`` looks like a readable binary file object."""
    if isinstance(stream, io.TextIOBase) or not callable(getattr(stream, "read", None)):
        kind = "a text stream" if isinstance(stream, io.TextIOBase) else type(stream).__name__
        raise InvalidArgument(
            f"{name} must be a binary file object, got {kind}",
            fix=f"open {name} in binary mode ('rb' or 'wb'), or wrap bytes in io.BytesIO",
        )
    check_open(stream, name)


def check_open(stream: object, name: str) -> None:
    """Raise InvalidArgument when ``stream`` is a closed file."""
    if getattr(stream, "closed", False) is True:
        raise InvalidArgument(f"{name} is a closed file", fix=f"pass {name} while it is still open")


def _wrong_mode(name: str, mode: str) -> InvalidArgument:
    return InvalidArgument(
        f"{name} does not support {'reading' if mode == 'rb' else 'writing'} "
        "(a file opened in the wrong mode)",
        fix=f"open {name} with mode '{mode}'",
    )


def check_buffer(value: object, name: str) -> None:
    """Raise InvalidArgument when ``value`` is a buffer that is not C-contiguous.

    A strided view (``view[::2]``, a transposed array) has no single byte order
    to encrypt, sign or hash without copying, so the caller chooses the copy.
    """
    if isinstance(value, memoryview) and not value.c_contiguous:
        raise InvalidArgument(
            f"{name} is a memoryview that is not C-contiguous",
            fix=f"pass bytes({name}) for a copy in C order, or a contiguous buffer",
        )


def read_block(stream: BinaryIO, size: int, name: str = "source") -> bytes:
    """Return one ``stream.read(size)``: bytes, at most ``size`` of them, empty at the end.

    A non-blocking stream with no data ready returns None.  Taking that for the end
    of the data would truncate the plaintext or the signed message.
    """
    try:
        data = stream.read(size)
    except io.UnsupportedOperation:
        raise _wrong_mode(name, "rb") from None
    if data is None:
        raise InvalidArgument(
            f"{name}.read() returned None: the stream is non-blocking and had no data ready",
            fix=f"pass a blocking file object as {name}, or read the data into bytes first",
        )
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) > size:
        got = f"{len(data)} items" if isinstance(data, memoryview) else type(data).__name__
        if isinstance(data, (bytes, bytearray)):
            got = f"{len(data)} bytes"
        raise InvalidArgument(
            f"{name}.read({size}) returned {got}, not at most {size} bytes",
            fix=f"pass a binary file object as {name} (open it with 'rb', or use io.BytesIO)",
        )
    return data if isinstance(data, bytes) else bytes(data)


def write_all(destination: BinaryIO, data: bytes) -> None:
    """Write all of ``data``, repeating ``destination.write`` after a short write.

    A raw file (``buffering=0``), a socket file or a pipe may accept fewer bytes
    than given and return the count.  Ignoring the count would lose the rest silently.
    """
    offset = 0
    while offset < len(data):
        try:
            count = destination.write(data[offset:] if offset else data)
        except io.UnsupportedOperation:
            raise _wrong_mode("destination", "wb") from None
        if count is None:
            if isinstance(destination, io.RawIOBase):
                raise InvalidArgument(
                    "destination.write() returned None: the stream is non-blocking and full",
                    fix="pass a blocking file object as destination",
                )
            # A caller's own file-like object whose write() returns None wrote everything.
            return
        if isinstance(count, bool) or not isinstance(count, int):
            count = -1
        if not 0 < count <= len(data) - offset:
            raise InvalidArgument(
                f"destination.write() of {len(data) - offset} bytes returned {count!r}",
                fix="pass a binary file object whose write() returns the number of bytes written",
            )
        offset += count


def read_stream_header(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """Read the header from a binary or armoured stream.

    Returns the header bytes and the stream to read the payload from: ``stream``
    itself for a binary envelope, else a reader that decodes the armour.
    """
    start = _read_exact(stream, PREAMBLE_SIZE)
    if not start.startswith(MAGIC):
        from .armour import open_envelope_stream

        stream = open_envelope_stream(stream, start)
        start = b""
    return read_header_bytes(stream, start), stream


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining:
        chunk = read_block(stream, remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def read_header(
    source: bytes | bytearray | memoryview | str | BinaryIO, *, check_armour: bool = False
) -> Header:
    """Parse an envelope's header without any key (bytes, armoured text or a binary stream).

    Armoured bytes or text are decoded whole, so damage to the armour anywhere
    raises :class:`InvalidEnvelope`.  From a stream only the header is read,
    unless ``check_armour`` is true.  Then armour is read on to its END line,
    and its payload is decoded and dropped without being authenticated.  An
    armoured stream with bad base64 or without its END line so fails here as
    it would when decrypted.
    """
    from .armour import dearmour_if_armoured

    if isinstance(source, (bytes, bytearray, memoryview, str)):
        check_buffer(source, "data")
        data = dearmour_if_armoured(source)
        if data[: len(MAGIC)] == MAGIC and len(data) >= PREAMBLE_SIZE:
            kind = data[len(MAGIC) + 1]
            if kind == KIND_SIGNATURE:
                return parse_header(data)
        return parse_header(data[: _header_length(data)])
    check_binary_stream(source, "source")
    head, stream = read_stream_header(source)
    if head[len(MAGIC) + 1] == KIND_SIGNATURE:
        header = _parse_signature(head, len(head))
    else:
        header = parse_header(head)
    if check_armour and stream is not source:
        # read_stream_header returns another stream only when it decodes armour.
        while read_block(stream, 1 << 16):
            pass
    return header


def _header_length(data: bytes) -> int:
    _kind, length = _check_preamble(data)
    return min(length, len(data))
