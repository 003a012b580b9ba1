"""An unreadable keyset file: the checks list it and go on, rotation stops and names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agile.keys import Keystore
from agile.keys.check import UNREADABLE, check_keystore, check_seal_members
from tests.cli_helpers import run_agile


@pytest.fixture
def damaged(store: Keystore) -> Path:
    """Return a keystore with the readable keyset ``good`` and the unreadable file of ``bad``."""
    store.create_keyset("good", "kem", "x25519")
    file = store.path / "keysets" / "bad.json"
    file.write_text("{not json")
    file.chmod(0o600)
    return store.path


def _error_lines(stderr: str) -> list[dict]:
    return [json.loads(line)["error"] for line in stderr.splitlines()]


def test_keyset_list_json_error_lines(damaged: Path) -> None:
    result = run_agile(damaged, "keyset", "list", "--json")
    [error] = _error_lines(result.stderr)

    assert result.returncode == 1
    assert error["type"] == "KeystoreError"
    assert "bad.json" in error["message"]
    assert "restore it from a backup" in error["fix"]
    assert error["exit_code"] == 1


def test_keyset_list_text_error_line(damaged: Path) -> None:
    result = run_agile(damaged, "keyset", "list")

    assert result.returncode == 1
    assert result.stderr.startswith("agile: error: cannot read keyset file")
    assert result.stdout.startswith("good ")


def test_check_keystore_lists_unreadable(damaged: Path) -> None:
    results = {result.keyset: result for result in check_keystore(Keystore.open(damaged))}

    assert results["good"].result == "ok"
    assert results["bad"].result == "failed"
    assert results["bad"].status == UNREADABLE
    assert "bad.json" in results["bad"].detail


def test_check_keystore_named_unreadable(damaged: Path) -> None:
    [result] = check_keystore(Keystore.open(damaged), ["bad"])

    assert result.status == UNREADABLE


def test_check_seal_members_skips_unreadable(damaged: Path) -> None:
    assert check_seal_members(Keystore.open(damaged)) == []


def test_keystore_check_cli_goes_on(damaged: Path) -> None:
    result = run_agile(damaged, "keystore", "check")

    assert result.returncode == 1, result.stderr
    assert "failed  bad (unreadable file): cannot read keyset file" in result.stdout
    assert "ok      good " in result.stdout
    assert "1 keyset file could not be read" in result.stdout


def test_keystore_check_cli_json(damaged: Path) -> None:
    result = run_agile(damaged, "keystore", "check", "--json")
    report = json.loads(result.stdout)
    statuses = {key["keyset"]: key["status"] for key in report["keys"]}

    assert result.returncode == 1, result.stderr
    assert statuses["bad"] == UNREADABLE
    assert statuses["good"] == "primary"
    assert report["failed"] == 1


def test_policy_check_cli_goes_on(damaged: Path) -> None:
    result = run_agile(damaged, "policy", "check")

    assert result.returncode == 1, result.stderr
    assert "keyset bad: cannot read keyset file" in result.stdout
    assert "readable keysets: 1 key checked, all comply" in result.stdout


def test_policy_check_cli_json(damaged: Path) -> None:
    result = run_agile(damaged, "policy", "check", "--json")
    report = json.loads(result.stdout)
    [unreadable] = report["unreadable"]

    assert result.returncode == 1, result.stderr
    assert unreadable["name"] == "bad"
    assert unreadable["file"].endswith("bad.json")
    assert report["keys_checked"] == 1


@pytest.mark.parametrize("arguments", [["--dry-run"], []], ids=["dry-run", "run"])
def test_rotate_stops_naming_file(damaged: Path, arguments: list[str]) -> None:
    result = run_agile(damaged, "rotate", "--policy", "pq-hybrid", *arguments)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "rotation needs every keyset" in result.stderr
    assert str(damaged / "keysets" / "bad.json") in result.stderr
    assert "then run 'agile rotate' again" in result.stderr
