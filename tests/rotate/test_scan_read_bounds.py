"""The header scan reads a bounded prefix of each object, never a large object whole.

The large files are sparse, so they cost no disk space.  The CLI runs in a
subprocess whose address space is limited to 1 GiB, so a scan that loaded a
4 GiB file would fail with MemoryError.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from agile.envelope import encrypt
from agile.envelope.format import MAGIC
from agile.rotate import RotateOptions, dry_run, open_store
from tests.rotate.rotate_helpers import cli_env

REPOSITORY = Path(__file__).resolve().parents[2]

#: Size of each sparse file: four times the address-space limit of the subprocess.
SPARSE_SIZE = 4 << 30
MEMORY_LIMIT = 1 << 30

#: The preamble of a binary encrypted envelope that announces a header of MAX_HEADER - 1 bytes.
LONG_BINARY_PREAMBLE = MAGIC + b"\x01\x01\x00\x0f\xff\xff"


def _limited_agile(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPOSITORY,
        preexec_fn=limit_memory,
    )


def _sparse(path: Path, start: bytes) -> None:
    with open(path, "wb") as file:
        file.write(start)
        file.truncate(SPARSE_SIZE)


@pytest.fixture
def objects(keystore, home: Path) -> Path:
    """Return a registered directory store that contains one envelope of keyset 'team'."""
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    store.put("good", encrypt(b"good", keyset, policy="default"))
    return home.parent / "objects"


def _dry_run_unreadable(home: Path) -> dict[str, str]:
    result = _limited_agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run", "--json")
    # Exit code 1: the dry run lists unreadable objects.
    assert result.returncode == 1, result.stderr
    plan = json.loads(result.stdout)
    return {item["object"]: item["error"] for item in plan["unreadable"]}


@pytest.mark.parametrize(
    "start",
    [
        LONG_BINARY_PREAMBLE,
        b"-----BEGIN AGILE ENCRYPTED MESSAGE-----\n",
        b"\n" * (32 * 1024),
    ],
    ids=["binary", "armour", "whitespace"],
)
def test_dry_run_sparse_file(objects: Path, home: Path, start: bytes) -> None:
    _sparse(objects / "large", start)
    assert list(_dry_run_unreadable(home)) == ["large"]


def test_rotate_sparse_file(objects: Path, home: Path) -> None:
    _sparse(objects / "large", LONG_BINARY_PREAMBLE)
    result = _limited_agile(home, "rotate", "--policy", "pq-hybrid", "--json")
    assert "MemoryError" not in result.stderr
    assert json.loads(result.stdout)["objects"]["rewrap"] == 1


def test_remove_key_sparse_file(objects: Path, home: Path, keystore) -> None:
    _sparse(objects / "large", LONG_BINARY_PREAMBLE)
    # A key that no object names, so that only the unreadable file stops the removal.
    keyset = keystore.keyset("team")
    key_id = keyset.add_key("x25519", policy="default").id
    keyset.disable(key_id)
    result = _limited_agile(home, "keyset", "remove-key", "team", key_id)
    assert result.returncode == 2, result.stderr
    assert "'large'" in result.stderr


def test_whitespace_message(objects: Path, home: Path) -> None:
    (objects / "blank").write_bytes(b"\n" * (3 << 20))
    error = _dry_run_unreadable(home)["blank"]
    assert "are all whitespace" in error


def _planned(home: Path) -> dict[str, int]:
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    assert plan["unreadable"] == []
    return dict(plan["objects"])


def test_large_armoured_envelope_found(keystore, objects: Path, home: Path) -> None:
    keyset = keystore.keyset("team")
    envelope = encrypt(os.urandom(1 << 20), keyset, policy="default", armor=True)
    (objects / "armoured").write_bytes(envelope)
    assert _planned(home)["rewrap"] == 2


def test_armour_after_whitespace_found(keystore, objects: Path, home: Path) -> None:
    keyset = keystore.keyset("team")
    envelope = encrypt(b"indented", keyset, policy="default", armor=True)
    (objects / "indented").write_bytes(b" \n" * (16 * 1024) + envelope)
    assert _planned(home)["rewrap"] == 2


def test_long_binary_header_found(keystore, objects: Path, home: Path) -> None:
    # Sixteen X-Wing stanzas of more than 1 KiB each make a header longer than the 16 KiB prefix.
    recipients = [
        keystore.create_keyset(f"member{index}", "kem", algorithm="x-wing", policy="default")
        for index in range(16)
    ]
    envelope = encrypt(b"many", [keystore.keyset("team"), *recipients], policy="default")
    assert int.from_bytes(envelope[10:14], "big") > 16 * 1024
    (objects / "many").write_bytes(envelope)
    assert _planned(home)["rewrap"] == 2


def test_armour_beyond_bound_reported(keystore, objects: Path, home: Path) -> None:
    keyset = keystore.keyset("team")
    envelope = encrypt(b"far", keyset, policy="default", armor=True)
    (objects / "far").write_bytes(b"\n" * (3 << 20) + envelope)
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    assert [item["object"] for item in plan["unreadable"]] == ["far"]
