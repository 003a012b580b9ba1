from __future__ import annotations

import io
import struct

import pytest

from agile import envelope
from agile.envelope.format import MAGIC, MAX_HEADER, MIN_CHUNK_SIZE, PREAMBLE_SIZE
from agile.errors import (
    AuthenticationFailed,
    InvalidEnvelope,
    KeyNotFound,
    PolicyViolation,
    UnsupportedAlgorithm,
)
from agile.keys import Keystore

#: What a damaged envelope may raise; anything else (or a plaintext) is a failure.
ENVELOPE_ERRORS = (
    InvalidEnvelope,
    AuthenticationFailed,
    KeyNotFound,
    UnsupportedAlgorithm,
    PolicyViolation,
)

TAG = 16


@pytest.fixture
def sample(store: Keystore) -> bytes:
    keyset = store.create_keyset("r", "kem", "x25519")
    return envelope.encrypt(b"attack at dawn", keyset, aad=b"ctx")


def test_every_bit_flip_rejected(store: Keystore, sample: bytes) -> None:
    accepted = []
    for bit in range(len(sample) * 8):
        damaged = bytearray(sample)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            envelope.decrypt(bytes(damaged), store, aad=b"ctx")
        except ENVELOPE_ERRORS:
            continue
        accepted.append(bit)
    assert accepted == []


def test_every_bit_flip_rejected_xwing_two_recipients(store: Keystore) -> None:
    recipients = [store.create_keyset("a", "kem", "x-wing"), store.create_keyset("b", "aead")]
    sample = envelope.encrypt(b"m" * 40, recipients)
    accepted = []
    for bit in range(0, len(sample) * 8, 7):
        damaged = bytearray(sample)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            envelope.decrypt(bytes(damaged), store)
        except ENVELOPE_ERRORS:
            continue
        accepted.append(bit)
    assert accepted == []


@pytest.fixture
def chunked(store: Keystore) -> tuple[bytes, int]:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(bytes(3 * MIN_CHUNK_SIZE + 100), keyset, chunk_size=MIN_CHUNK_SIZE)
    return sealed, envelope.read_header(sealed).length


def test_truncation_at_chunk_boundaries(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, start = chunked
    for chunks in range(0, 4):
        cut = start + chunks * (MIN_CHUNK_SIZE + TAG)
        with pytest.raises(ENVELOPE_ERRORS):
            envelope.decrypt(sealed[:cut], store)


def test_truncation_between_boundaries(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, start = chunked
    for cut in range(start + 1, len(sealed), 97):
        with pytest.raises(ENVELOPE_ERRORS):
            envelope.decrypt(sealed[:cut], store)


def test_truncation_streaming(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, start = chunked
    for chunks in range(0, 4):
        cut = start + chunks * (MIN_CHUNK_SIZE + TAG)
        output = io.BytesIO()
        with pytest.raises(ENVELOPE_ERRORS):
            envelope.decrypt_stream(io.BytesIO(sealed[:cut]), output, store)
        assert len(output.getvalue()) <= max(0, chunks - 1) * MIN_CHUNK_SIZE


def test_truncated_header(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, start = chunked
    for cut in range(0, start, 13):
        with pytest.raises(InvalidEnvelope):
            envelope.decrypt(sealed[:cut], store)


def test_extension(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, _start = chunked
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt(sealed + b"\x00", store)


def test_extension_by_copied_chunk(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, start = chunked
    first = sealed[start : start + MIN_CHUNK_SIZE + TAG]
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt(sealed + first, store)


def test_reordered_chunks(store: Keystore, chunked: tuple[bytes, int]) -> None:
    sealed, start = chunked
    size = MIN_CHUNK_SIZE + TAG
    first, second = sealed[start : start + size], sealed[start + size : start + 2 * size]
    swapped = sealed[:start] + second + first + sealed[start + 2 * size :]
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt(swapped, store)


def test_payload_moved_to_other_header(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    one = envelope.encrypt(b"one", keyset)
    two = envelope.encrypt(b"two", keyset)
    length = envelope.read_header(one).length
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt(two[:length] + one[length:], store)


def test_stanza_moved_to_other_envelope(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    one = envelope.encrypt(b"one", keyset)
    two = envelope.encrypt(b"two", keyset)
    header_one, header_two = envelope.read_header(one), envelope.read_header(two)
    stanza_start = PREAMBLE_SIZE + 1 + len("aes-256-gcm") + 4 + 32 + 32
    spliced = two[:stanza_start] + one[stanza_start : header_one.length] + two[header_two.length :]
    with pytest.raises(ENVELOPE_ERRORS):
        envelope.decrypt(spliced, store)


def test_huge_header_length_rejected_before_reading() -> None:
    claimed = MAGIC + bytes([1, 1]) + struct.pack(">I", 0xFFFFFFFF)

    class Guard(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(claimed + bytes(64))

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            if size < 0 or size > MAX_HEADER:
                raise AssertionError(f"reader asked for {size} bytes")
            return self.data.read(size)

    with pytest.raises(InvalidEnvelope):
        envelope.read_header(Guard())


def test_huge_chunk_size_rejected(store: Keystore, sample: bytes) -> None:
    header = envelope.read_header(sample)
    offset = PREAMBLE_SIZE + 1 + len(header.payload_algorithm or "")
    damaged = sample[:offset] + struct.pack(">I", 0xFFFFFFFF) + sample[offset + 4 :]
    with pytest.raises(InvalidEnvelope):
        envelope.decrypt(damaged, store, aad=b"ctx")


def test_huge_stanza_length_rejected(store: Keystore, sample: bytes) -> None:
    header = envelope.read_header(sample)
    offset = PREAMBLE_SIZE + 1 + len(header.payload_algorithm or "") + 4 + 32 + 32 + 2
    damaged = sample[:offset] + struct.pack(">I", 0x7FFFFFFF) + sample[offset + 4 :]
    with pytest.raises(InvalidEnvelope):
        envelope.read_header(damaged)


def test_bad_magic() -> None:
    with pytest.raises(InvalidEnvelope):
        envelope.read_header(b"PK\x03\x04" + bytes(40))


def test_future_version(sample: bytes) -> None:
    damaged = sample[: len(MAGIC)] + b"\x02" + sample[len(MAGIC) + 1 :]
    with pytest.raises(InvalidEnvelope):
        envelope.read_header(damaged)


def test_bad_armour() -> None:
    with pytest.raises(InvalidEnvelope):
        envelope.read_header(b"-----BEGIN AGILE ENCRYPTED MESSAGE-----\n!!!\n")
