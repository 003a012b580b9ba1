"""Each reseal writes a ``keyset-resealed`` audit record; a failed check prints one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agile.keys import Keystore
from tests.cli_helpers import PASSPHRASE, run_agile

NEW_PASSPHRASE = "the passphrase after the reseal"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a keystore with the passphrase-sealed kem keyset r."""
    home = tmp_path / "ks"
    created = run_agile(home, "keyset", "create", "r", "--purpose", "kem")
    assert created.returncode == 0, created.stderr
    return home


def _records(home: Path, event: str) -> list[dict[str, Any]]:
    lines = (home / "audit.log").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["event"] == event]


def test_reseal_new_passphrase_record(home: Path) -> None:
    resealed = run_agile(home, "keyset", "reseal", "r", AGILE_NEW_PASSPHRASE=NEW_PASSPHRASE)
    assert resealed.returncode == 0, resealed.stderr

    records = _records(home, "keyset-resealed")

    assert len(records) == 1, records
    record = records[0]
    assert record["keyset"] == "r"
    assert record["previous_sealer"] == "passphrase"
    assert record["sealer"] == "passphrase"
    assert record["previous_password_kdfs"] == ["argon2id"]
    assert record["password_kdfs"] == ["argon2id"]
    assert isinstance(record["policy_hash"], str)


def test_reseal_record_has_no_secret(home: Path) -> None:
    resealed = run_agile(home, "keyset", "reseal", "r", AGILE_NEW_PASSPHRASE=NEW_PASSPHRASE)
    assert resealed.returncode == 0, resealed.stderr
    seal = Keystore.open(home, create=False).keyset("r").seal_blob

    log = (home / "audit.log").read_text()

    assert PASSPHRASE not in log
    assert NEW_PASSPHRASE not in log
    assert seal["ciphertext"] not in log
    assert seal["salt"] not in log


def test_reseal_each_writes_record(home: Path) -> None:
    for _ in range(2):
        resealed = run_agile(home, "keyset", "reseal", "r", "--seal", "passphrase")
        assert resealed.returncode == 0, resealed.stderr

    assert len(_records(home, "keyset-resealed")) == 2


def test_check_failure_one_line(home: Path) -> None:
    resealed = run_agile(home, "keyset", "reseal", "r", AGILE_NEW_PASSPHRASE=NEW_PASSPHRASE)
    assert resealed.returncode == 0, resealed.stderr

    # The old passphrase no longer opens the keyset.
    checked = run_agile(home, "keystore", "check", "r")

    assert checked.returncode == 1, checked.stdout + checked.stderr
    output = (checked.stdout + checked.stderr).splitlines()
    mentions = [line for line in output if "did not unseal" in line]
    assert len(mentions) == 1, output
    assert mentions[0].startswith("failed"), output
