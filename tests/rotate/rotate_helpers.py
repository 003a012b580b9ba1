"""Helpers for rotation tests: CLI subprocesses and stores filled with envelopes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PASSPHRASE = "rotation test passphrase"

#: Environment of CLI subprocesses; the low Argon2id memory is the keystore's
#: documented test setting and is recorded in each sealed blob.
CHEAP_ARGON2 = {"AGILE_ARGON2_MEMORY_KIB": "1024", "AGILE_ARGON2_ITERATIONS": "1"}

#: A policy that makes X-Wing keys due, so that tests can rotate back and forth.
FLIP_POLICY = """\
name = "flip"
base = "pq-hybrid"
[kem]
allowed = ["ml-kem-1024"]
decrypt_only = ["x-wing", "x25519"]
require_hybrid = false
"""


def cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHEAP_ARGON2)
    env["AGILE_HOME"] = str(home)
    env["AGILE_PASSPHRASE"] = PASSPHRASE
    return env


def agile(home: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the agile CLI in a subprocess against the keystore ``home``."""
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    if check and result.returncode != 0:
        raise AssertionError(f"agile {' '.join(args)} failed: {result.stderr}")
    return result


def fill(store, keyset, count: int, *, size: int = 64, payload: str = "aes-256-gcm") -> dict:
    """Put ``count`` envelopes encrypted to ``keyset`` into ``store``; return id -> plaintext."""
    from agile.envelope import encrypt

    originals = {}
    for index in range(count):
        object_id = f"obj{index:05d}"
        plaintext = (object_id.encode() + os.urandom(size))[:size]
        originals[object_id] = plaintext
        store.put(
            object_id,
            encrypt(plaintext, keyset, policy="default", payload_algorithm=payload),
        )
    return originals


class Interrupted(Exception):
    """Raised from a progress callback to stop a run after its first batch."""


def stop_after_first_batch(done: int, total: int) -> None:
    """Progress callback for rotate() that stops the run, as a crash would, after one batch."""
    raise Interrupted
