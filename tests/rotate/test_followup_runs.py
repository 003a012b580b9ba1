"""The run after an incomplete one, and workers whose rotation process was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agile.envelope import encrypt, read_header
from agile.fsio import exclusive_lock
from agile.rotate import RotateOptions, open_store, rotate
from tests.rotate.rotate_helpers import cli_env, fill


def _incomplete(keystore, home: Path):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    fill(store, keyset, 3)
    good = store.read("obj00001")
    store.put("obj00001", b"damaged")
    first = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    # The damaged object is restored from a good copy, still under the old key.
    store.put("obj00001", good)
    return keyset.primary.id, first, store


def test_next_run_migrates_leftover(keystore, home: Path) -> None:
    old, first, store = _incomplete(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    header = read_header(store.read("obj00001"))
    assert [r.key_id for r in header.recipients] == [first["keys"][0]["new_key_id"]]


def test_next_run_disables_old_key(keystore, home: Path) -> None:
    old, _, _ = _incomplete(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert keystore.keyset("team").key(old).status.value == "disabled"


def test_next_run_creates_no_key(keystore, home: Path) -> None:
    _incomplete(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert len(keystore.keyset("team").keys) == 2


def test_kept_old_key_stays(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x-wing", policy="default")
    old = keyset.primary.id
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    store.put("a", encrypt(b"a", keyset, policy="default"))
    keystore.keyset("team").add_key("ml-kem-768", policy="default")
    new = [key.id for key in keystore.keyset("team").keys if key.id != old][0]
    keystore.keyset("team").promote(new, policy="default")
    # x-wing may still start new work under default, so a decrypt-only
    # x-wing key is no leftover and stays decrypt-only.
    keystore.keyset("team").set_status(old, "decrypt-only")
    report = rotate(str(home), RotateOptions(policy="default"))
    assert report["state"] == "nothing-to-do"


def test_killed_parent_workers_quiet(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    fill(store, keyset, 600)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "rotate", "--policy", "pq-hybrid", "--workers", "2"],
        env=cli_env(home),
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    # Kill the parent once the first objects were migrated, so that workers
    # are in the middle of their batches.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        headers = [read_header(store.read(f"obj{i:05d}")) for i in range(0, 600, 50)]
        if any(h.recipients[0].algorithm == "x-wing" for h in headers):
            break
        time.sleep(0.02)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # The workers hold rotation.lock until they exit.
    with exclusive_lock(home / "rotation.lock"):
        pass
    assert process.stderr is not None
    assert b"Traceback" not in process.stderr.read()


def _kept(keystore, home: Path) -> str:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    fill(store, keyset, 2)
    old = keyset.primary.id
    rotate(str(home), RotateOptions(policy="pq-hybrid", keep_old_keys=True))
    return old


def test_kept_key_kept_again(keystore, home: Path) -> None:
    old = _kept(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid", keep_old_keys=True))
    assert keystore.keyset("team").key(old).status.value == "decrypt-only"


def test_kept_key_disabled_by_plain_run(keystore, home: Path) -> None:
    old = _kept(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert keystore.keyset("team").key(old).status.value == "disabled"
