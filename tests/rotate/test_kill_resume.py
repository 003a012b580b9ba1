"""Crash safety: SIGKILL the ``agile rotate`` process at random moments, resume, check.

Two keystores with 1,000 envelope files each and one with 1,000 SQLite rows
are reused.  Each rotates in rounds, first x25519 -> x-wing (pq-hybrid), then
x-wing -> ml-kem-1024 (a test policy) and back, each rotation killed up to
eleven times, until 20 kills (directory), 5 kills (directory, two forked
workers) or 3 kills (SQLite) have landed.
After every kill, every object must still decrypt to its original bytes, and
an old key may be disabled only when no object names it.  A reader thread
decrypts objects in a loop during the directory rounds.  Set AGILE_KILL_SEED
to replay a run.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header
from agile.errors import KeystoreLocked
from agile.fsio import exclusive_lock
from agile.rotate import AuditLog
from tests.rotate.rotate_helpers import CHEAP_ARGON2, FLIP_POLICY, PASSPHRASE, agile, cli_env

SEED = int(os.environ.get("AGILE_KILL_SEED", str(random.SystemRandom().randrange(1 << 30))))
OBJECTS = 1000
REPO = Path(__file__).resolve().parents[2]

#: Kill delays in seconds after the process starts; start-up takes about 0.4 s,
#: so the range covers start-up, the key changes and the migration.
DELAYS = (0.1, 1.2)


class World:
    """A keystore, one store of 1,000 objects and their original plaintexts."""

    def __init__(self, home: Path, kind: str, root: Path) -> None:
        from agile.keys import Keystore

        self.home = home
        self.keystore = Keystore.open(home)
        keyset = self.keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
        self.originals: dict[str, bytes] = {}
        envelopes = {}
        for index in range(OBJECTS):
            object_id = f"o{index:05d}"
            plaintext = os.urandom(16) + object_id.encode() * (index % 7)
            self.originals[object_id] = plaintext
            payload = "aes-128-gcm" if index % 3 == 0 else "aes-256-gcm"
            envelopes[object_id] = encrypt(
                plaintext, keyset, policy="default", payload_algorithm=payload
            )

        # Setup writes skip fsync: only the rotation under test must be durable.
        if kind == "dir":
            folder = root / "objects"
            folder.mkdir()
            for object_id, envelope in envelopes.items():
                (folder / object_id).write_bytes(envelope)
            self.url = str(folder)
        else:
            database = root / "objects.db"
            db = sqlite3.connect(database)
            db.execute("CREATE TABLE vault (name TEXT PRIMARY KEY, data BLOB NOT NULL)")
            db.executemany("INSERT INTO vault VALUES (?, ?)", envelopes.items())
            db.commit()
            db.close()
            self.url = f"sqlite:///{database}?table=vault&column=data&key=name"
        self.keystore.add_store("objects", self.url)
        self.flip = root / "flip.toml"
        self.flip.write_text(FLIP_POLICY)
        self.kills = 0

    def read_all(self) -> dict[str, bytes]:
        from agile.rotate import open_store

        with open_store(self.url) as store:
            return store.read_many(list(self.originals))

    def status(self, key_id: str) -> str:
        return self.keystore.find_key(key_id)[1].status.value


@pytest.fixture(scope="module")
def env():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGILE_PASSPHRASE", PASSPHRASE)
        for name, value in CHEAP_ARGON2.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def directory_world(env, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("kill-dir")
    return World(root / "keystore", "dir", root)


@pytest.fixture(scope="module")
def workers_world(env, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("kill-workers")
    return World(root / "keystore", "dir", root)


@pytest.fixture(scope="module")
def sqlite_world(env, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("kill-sqlite")
    return World(root / "keystore", "sqlite", root)


def _start(world: World, policy: str, workers: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "rotate", "--policy", policy, "--workers", str(workers)],
        env=cli_env(world.home),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _check_after_kill(world: World, old_key_ids: set[str]) -> None:
    objects = world.read_all()
    assert set(objects) == set(world.originals), f"objects lost (seed {SEED})"
    named = set()
    for object_id, envelope in objects.items():
        named.update(r.key_id for r in read_header(envelope).recipients)
        plaintext = decrypt(envelope, world.keystore, policy="pq-hybrid")
        assert plaintext == world.originals[object_id], f"{object_id} (seed {SEED})"
    for key_id in old_key_ids:
        if world.status(key_id) == "disabled":
            assert key_id not in named, f"key {key_id} disabled too early (seed {SEED})"


def _wait_for_lock(world: World) -> None:
    """Wait until no process holds rotation.lock: a killed run's workers finish their batch."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with exclusive_lock(world.home / "rotation.lock", wait=False):
                return
        except KeystoreLocked:
            assert time.monotonic() < deadline, f"rotation.lock still held (seed {SEED})"
            time.sleep(0.05)


def _rotate_with_kills(
    world: World, policy: str, kills: int, rng: random.Random, workers: int = 1
) -> set[str]:
    """Run one rotation, SIGKILLing it up to ``kills`` times; return the old key ids."""
    old_key_ids = {k.id for k in world.keystore.keyset("team").keys if k.status.value == "primary"}
    for _ in range(kills):
        process = _start(world, policy, workers)
        try:
            process.wait(timeout=rng.uniform(*DELAYS))
            break  # finished before the kill
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            world.kills += 1
        _wait_for_lock(world)
        _check_after_kill(world, old_key_ids)

    final = agile(world.home, "rotate", "--policy", policy, "--json", "--workers", str(workers))
    assert final.returncode == 0, f"{final.stderr} (seed {SEED})"
    return old_key_ids


def _check_final(world: World, old_key_ids: set[str], algorithm: str) -> None:
    primary = world.keystore.keyset("team").primary
    assert primary.algorithm == algorithm, f"primary {primary.id} (seed {SEED})"
    for object_id, envelope in world.read_all().items():
        recipients = [(r.key_id, r.algorithm) for r in read_header(envelope).recipients]
        assert recipients == [(primary.id, algorithm)], f"{object_id} (seed {SEED})"
        plaintext = decrypt(envelope, world.keystore, policy="pq-hybrid")
        assert plaintext == world.originals[object_id], f"{object_id} (seed {SEED})"
    for key_id in old_key_ids:
        assert world.status(key_id) == "disabled", f"key {key_id} (seed {SEED})"
    if not world.url.startswith("sqlite:"):
        # Temporary files of killed writes are removed by the next run's scan.
        assert sorted(Path(world.url).glob(".*.tmp")) == [], f"seed {SEED}"


def _keys_of(world: World, algorithm: str) -> int:
    return sum(1 for key in world.keystore.keyset("team").keys if key.algorithm == algorithm)


class _Reader(threading.Thread):
    """Decrypts random objects in a loop and records every failure."""

    def __init__(self, world: World) -> None:
        super().__init__(daemon=True)
        self.world = world
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.reads = 0

    def run(self) -> None:
        from agile.rotate import open_store

        ids = sorted(self.world.originals)
        with open_store(self.world.url) as store:
            while not self.stop.is_set():
                object_id = random.choice(ids)
                try:
                    plaintext = decrypt(
                        store.read(object_id), self.world.keystore, policy="pq-hybrid"
                    )
                    if plaintext != self.world.originals[object_id]:
                        self.failures.append(f"{object_id}: wrong plaintext")
                except Exception as error:  # noqa: BLE001 - every failure is the finding
                    self.failures.append(f"{object_id}: {error!r}")
                self.reads += 1


#: Each round rotates to the next target: (policy, algorithm of the new key).
def _targets(world: World) -> list[tuple[str, str]]:
    return [("pq-hybrid", "x-wing"), (str(world.flip), "ml-kem-1024")]


def _rounds(
    world: World, rng: random.Random, *, kills: int, max_rounds: int, workers: int = 1
) -> int:
    """Rotate back and forth, killing each rotation up to 11 times, until ``kills`` landed."""
    rounds = 0
    while world.kills < kills and rounds < max_rounds:
        policy, algorithm = _targets(world)[rounds % 2]
        before = _keys_of(world, algorithm)
        old = _rotate_with_kills(world, policy, 11, rng, workers)
        _check_final(world, old, algorithm)
        assert _keys_of(world, algorithm) == before + 1, f"round {rounds} (seed {SEED})"
        rounds += 1
    return rounds


@pytest.mark.slow
def test_kill_directory_rounds(directory_world: World) -> None:
    rng = random.Random(SEED)
    reader = _Reader(directory_world)
    reader.start()
    try:
        # Rounds stop once 20 kills landed; an idle machine finishes runs sooner, so
        # fewer delays are shorter than a run and more rounds may be needed.
        _rounds(directory_world, rng, kills=20, max_rounds=40)
    finally:
        reader.stop.set()
        reader.join()
    assert directory_world.kills >= 20, f"only {directory_world.kills} kills (seed {SEED})"
    assert reader.failures == [], f"seed {SEED}"
    assert reader.reads > 0, f"seed {SEED}"


@pytest.mark.slow
def test_kill_two_workers_rounds(workers_world: World) -> None:
    """Killing the parent of forked workers: they finish their batch, then the run resumes."""
    rng = random.Random(SEED + 2)
    _rounds(workers_world, rng, kills=5, max_rounds=20, workers=2)
    assert workers_world.kills >= 5, f"only {workers_world.kills} kills (seed {SEED})"


@pytest.mark.slow
def test_kill_sqlite_rounds(sqlite_world: World) -> None:
    rng = random.Random(SEED + 1)
    _rounds(sqlite_world, rng, kills=3, max_rounds=20)
    assert sqlite_world.kills >= 3, f"only {sqlite_world.kills} kills (seed {SEED})"


@pytest.mark.slow
def test_concurrent_rotate_refused(sqlite_world: World) -> None:
    # Pick the target under which the current primary is due, so the first run has work.
    primary = sqlite_world.keystore.keyset("team").primary.algorithm
    policy = str(sqlite_world.flip) if primary == "x-wing" else "pq-hybrid"
    first = _start(sqlite_world, policy)
    audit = AuditLog(sqlite_world.home)
    before = sum(1 for _ in audit.records())
    deadline = time.monotonic() + 30
    while sum(1 for _ in audit.records()) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    second = agile(sqlite_world.home, "rotate", "--policy", policy)
    first.wait(timeout=120)
    assert first.returncode == 0
    assert second.returncode == 2
    assert "another 'agile rotate' is running" in second.stderr
