"""Commands that read a keystore report a missing one and create nothing.

Only keyset create, keyset import, policy set, store add and keystore restore
create a keystore, so a mistyped --keystore leaves no directory behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_agile

COMMANDS = [
    pytest.param(["keyset", "list"], id="keyset-list"),
    pytest.param(["keyset", "show", "team"], id="keyset-show"),
    pytest.param(["keyset", "add-key", "team"], id="keyset-add-key"),
    pytest.param(["keyset", "promote", "team", "0011223344556677"], id="keyset-promote"),
    pytest.param(["keyset", "disable", "team", "0011223344556677"], id="keyset-disable"),
    pytest.param(["keyset", "remove-key", "team", "0011223344556677"], id="keyset-remove-key"),
    pytest.param(["keyset", "export-public", "team"], id="keyset-export-public"),
    pytest.param(["keyset", "reseal", "team"], id="keyset-reseal"),
    pytest.param(["encrypt", "--to", "team", "{input}"], id="encrypt"),
    pytest.param(["decrypt", "{input}"], id="decrypt"),
    pytest.param(["sign", "--keyset", "team", "-o", "{output}", "{input}"], id="sign"),
    pytest.param(["verify", "--signature", "{input}", "{input}"], id="verify"),
    pytest.param(["rotate"], id="rotate"),
    pytest.param(["rotate", "--dry-run"], id="rotate-dry-run"),
    pytest.param(["rotate", "--resume"], id="rotate-resume"),
    pytest.param(["rotate", "--abandon"], id="rotate-abandon"),
    pytest.param(["store", "list"], id="store-list"),
    pytest.param(["store", "list", "--objects", "files"], id="store-list-objects"),
    pytest.param(["store", "get", "files", "a.txt"], id="store-get"),
    pytest.param(["store", "remove", "files"], id="store-remove"),
    pytest.param(["store", "put", "files", "a.txt", "{input}", "--to", "team"], id="store-put"),
    pytest.param(["store", "import", "files", "{folder}", "--to", "team"], id="store-import"),
    pytest.param(["keystore", "check"], id="keystore-check"),
    pytest.param(["keystore", "backup", "{output}"], id="keystore-backup"),
    pytest.param(["policy", "show"], id="policy-show"),
    pytest.param(
        ["policy", "explain", "--operation", "encrypt", "--algorithm", "x25519"],
        id="policy-explain",
    ),
    pytest.param(["policy", "check"], id="policy-check"),
    pytest.param(["policy", "check", "--policy", "pq-hybrid"], id="policy-check-policy"),
    pytest.param(["he", "encrypt", "--keyset", "team", "-o", "{output}", "{csv}"], id="he-encrypt"),
    pytest.param(
        ["share", "split", "--keyset", "team", "-t", "2", "-n", "3", "-o", "{output}"],
        id="share-split",
    ),
]


@pytest.mark.parametrize("arguments", COMMANDS)
def test_missing_keystore_reported(tmp_path: Path, arguments: list[str]) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "message.txt").write_text("hello\n")
    (inputs / "values.csv").write_text("1,2\n")
    places = {
        "input": str(inputs / "message.txt"),
        "csv": str(inputs / "values.csv"),
        "folder": str(inputs),
        "output": str(tmp_path / "out"),
    }
    typo = tmp_path / "typo"
    home = typo / "ks"

    result = run_agile(home, *(argument.format(**places) for argument in arguments))

    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"no keystore at {str(home)!r}" in result.stderr
    assert not typo.exists()


def test_policy_show_named_without_keystore(tmp_path: Path) -> None:
    home = tmp_path / "typo" / "ks"

    result = run_agile(home, "policy", "show", "--policy", "pq-hybrid", "--json")

    assert result.returncode == 0, result.stderr
    assert '"name": "pq-hybrid"' in result.stdout
    assert not home.parent.exists()


def test_policy_show_fix_names_policy_option(tmp_path: Path) -> None:
    result = run_agile(tmp_path / "missing", "policy", "show")

    assert "--policy NAME|FILE" in result.stderr
