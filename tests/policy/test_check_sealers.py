"""``agile policy check`` reports keysets sealed with a sealer the policy's [seal] rule forbids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.policy import load_policy
from agile.policy.model import check_sealers, seal_blob_sealers

REPO = Path(__file__).resolve().parents[2]

HARDWARE_SEAL = "pq-hybrid:hardware-seal"

#: Allows an sss quorum of hardware members, but not the passphrase sealer.
SSS_HARDWARE = """\
name = "sss-hardware"
base = "default"
[seal]
allowed = ["sss", "tpm2", "pkcs11"]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "keystore"


def agile(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGILE_HOME": str(home),
        "AGILE_PASSPHRASE": "check sealers",
        "AGILE_ARGON2_MEMORY_KIB": "1024",
        "AGILE_ARGON2_ITERATIONS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def _create(home: Path, name: str) -> None:
    result = agile(home, "keyset", "create", name, "--purpose", "kem", "--algorithm", "x-wing")
    assert result.returncode == 0, result.stderr


def test_check_forbidden_sealer(home: Path) -> None:
    _create(home, "mail")

    result = agile(home, "policy", "check", "--policy", HARDWARE_SEAL)

    assert result.returncode == 1, result.stdout
    assert "keyset mail (sealer passphrase)" in result.stdout
    assert "agile keyset reseal mail --seal tpm2" in result.stdout
    assert "comply" not in result.stdout


def test_check_forbidden_sealer_json(home: Path) -> None:
    _create(home, "mail")
    _create(home, "files")

    result = agile(home, "policy", "check", "--policy", HARDWARE_SEAL, "--json")

    assert result.returncode == 1, result.stdout
    report = json.loads(result.stdout)
    assert report["keysets_checked"] == 2
    assert [f["keyset"] for f in report["sealer_findings"]] == ["files", "mail"]
    assert report["sealer_findings"][0]["sealers"] == ["passphrase"]
    assert "agile keyset reseal files --seal tpm2" in report["sealer_findings"][0]["fix"]
    assert report["findings"] == []


def test_check_allowed_sealer(home: Path) -> None:
    _create(home, "mail")

    result = agile(home, "policy", "check", "--policy", "pq-hybrid", "--json")

    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["sealer_findings"] == []


def test_sss_members_checked(tmp_path: Path) -> None:
    spec = tmp_path / "sss-hardware.toml"
    spec.write_text(SSS_HARDWARE)
    policy = load_policy(str(spec))
    hardware = {"sealer": "sss", "members": [{"sealer": "tpm2"}, {"sealer": "pkcs11"}]}
    nested = {
        "sealer": "sss",
        "members": [{"sealer": "tpm2"}, {"sealer": "sss", "members": [{"sealer": "passphrase"}]}],
    }

    findings = check_sealers(policy, [("ok", hardware), ("weak", nested)])

    assert [finding.keyset for finding in findings] == ["weak"]
    assert findings[0].sealers == ["sss", "tpm2", "sss", "passphrase"]
    assert len(findings[0].reasons) == 1
    assert "'passphrase'" in findings[0].reasons[0]


def test_blob_sealers_malformed() -> None:
    assert seal_blob_sealers({"sealer": "sss", "members": "tpm2"}) == ["sss"]
    assert seal_blob_sealers({"members": [{"sealer": "tpm2"}]}) == []
