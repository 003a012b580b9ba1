"""Hostile callers of the library API: odd buffers and file objects that misbehave."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

import agile
from agile import envelope
from agile.errors import InvalidArgument
from agile.keys import Keystore

#: More than one default chunk, so that a stream has several writes.
DATA = os.urandom(300_000)


@pytest.fixture
def box(store: Keystore) -> Keystore:
    """Return the keystore with an x25519 keyset 'box' and an ed25519 keyset 'ed'."""
    store.create_keyset("box", "kem", "x25519")
    store.create_keyset("ed", "signature", "ed25519")
    return store


class ShortWriter(io.RawIOBase):
    """A raw destination that accepts at most 1,000 bytes per write, as a pipe may."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        taken = bytes(data)[:1000]
        self.data += taken
        return len(taken)


class FullWriter(ShortWriter):
    """A non-blocking raw destination whose second write finds the pipe full."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def write(self, data: Any) -> int | None:  # type: ignore[override]
        self.calls += 1
        if self.calls == 2:
            return None
        self.data += bytes(data)
        return len(data)


class EmptyReader(io.RawIOBase):
    """A non-blocking raw source with no data ready on its third read."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.source = io.BytesIO(data)
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self.calls += 1
        if self.calls == 3:
            return None
        data = self.source.read(min(len(buffer), 100_000))
        buffer[: len(data)] = data
        return len(data)


class GreedyReader:
    """A source whose read returns more bytes than asked for."""

    def __init__(self, data: bytes) -> None:
        self.source = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.source.read(size + 1 if size > 0 else size)


def test_encrypt_stream_short_write(box: Keystore) -> None:
    out = ShortWriter()
    written = agile.encrypt_stream(io.BytesIO(DATA), out, to="box", keystore=box)
    assert written == len(out.data)


def test_encrypt_stream_short_write_decrypts(box: Keystore) -> None:
    out = ShortWriter()
    agile.encrypt_stream(io.BytesIO(DATA), out, to="box", keystore=box)
    assert agile.decrypt(bytes(out.data), keystore=box) == DATA


def test_encrypt_stream_armour_short_write(box: Keystore) -> None:
    out = ShortWriter()
    agile.encrypt_stream(io.BytesIO(DATA), out, to="box", keystore=box, armor=True)
    assert agile.decrypt(bytes(out.data), keystore=box) == DATA


def test_decrypt_stream_short_write(box: Keystore) -> None:
    out = ShortWriter()
    agile.decrypt_stream(io.BytesIO(agile.encrypt(DATA, to="box", keystore=box)), out, keystore=box)
    assert bytes(out.data) == DATA


def test_encrypt_stream_full_pipe(box: Keystore) -> None:
    with pytest.raises(InvalidArgument, match="non-blocking"):
        agile.encrypt_stream(io.BytesIO(DATA), FullWriter(), to="box", keystore=box)


def test_decrypt_stream_full_pipe(box: Keystore) -> None:
    sealed = agile.encrypt(DATA, to="box", keystore=box)
    with pytest.raises(InvalidArgument, match="non-blocking"):
        agile.decrypt_stream(io.BytesIO(sealed), FullWriter(), keystore=box)


def test_encrypt_stream_empty_read(box: Keystore) -> None:
    with pytest.raises(InvalidArgument, match="returned None"):
        agile.encrypt_stream(EmptyReader(DATA), io.BytesIO(), to="box", keystore=box)


def test_decrypt_stream_empty_read(box: Keystore) -> None:
    sealed = agile.encrypt(DATA, to="box", keystore=box)
    with pytest.raises(InvalidArgument, match="returned None"):
        agile.decrypt_stream(EmptyReader(sealed), io.BytesIO(), keystore=box)


def test_sign_empty_read(box: Keystore) -> None:
    with pytest.raises(InvalidArgument, match="returned None"):
        agile.sign(EmptyReader(DATA), keysets="ed", keystore=box)


def test_verify_empty_read(box: Keystore) -> None:
    signature = agile.sign(DATA, keysets="ed", keystore=box)
    with pytest.raises(InvalidArgument, match="returned None"):
        agile.verify(signature, EmptyReader(DATA), keystore=box)


def test_encrypt_stream_greedy_read(box: Keystore) -> None:
    with pytest.raises(InvalidArgument, match="not at most"):
        agile.encrypt_stream(GreedyReader(DATA), io.BytesIO(), to="box", keystore=box)


def test_encrypt_stream_read_only_destination(box: Keystore, tmp_path: Path) -> None:
    path = tmp_path / "target"
    path.write_bytes(b"")
    with path.open("rb") as target, pytest.raises(InvalidArgument, match="writing"):
        agile.encrypt_stream(io.BytesIO(DATA), target, to="box", keystore=box)


def test_decrypt_stream_read_only_destination(box: Keystore, tmp_path: Path) -> None:
    sealed = agile.encrypt(DATA, to="box", keystore=box)
    path = tmp_path / "target"
    path.write_bytes(b"")
    with path.open("rb", buffering=0) as target, pytest.raises(InvalidArgument, match="writing"):
        agile.decrypt_stream(io.BytesIO(sealed), target, keystore=box)


def test_encrypt_stream_write_only_source(box: Keystore, tmp_path: Path) -> None:
    with (
        (tmp_path / "source").open("wb") as source,
        pytest.raises(InvalidArgument, match="reading"),
    ):
        agile.encrypt_stream(source, io.BytesIO(), to="box", keystore=box)


def test_encrypt_stream_closed_source(box: Keystore) -> None:
    source = io.BytesIO(DATA)
    source.close()
    with pytest.raises(InvalidArgument, match="closed"):
        agile.encrypt_stream(source, io.BytesIO(), to="box", keystore=box)


def test_decrypt_stream_closed_destination(box: Keystore) -> None:
    sealed = agile.encrypt(DATA, to="box", keystore=box)
    target = io.BytesIO()
    target.close()
    with pytest.raises(InvalidArgument, match="closed"):
        agile.decrypt_stream(io.BytesIO(sealed), target, keystore=box)


STRIDED = memoryview(b"abcdefgh")[::2]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda ks: agile.encrypt(STRIDED, to="box", keystore=ks), id="encrypt"),
        pytest.param(
            lambda ks: agile.encrypt(b"m", to="box", keystore=ks, aad=STRIDED), id="encrypt-aad"
        ),
        pytest.param(
            lambda ks: agile.decrypt(agile.encrypt(b"m", to="box", keystore=ks), aad=STRIDED),
            id="decrypt-aad",
        ),
        pytest.param(lambda ks: agile.decrypt(STRIDED, keystore=ks), id="decrypt"),
        pytest.param(lambda ks: agile.sign(STRIDED, keysets="ed", keystore=ks), id="sign"),
        pytest.param(
            lambda ks: agile.verify(agile.sign(b"aceg", keysets="ed", keystore=ks), STRIDED),
            id="verify",
        ),
        pytest.param(lambda ks: agile.inspect(STRIDED), id="inspect"),
        pytest.param(lambda ks: envelope.encrypt(STRIDED, ks.keyset("box")), id="envelope"),
    ],
)
def test_strided_buffer(box: Keystore, call: Any) -> None:
    with pytest.raises(InvalidArgument, match="C-contiguous"):
        call(box)


def test_two_dimensional_buffer(box: Keystore) -> None:
    grid = memoryview(bytes(range(12))).cast("B", (3, 4))
    sealed = agile.encrypt(grid, to="box", keystore=box)
    assert agile.decrypt(sealed, keystore=box) == bytes(range(12))


def test_wide_items_buffer(box: Keystore) -> None:
    words = memoryview(bytes(range(16))).cast("I")
    sealed = agile.encrypt(words, to="box", keystore=box)
    assert agile.decrypt(sealed, keystore=box) == bytes(range(16))
