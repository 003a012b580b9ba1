"""The policy a golden manifest entry names: a built-in spec or a file inside the set's folder.

Any other policy is a damaged vector set (exit code 2), never a failed case, and a
policy file from outside the folder must not decide what the set's envelopes may use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agile import conformance
from agile.errors import VectorFormatError
from agile.policy.loader import PROFILES_DIR

GOLDEN = Path(__file__).resolve().parents[2] / "vectors" / "golden" / "v1"


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=120
    )


def _golden_copy(tmp_path: Path, policy: object = None, **fields: object) -> Path:
    """Copy the golden set with its first two entries, the first one given ``policy``."""
    if not GOLDEN.is_dir():
        pytest.skip(f"the project's golden vectors are not at {GOLDEN}")
    folder = tmp_path / "golden"
    shutil.copytree(GOLDEN, folder)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["vectors"] = manifest["vectors"][:2]
    if policy is not None:
        manifest["vectors"][0]["policy"] = policy
    manifest["vectors"][0].update(fields)
    manifest_path.write_text(json.dumps(manifest))
    return folder


def _outside_policy(tmp_path: Path) -> Path:
    """Write a valid policy file outside the golden set's folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "open.toml"
    shutil.copyfile(PROFILES_DIR / "legacy.toml", path)
    return path


def test_unknown_policy_is_damage(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, "nosuch")

    with pytest.raises(VectorFormatError, match="to-x25519: unknown policy 'nosuch'") as raised:
        conformance.run(folder)

    assert str(folder / "manifest.json") in str(raised.value)
    assert "legacy" in (raised.value.fix or "")


def test_unknown_module_is_damage(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, "default:nosuch")

    with pytest.raises(VectorFormatError, match="unknown policy 'default:nosuch'"):
        conformance.run(folder)


@pytest.mark.parametrize("policy", [42, "", ["legacy"]], ids=["number", "empty", "list"])
def test_policy_not_name_is_damage(tmp_path: Path, policy: object) -> None:
    folder = _golden_copy(tmp_path, policy)

    with pytest.raises(VectorFormatError, match="to-x25519: policy must be a policy name"):
        conformance.run(folder)


def test_absolute_policy_outside_is_damage(tmp_path: Path) -> None:
    outside = _outside_policy(tmp_path)
    folder = _golden_copy(tmp_path, str(outside))

    with pytest.raises(
        VectorFormatError, match="to-x25519: policy .* is not a regular file inside"
    ):
        conformance.run(folder)


def test_relative_policy_outside_is_damage(tmp_path: Path) -> None:
    _outside_policy(tmp_path)
    folder = _golden_copy(tmp_path, "../outside/open.toml")

    with pytest.raises(VectorFormatError, match="policy '../outside/open.toml' is not a regular"):
        conformance.run(folder)


def test_policy_link_outside_is_damage(tmp_path: Path) -> None:
    outside = _outside_policy(tmp_path)
    folder = _golden_copy(tmp_path, "open.toml")
    (folder / "open.toml").symlink_to(outside)

    with pytest.raises(VectorFormatError, match="policy 'open.toml' is not a regular file inside"):
        conformance.run(folder)


def test_policy_file_inside_runs(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, "open.toml")
    shutil.copyfile(PROFILES_DIR / "legacy.toml", folder / "open.toml")

    # The name is relative to manifest.json, not to the current folder of the test run.
    totals = conformance.run(folder).totals()

    assert totals.failed == 0
    assert totals.passed == 2


def test_invalid_policy_file_is_damage(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, "open.toml")
    (folder / "open.toml").write_text("[kem\n")

    with pytest.raises(VectorFormatError, match="to-x25519: policy 'open.toml' is invalid"):
        conformance.run(folder)


def test_unknown_policy_exit_code(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, "nosuch")

    result = _agile("vectors", "run", str(folder))

    assert result.returncode == 2
    assert "manifest.json: to-x25519: unknown policy 'nosuch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_outside_policy_exit_code(tmp_path: Path) -> None:
    outside = _outside_policy(tmp_path)
    folder = _golden_copy(tmp_path, str(outside))

    result = _agile("vectors", "run", str(folder))

    assert result.returncode == 2
    assert "passed" not in result.stdout


def test_aad_not_string_is_damage(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, aad=7)

    with pytest.raises(VectorFormatError, match="to-x25519: aad must be a string, not 7"):
        conformance.run(folder)
