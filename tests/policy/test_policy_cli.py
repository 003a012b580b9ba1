"""``agile policy``: the acceptance cases, exit codes and JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.policy.loader import PROFILES_DIR

REPO = Path(__file__).resolve().parents[2]


def agile(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def explain(policy: str, operation: str, algorithm: str) -> dict:
    result = agile(
        "policy",
        "explain",
        "--policy",
        policy,
        "--operation",
        operation,
        "--algorithm",
        algorithm,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_explain_pq_hybrid_x25519() -> None:
    data = explain("pq-hybrid", "encrypt", "x25519")
    assert data["allowed"] is False
    assert data["reasons"]
    assert data["policy_hash"].startswith("sha256:")


def test_explain_pq_hybrid_xwing() -> None:
    assert explain("pq-hybrid", "encrypt", "x-wing")["allowed"] is True


def test_explain_pq_hybrid_decrypt() -> None:
    assert explain("pq-hybrid", "decrypt", "x25519")["allowed"] is True


def test_explain_fips_xchacha() -> None:
    assert explain("fips", "encrypt", "xchacha20-poly1305")["allowed"] is False


@pytest.mark.parametrize(
    ("operation", "algorithm", "expected"),
    [("encrypt", "x25519", False), ("encrypt", "x-wing", True), ("decrypt", "x25519", True)],
)
def test_explain_rego(operation: str, algorithm: str, expected: bool) -> None:
    pytest.importorskip("regorus")
    data = explain(str(PROFILES_DIR / "pq-hybrid.rego"), operation, algorithm)
    assert data["allowed"] is expected


def test_explain_unknown_algorithm() -> None:
    result = agile(
        "policy", "explain", "--policy", "default", "--operation", "encrypt", "--algorithm", "x-wng"
    )
    assert result.returncode == 2
    assert "x-wng" in result.stderr


def test_explain_at_date() -> None:
    result = agile(
        "policy",
        "explain",
        "--policy",
        "fips",
        "--operation",
        "decrypt",
        "--algorithm",
        "rsa-oaep-2048",
        "--at",
        "2031-01-01",
        "--json",
    )
    assert json.loads(result.stdout)["allowed"] is False


def test_validate_unknown_algorithm(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('base = "default"\n[kem]\nallowed = ["x-wng"]\n')
    result = agile("policy", "validate", str(path))
    assert result.returncode == 2
    assert "x-wng" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_validate_good(tmp_path: Path) -> None:
    path = tmp_path / "good.toml"
    path.write_text('name = "good"\nbase = "default:pq"\n')
    result = agile("policy", "validate", str(path))
    assert result.returncode == 0
    assert "good" in result.stdout


def test_show_json() -> None:
    result = agile("policy", "show", "--policy", "pq-hybrid", "--json")
    data = json.loads(result.stdout)
    assert data["preferred"]["kem"] == "x-wing"


def test_set_then_show(tmp_path: Path) -> None:
    env = {"AGILE_HOME": str(tmp_path / "ks")}
    assert agile("policy", "set", "future", env=env).returncode == 0
    data = json.loads(agile("policy", "show", "--json", env=env).stdout)
    assert data["name"] == "future"


def test_check_empty_keystore(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    result = agile("policy", "check", "--keystore", str(tmp_path / "none"))
    assert result.returncode == 0
    assert "no keysets" in result.stdout


def test_check_finds_classical_key(keystore: Path) -> None:
    from agile.keys import Keystore

    Keystore.open(keystore).create_keyset("old", "kem", "x25519", policy="default")
    result = agile("policy", "check", "--policy", "pq-hybrid", "--json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    assert [finding["keyset"] for finding in findings] == ["old"]


def test_check_compliant_key(keystore: Path) -> None:
    from agile.keys import Keystore

    Keystore.open(keystore).create_keyset("new", "kem", "x25519", policy="default")
    result = agile("policy", "check", "--policy", "default")
    assert result.returncode == 0
    assert "comply" in result.stdout


@pytest.mark.parametrize("command", ["show", "set", "validate", "explain", "check", "list"])
def test_help_has_examples(command: str) -> None:
    result = agile("policy", command, "--help")
    assert result.returncode == 0
    assert "Examples:" in result.stdout


def test_set_reports_new_keystore(tmp_path: Path) -> None:
    result = agile("--keystore", str(tmp_path / "typo"), "policy", "set", "pq-hybrid")
    assert "created keystore" in result.stderr


def test_set_bad_spec_creates_nothing(tmp_path: Path) -> None:
    agile("--keystore", str(tmp_path / "ks"), "policy", "set", "nosuch")
    assert not (tmp_path / "ks").exists()


def test_show_prints_preferred(tmp_path: Path) -> None:
    # ml-kem-512 is listed first but fails require_hybrid, so x-wing is preferred.
    path = tmp_path / "ours.toml"
    path.write_text('base = "pq-hybrid"\n[kem]\nallowed = ["ml-kem-512", "x-wing"]\n')

    result = agile("policy", "show", "--policy", str(path))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    kem = lines[lines.index("[kem]") + 1 :]
    assert kem[0].split() == ["preferred", "x-wing"]
    assert kem[1].split() == ["allowed", "ml-kem-512,", "x-wing"]
