"""The payload: STREAM chunked AEAD (Hoang, Reyhanitabar, Rogaway, Vizár 2015, §7).

Chunk ``i`` is sealed with nonce ``prefix || u32(i) || flag``, where ``flag``
is 1 for the last chunk and 0 otherwise.  Every chunk except the last contains
exactly ``chunk_size`` plaintext bytes; the last contains 0 to ``chunk_size``.
Dropping chunks at the end makes the new last chunk fail its tag, because it
was sealed with flag 0.  Reordering changes the counter.  Appending data makes
the real last chunk be opened as non-last, so its tag fails too.

Speed: the AEAD object is bound once per message.  With the ``openssl``
provider the chunks are sealed and opened by pyca/cryptography's
``encrypt_into`` and ``decrypt_into`` straight into one preallocated output
buffer, so the bytes API makes no copy per chunk beyond the AEAD's own pass.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV, ChaCha20Poly1305

from .. import registry
from ..errors import AuthenticationFailed, InvalidEnvelope
from ..registry import AEAD, AEADContext
from .format import check_buffer, read_block

__all__ = [
    "PayloadSealer",
    "PayloadOpener",
    "MAX_CHUNKS",
    "aead_implementation",
    "sealed_size",
    "opened_size",
]

MAX_CHUNKS = 1 << 32

_aeads: dict[str, AEAD] = {}

# The pyca/cryptography class behind each AEAD of the ``openssl`` provider (the same
# table as agile.registry.providers.openssl).  These classes take any buffer and write
# into caller buffers, which the registry's AEADContext interface does not offer.
_OPENSSL_CIPHERS: dict[str, Any] = {
    "aes-128-gcm": AESGCM,
    "aes-256-gcm": AESGCM,
    "aes-256-gcm-siv": AESGCMSIV,
    "chacha20-poly1305": ChaCha20Poly1305,
}

_COUNTER_AND_FLAG = struct.Struct(">IB")


def aead_implementation(algorithm: str) -> AEAD:
    """Return the registry's preferred AEAD for ``algorithm``, looked up once per process."""
    implementation = _aeads.get(algorithm)
    if implementation is None:
        implementation = registry.aead(algorithm)
        _aeads[algorithm] = implementation
    return implementation


@dataclass(frozen=True, slots=True)
class _Parameters:
    """The sizes and implementation of one payload AEAD, read once from the registry."""

    implementation: AEAD
    key_size: int
    nonce_size: int
    tag_size: int
    #: The pyca/cryptography class, when the registry's choice is the ``openssl`` provider.
    cipher: Any


_parameters: dict[str, _Parameters] = {}


def parameters(algorithm: str) -> _Parameters:
    """Return the AEAD's sizes and implementation for ``algorithm`` (cached per process)."""
    found = _parameters.get(algorithm)
    if found is None:
        implementation = aead_implementation(algorithm)
        cipher = None
        if implementation.provider == "openssl":
            cipher = _OPENSSL_CIPHERS.get(algorithm)
        found = _Parameters(
            implementation,
            implementation.key_size,
            implementation.nonce_size,
            implementation.tag_size,
            cipher,
        )
        _parameters[algorithm] = found
    return found


def chunk_count(plaintext_size: int, chunk_size: int) -> int:
    """Return the number of chunks of a payload: full ones, then a last one of 0..chunk_size."""
    return max(1, -(-plaintext_size // chunk_size))


def sealed_size(plaintext_size: int, chunk_size: int, tag_size: int) -> int:
    """Return the payload size of ``plaintext_size`` bytes sealed in chunks."""
    return plaintext_size + tag_size * chunk_count(plaintext_size, chunk_size)


def opened_size(payload_size: int, chunk_size: int, tag_size: int) -> int:
    """Return the plaintext size of a payload, or -1 when its last chunk is shorter than a tag."""
    step = chunk_size + tag_size
    count = max(1, -(-payload_size // step))
    last = payload_size - (count - 1) * step
    if last < tag_size:
        return -1
    return payload_size - tag_size * count


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    """Return a view of ``data`` whose length counts bytes."""
    check_buffer(memoryview(data), "the data")
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def read_exact(stream: BinaryIO, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining:
        chunk = read_block(stream, remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _Stream:
    def __init__(self, algorithm: str, key: bytes, prefix: bytes, associated_data: bytes) -> None:
        found = parameters(algorithm)
        self.tag_size = found.tag_size
        # pyca/cryptography's AEADs read any buffer and write into one, which saves a
        # copy per chunk; other providers (PyNaCl) take and return bytes only.
        self.raw: Any = None
        self.context: AEADContext | None = None
        if found.cipher is not None and len(key) == found.key_size:
            self.raw = found.cipher(key)
        else:
            self.context = found.implementation.new(key)
        self.prefix = prefix
        self.associated_data = associated_data
        self.counter = 0

    def nonce(self, final: bool) -> bytes:
        if self.counter >= MAX_CHUNKS:
            raise InvalidEnvelope(
                f"payload exceeds {MAX_CHUNKS} chunks",
                fix="use a larger chunk size or split the data",
            )
        return self.prefix + _COUNTER_AND_FLAG.pack(self.counter, 1 if final else 0)


class PayloadSealer(_Stream):
    """Seal plaintext chunk by chunk."""

    def seal(self, chunk: bytes | memoryview, final: bool) -> bytes:
        nonce = self.nonce(final)
        if self.raw is not None:
            sealed: bytes = self.raw.encrypt(nonce, chunk, self.associated_data)
        else:
            assert self.context is not None
            sealed = self.context.encrypt(nonce, bytes(chunk), self.associated_data)
        self.counter += 1
        return sealed

    def seal_into(self, chunk: memoryview, final: bool, out: memoryview) -> None:
        """Seal ``chunk`` into ``out``, which is exactly ``len(chunk) + tag`` bytes."""
        if self.raw is not None:
            self.raw.encrypt_into(self.nonce(final), chunk, self.associated_data, out)
            self.counter += 1
        else:
            out[:] = self.seal(chunk, final)

    def seal_all(
        self, head: bytes, plaintext: bytes | bytearray | memoryview, chunk_size: int
    ) -> bytes:
        """Return ``head`` followed by every sealed chunk of ``plaintext``, as one bytes object.

        The output is allocated once at its final size and each chunk is sealed
        into its place.  A ``BytesIO`` serves as the buffer because its
        ``getvalue`` hands the buffer over as ``bytes`` without a copy once no
        view of it is left.
        """
        view = _byte_view(plaintext)
        total = len(view)
        if total <= chunk_size:
            # One chunk: one AEAD call and one concatenation.
            return head + self.seal(view, final=True)
        size = len(head) + sealed_size(total, chunk_size, self.tag_size)
        buffer = io.BytesIO()
        buffer.write(head)
        buffer.seek(size - 1)
        buffer.write(b"\x00")
        step = chunk_size + self.tag_size
        with buffer.getbuffer() as out:
            position = len(head)
            offset = 0
            while total - offset > chunk_size:
                self.seal_into(
                    view[offset : offset + chunk_size], False, out[position : position + step]
                )
                offset += chunk_size
                position += step
            self.seal_into(view[offset:], True, out[position:])
        return buffer.getvalue()

    def seal_bytes(
        self, plaintext: bytes | bytearray | memoryview, chunk_size: int
    ) -> Iterator[bytes]:
        view = _byte_view(plaintext)
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

    def _truncated(self, size: int) -> AuthenticationFailed:
        return AuthenticationFailed(
            f"payload chunk {self.counter} is truncated ({size} bytes)",
            fix="the envelope was cut short; restore it from a good copy",
        )

    def _failed(self, final: bool) -> AuthenticationFailed:
        where = "last chunk" if final else "chunk"
        return AuthenticationFailed(
            f"payload {where} {self.counter} failed authentication "
            "(tampered, truncated, reordered or extended, or wrong associated data)",
            fix="restore the envelope from a good copy and check the associated data",
        )

    def open(self, sealed: bytes | memoryview, final: bool) -> bytes:
        if len(sealed) < self.tag_size:
            raise self._truncated(len(sealed))
        nonce = self.nonce(final)
        try:
            if self.raw is not None:
                plaintext: bytes = self.raw.decrypt(nonce, sealed, self.associated_data)
            else:
                assert self.context is not None
                plaintext = self.context.decrypt(nonce, bytes(sealed), self.associated_data)
        except (AuthenticationFailed, InvalidTag):
            raise self._failed(final) from None
        self.counter += 1
        return plaintext

    def open_into(self, sealed: memoryview, final: bool, out: memoryview) -> None:
        """Open ``sealed`` into ``out`` (exactly ``len(sealed) - tag`` bytes).

        On failure ``out`` may hold unauthenticated bytes: the caller discards it.
        """
        if self.raw is None:
            out[:] = self.open(sealed, final)
            return
        nonce = self.nonce(final)
        try:
            self.raw.decrypt_into(nonce, sealed, self.associated_data, out)
        except InvalidTag:
            raise self._failed(final) from None
        self.counter += 1

    def open_all(self, payload: bytes | memoryview, chunk_size: int) -> bytes:
        """Open every chunk of ``payload`` and return the whole plaintext.

        Nothing is returned unless every chunk verified: the plaintext goes into
        a private buffer that is dropped when a tag fails.
        """
        view = _byte_view(payload)
        total = len(view)
        step = chunk_size + self.tag_size
        if total <= step:
            return self.open(view, final=True)
        size = opened_size(total, chunk_size, self.tag_size)
        if size < 0:
            # The last chunk is shorter than a tag: report it in order, as the reader would.
            return b"".join(self.open_bytes(view, chunk_size))
        buffer = io.BytesIO()
        if size:
            buffer.seek(size - 1)
            buffer.write(b"\x00")
        with buffer.getbuffer() as out:
            offset = 0
            position = 0
            while total - offset > step:
                self.open_into(
                    view[offset : offset + step], False, out[position : position + chunk_size]
                )
                offset += step
                position += chunk_size
            self.open_into(view[offset:], True, out[position:])
        return buffer.getvalue()

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
