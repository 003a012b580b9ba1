"""Rotation under failures: a killed worker, --fail-fast, and a run that fails before any change.

* A worker killed with SIGKILL (as by the out-of-memory killer) stops the run
  with exit code 2 within a bounded time, and ``--resume`` finishes it.
* A run that ``--fail-fast`` stops reports it, counts the objects it did not
  try, and names the command that migrates them.
* A run that fails before it changes a key (a wrong passphrase) is closed, so
  that the next run under another policy starts without ``--resume``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt
from agile.errors import RotationError
from agile.rotate import RotateOptions, open_store, rotate
from agile.rotate.journal import Journal
from tests.rotate.rotate_helpers import PASSPHRASE, agile, cli_env, fill

REPO = Path(__file__).resolve().parents[2]

#: Seconds the rotation process may take to stop after one of its workers was killed.
STOP_LIMIT = 60


def _children(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is ``pid`` (from /proc/PID/stat)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended since the listing
        # The command name in brackets may contain spaces, so split after it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


def _running(pid: int) -> bool:
    """Return whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _directory_store(keystore, home: Path, count: int) -> tuple[str, dict[str, bytes], str]:
    """Register a directory store of ``count`` envelopes to one x25519 key.

    Return its path, the plaintexts by object id and the key id.  Files are
    written without fsync, because only the rotation under test must be durable.
    """
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    folder = home.parent / "objects"
    folder.mkdir()
    originals = {}
    for index in range(count):
        object_id = f"o{index:05d}"
        originals[object_id] = os.urandom(24)
        (folder / object_id).write_bytes(encrypt(originals[object_id], keyset, policy="default"))
    keystore.add_store("objects", str(folder))
    return str(folder), originals, keyset.primary.id


def _corrupt(store, object_id: str) -> None:
    damaged = bytearray(store.read(object_id))
    damaged[-5] ^= 0x01
    store.put(object_id, bytes(damaged))


# A worker killed with SIGKILL.


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_worker_stops_run(keystore, home: Path) -> None:
    folder, originals, old_id = _directory_store(keystore, home, 3000)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "rotate", "--policy", "pq-hybrid"]
        + ["--workers", "2", "--batch-size", "4"],
        env=cli_env(home),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + STOP_LIMIT
    workers: list[int] = []
    while not workers and process.poll() is None and time.monotonic() < deadline:
        workers = _children(process.pid)
        time.sleep(0.005)
    assert workers, "the rotation started no worker"
    os.kill(workers[0], signal.SIGKILL)

    try:
        _, stderr = process.communicate(timeout=STOP_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"agile rotate still ran {STOP_LIMIT} s after a worker was killed")
    assert process.returncode == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "worker process ended unexpectedly" in stderr
    assert "agile rotate --resume" in stderr

    journal = Journal(home)
    unfinished = journal.unfinished_run()
    journal.close()
    assert unfinished is not None
    assert unfinished.state == "migrating"

    resumed = agile(home, "rotate", "--resume", "--json")
    report = json.loads(resumed.stdout)
    assert resumed.returncode == 0
    assert report["state"] == "done"
    assert report["failed"] == 0
    assert report["disabled_key_ids"] == [old_id]
    with open_store(folder) as store:
        for object_id, plaintext in originals.items():
            assert decrypt(store.read(object_id), keystore, policy="pq-hybrid") == plaintext


#: A rotation parent in miniature: it starts the rotation's worker pool, lets one
#: worker run an empty batch, writes the worker ids to a file and kills itself.
ORPHAN_SCRIPT = """
import multiprocessing, os, signal, sys
from concurrent.futures import ProcessPoolExecutor
from agile.rotate import executor

keystore, url, policy_hash, pid_file = sys.argv[1:5]
pool = ProcessPoolExecutor(
    2,
    mp_context=multiprocessing.get_context("fork"),
    initializer=executor._init_pool_worker,
    initargs=(keystore, "pq-hybrid", {}, policy_hash),
)
pool.submit(executor._pool_batch, ("objects", url, [])).result()
workers = [str(process.pid) for process in multiprocessing.active_children()]
with open(pid_file, "w") as file:
    file.write(" ".join(workers))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_idle_workers_leave_with_parent(keystore, home: Path) -> None:
    """Idle workers of a killed parent exit, so that they do not keep rotation.lock held."""
    folder, _, _ = _directory_store(keystore, home, 1)
    pid_file = home.parent / "workers"
    parent = subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(home), folder]
        + [keystore.policy("pq-hybrid").hash, str(pid_file)],
        env=cli_env(home),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=STOP_LIMIT,
    )
    workers = [int(pid) for pid in pid_file.read_text().split()]
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in workers if _running(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)  # clean up after a failure
    assert parent.returncode == -signal.SIGKILL
    assert len(workers) == 2
    assert alive == []


def test_pool_run_completes(keystore, home: Path) -> None:
    """The worker pool migrates every object of a run that nothing disturbs."""
    folder, originals, old_id = _directory_store(keystore, home, 200)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", workers=3, batch_size=8))
    assert report["state"] == "done"
    assert report["objects"]["rewrap"] == len(originals)
    assert report["disabled_key_ids"] == [old_id]


# --fail-fast.


def _fail_fast_setup(keystore, home: Path, count: int = 40):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = fill(store, keyset, count)
    _corrupt(store, "obj00010")
    return store, originals


@pytest.mark.parametrize("workers", [1, 3])
def test_fail_fast_counts_not_tried(keystore, home: Path, workers: int) -> None:
    # Enough batches that some are still queued when the failed one returns.
    _, originals = _fail_fast_setup(keystore, home, count=200)
    report = rotate(
        str(home),
        RotateOptions(policy="pq-hybrid", fail_fast=True, batch_size=4, workers=workers),
    )
    tried = report["objects"]["rewrap"] + report["already_migrated"] + report["failed"]
    assert report["state"] == "incomplete"
    assert report["stopped_early"] is True
    assert report["failed"] == 1
    assert report["not_tried"] > 0
    assert tried + report["not_tried"] == len(originals)
    assert report["next_command"] == "agile rotate --policy pq-hybrid"


def test_fail_fast_next_run_migrates_rest(keystore, home: Path) -> None:
    store, originals = _fail_fast_setup(keystore, home)
    first = rotate(str(home), RotateOptions(policy="pq-hybrid", fail_fast=True, batch_size=4))
    second = rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=4))
    assert second["stopped_early"] is False
    assert second["not_tried"] == 0
    assert second["objects"]["rewrap"] == first["not_tried"]
    assert [failure["object"] for failure in second["failures"]] == ["obj00010"]
    for object_id, plaintext in originals.items():
        if object_id != "obj00010":
            assert decrypt(store.read(object_id), keystore, policy="pq-hybrid") == plaintext


def test_unstopped_run_not_flagged(keystore, home: Path) -> None:
    _fail_fast_setup(keystore, home)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=4))
    assert report["stopped_early"] is False
    assert report["not_tried"] == 0
    assert report["failed"] == 1


def test_fail_fast_cli_report(keystore, home: Path) -> None:
    _fail_fast_setup(keystore, home)
    result = agile(home, "rotate", "--policy", "pq-hybrid", "--fail-fast", "--batch-size", "4")
    report = json.loads(
        agile(home, "rotate", "--resume", "--json").stdout,
    )["incomplete_run"]
    assert result.returncode == 1
    assert f"stopped early (--fail-fast): {report['not_tried']} objects not tried" in result.stdout
    assert "finish the migration with 'agile rotate --policy pq-hybrid'" in result.stdout
    assert report["stopped_early"] is True
    assert report["failed"] == 1
    assert report["command"] == "agile rotate --policy pq-hybrid"


def test_fail_fast_followup_line(keystore, home: Path) -> None:
    _fail_fast_setup(keystore, home)
    first = rotate(str(home), RotateOptions(policy="pq-hybrid", fail_fast=True, batch_size=4))
    result = agile(home, "rotate", "--resume")
    assert result.returncode == 0
    assert "nothing to resume" in result.stdout
    assert f"leaving {first['not_tried']} objects not tried on its old keys" in result.stdout
    assert "after 1 failed object" in result.stdout
    assert "finish the migration with 'agile rotate --policy pq-hybrid'" in result.stdout


# A run that fails before it changes a key.


def _other_passphrase_env(home: Path, passphrase: str) -> dict[str, str]:
    env = cli_env(home)
    env["AGILE_PASSPHRASE"] = passphrase
    return env


def test_wrong_passphrase_closes_run(keystore, home: Path) -> None:
    _, _, old_id = _directory_store(keystore, home, 5)
    keys_before = keystore.keyset("team").keys
    failed = subprocess.run(
        [sys.executable, "-m", "cli.main", "rotate", "--policy", "pq-hybrid"],
        env=_other_passphrase_env(home, "not the passphrase"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("agile: error: keyset 'team': wrong passphrase")
    assert len(failed.stderr.strip().splitlines()) == 1
    assert keystore.keyset("team").keys == keys_before

    journal = Journal(home)
    unfinished = journal.unfinished_run()
    last = journal.last_finished_run()
    journal.close()
    assert unfinished is None
    assert last is not None
    assert last.state == "abandoned"

    result = agile(home, "rotate", "--policy", "future", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["state"] == "done"
    assert old_id in json.loads(result.stdout)["disabled_key_ids"]


def test_wrong_passphrase_audited(keystore, home: Path) -> None:
    from agile.rotate import AuditLog

    _directory_store(keystore, home, 2)
    subprocess.run(
        [sys.executable, "-m", "cli.main", "rotate", "--policy", "pq-hybrid"],
        env=_other_passphrase_env(home, "not the passphrase"),
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    events = [record["event"] for record in AuditLog(home).records()]
    assert events[-2:] == ["run-started", "run-abandoned"]


def test_changed_key_keeps_run(keystore, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that changed one keyset before the next one failed stays for --resume."""
    alpha = keystore.create_keyset("alpha", "kem", algorithm="x25519", policy="default")
    monkeypatch.setenv("AGILE_PASSPHRASE", "the passphrase of beta")
    keystore.create_keyset("beta", "kem", algorithm="x25519", policy="default")
    monkeypatch.setenv("AGILE_PASSPHRASE", PASSPHRASE)
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    fill(store, alpha, 2)

    failed = agile(home, "rotate", "--policy", "pq-hybrid")
    assert failed.returncode == 2
    assert "keyset 'beta': wrong passphrase" in failed.stderr

    journal = Journal(home)
    unfinished = journal.unfinished_run()
    journal.close()
    assert unfinished is not None
    assert unfinished.state == "planned"
    assert keystore.keyset("alpha").primary.algorithm == "x-wing"
    with pytest.raises(RotationError, match="unfinished rotation run"):
        rotate(str(home), RotateOptions(policy="future"))
