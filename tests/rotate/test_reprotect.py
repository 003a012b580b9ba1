"""Per-object rewrap and re-encrypt in rotation, and the checks that reject a bad result."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header
from agile.envelope.format import parse_header
from agile.errors import AuthenticationFailed, RotationError
from agile.rotate import open_store
from agile.rotate.executor import _start_method
from agile.rotate.migrate import MigrationContext
from agile.rotate.stores.base import Joined, Swap

PLAINTEXT = bytes(range(256)) * 11 + b"tail"


class World:
    """x25519 -> x-wing under pq-hybrid, with envelopes made while the old key was primary."""

    def __init__(self, keystore, home: Path) -> None:
        keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
        self.old = keyset.primary.id
        new_key = keyset.add_key("x-wing", policy="pq-hybrid")
        self.new = new_key.id
        old_key = keyset.key(self.old)
        # Chunks of 1 KiB, so that the payload has several chunks.
        self.rewrap = encrypt(PLAINTEXT, old_key, policy="default", chunk_size=1024)
        self.reencrypt = encrypt(
            PLAINTEXT, old_key, policy="default", payload_algorithm="aes-128-gcm", chunk_size=1024
        )
        self.armoured = encrypt(b"armoured", old_key, policy="default", armor=True)
        self.both = encrypt(b"data", [new_key, old_key], policy="default")
        self.other = keyset.add_key("x-wing", policy="pq-hybrid")

        keyset = keystore.keyset("team")
        keyset.promote(self.new, policy="pq-hybrid")
        keyset.set_status(self.old, "decrypt-only")
        self.keyset = keystore.keyset("team")
        self.context = MigrationContext(str(home), "pq-hybrid", {self.old: self.new})
        self.checks = self.context.reprotector

    def rewrapped(self) -> bytes:
        _, result = self.context.transform(self.rewrap)
        return bytes(result)


@pytest.fixture
def world(keystore, home: Path) -> World:
    return World(keystore, home)


def _flip(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x01
    return bytes(changed)


def test_rewrap_opens_with_new_key(world: World, keystore) -> None:
    action, joined = world.context.transform(world.rewrap)
    result = bytes(joined)
    assert action == "rewrap"
    assert [r.key_id for r in read_header(result).recipients] == [world.new]
    assert decrypt(result, keystore, policy="pq-hybrid") == PLAINTEXT


def test_rewrap_keeps_payload_bytes(world: World) -> None:
    result = world.rewrapped()
    before = world.rewrap[read_header(world.rewrap).length :]
    assert result[read_header(result).length :] == before


def test_reencrypt_opens_with_new_key(world: World, keystore) -> None:
    action, result = world.context.transform(world.reencrypt)
    assert action == "reencrypt"
    assert decrypt(result, keystore, policy="pq-hybrid") == PLAINTEXT


@pytest.mark.parametrize("cut", [0, 1, 10, 1040])
def test_reencrypt_rejects_damaged_payload(world: World, cut: int) -> None:
    """A flipped bit in chunk 1, or a payload cut short, fails before anything is written."""
    if cut:
        damaged = world.reencrypt[:-cut]
    else:
        damaged = _flip(world.reencrypt, read_header(world.reencrypt).length + 1500)
    with pytest.raises(AuthenticationFailed):
        world.context.transform(damaged)


def test_reencrypt_payload_algorithm(world: World) -> None:
    _, result = world.context.transform(world.reencrypt)
    assert read_header(result).payload_algorithm == "aes-256-gcm"


def _check_rewrapped(world: World, original: bytes, result: bytes) -> None:
    world.checks.check_rewrapped(original, parse_header(original), result, [world.new])


def test_check_accepts_rewrap(world: World) -> None:
    _check_rewrapped(world, world.rewrap, world.rewrapped())


def test_check_rejects_bad_stanza(world: World) -> None:
    result = world.rewrapped()
    stanza = read_header(result).recipients[0]
    # The last byte of the stanza is the HPKE ciphertext's tag.
    tampered = _flip(result, result.index(stanza.body) + len(stanza.body) - 1)
    with pytest.raises(AuthenticationFailed):
        _check_rewrapped(world, world.rewrap, tampered)


def test_check_rejects_bad_header_mac(world: World) -> None:
    result = world.rewrapped()
    tampered = _flip(result, read_header(result).length - 1)
    with pytest.raises(AuthenticationFailed, match="header MAC"):
        _check_rewrapped(world, world.rewrap, tampered)


def test_check_rejects_joined_bad_header(world: World) -> None:
    result = world.rewrapped()
    length = read_header(result).length
    tampered = Joined(_flip(result[:length], length - 1), memoryview(result)[length:])
    with pytest.raises(AuthenticationFailed, match="header MAC"):
        _check_rewrapped(world, world.rewrap, tampered)


def test_check_rejects_joined_other_payload(world: World) -> None:
    result = world.rewrapped()
    length = read_header(result).length
    tampered = Joined(result[:length], _flip(result[length:], 5))
    with pytest.raises(RotationError, match="payload differs"):
        _check_rewrapped(world, world.rewrap, tampered)


def test_joined_prefix() -> None:
    joined = Joined(b"head", b"payload")
    assert (joined.prefix(6), joined.prefix(100), len(joined)) == (b"headpa", b"headpayload", 11)


def test_check_rejects_changed_payload(world: World) -> None:
    tampered = _flip(world.rewrapped(), len(PLAINTEXT))
    with pytest.raises(RotationError, match="payload differs"):
        _check_rewrapped(world, world.rewrap, tampered)


@pytest.mark.parametrize(("offset", "chunk"), [(100, "chunk 0"), (1500, "chunk 1"), (-1, "last")])
def test_check_rejects_corrupted_payload(world: World, offset: int, chunk: str) -> None:
    """A payload corrupted before the rewrap keeps its bytes, so only the tag check finds it."""
    result = world.rewrapped()
    old_start = read_header(world.rewrap).length
    new_start = read_header(result).length
    damaged = _flip(world.rewrap, offset if offset < 0 else old_start + offset)
    tampered = _flip(result, offset if offset < 0 else new_start + offset)
    with pytest.raises(AuthenticationFailed, match=chunk):
        _check_rewrapped(world, damaged, tampered)


def test_check_rejects_truncated_payload(world: World) -> None:
    result = world.rewrapped()
    with pytest.raises(AuthenticationFailed):
        _check_rewrapped(world, world.rewrap[:-10], result[:-10])


def test_check_rejects_missing_new_key(world: World) -> None:
    result = encrypt(b"other", world.other, policy="pq-hybrid")
    with pytest.raises(RotationError, match="no stanza"):
        world.checks.check_reencrypted(result, b"other", [world.new])


def test_check_rejects_old_key(world: World) -> None:
    with pytest.raises(RotationError, match="old key"):
        world.checks.check_reencrypted(world.both, b"data", [world.new])


@pytest.mark.parametrize(
    "original", [PLAINTEXT[:-1] + b"x", PLAINTEXT[:-1], PLAINTEXT + b"x", PLAINTEXT[:1024]]
)
def test_check_rejects_other_plaintext(world: World, original: bytes) -> None:
    new_key = world.keyset.key(world.new)
    result = encrypt(PLAINTEXT, new_key, policy="pq-hybrid", chunk_size=1024)
    with pytest.raises(RotationError, match="different bytes"):
        world.checks.check_reencrypted(result, original, [world.new])


def test_check_accepts_reencrypt(world: World) -> None:
    new_key = world.keyset.key(world.new)
    result = encrypt(PLAINTEXT, new_key, policy="pq-hybrid", chunk_size=1024)
    world.checks.check_reencrypted(result, PLAINTEXT, [world.new])


def test_armoured_stays_armoured(world: World) -> None:
    _, result = world.context.transform(world.armoured)
    assert result.startswith(b"-----BEGIN")


# SQLite compare-and-swap after read_many, and prefix reads of large rows.


def _sqlite(tmp_path: Path, table: str = "secrets", without_rowid: bool = False):
    database = tmp_path / "objects.db"
    suffix = " WITHOUT ROWID" if without_rowid else ""
    db = sqlite3.connect(database)
    db.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, envelope BLOB NOT NULL){suffix}")
    db.commit()
    db.close()
    return open_store(f"sqlite:///{database}?table={table}")


def test_sqlite_swap_after_read(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    store.put("a", b"old")
    current = store.read_many(["a"])
    assert store.swap_many([Swap("a", current["a"], b"new")]) == [True]
    assert store.read("a") == b"new"


def test_sqlite_swap_other_writer(tmp_path: Path) -> None:
    """A commit by another connection after read_many makes the swap compare the bytes."""
    store = _sqlite(tmp_path)
    store.put("a", b"old")
    current = store.read_many(["a"])
    other = open_store(store.url)
    other.put("a", b"changed")
    other.close()
    assert store.swap_many([Swap("a", current["a"], b"new")]) == [False]
    assert store.read("a") == b"changed"


def test_sqlite_swap_unrelated_commit(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    store.put("a", b"old")
    current = store.read_many(["a"])
    other = open_store(store.url)
    other.put("b", b"unrelated")
    other.close()
    assert store.swap_many([Swap("a", current["a"], b"new")]) == [True]


def test_sqlite_swap_other_expected(tmp_path: Path) -> None:
    """Expected bytes that read_many did not return are compared, not trusted."""
    store = _sqlite(tmp_path)
    store.put("a", b"old")
    store.read_many(["a"])
    assert store.swap_many([Swap("a", b"not the stored bytes", b"new")]) == [False]


def test_sqlite_prefix_large_row(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    data = bytes(range(256)) * 400
    store.put("big", data)
    store.put("small", b"tiny")
    found = store.read_prefixes(["big", "small", "absent"], 1000)
    assert found == {"big": (data[:1000], len(data)), "small": (b"tiny", 4)}


def test_sqlite_prefix_without_rowid(tmp_path: Path) -> None:
    store = _sqlite(tmp_path, without_rowid=True)
    data = bytes(range(256)) * 400
    store.put("big", data)
    assert store.read_prefixes(["big"], 1000) == {"big": (data[:1000], len(data))}


def test_directory_swap_same_size_change(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "objects"), create=True)
    store.put("a", b"0123456789")
    current = store.read("a")
    store.put("a", b"9876543210")
    assert store.swap_many([Swap("a", current, b"new")]) == [False]
    assert store.read("a") == b"9876543210"


def test_directory_swap_grown_file(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "objects"), create=True)
    store.put("a", b"0123456789")
    store.put("b", b"01234")
    assert store.swap_many([Swap("a", b"01234", b"x"), Swap("b", b"01234", b"y")]) == [False, True]


# Worker start method.


def _fork_or_spawn() -> str:
    """Return the start method expected with no store database open in this process."""
    return "fork" if threading.active_count() == 1 else "spawn"


def test_start_method_fork() -> None:
    assert _start_method().get_start_method() == _fork_or_spawn()


def test_start_method_with_thread() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _start_method().get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()


def _x25519_private_bytes(_index: int) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.generate().private_bytes_raw()


def test_forked_workers_fresh_randomness() -> None:
    """Forked workers must not repeat the parent's or each other's OpenSSL random output."""
    _x25519_private_bytes(0)  # the parent's generator is seeded before the fork
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        children = pool.map(_x25519_private_bytes, range(4), chunksize=1)
    parent = _x25519_private_bytes(0)
    assert len(set(children) | {parent}) == 5


def test_start_method_open_database(tmp_path: Path) -> None:
    """A store database open in this process makes workers start with spawn."""
    store = _sqlite(tmp_path)
    try:
        assert _start_method([store.url]).get_start_method() == "spawn"
    finally:
        store.close()
    assert _start_method([store.url]).get_start_method() == _fork_or_spawn()


def test_sqlite_swap_after_own_put(tmp_path: Path) -> None:
    """A put through the same store between read_many and swap_many is not overwritten."""
    store = _sqlite(tmp_path)
    store.put("a", b"old")
    current = store.read_many(["a"])
    store.put("a", b"changed")
    assert store.swap_many([Swap("a", current["a"], b"new")]) == [False]


def test_directory_sync_after_swaps(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "objects"), create=True)
    store.put("a/x", b"old")
    assert store.swap_many([Swap("a/x", b"old", b"new")], durable=False) == [True]
    assert store._unsynced == {tmp_path / "objects" / "a"}
    store.sync()
    assert store._unsynced == set()
