"""Policy inputs at the edges: very long durations, far-future keys, an empty --policy."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy
from agile.policy import KeyMeta, active_policy, load_policy
from agile.policy.loader import PROFILES_DIR

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.parametrize("duration", ["99999999999999999999y", "2000000y", "1001y"])
def test_toml_max_key_age_too_long(tmp_path: Path, duration: str) -> None:
    path = tmp_path / "long.toml"
    path.write_text(f'base = "default"\n[kem]\nmax_key_age = "{duration}"\n')

    with pytest.raises(InvalidPolicy, match="max_key_age") as raised:
        load_policy(str(path))

    assert "long.toml" in str(raised.value)
    assert raised.value.fix is not None
    assert "1000y" in raised.value.fix


def test_toml_max_key_age_limit(tmp_path: Path) -> None:
    path = tmp_path / "limit.toml"
    path.write_text('base = "default"\n[kem]\nmax_key_age = "1000y"\n')

    policy = load_policy(str(path))

    assert policy.max_key_age("kem") == dt.timedelta(days=365_000)


def test_rego_max_key_age_too_long(tmp_path: Path) -> None:
    pytest.importorskip("regorus")
    text = (PROFILES_DIR / "pq-hybrid.rego").read_text()
    assert '"max_key_age": "365d"' in text
    path = tmp_path / "long.rego"
    path.write_text(text.replace('"max_key_age": "365d"', '"max_key_age": "9999999y"', 1))

    with pytest.raises(InvalidPolicy, match="max_key_age"):
        load_policy(str(path))


def test_far_future_key_enforce() -> None:
    # created + max_key_age lies past the year 9999, which datetime cannot represent.
    key = KeyMeta("k1", "x25519", dt.datetime(9999, 6, 1, tzinfo=dt.UTC), "primary")

    load_policy("default").enforce("encrypt", "x25519", key=key, now=NOW)


@pytest.mark.parametrize(
    "command",
    [
        ("policy", "show", "--policy", ""),
        ("policy", "explain", "--policy", "", "--operation", "encrypt", "--algorithm", "x25519"),
    ],
    ids=["show", "explain"],
)
def test_empty_policy_rejected(command: tuple[str, ...]) -> None:
    result = _agile(*command)

    assert result.returncode == 2, result.stdout
    assert "invalid policy spec ''" in result.stderr


def test_empty_policy_check_rejected(tmp_path: Path) -> None:
    result = _agile("--keystore", str(tmp_path), "policy", "check", "--policy", "")

    assert result.returncode == 2, result.stdout
    assert "invalid policy spec ''" in result.stderr


def test_stored_unknown_spec_named(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text('{"version": 1, "spec": "nosuch"}')

    with pytest.raises(InvalidPolicy, match="stored policy .*policy.json.*'nosuch'") as raised:
        active_policy(tmp_path)

    assert raised.value.fix is not None
    assert "agile policy set" in raised.value.fix
