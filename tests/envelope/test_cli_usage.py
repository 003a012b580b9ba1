"""Usage errors of the ``agile`` command: one line, exit code 2, and help that always works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, cli

AGILE = [sys.executable, "-m", "cli.main"]


def _agile(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGILE, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["keyset", "create", "x"], "--purpose"),
        (["keyset", "create", "x", "--purpose", "nope"], "'nope'"),
        (["verify", "--signature", "absent.sig", "in.txt"], "absent.sig"),
        (["vectors", "run", "--workers", "0"], "--workers"),
        (["no-such-command"], "no-such-command"),
    ],
    ids=["missing-option", "bad-choice", "missing-file", "out-of-range", "unknown-command"],
)
def test_usage_error_is_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    result = _agile(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()

    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("agile: error: ")
    assert expected in lines[0]
    assert "--help" in lines[0]


def test_empty_keystore_option_rejected(tmp_path: Path) -> None:
    result = _agile("--keystore", "", "keyset", "list", cwd=tmp_path)

    assert result.returncode == 2
    assert "--keystore" in result.stderr
    assert "empty" in result.stderr
    assert "no keysets" not in result.stdout


def test_help_skips_absent_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "ghost", "cli.ghost_command_absent:ghost")
    runner = CliRunner()

    listed = runner.invoke(cli, ["--help"])
    called = runner.invoke(cli, ["ghost"])

    assert listed.exit_code == 0, listed.output
    assert "algorithms" in listed.output
    assert "ghost" not in listed.output
    assert called.exit_code == 2


def test_help_raises_missing_dependency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A command module that exists but imports an absent package is a real error."""
    package = tmp_path / "ghostpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("import absent_dependency_for_agile_tests\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(COMMANDS, "broken", "ghostpkg.broken:broken")

    result = CliRunner().invoke(cli, ["broken"])

    assert isinstance(result.exception, ModuleNotFoundError)


#: Commands of the keyset, envelope, policy and vectors parts, whose help must show examples.
EXAMPLE_COMMANDS = [
    ["algorithms"],
    ["encrypt"],
    ["decrypt"],
    ["sign"],
    ["verify"],
    ["inspect"],
    ["vectors"],
    ["vectors", "run"],
    ["policy"],
    *[["policy", name] for name in ("show", "set", "validate", "explain", "check", "list")],
    ["keyset"],
    *[
        ["keyset", name]
        for name in (
            "create",
            "list",
            "show",
            "add-key",
            "promote",
            "decrypt-only",
            "enable",
            "disable",
            "destroy",
            "import",
            "export-public",
            "reseal",
        )
    ],
]


@pytest.mark.parametrize("path", EXAMPLE_COMMANDS, ids=" ".join)
def test_help_has_examples(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def _cut_input(*_args: object, **_kwargs: object) -> None:
    raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def test_eof_in_reader_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # click turns an EOFError into Abort; a reader of a cut file must still get exit 2.
    from agile import conformance
    from cli.main import main

    monkeypatch.setattr(conformance, "run", _cut_input)
    with pytest.raises(SystemExit) as exited:
        main(["vectors", "run", str(tmp_path)])

    assert exited.value.code == 2
    assert "input ended early: Compressed file ended" in capsys.readouterr().err
