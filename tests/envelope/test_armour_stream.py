"""Armour that streams: encoding and decoding in bounded memory, and what the reader rejects."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from agile import envelope
from agile.envelope.armour import ArmourWriter, armour, dearmour, open_envelope_stream
from agile.envelope.format import MAGIC
from agile.errors import InvalidEnvelope
from agile.keys import Keystore

#: An encrypted-envelope preamble (kind 1) followed by filler bytes.
ENCRYPTED = MAGIC + b"\x01\x01" + bytes(300)

FILE_SIZE = 16 << 20
MEMORY_LIMIT = 1 << 20
CHUNK = 64 << 10


class _CountingReader(io.RawIOBase):
    """A binary stream over ``data`` that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._inner = io.BytesIO(data)
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


@pytest.mark.parametrize("size", [10, 47, 48, 49, 95, 96, 97, 1000])
def test_writer_matches_armour(size: int) -> None:
    data = MAGIC + b"\x01\x01" + os.urandom(size)
    output = io.BytesIO()
    writer = ArmourWriter(output, 1)
    for start in range(0, len(data), 7):
        writer.write(data[start : start + 7])
    writer.close()
    assert output.getvalue() == armour(data)


def test_writer_counts_bytes() -> None:
    output = io.BytesIO()
    writer = ArmourWriter(output, 1)
    writer.write(ENCRYPTED)
    writer.close()
    assert writer.written == len(output.getvalue())


@pytest.mark.parametrize(
    "text",
    [
        armour(ENCRYPTED).replace(b"\n", b"\r\n"),
        armour(ENCRYPTED).replace(b"\n", b"\n\n"),
        armour(ENCRYPTED) + b" \n\t\n",
        b" " * 200_000 + armour(ENCRYPTED),
    ],
    ids=["crlf", "blank-lines", "whitespace-after", "long-whitespace-before"],
)
def test_reader_accepts(text: bytes) -> None:
    assert dearmour(text) == ENCRYPTED


def test_reader_one_long_line() -> None:
    """Base64 on one line longer than a read block decodes in parts."""
    data = MAGIC + b"\x01\x01" + os.urandom(300_000)
    lines = armour(data).split(b"\n")
    text = b"\n".join([lines[0], b"".join(lines[1:-2]), lines[-2], b""])
    assert dearmour(text) == data


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (armour(ENCRYPTED).rsplit(b"-----END", 1)[0], "malformed"),
        (armour(ENCRYPTED) + b"more text\n", "text after the END line"),
        (armour(ENCRYPTED).replace(b"END AGILE ENCRYPTED", b"END AGILE SIGNED"), "malformed"),
        (armour(ENCRYPTED).replace(b"-----\n", b"-----\nnot base64!\n", 1), "invalid base64"),
        (armour(b"\x00" * 4).replace(b"AAAAAA==", b"AAAAAA==AAAA"), "invalid base64"),
        (armour(b"\x00" * 4).replace(b"AAAAAA==", b"AAAAAA"), "invalid base64"),
        (b"-----BEGIN AGILE ENCRYPTED MESSAGE-----", "malformed"),
    ],
    ids=["no-end", "text-after", "wrong-end", "garbage-line", "after-padding", "cut-quad", "only"],
)
def test_reader_rejects(text: bytes, needle: str) -> None:
    with pytest.raises(InvalidEnvelope, match=needle):
        dearmour(text)


def test_text_before_begin() -> None:
    stream = io.BytesIO(b"Subject: the file\n\n" + armour(ENCRYPTED))
    with pytest.raises(InvalidEnvelope, match="text before the BEGIN line"):
        open_envelope_stream(stream)


def test_binary_passes_through() -> None:
    assert open_envelope_stream(io.BytesIO(ENCRYPTED)).read() == ENCRYPTED


def test_inspect_reads_header_only(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    text = envelope.encrypt(bytes(4 << 20), keyset, armor=True)
    source = _CountingReader(text)

    header = envelope.read_header(source)

    assert header.recipients[0].key_id == keyset.primary.id
    assert source.count < 256 << 10


def test_armoured_stream_round_trip(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = io.BytesIO()
    envelope.encrypt_stream(io.BytesIO(b"m" * 5000), sealed, keyset, chunk_size=1024, armor=True)
    plain = io.BytesIO()
    envelope.decrypt_stream(io.BytesIO(sealed.getvalue()), plain, store)
    assert plain.getvalue() == b"m" * 5000


def test_armoured_stream_is_armour(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = io.BytesIO()
    envelope.encrypt_stream(io.BytesIO(b"m"), sealed, keyset, armor=True)
    assert sealed.getvalue().startswith(b"-----BEGIN AGILE ENCRYPTED MESSAGE-----\n")


def test_armoured_stream_tampered(store: Keystore) -> None:
    """A damaged armoured chunk fails like a damaged binary one, after the good chunks."""
    from agile.errors import AuthenticationFailed

    keyset = store.create_keyset("r", "kem", "x25519")
    binary = bytearray(envelope.encrypt(bytes(5 * 1024), keyset, chunk_size=1024))
    binary[-5] ^= 1
    output = io.BytesIO()
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt_stream(io.BytesIO(armour(bytes(binary))), output, store)
    assert len(output.getvalue()) == 4 * 1024


def test_armoured_file_larger_than_memory_limit(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("r", "kem", "x-wing")
    envelope.encrypt(b"warm up", keyset)  # unseal and parse keys before measuring
    source, sealed, plain = tmp_path / "in", tmp_path / "in.asc", tmp_path / "out"
    with open(source, "wb") as handle:
        for _ in range(FILE_SIZE // (1 << 20)):
            handle.write(os.urandom(1 << 20))

    tracemalloc.start()
    with open(source, "rb") as reader, open(sealed, "wb") as writer:
        envelope.encrypt_stream(reader, writer, keyset, chunk_size=CHUNK, armor=True)
    _size, encrypt_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with open(sealed, "rb") as reader, open(plain, "wb") as writer:
        envelope.decrypt_stream(reader, writer, store)
    _size, decrypt_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert encrypt_peak < MEMORY_LIMIT
    assert decrypt_peak < MEMORY_LIMIT
    assert plain.read_bytes() == source.read_bytes()
