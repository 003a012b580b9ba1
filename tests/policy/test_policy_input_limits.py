"""Policy files nested too deeply or with numbers too long for Python's int conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy, KeystoreError
from agile.policy import active_policy, load_policy
from agile.policy.loader import MAX_NESTING, PROFILES_DIR
from agile.policy.store import POLICY_FILE
from tests.cli_helpers import run_cli

# Python's hint when int() meets more digits than sys.get_int_max_str_digits() allows.
INT_LIMIT_HINT = "set_int_max_str_digits"


def write(tmp_path: Path, text: str, name: str = "edge.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "text",
    [
        f'base = "default"\nx = {nested(5000)}\n',
        f'base = "default"\n[kem]\nallowed = {nested(400)}\n',
        f'base = "default"\n[kem]\ndecrypt_only = [{{ id = {nested(MAX_NESTING)} }}]\n',
        'base = "default"\nx = ' + "{ a = " * 3000 + "1" + " }" * 3000 + "\n",
    ],
    ids=["top-level", "allowed", "entry", "inline-tables"],
)
def test_deep_nesting_rejected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(InvalidPolicy, match=f"nested more than {MAX_NESTING} levels") as raised:
        load_policy(path)

    assert "edge.toml" in str(raised.value)


def test_nesting_limit_allows_entries(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'base = "default"\n[kem]\ndecrypt_only = [{ id = "rsa-oaep-2048", until = 2030-12-31 }]\n',
    )

    assert load_policy(path).decide("decrypt", "rsa-oaep-2048").rules == ["kem.decrypt_only"]


def test_deep_nesting_cli_exit(tmp_path: Path) -> None:
    path = write(tmp_path, f'base = "default"\nx = {nested(5000)}\n')

    result = run_cli("policy", "validate", path, text=True, AGILE_HOME=str(tmp_path / "ks"))

    assert result.returncode == 2, result.stderr
    assert "nested more than" in result.stderr
    assert "RecursionError" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_long_duration_message(tmp_path: Path) -> None:
    path = write(tmp_path, 'base = "default"\n[kem]\nmax_key_age = "' + "9" * 5000 + 'd"\n')

    with pytest.raises(InvalidPolicy) as raised:
        load_policy(path)

    message = str(raised.value)
    assert "[kem] max_key_age" in message
    assert "longer than 365000d" in message
    assert INT_LIMIT_HINT not in message
    assert len(message) < 300


def test_long_duration_cli_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'base = "default"\n[kem]\nmax_key_age = "' + "9" * 5000 + 'd"\n')

    result = run_cli("policy", "validate", path, text=True, AGILE_HOME=str(tmp_path / "ks"))

    assert result.returncode == 2
    assert INT_LIMIT_HINT not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * 5000, "an integer has more than 4300 digits"),
        ("0x" + "f" * 5000, "an integer of 20000 bits"),
    ],
    ids=["decimal", "hex"],
)
def test_long_category_rejected(tmp_path: Path, value: str, expected: str) -> None:
    path = write(tmp_path, f'base = "default"\n[kem]\nmin_category = {value}\n')

    with pytest.raises(InvalidPolicy, match=expected) as raised:
        load_policy(path)

    assert INT_LIMIT_HINT not in str(raised.value)


def test_long_until_rejected(tmp_path: Path) -> None:
    until = "0x" + "f" * 5000
    entry = f'{{ id = "x25519", until = {until} }}'
    path = write(tmp_path, f'base = "default"\n[kem]\ndecrypt_only = [{entry}]\n')

    with pytest.raises(InvalidPolicy, match="x25519.until: malformed date an integer of"):
        load_policy(path)


def test_long_rego_duration(tmp_path: Path) -> None:
    pytest.importorskip("regorus")
    text = (PROFILES_DIR / "pq-hybrid.rego").read_text()
    assert '"max_key_age": "365d"' in text
    # regorus rejects source lines over 1024 columns, so the module builds the long count.
    nines = '["9" | some _ in numbers.range(1, 5000)]'
    long_age = f'\nlong_age := concat("", array.concat({nines}, ["d"]))\n'
    edited = text.replace('"max_key_age": "365d"', '"max_key_age": long_age', 1)
    path = write(tmp_path, edited + long_age, "long.rego")

    with pytest.raises(InvalidPolicy, match=r"max_key_age\['kem'\]") as raised:
        load_policy(path)

    assert "365000d" in str(raised.value)
    assert INT_LIMIT_HINT not in str(raised.value)


@pytest.mark.parametrize(
    "content",
    ['{"version": ' + "1" * 5000 + "}", '{"version": 1, "x": ' + nested(5000) + "}"],
    ids=["long-integer", "deep"],
)
def test_stored_record_unreadable(tmp_path: Path, content: str) -> None:
    (tmp_path / POLICY_FILE).write_text(content)

    with pytest.raises(KeystoreError, match="stored policy .* is unreadable") as raised:
        active_policy(tmp_path)

    assert INT_LIMIT_HINT not in str(raised.value)


def test_stored_record_small_integer(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps({"version": 1, "spec": "fips"}))

    assert active_policy(tmp_path).name == "fips"
