"""Help texts and errors that must match what the commands do.

The key status commands show the line they print, and the test runs each one
to compare. The other cases cover the --chunk-size range in `encrypt --help`,
the shared --json help of `keystore check`, the next step in the error of an
invalid signature, and two different --keystore values on one command line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run_agile, run_cli

#: The command that puts a key into each status that a help example starts from.
STATUS_COMMAND = {"enabled": "enable", "decrypt-only": "decrypt-only", "disabled": "disable"}


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def _help(*command: str) -> str:
    """Return the --help text of ``command`` with its line breaks folded into spaces."""
    shown = run_cli(*command, "--help", text=True)
    assert shown.returncode == 0, shown.stderr
    return " ".join(shown.stdout.split())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a keystore with one kem keyset, 'files', which has a primary key only."""
    home = tmp_path / "ks"
    _ok(run_agile(home, "keyset", "create", "files", "--purpose", "kem"))
    return home


@pytest.mark.parametrize("command", ["decrypt-only", "enable", "disable", "destroy"])
def test_status_help_shows_output(home: Path, command: str) -> None:
    example = re.search(r'"key ID of keyset NAME: (\S+) -> (\S+)"', _help("keyset", command))
    assert example is not None, f"no example output in 'agile keyset {command} --help'"
    before, after = example.groups()
    key_id = _ok(run_agile(home, "keyset", "add-key", "files")).stdout.split()[0]
    if before != "enabled":
        _ok(run_agile(home, "keyset", STATUS_COMMAND[before], "files", key_id))

    printed = _ok(run_agile(home, "keyset", command, "files", key_id)).stdout

    assert printed == f"key {key_id} of keyset files: {before} -> {after}\n"


def test_encrypt_help_chunk_range() -> None:
    shown = _help("encrypt")

    assert "1024<=x<=16777216" in shown


def test_encrypt_chunk_out_of_range(home: Path, tmp_path: Path) -> None:
    message = tmp_path / "message.txt"
    message.write_text("hello\n")

    result = run_agile(home, "encrypt", "--to", "files", "--chunk-size", "512", str(message))

    assert result.returncode == 2
    assert "'--chunk-size': 512 is not in the range 1024<=x<=16777216" in result.stderr
    assert result.stdout == ""


def test_keystore_check_json_help() -> None:
    shared = re.search(r"--json (Print .+?) --keystore", _help("keyset", "list"))
    checked = re.search(r"--json (Print .+?) --keystore", _help("keystore", "check"))

    assert shared is not None
    assert checked is not None
    assert checked.group(1) == shared.group(1)


def test_invalid_signature_fix(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    _ok(run_agile(home, "keyset", "create", "release", "--purpose", "signature"))
    message = tmp_path / "app.tar"
    message.write_bytes(b"release 1.0\n")
    signature = tmp_path / "app.tar.sig"
    _ok(run_agile(home, "sign", "--keyset", "release", "-o", str(signature), str(message)))
    message.write_bytes(b"release 1.1\n")

    result = run_agile(home, "verify", "--signature", str(signature), str(message))

    lines = result.stderr.splitlines()
    assert result.returncode == 1
    assert len(lines) == 1, lines
    assert "is invalid (check that the message is the exact file that was signed" in lines[0]
    assert "ask the signer to sign it again" in lines[0]


@pytest.mark.parametrize(
    "arguments",
    [
        ("--keystore", "{home}", "keyset", "list", "--keystore", "{other}"),
        ("--keystore", "{home}", "keyset", "--keystore", "{other}", "list"),
        ("keyset", "--keystore", "{home}", "list", "--keystore", "{other}"),
    ],
    ids=["global-and-command", "global-and-group", "group-and-command"],
)
def test_two_keystores_rejected(home: Path, tmp_path: Path, arguments: tuple[str, ...]) -> None:
    other = tmp_path / "other"
    filled = [part.format(home=home, other=other) for part in arguments]

    result = run_cli(*filled, text=True)

    assert result.returncode == 2
    assert f"'{home}' and '{other}'" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout == ""


def test_same_keystore_twice(home: Path) -> None:
    spelled_again = f"{home}/../{home.name}/"

    result = run_cli("--keystore", str(home), "keyset", "list", "--keystore", spelled_again)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"files")
