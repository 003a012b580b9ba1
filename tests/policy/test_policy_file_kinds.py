"""Policy paths that name no regular file or a large one, and the audit record of policy set."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy
from agile.keys import Keystore
from agile.keys.audit import AUDIT_NAME
from agile.policy import load_policy
from agile.policy.loader import MAX_POLICY_BYTES
from tests.cli_helpers import run_cli

REPO = Path(__file__).resolve().parents[2]

# Every command that reads a policy file, with the file's path at {path}.
COMMANDS = [
    ("policy", "validate", "{path}"),
    ("policy", "set", "{path}"),
    ("policy", "show", "--policy", "{path}"),
    ("policy", "explain", "--policy", "{path}", "--operation", "encrypt", "--algorithm", "x-wing"),
    ("policy", "check", "--policy", "{path}"),
    ("rotate", "--policy", "{path}", "--dry-run"),
]


def agile(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, text=True, AGILE_HOME=str(home))


def run(command: tuple[str, ...], path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return agile(*(part.format(path=path) for part in command), home=home)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return Keystore.open(tmp_path / "ks").path


@pytest.mark.parametrize("suffix", [".toml", ".rego"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_fifo_rejected(tmp_path: Path, home: Path, suffix: str, command: tuple[str, ...]) -> None:
    path = tmp_path / f"f{suffix}"
    os.mkfifo(path)

    result = run(command, path, home)

    assert result.returncode == 2
    assert f"policy file '{path}' is a FIFO, not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_device_link_rejected(tmp_path: Path, home: Path, command: tuple[str, ...]) -> None:
    path = tmp_path / "zero.toml"
    path.symlink_to("/dev/zero")

    result = run(command, path, home)

    assert result.returncode == 2
    assert "is a character device, not a regular file" in result.stderr
    assert "internal error" not in result.stderr


def test_device_path_rejected(home: Path) -> None:
    result = agile("policy", "validate", "/dev/zero", home=home)

    assert result.returncode == 2
    assert "policy file '/dev/zero' is a character device" in result.stderr


def test_directory_rejected(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.mkdir()

    with pytest.raises(InvalidPolicy, match="is a directory") as raised:
        load_policy(str(path))

    assert raised.value.fix is not None
    assert "regular .toml or .rego file" in raised.value.fix


@pytest.mark.parametrize("suffix", [".toml", ".rego"])
def test_oversized_rejected(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"large{suffix}"
    path.write_bytes(b"#" * (MAX_POLICY_BYTES + 1))

    with pytest.raises(InvalidPolicy, match=f"is larger than {MAX_POLICY_BYTES} bytes"):
        load_policy(str(path))


def test_size_limit_accepted(tmp_path: Path) -> None:
    head = b'base = "default"\n'
    path = tmp_path / "full.toml"
    path.write_bytes(head + b"#" * (MAX_POLICY_BYTES - len(head) - 1) + b"\n")
    assert path.stat().st_size == MAX_POLICY_BYTES

    policy = load_policy(str(path))

    assert policy.preferred("kem") == load_policy("default").preferred("kem")


def test_stored_fifo_rejected(home: Path) -> None:
    os.mkfifo(home / "policy.json")

    result = agile(
        "policy", "explain", "--operation", "encrypt", "--algorithm", "x-wing", home=home
    )

    assert result.returncode == 2
    assert "is a FIFO, not a regular file" in result.stderr


# The audit record of 'agile policy set'.


def audit_records(home: Path) -> list[dict]:
    lines = (home / AUDIT_NAME).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_set_audit_record(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    default = load_policy("default")
    chosen = load_policy("pq-hybrid")

    result = agile("policy", "set", "pq-hybrid", home=home)

    assert result.returncode == 0, result.stderr
    [record] = [item for item in audit_records(home) if item["event"] == "policy-set"]
    assert record["spec"] == "pq-hybrid"
    assert record["policy"] == "pq-hybrid"
    assert record["policy_hash"] == chosen.hash
    assert record["previous_policy"] == "default"
    assert record["previous_policy_hash"] == default.hash


def test_set_audit_previous(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    first = load_policy("fips")
    assert agile("policy", "set", "fips", home=home).returncode == 0

    result = agile("policy", "set", "pq-hybrid", home=home)

    assert result.returncode == 0, result.stderr
    records = [item for item in audit_records(home) if item["event"] == "policy-set"]
    assert len(records) == 2
    assert records[1]["previous_policy"] == "fips"
    assert records[1]["previous_policy_hash"] == first.hash
    assert records[1]["policy"] == "pq-hybrid"


def test_set_audit_file_mode(tmp_path: Path) -> None:
    home = tmp_path / "ks"

    assert agile("policy", "set", "pq-hybrid", home=home).returncode == 0

    assert (home / AUDIT_NAME).stat().st_mode & 0o777 == 0o600
