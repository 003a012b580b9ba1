"""Benchmark ``agile rotate`` throughput against a naive loop and a measured floor, in one run.

Usage (from the repository root)::

    python bench/bench_rotate.py [--small 10000] [--large 1000] [--stores dir sqlite]
                                 [--workers 1 2] [--floor-samples 300] [--root DIR]

For each store kind and object size (``--small`` objects of 1 KiB, ``--large``
objects of 1 MiB, all encrypted to an X25519 key under ``default``), it times:

* ``rewrap`` and ``reencrypt`` rotations to X-Wing under ``pq-hybrid`` with 1
  and 2 workers (payload AES-256-GCM is rewrapped, AES-128-GCM re-encrypted);
* a naive loop through the same library: read, ``decrypt``, ``encrypt`` to the
  new key, write back (one atomic write or one SQLite commit per object);
* the floor: one X25519 decapsulation, one X-Wing encapsulation and one
  durable write of the same size per object (directory: temporary file, fsync,
  rename, directory fsync; SQLite: the same batched UPDATE transactions
  rotation uses, each writing bytes that differ from the stored ones);
* the checked floor: the floor plus one X-Wing decapsulation, the least work
  that proves, before the write, that the new stanza opens with the new
  private key (rotation's safety rule).

``--root /dev/shm`` puts the stores on tmpfs, where fsync returns at once, so
the run compares the CPU work alone.  The floor is measured again right before
each timed run, because fsync latency on a shared disk drifts by several times
within minutes.  It prints one Markdown table per store and size with
milliseconds per object, objects per second, both floors and the ratio to
each, and checks on a sample that rewrap left the payload bytes identical.
Above each table it prints the speed-up that two processes of pure KEM work
get over one on this machine at that moment, the ceiling for 2 workers.
The rotation time is the migrate phase of the report.  A second table
lists the scan, which reads every header to plan the run, and the verify
pass, which reads them again after the migration, per 1,000 objects.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("AGILE_PASSPHRASE", "benchmark passphrase")
# Argon2id strength does not change throughput (each process unseals once).
os.environ.setdefault("AGILE_ARGON2_MEMORY_KIB", "1024")

from agile import registry  # noqa: E402
from agile.envelope import decrypt, encrypt, read_header  # noqa: E402
from agile.fsio import atomic_write  # noqa: E402
from agile.keys import Keystore  # noqa: E402
from agile.rotate import RotateOptions, open_store, rotate  # noqa: E402

SIZES = {"1 KiB": 1024, "1 MiB": 1024 * 1024}
BATCH = 64

#: Parent folder of the benchmark's files (``--root``); None is the system default.
ROOT: str | None = None


def _setup(root: Path, kind: str, count: int, size: int, payload: str):
    """Create a keystore and a store of ``count`` envelopes; return (home, url, keystore)."""
    home = root / "keystore"
    keystore = Keystore.open(home)
    keyset = keystore.create_keyset("bench", "kem", algorithm="x25519", policy="default")
    plaintext = os.urandom(size)
    envelopes = (
        (f"o{i:06d}", encrypt(plaintext, keyset, policy="default", payload_algorithm=payload))
        for i in range(count)
    )
    # Setup writes skip fsync; only the timed work must be durable.
    if kind == "dir":
        folder = root / "objects"
        folder.mkdir()
        for object_id, envelope in envelopes:
            (folder / object_id).write_bytes(envelope)
        url = str(folder)
    else:
        database = root / "objects.db"
        db = sqlite3.connect(database)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE secrets (id TEXT PRIMARY KEY, envelope BLOB NOT NULL)")
        db.executemany("INSERT INTO secrets VALUES (?, ?)", envelopes)
        db.commit()
        db.close()
        url = f"sqlite:///{database}"
    keystore.add_store("objects", url)
    return home, url, keystore


def bench_rotation(kind: str, count: int, size: int, action: str, workers: int) -> dict:
    payload = "aes-256-gcm" if action == "rewrap" else "aes-128-gcm"
    root = Path(tempfile.mkdtemp(prefix="agile-bench-", dir=ROOT))
    try:
        home, url, _keystore = _setup(root, kind, count, size, payload)
        with open_store(url) as store:
            sample_before = store.read("o000000")
        report = rotate(str(home), RotateOptions(policy="pq-hybrid", workers=workers))
        with open_store(url) as store:
            sample_after = store.read("o000000")
        if report["objects"][action] != count:
            raise SystemExit(
                f"{action}: expected {count} migrated objects, the report has {report['objects']}"
            )
        if action == "rewrap":
            before = sample_before[read_header(sample_before).length :]
            after = sample_after[read_header(sample_after).length :]
            if before != after:
                raise SystemExit("rewrap changed the payload bytes")
        return {"seconds": report["durations"]["migrate"], "report": report}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_naive(kind: str, count: int, size: int) -> float:
    """Time read, decrypt, encrypt to a new X-Wing key and write back, one object at a time."""
    root = Path(tempfile.mkdtemp(prefix="agile-bench-", dir=ROOT))
    try:
        home, url, keystore = _setup(root, kind, count, size, "aes-256-gcm")
        keyset = keystore.keyset("bench")
        new_key = keyset.add_key("x-wing", promote=True, policy="pq-hybrid")
        with open_store(url) as store:
            ids = [object_id for object_id, _ in store.iter_prefixes(0)]
            started = time.perf_counter()
            for object_id in ids:
                plaintext = decrypt(store.read(object_id), keystore, policy="pq-hybrid")
                store.put(object_id, encrypt(plaintext, new_key, policy="pq-hybrid"))
            return time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_floor(kind: str, size: int, samples: int, checked: bool = False) -> float:
    """Return seconds per object of one decaps + one encaps + one durable write of ``size``.

    With ``checked``, each object also gets one decapsulation with the new key.
    """
    old_kem = registry.kem("x25519")
    new_kem = registry.kem("x-wing")
    old_private = old_kem.generate()
    new_private = new_kem.generate()
    new_public = new_private.public_key
    encapsulated, _ = old_kem.encapsulate(old_private.public_key)
    data = os.urandom(size)

    def work() -> None:
        old_kem.decapsulate(old_private, encapsulated)
        new_encapsulated, _ = new_kem.encapsulate(new_public)
        if checked:
            new_kem.decapsulate(new_private, new_encapsulated)

    root = Path(tempfile.mkdtemp(prefix="agile-bench-", dir=ROOT))
    try:
        if kind == "dir":
            started = time.perf_counter()
            for index in range(samples):
                work()
                atomic_write(root / f"f{index}", data)
            return (time.perf_counter() - started) / samples

        db = sqlite3.connect(root / "floor.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, v BLOB)")
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(str(i), data) for i in range(samples)])
        db.execute("COMMIT")
        # SQLite skips writing a page whose new content equals the old, so the
        # timed UPDATEs write other bytes, as a rotation does.
        data = os.urandom(size)
        started = time.perf_counter()
        for start in range(0, samples, BATCH):
            db.execute("BEGIN IMMEDIATE")
            for index in range(start, min(samples, start + BATCH)):
                work()
                db.execute("UPDATE t SET v = ? WHERE id = ?", (data, str(index)))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
        return elapsed / samples
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _kem_loop(count: int) -> float:
    """Return the seconds of ``count`` X-Wing encapsulations and decapsulations."""
    kem = registry.kem("x-wing")
    private = kem.generate()
    started = time.perf_counter()
    for _ in range(count):
        ciphertext, _ = kem.encapsulate(private.public_key)
        kem.decapsulate(private, ciphertext)
    return time.perf_counter() - started


def parallel_ceiling(count: int = 2000) -> float:
    """Return the speed-up this machine gives two processes of pure KEM work over one.

    Rotation with two workers cannot scale better than this; on a shared
    machine it is often well below 2.
    """
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        single = pool.apply(_kem_loop, (count,))
        paired = max(pool.map(_kem_loop, [count, count]))
    return 2 * single / paired


def _floors(kind: str, size: int, samples: int) -> tuple[float, float]:
    """Return the floor and the checked floor, measured back to back."""
    return bench_floor(kind, size, samples), bench_floor(kind, size, samples, checked=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="Objects of 1 KiB.")
    parser.add_argument("--large", type=int, default=1_000, help="Objects of 1 MiB.")
    parser.add_argument("--stores", nargs="+", default=["dir", "sqlite"], choices=["dir", "sqlite"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--floor-samples", type=int, default=300, help="Objects timed for the floor."
    )
    parser.add_argument(
        "--root", help="Folder for the stores, e.g. /dev/shm to take disk latency out of the run."
    )
    options = parser.parse_args()
    global ROOT
    ROOT = options.root

    where = ROOT or tempfile.gettempdir()
    print(f"CPUs: {os.cpu_count()}, Python {sys.version.split()[0]}, files under {where}")
    for kind in options.stores:
        for label, size in SIZES.items():
            count = options.small if size == 1024 else options.large
            if count <= 0:
                continue
            samples = min(options.floor_samples, count)
            rows = []
            phases = []
            for action in ("rewrap", "reencrypt"):
                for workers in options.workers:
                    floors = _floors(kind, size, samples)
                    result = bench_rotation(kind, count, size, action, workers)
                    name = f"rotate {action}, {workers} worker(s)"
                    rows.append((name, result["seconds"] / count, *floors))
                    phases.append((name, result["report"]["durations"]))
            floors = _floors(kind, size, samples)
            rows.append(
                ("naive decrypt + encrypt loop", bench_naive(kind, count, size) / count, *floors)
            )

            print(f"\n### {kind} store, {count} x {label}\n")
            print(f"Machine speed-up of 2 processes over 1 (KEM loop): {parallel_ceiling():.2f}\n")
            print(
                "| run | ms/object | objects/s | floor ms/object | x floor "
                "| checked floor ms/object | x checked floor |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|")
            for name, seconds, floor, checked in rows:
                print(
                    f"| {name} | {seconds * 1000:.3f} | {1 / seconds:,.0f} | "
                    f"{floor * 1000:.3f} | {seconds / floor:.2f} | "
                    f"{checked * 1000:.3f} | {seconds / checked:.2f} |"
                )
            print("\nThe other phases of the same runs, ms per 1,000 objects:\n")
            print("| run | scan | verify |")
            print("|---|---:|---:|")
            for name, durations in phases:
                scan, verify = (durations[phase] * 1e6 / count for phase in ("scan", "verify"))
                print(f"| {name} | {scan:.1f} | {verify:.1f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
