"""Restoring a backup never drops live keys, keeps the audit log, and checks its files first."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import pytest

from agile.errors import KeystoreError
from agile.rotate.backup import BACKUP_FORMAT, backup_keystore, restore_keystore
from tests.cli_helpers import run_agile, run_cli


def _backup(path: Path, files: dict[str, bytes]) -> Path:
    document = {
        "format": BACKUP_FORMAT,
        "version": 1,
        "files": {name: base64.b64encode(data).decode() for name, data in files.items()},
    }
    path.write_text(json.dumps(document))
    return path


def test_force_keeps_newer_key(keystore, home: Path, tmp_path: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    backup_keystore(home, tmp_path / "old.json")
    keyset.add_key(algorithm="x25519", promote=True)
    with pytest.raises(KeystoreError, match="would delete keys"):
        restore_keystore(home, tmp_path / "old.json", force=True)


def test_refused_restore_writes_nothing(keystore, home: Path, tmp_path: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    backup_keystore(home, tmp_path / "old.json")
    keyset.add_key(algorithm="x25519", promote=True)
    before = (home / "keysets" / "team.json").read_bytes()
    with pytest.raises(KeystoreError):
        restore_keystore(home, tmp_path / "old.json", force=True)
    assert (home / "keysets" / "team.json").read_bytes() == before


def test_force_same_keys_restores(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    backup_keystore(home, tmp_path / "b.json")
    # The keyset file, keystore.json and the audit log with the keyset's creation.
    assert restore_keystore(home, tmp_path / "b.json", force=True) == 3


def test_audit_log_not_shortened(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (home / "audit.log").write_bytes(b'{"event": "a"}\n')
    backup_keystore(home, tmp_path / "b.json")
    (home / "audit.log").write_bytes(b'{"event": "a"}\n{"event": "b"}\n')
    restore_keystore(home, tmp_path / "b.json", force=True)
    assert (home / "audit.log").read_bytes() == b'{"event": "a"}\n{"event": "b"}\n'


def test_invalid_keyset_file_rejected(tmp_path: Path) -> None:
    source = _backup(tmp_path / "b.json", {"keystore.json": b"{}", "keysets/x.json": b"{}"})
    with pytest.raises(KeystoreError, match="keysets/x.json"):
        restore_keystore(tmp_path / "target", source)


def test_truncated_backup_has_fix(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    backup_keystore(home, tmp_path / "b.json")
    data = (tmp_path / "b.json").read_bytes()
    (tmp_path / "cut.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(KeystoreError) as caught:
        restore_keystore(tmp_path / "target", tmp_path / "cut.json")
    assert caught.value.fix is not None


def test_restored_modes(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    backup_keystore(home, tmp_path / "b.json")
    restore_keystore(tmp_path / "target", tmp_path / "b.json")
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "target").rglob("*") if p.is_file()}
    assert modes == {0o600}


@pytest.mark.parametrize(
    "name",
    ["a\x00b", "x" * 300, "keysets", "keysets/a/b.json", "keystore.json/x"],
)
def test_unstorable_name_rejected(tmp_path: Path, name: str) -> None:
    source = _backup(tmp_path / "b.json", {"keystore.json": b"{}", name: b"{}"})
    with pytest.raises(KeystoreError):
        restore_keystore(tmp_path / "target", source)


def test_rejected_name_creates_nothing(tmp_path: Path) -> None:
    source = _backup(tmp_path / "b.json", {"keystore.json": b"{}", "keysets": b"{}"})
    with pytest.raises(KeystoreError):
        restore_keystore(tmp_path / "target", source)
    assert not (tmp_path / "target").exists()


def test_directory_in_the_way(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (home / "audit.log").write_bytes(b"")
    backup_keystore(home, tmp_path / "b.json")
    target = tmp_path / "target"
    (target / "audit.log").mkdir(parents=True)
    with pytest.raises(KeystoreError, match="is a directory"):
        restore_keystore(target, tmp_path / "b.json")


def test_backup_to_standard_output(keystore, home: Path, tmp_path: Path) -> None:
    """'agile keystore backup -' writes the backup to stdout, and 'restore -' reads it back."""
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")

    result = run_agile(home, "keystore", "backup", "-")

    assert result.returncode == 0, result.stderr
    assert not (Path.cwd() / "-").exists()
    assert json.loads(result.stdout)["format"] == BACKUP_FORMAT
    restored = tmp_path / "restored"
    restore = run_cli(
        "--keystore", str(restored), "keystore", "restore", "-", data=result.stdout.encode()
    )
    assert restore.returncode == 0, restore.stderr
    assert b"from standard input" in restore.stdout
    assert not (Path.cwd() / "-").exists()
    assert (restored / "keysets" / "team.json").read_bytes() == (
        home / "keysets" / "team.json"
    ).read_bytes()


def test_damaged_backup_on_standard_input_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "target"
    document = json.dumps({"format": BACKUP_FORMAT, "version": 1, "files": {}})

    result = run_cli(
        "--keystore", str(target), "keystore", "restore", "-", data=document[:-9].encode()
    )

    assert result.returncode == 2
    assert b"cannot read backup 'standard input'" in result.stderr
    assert b"Traceback" not in result.stderr
    assert not (target / "keystore.json").exists()


def test_backup_to_dev_stdout_is_clean(keystore, home: Path) -> None:
    """The summary line goes to stderr when FILE names standard output, as for 'backup -'."""
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")

    result = run_agile(home, "keystore", "backup", "/dev/stdout")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["format"] == BACKUP_FORMAT
    assert "backed up" in result.stderr


def test_restore_refuses_terminal(tmp_path: Path) -> None:
    """'restore -' rejects a terminal, where it would wait for a backup that never comes."""
    import os
    import pty
    import sys

    target = tmp_path / "target"
    pid, terminal = pty.fork()
    if pid == 0:
        command = [sys.executable, "-m", "cli.main", "--keystore", str(target)]
        os.execv(sys.executable, [*command, "keystore", "restore", "-"])
    output = b""
    with contextlib.suppress(OSError):  # EIO once the child closed the terminal
        while chunk := os.read(terminal, 4096):
            output += chunk
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 2
    assert b"standard input is a terminal" in output
    assert not target.exists()


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_backup_refuses_special_files(keystore, home: Path, tmp_path: Path, kind: str) -> None:
    """A FIFO would block the backup and a link would copy a file from outside into it."""
    import os

    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    odd = home / "notes.txt"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        (tmp_path / "outside.txt").write_text("not a keystore file")
        odd.symlink_to(tmp_path / "outside.txt")

    with pytest.raises(KeystoreError, match="notes.txt"):
        backup_keystore(home, tmp_path / "b.json")

    assert not (tmp_path / "b.json").exists()


def test_restore_refuses_huge_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agile.rotate import backup

    monkeypatch.setattr(backup, "MAX_BACKUP_SIZE", 1000)
    source = tmp_path / "big.json"
    source.write_bytes(b"{" + b" " * 2000 + b"}")

    with pytest.raises(KeystoreError, match="larger than"):
        restore_keystore(tmp_path / "target", source)

    assert not (tmp_path / "target").exists()


def test_backup_refuses_unrestorable_size(
    keystore, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agile.rotate import backup

    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (home / "audit.log").write_bytes(b"x" * 5000)
    monkeypatch.setattr(backup, "MAX_BACKUP_SIZE", 4000)

    with pytest.raises(KeystoreError, match="'audit.log'"):
        backup_keystore(home, tmp_path / "b.json")

    assert not (tmp_path / "b.json").exists()
