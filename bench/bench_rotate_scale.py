"""Run ``agile rotate`` on one large SQLite store and report its time and peak memory.

Usage (from the repository root)::

    python bench/bench_rotate_scale.py [--objects 200000] [--workers 2] [--root DIR]

It fills a SQLite table with ``--objects`` envelopes of 64 to 70 bytes of
plaintext, each encrypted to one X25519 key under ``default``, registers the
table as a store, and runs ``agile rotate --policy pq-hybrid --json`` as a
child process, as a user would.  It prints the rotation report's phase times,
objects per second, and the largest resident set size of the rotation process
and its workers (``getrusage(RUSAGE_CHILDREN)``, the largest single process,
not their sum).  The question it answers is whether rotation's memory stays
flat as a store grows: the store and the journal live on disk, and the
rotation keeps one page of journal rows in memory at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def fill(home: Path, database: Path, count: int) -> None:
    from agile import envelope
    from agile.keys import Keystore

    store = Keystore.open(home)
    keyset = store.create_keyset("records", "kem", "x25519", policy="default")
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE secrets (id TEXT PRIMARY KEY, envelope BLOB)")
        batch = []
        for number in range(count):
            plaintext = os.urandom(64) + str(number).encode()
            batch.append((f"record-{number:08d}", envelope.encrypt(plaintext, keyset)))
            if len(batch) == 5000:
                connection.executemany("INSERT INTO secrets VALUES (?, ?)", batch)
                batch.clear()
        connection.executemany("INSERT INTO secrets VALUES (?, ?)", batch)
    store.add_store("records", f"sqlite:///{database}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200_000, help="Objects in the store.")
    parser.add_argument("--workers", type=int, default=2, help="agile rotate --workers.")
    parser.add_argument("--root", default=None, help="Folder for the keystore and the database.")
    args = parser.parse_args()

    os.environ.setdefault("AGILE_PASSPHRASE", "benchmark passphrase")
    os.environ.setdefault("AGILE_ARGON2_MEMORY_KIB", "1024")
    with tempfile.TemporaryDirectory(dir=args.root) as folder:
        home = Path(folder) / "keystore"
        database = Path(folder) / "records.db"
        started = time.perf_counter()
        fill(home, database, args.objects)
        print(f"filled {args.objects:,} objects in {time.perf_counter() - started:.1f} s")

        command = [sys.executable, "-m", "cli.main", "--keystore", str(home), "rotate"]
        command += ["--policy", "pq-hybrid", "--workers", str(args.workers), "--json"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"agile rotate failed with {result.returncode}: {result.stderr.decode()}")
        report = json.loads(result.stdout)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report["durations"].items())
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.workers} worker(s), state {report['state']}"
    )
    print(f"objects: {report['objects']}, failed {report['failed']}")
    print(f"phases: {phases}")
    print(f"wall time of the command: {elapsed:.1f} s")
    print(f"objects per second (migrate phase): {report['objects_per_second']:,.0f}")
    print(f"largest resident set of one process: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
