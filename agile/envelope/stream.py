"""The payload: STREAM chunked AEAD (Hoang, Reyhanitabar, Rogaway, Vizár 2015, §7).

Chunk ``i`` is sealed with nonce ``prefix || u32(i) || flag``, where ``flag``
is 1 for the last chunk and 0 otherwise.  Every chunk except the last contains
exactly ``chunk_size`` plaintext bytes; the last contains 0 to ``chunk_size``.
Dropping chunks at the end makes the new last chunk fail its tag, because it
was sealed with flag 0.  Reordering changes the counter.  Appending data makes
the real last chunk fail, because it was sealed with flag 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from .. import registry
from ..errors import AuthenticationFailed, InvalidEnvelope
from ..registry import AEAD, AEADContext

__all__ = ["PayloadSealer", "PayloadOpener", "MAX_CHUNKS", "aead_implementation"]

MAX_CHUNKS = 1 << 32

_aeads: dict[str, AEAD] = {}


def aead_implementation(algorithm: str) -> AEAD:
    """Return the registry's preferred AEAD for ``algorithm``, looked up once per process."""
    implementation = _aeads.get(algorithm)
    if implementation is None:
        implementation = registry.aead(algorithm)
        _aeads[algorithm] = implementation
    return implementation


def read_exact(stream: BinaryIO, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _Stream:
    def __init__(self, algorithm: str, key: bytes, prefix: bytes, associated_data: bytes) -> None:
        implementation = aead_implementation(algorithm)
        self.context: AEADContext = implementation.new(key)
        self.tag_size = implementation.tag_size
        # pyca/cryptography's AEADs read any buffer, which saves a copy per chunk;
        # other providers (PyNaCl) take bytes only.
        self.takes_buffers = implementation.provider == "openssl"
        self.prefix = prefix
        self.associated_data = associated_data
        self.counter = 0

    def nonce(self, final: bool) -> bytes:
        if self.counter >= MAX_CHUNKS:
            raise InvalidEnvelope(
                f"payload exceeds {MAX_CHUNKS} chunks",
                fix="use a larger chunk size or split the data",
            )
        return self.prefix + struct.pack(">IB", self.counter, 1 if final else 0)


class PayloadSealer(_Stream):
    """Seal plaintext chunk by chunk."""

    def seal(self, chunk: bytes | memoryview, final: bool) -> bytes:
        data = chunk if self.takes_buffers else bytes(chunk)
        sealed = self.context.encrypt(self.nonce(final), data, self.associated_data)  # type: ignore[arg-type]
        self.counter += 1
        return sealed

    def seal_bytes(
        self, plaintext: bytes | bytearray | memoryview, chunk_size: int
    ) -> Iterator[bytes]:
        view = memoryview(plaintext)
        total = len(view)
        offset = 0
        while total - offset > chunk_size:
            yield self.seal(view[offset : offset + chunk_size], final=False)
            offset += chunk_size
        yield self.seal(view[offset:], final=True)

    def seal_stream(self, source: BinaryIO, chunk_size: int) -> Iterator[bytes]:
        current = read_exact(source, chunk_size)
        while True:
            following = read_exact(source, chunk_size)
            if not following:
                yield self.seal(current, final=True)
                return
            yield self.seal(current, final=False)
            current = following


class PayloadOpener(_Stream):
    """Open sealed chunks, yielding only authenticated plaintext."""

    def open(self, sealed: bytes | memoryview, final: bool) -> bytes:
        if len(sealed) < self.tag_size:
            raise AuthenticationFailed(
                f"payload chunk {self.counter} is truncated ({len(sealed)} bytes)",
                fix="the envelope was cut short; restore it from a good copy",
            )
        try:
            data = sealed if self.takes_buffers else bytes(sealed)
            plaintext = self.context.decrypt(self.nonce(final), data, self.associated_data)  # type: ignore[arg-type]
        except AuthenticationFailed:
            where = "last chunk" if final else "chunk"
            raise AuthenticationFailed(
                f"payload {where} {self.counter} failed authentication "
                "(tampered, truncated, reordered or extended, or wrong associated data)",
                fix="restore the envelope from a good copy and check the associated data",
            ) from None
        self.counter += 1
        return plaintext

    def open_bytes(self, payload: bytes | memoryview, chunk_size: int) -> Iterator[bytes]:
        view = memoryview(payload)
        size = chunk_size + self.tag_size
        offset = 0
        while len(view) - offset > size:
            yield self.open(view[offset : offset + size], final=False)
            offset += size
        yield self.open(view[offset:], final=True)

    def open_stream(self, source: BinaryIO, chunk_size: int) -> Iterator[bytes]:
        size = chunk_size + self.tag_size
        current = read_exact(source, size)
        while True:
            following = read_exact(source, size) if len(current) == size else b""
            if not following:
                yield self.open(current, final=True)
                return
            yield self.open(current, final=False)
            current = following
