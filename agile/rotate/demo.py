"""The main job on real files: protect part of the Python standard library, then rotate.

Run it with ``python -m agile.rotate.demo`` (``scripts/demo.sh`` sets up the
environment first).  Steps:

1. create a keystore with an X25519 keyset under the ``default`` policy;
2. encrypt every file of several standard-library packages into a directory
   store and into a SQLite store (payloads alternate between AES-128-GCM and
   AES-256-GCM, so that rotation shows both rewrap and re-encrypt);
3. switch the keystore to ``pq-hybrid`` with ``agile policy set`` and run
   ``agile rotate`` through the command line;
4. check that every object decrypts to the bytes of its source file and names
   X-Wing and AES-256-GCM, and print the report.

The passphrase comes from ``AGILE_PASSPHRASE``; when it is unset the demo uses
a fixed demo passphrase and prints a notice.  Argon2id runs with its default strength.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

__all__ = ["main", "source_files"]

#: Standard-library packages whose files are protected (414 files on CPython 3.11.7).
PACKAGES = (
    "email", "json", "http", "xml", "asyncio", "importlib", "unittest", "urllib",
    "logging", "concurrent", "tomllib", "zoneinfo", "sqlite3", "multiprocessing",
    "html", "wsgiref", "xmlrpc", "dbm", "ctypes", "encodings",
)  # fmt: skip

DEMO_PASSPHRASE = "agile demo passphrase, not for real keys"


def source_files(limit: int = 2000) -> list[tuple[str, Path]]:
    """Return ``(object id, path)`` of the standard-library files the demo protects."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for package in PACKAGES:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found.append((path.relative_to(root).as_posix(), path))
    return found[:limit]


def _agile(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", "--keystore", str(home), *args]
    print("$ agile --keystore", home, " ".join(args), flush=True)
    return subprocess.run(command, text=True, capture_output=True, env=dict(os.environ))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="Work here instead of a new temporary folder.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder at the end.")
    parser.add_argument("--workers", type=int, default=2, help="Workers for agile rotate.")
    options = parser.parse_args(argv)

    if not os.environ.get("AGILE_PASSPHRASE"):
        os.environ["AGILE_PASSPHRASE"] = DEMO_PASSPHRASE
        print(f"AGILE_PASSPHRASE is not set; the demo uses {DEMO_PASSPHRASE!r}.")

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="agile-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(workdir, options.workers)
    finally:
        if options.keep or options.workdir:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, workers: int) -> int:
    from agile.envelope import decrypt, encrypt, read_header
    from agile.keys import Keystore
    from agile.rotate import open_store

    started = time.monotonic()
    home = workdir / "keystore"
    files = source_files()
    print(f"protecting {len(files)} standard-library files in {workdir}")

    # 1. Classical keys under the default policy.
    keystore = Keystore.open(home)
    keyset = keystore.create_keyset("files", "kem", algorithm="x25519", policy="default")
    print(f"keyset files: key {keyset.primary.id} ({keyset.primary.algorithm})")

    # 2. Both stores, filled through the library.
    urls = {
        "documents": str(workdir / "documents"),
        "database": f"sqlite:///{workdir / 'secrets.db'}?table=secrets&column=envelope&key=id",
    }
    for name, url in urls.items():
        with open_store(url, create=True) as store:
            for index, (object_id, path) in enumerate(files):
                payload = "aes-128-gcm" if index % 2 == 0 else "aes-256-gcm"
                envelope = encrypt(
                    path.read_bytes(), keyset, policy="default", payload_algorithm=payload
                )
                store.put(object_id, envelope)
        keystore.add_store(name, url)
        print(f"store {name}: {len(files)} objects ({url})")

    # 3. Switch the policy and rotate through the command line.
    for args in (("policy", "set", "pq-hybrid"), ("rotate", "--dry-run")):
        result = _agile(home, *args)
        print(result.stdout, end="")
        if result.returncode != 0:
            print(result.stderr, end="", file=sys.stderr)
            return result.returncode
    result = _agile(home, "rotate", "--workers", str(workers), "--json")
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        return result.returncode
    report = json.loads(result.stdout)

    # 4. Check every object against its source file.
    keystore = Keystore.open(home)
    mismatches = []
    for name, url in urls.items():
        with open_store(url) as store:
            objects = store.read_many(object_id for object_id, _ in files)
        for object_id, path in files:
            envelope = objects[object_id]
            header = read_header(envelope)
            algorithms = [r.algorithm for r in header.recipients]
            if algorithms != ["x-wing"] or header.payload_algorithm != "aes-256-gcm":
                mismatches.append(f"{name}/{object_id}: {algorithms} {header.payload_algorithm}")
            elif decrypt(envelope, keystore) != path.read_bytes():
                mismatches.append(f"{name}/{object_id}: plaintext differs from {path}")

    print("rotation report:")
    print(json.dumps(report, indent=2))
    checked = len(files) * len(urls)
    if mismatches:
        print(f"FAILED: {len(mismatches)} of {checked} objects:", *mismatches[:20], sep="\n  ")
        return 1
    print(
        f"OK: all {checked} objects decrypt to their source files and name x-wing and "
        f"aes-256-gcm ({time.monotonic() - started:.1f} s in total)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
