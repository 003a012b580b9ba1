"""A keystore backup takes a shared lock, so it works on a read-only keystore."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agile.keys import Keystore
from agile.rotate.backup import backup_keystore


def test_backup_beside_shared_holder(store: Keystore, tmp_path: Path) -> None:
    store.create_keyset("mail", "kem", "x25519")
    finished = threading.Event()

    def run_backup() -> None:
        backup_keystore(store.path, tmp_path / "backup.json")
        finished.set()

    fd = os.open(store.path / ".lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        threading.Thread(target=run_backup, daemon=True).start()
        assert finished.wait(10), "the backup waited for another reader's shared lock"
    finally:
        os.close(fd)


def test_backup_waits_for_writer(store: Keystore, tmp_path: Path) -> None:
    store.create_keyset("mail", "kem", "x25519")
    finished = threading.Event()

    def run_backup() -> None:
        backup_keystore(store.path, tmp_path / "backup.json")
        finished.set()

    with store.lock():
        worker = threading.Thread(target=run_backup, daemon=True)
        worker.start()
        assert not finished.wait(0.5), "the backup ran while a writer held the keystore lock"
    assert finished.wait(10)


def _read_only_backup(source: Path, mount: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """Back up ``source`` through a read-only bind mount in a private mount namespace."""
    script = (
        f"mount --bind {source} {mount} && mount -o remount,bind,ro {mount} || exit 77; "
        f"{sys.executable} -m cli.main --keystore {mount} keystore backup {output}"
    )
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("lock_file", [True, False], ids=["lock-file", "no-lock-file"])
def test_backup_of_read_only_mount(store: Keystore, tmp_path: Path, lock_file: bool) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    store.create_keyset("mail", "kem", "x25519")
    if not lock_file:
        (store.path / ".lock").unlink()
    mount = tmp_path / "mount"
    mount.mkdir()
    output = tmp_path / "backup.json"

    result = _read_only_backup(store.path, mount, output)

    if result.returncode == 77 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot make a read-only bind mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    files = json.loads(output.read_text())["files"]
    assert "keysets/mail.json" in files
