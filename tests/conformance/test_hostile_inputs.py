"""The runner on hostile input: JSON nested too deeply, golden manifests that point outside."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agile import conformance
from agile.errors import VectorFormatError

GOLDEN = Path(__file__).resolve().parents[2] / "vectors" / "golden" / "v1"
DEEP = "[" * 100_000 + "]" * 100_000


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=120
    )


def _golden_copy(tmp_path: Path, **changes: object) -> Path:
    if not GOLDEN.is_dir():
        pytest.skip(f"the project's golden vectors are not at {GOLDEN}")
    folder = tmp_path / "golden"
    shutil.copytree(GOLDEN, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["vectors"] = manifest["vectors"][:1]
    for name, value in changes.items():
        if name == "envelope":
            manifest["vectors"][0]["envelope"] = value
        else:
            manifest[name] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_deep_json_is_format_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    with pytest.raises(VectorFormatError, match="nested too deeply"):
        conformance.run(path)


def test_deep_json_cli_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    result = _agile("vectors", "run", str(path))
    assert result.returncode == 2


def test_deep_json_cli_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    result = _agile("vectors", "run", str(path))
    assert "nested too deeply" in result.stderr


def test_deep_acvp_answers_is_format_error(tmp_path: Path, shared_vectors: Path) -> None:
    source = next((shared_vectors / "acvp").rglob("prompt.json"))
    folder = tmp_path / source.parent.name
    folder.mkdir()
    shutil.copyfile(source, folder / "prompt.json")
    (folder / "expectedResults.json").write_text(DEEP)
    with pytest.raises(VectorFormatError):
        conformance.run(folder)


def test_golden_envelope_device_rejected(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, envelope="/dev/zero")
    with pytest.raises(VectorFormatError, match="/dev/zero"):
        conformance.run(folder)


def test_golden_envelope_outside_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside.agile"
    shutil.copyfile(GOLDEN / "to-x25519.agile", outside)
    folder = _golden_copy(tmp_path, envelope="../outside.agile")
    with pytest.raises(VectorFormatError, match="inside"):
        conformance.run(folder)


def test_golden_keystore_outside_rejected(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path, keystore="/etc")
    with pytest.raises(VectorFormatError, match="/etc"):
        conformance.run(folder)


def test_golden_run_no_permission_warnings(tmp_path: Path) -> None:
    folder = _golden_copy(tmp_path)
    for path in (folder / "keystore").rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    result = _agile("vectors", "run", str(folder))
    assert "readable by group" not in result.stderr
