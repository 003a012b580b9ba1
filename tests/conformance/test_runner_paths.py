"""The paths given to the runner: empty paths, files reached twice, symlinks and hidden entries."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agile import conformance
from agile.conformance.runner import HIDDEN_REASON, LINKED_FOLDER_REASON
from agile.errors import InvalidArgument, VectorFormatError

HKDF = "wycheproof/testvectors_v1/hkdf_sha256_test.json"


def _agile(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture
def hkdf(shared_vectors: Path, tmp_path: Path) -> Path:
    """Return a copy of the Wycheproof HKDF-SHA256 file in a folder of its own."""
    folder = tmp_path / "vectors"
    folder.mkdir()
    return Path(shutil.copyfile(shared_vectors / HKDF, folder / "hkdf_sha256_test.json"))


def _passed(*paths: Path | str) -> int:
    return conformance.run(list(paths), providers=["openssl"]).totals().passed


def test_empty_path_rejected() -> None:
    with pytest.raises(InvalidArgument, match="vector path is empty"):
        conformance.run("")


def test_empty_path_among_others(hkdf: Path) -> None:
    with pytest.raises(InvalidArgument, match="vector path is empty"):
        conformance.run([str(hkdf), ""])


def test_empty_path_cli_exit_code(hkdf: Path) -> None:
    # Run from the folder holding a vector file, which "" must not select.
    result = _agile("vectors", "run", "", cwd=hkdf.parent)

    assert result.returncode == 2
    assert "vector path is empty" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_same_file_twice_runs_once(hkdf: Path) -> None:
    once = _passed(hkdf)

    assert once > 0
    assert _passed(hkdf, hkdf) == once


def test_symlink_to_file_runs_once(hkdf: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(hkdf)

    report = conformance.run([hkdf, link], providers=["openssl"])

    assert report.totals().passed == _passed(hkdf)
    assert [item.path for item in report.files] == [str(hkdf)]


def test_folder_and_its_file_run_once(hkdf: Path) -> None:
    assert _passed(hkdf.parent, hkdf) == _passed(hkdf)


def test_symlink_inside_folder_runs_once(hkdf: Path) -> None:
    (hkdf.parent / "also.json").symlink_to(hkdf.name)

    report = conformance.run(hkdf.parent, providers=["openssl"])

    assert report.totals().passed == _passed(hkdf)
    assert len(report.files) == 1


def test_symlink_loop_path_named(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop.name)

    with pytest.raises(VectorFormatError, match="is a symlink loop") as raised:
        conformance.run(loop)

    assert str(loop) in str(raised.value)
    assert "symlink" in (raised.value.fix or "")


def test_symlink_loop_path_cli(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop.name)

    result = _agile("vectors", "run", str(loop))

    assert result.returncode == 2
    assert "is a symlink loop" in result.stderr
    assert "does not exist" not in result.stderr


def test_dangling_symlink_path_named(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "gone.json")

    with pytest.raises(VectorFormatError, match="gone.json', which does not exist"):
        conformance.run(link)


def test_missing_path_still_named(tmp_path: Path) -> None:
    with pytest.raises(VectorFormatError, match="'.*absent.json' does not exist"):
        conformance.run(tmp_path / "absent.json")


def test_symlink_loop_inside_folder_skipped(hkdf: Path) -> None:
    loop = hkdf.parent / "loop.json"
    loop.symlink_to(loop.name)

    report = conformance.run(hkdf.parent, providers=["openssl"])
    reasons = {Path(item.path).name: item.skipped_reason for item in report.files}

    assert reasons["loop.json"] == "a symlink loop"
    assert report.totals().passed == _passed(hkdf)


def test_hidden_folder_reported(hkdf: Path) -> None:
    hidden = hkdf.parent / ".hidden"
    hidden.mkdir()
    shutil.copyfile(hkdf, hidden / "copy.json")

    report = conformance.run(hkdf.parent, providers=["openssl"])
    reasons = {Path(item.path).name: item.skipped_reason for item in report.files}

    assert reasons[".hidden"] == HIDDEN_REASON
    assert "copy.json" not in reasons
    assert report.totals().passed == _passed(hkdf)


def test_hidden_file_reported(hkdf: Path) -> None:
    shutil.copyfile(hkdf, hkdf.parent / ".copy.json")

    report = conformance.run(hkdf.parent, providers=["openssl"])
    reasons = {Path(item.path).name: item.skipped_reason for item in report.files}

    assert reasons[".copy.json"] == HIDDEN_REASON


def test_hidden_folder_named_runs(hkdf: Path) -> None:
    hidden = hkdf.parent / ".hidden"
    hidden.mkdir()
    shutil.copyfile(hkdf, hidden / "copy.json")

    assert _passed(hidden) == _passed(hkdf)


def test_hidden_file_named_after_folder(hkdf: Path) -> None:
    hidden = Path(shutil.copyfile(hkdf, hkdf.parent / ".copy.json"))

    report = conformance.run([hkdf.parent, hidden], providers=["openssl"])
    reasons = {Path(item.path).name: item.skipped_reason for item in report.files}

    assert reasons[".copy.json"] is None
    assert report.totals().passed == 2 * _passed(hkdf)


def test_hidden_folder_in_cli_output(hkdf: Path) -> None:
    (hkdf.parent / ".hidden").mkdir()

    result = _agile("vectors", "run", str(hkdf.parent), "--provider", "openssl")

    assert result.returncode == 0, result.stderr
    assert f"skipped: {HIDDEN_REASON}" in result.stdout


def test_hidden_folder_in_json(hkdf: Path) -> None:
    (hkdf.parent / ".hidden").mkdir()

    result = _agile("vectors", "run", str(hkdf.parent), "--json")
    files = {Path(item["path"]).name: item for item in json.loads(result.stdout)["files"]}

    assert result.returncode == 0, result.stderr
    assert files[".hidden"]["skipped_reason"] == HIDDEN_REASON


def test_linked_folder_reported(hkdf: Path, tmp_path: Path) -> None:
    (hkdf.parent / "up").symlink_to(tmp_path)

    report = conformance.run(hkdf.parent, providers=["openssl"])
    reasons = {Path(item.path).name: item.skipped_reason for item in report.files}

    assert reasons["up"] == LINKED_FOLDER_REASON
    assert report.totals().passed == _passed(hkdf)
