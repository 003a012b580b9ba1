"""With --json, a failing command prints its error as one JSON object on standard error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _error(result: Any) -> dict[str, Any]:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    document = json.loads(lines[0])
    assert set(document) == {"error"}
    error: dict[str, Any] = document["error"]
    assert set(error) == {"type", "message", "fix", "exit_code"}
    return error


def test_library_error_as_json(run) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    result = run("keyset", "show", "nope", "--json")

    assert result.returncode == 2
    assert result.stdout == b""
    error = _error(result)
    assert error["type"] == "KeyNotFound"
    assert "'nope'" in error["message"]
    assert error["fix"]
    assert error["exit_code"] == 2


def test_same_error_as_text_without_json(run) -> None:  # type: ignore[no-untyped-def]
    as_json = _error(run("keyset", "show", "nope", "--json"))
    text = run("keyset", "show", "nope")

    assert text.returncode == 2
    expected = f"agile: error: {as_json['message']} ({as_json['fix']})"
    assert text.stderr.decode().strip() == expected


def test_usage_error_as_json(run) -> None:  # type: ignore[no-untyped-def]
    result = run("keyset", "list", "--json", "--no-such-option")

    assert result.returncode == 2
    error = _error(result)
    assert error["type"] == "UsageError"
    assert "--no-such-option" in error["message"]
    assert error["fix"] == "see 'agile keyset list --help'"


def test_file_error_as_json(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("inspect", "--json", "missing.agile")

    assert result.returncode == 2
    error = _error(result)
    assert "missing.agile" in error["message"]
    assert error["exit_code"] == 2


def test_failed_check_keeps_exit_code(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "not-an-envelope").write_bytes(b"plain text, no envelope here\n")
    result = run("inspect", "--json", "not-an-envelope")

    error = _error(result)
    assert result.returncode == error["exit_code"]
    assert error["type"] == "InvalidEnvelope"


def test_json_after_double_dash_is_an_argument(run) -> None:  # type: ignore[no-untyped-def]
    result = run("inspect", "--", "--json")

    assert result.returncode == 2
    assert result.stderr.startswith(b"agile: error: ")


def test_warning_as_json(run) -> None:  # type: ignore[no-untyped-def]
    # The fixture's low Argon2id memory makes sealing log a warning.
    result = run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519", "--json")

    assert result.returncode == 0, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr
    log = json.loads(lines[0])["log"]
    assert log["level"] == "warning"
    assert log["logger"] == "agile.seal.passphrase"
    assert "below the defaults" in log["message"]
    assert json.loads(result.stdout)["name"] == "box"


def test_warning_as_text_without_json(run) -> None:  # type: ignore[no-untyped-def]
    result = run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")

    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().startswith("WARNING agile.seal.passphrase: ")


def test_verbose_traceback_inside_json(run) -> None:  # type: ignore[no-untyped-def]
    run("keyset", "create", "box", "--purpose", "kem", "--algorithm", "x25519")
    result = run("-v", "keyset", "show", "nope", "--json")

    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr
    error = json.loads(lines[0])["error"]
    assert error["type"] == "KeyNotFound"
    assert error["traceback"].startswith("Traceback (most recent call last):")


def test_verbose_traceback_as_text(run) -> None:  # type: ignore[no-untyped-def]
    result = run("-v", "keyset", "show", "nope")

    assert result.returncode == 2
    assert result.stderr.decode().startswith("Traceback (most recent call last):")
