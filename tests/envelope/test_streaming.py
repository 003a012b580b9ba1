from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

from agile import envelope
from agile.keys import Keystore

#: The file is 16 MiB; streaming must stay under 1 MiB of Python allocations.
FILE_SIZE = 16 << 20
MEMORY_LIMIT = 1 << 20
CHUNK = 64 << 10


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stream_file_larger_than_memory_limit(store: Keystore, tmp_path: Path) -> None:
    keyset = store.create_keyset("r", "kem", "x-wing")
    envelope.encrypt(b"warm up", keyset)  # unseal and parse keys before measuring
    source, sealed, plain = tmp_path / "in", tmp_path / "in.agile", tmp_path / "out"
    with open(source, "wb") as handle:
        for _ in range(FILE_SIZE // (1 << 20)):
            handle.write(os.urandom(1 << 20))

    tracemalloc.start()
    with open(source, "rb") as reader, open(sealed, "wb") as writer:
        envelope.encrypt_stream(reader, writer, keyset, chunk_size=CHUNK)
    _size, encrypt_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with open(sealed, "rb") as reader, open(plain, "wb") as writer:
        envelope.decrypt_stream(reader, writer, store)
    _size, decrypt_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert encrypt_peak < MEMORY_LIMIT
    assert decrypt_peak < MEMORY_LIMIT
    assert _digest(plain) == _digest(source)


def test_stream_writes_only_authenticated_chunks(store: Keystore, tmp_path: Path) -> None:
    import io

    import pytest

    from agile.errors import AuthenticationFailed

    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = bytearray(envelope.encrypt(bytes(5 * 1024), keyset, chunk_size=1024))
    sealed[-5] ^= 1
    output = io.BytesIO()
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt_stream(io.BytesIO(bytes(sealed)), output, store)
    assert len(output.getvalue()) == 4 * 1024
