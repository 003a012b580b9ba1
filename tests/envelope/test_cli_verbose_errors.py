"""--verbose adds a traceback to an error but keeps its one-line message and exit code."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_verbose_keeps_exit_code_of_bad_input(run) -> None:  # type: ignore[no-untyped-def]
    quiet = run("keyset", "show", "nope")
    loud = run("-v", "keyset", "show", "nope")

    assert quiet.returncode == 2
    assert loud.returncode == 2
    assert b"Traceback" not in quiet.stderr
    assert b"Traceback" in loud.stderr
    # The last line is the same one-line error, with its fix.
    assert loud.stderr.strip().splitlines()[-1] == quiet.stderr.strip()


def test_verbose_keeps_exit_code_of_missing_file(run) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    loud = run("-v", "encrypt", "--to", "box", "-o", "out.agile", "nosuch")

    assert loud.returncode == 2
    assert loud.stderr.strip().splitlines()[-1].startswith(b"agile: error:")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda path: path.mkdir(), b"give a file, not a directory"),
        (lambda path: None, b"check the path"),
    ],
    ids=["directory", "missing"],
)
def test_file_errors_name_a_fix(run, tmp_path: Path, make, expected) -> None:  # type: ignore[no-untyped-def]
    """A file-system error on an input names the path and the fix."""
    make(tmp_path / "input")
    result = run("share", "split", "-t", "2", "-n", "3", "input", "-o", "part")

    assert result.returncode == 2
    assert b"'input'" in result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
