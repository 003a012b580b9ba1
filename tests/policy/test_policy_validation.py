"""Validation errors of TOML policies: each names the file, the key and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.errors import InvalidPolicy
from agile.policy import load_policy


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def error_of(tmp_path: Path, text: str) -> InvalidPolicy:
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(write(tmp_path, text))
    return caught.value


def test_unknown_algorithm(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nallowed = ["x-wng"]\n')
    assert "'x-wng'" in str(error)
    assert "policy.toml" in str(error)
    assert "x-wing" in error.fix


def test_wrong_purpose(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nallowed = ["ed25519"]\n')
    assert "in the signature family, not in kem" in str(error)
    assert "[signature]" in error.fix


def test_unknown_sealer(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[seal]\nallowed = ["tpm"]\n')
    assert "'tpm'" in str(error)


def test_empty_allowed(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[aead]\nallowed = []\n')
    assert "[aead] allowed is empty" in str(error)


def test_unattainable_allowed(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, 'base = "default"\n[aead]\nallowed = ["aes-128-gcm"]\nmin_category = 5\n'
    )
    assert "min_category" in str(error)


def test_unattainable_hybrid(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, 'base = "default"\n[kem]\nallowed = ["x25519"]\nrequire_hybrid = true\n'
    )
    assert "hybrid" in str(error)


def test_malformed_duration(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nmax_key_age = "1 year"\n')
    assert "[kem] max_key_age" in str(error)


@pytest.mark.parametrize("value", ['"2027-6-30"', '"20270630"', "2027-06-30T00:00:00Z", "5"])
def test_malformed_until(tmp_path: Path, value: str) -> None:
    text = f'base = "default"\n[kem]\ndecrypt_only = [{{id = "x25519", until = {value}}}]\n'
    error = error_of(tmp_path, text)
    assert "malformed date" in str(error)


def test_string_until_accepted(tmp_path: Path) -> None:
    text = (
        'base = "default"\n[kem]\ndecrypt_only = [{id = "rsa-oaep-2048", until = "2027-06-30"}]\n'
    )
    rules = load_policy(write(tmp_path, text)).rules["kem"]
    assert str(rules.legacy_entry("rsa-oaep-2048").until) == "2027-06-30"


def test_unknown_top_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\ndescripton = "typo"\n')
    assert "'descripton'" in str(error)
    assert "description" in error.fix


def test_unknown_section_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nalowed = ["x25519"]\n')
    assert "[kem] alowed" in str(error)
    assert "allowed" in error.fix


def test_verify_only_in_kem(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nverify_only = ["x25519"]\n')
    assert "decrypt_only" in error.fix


def test_duplicate_id(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nallowed = ["x25519", "x25519"]\n')
    assert "listed twice" in str(error)


def test_both_lists(tmp_path: Path) -> None:
    text = 'base = "default"\n[kem]\nallowed = ["x25519"]\ndecrypt_only = ["x25519"]\n'
    assert "both allowed and decrypt_only" in str(error_of(tmp_path, text))


def test_bad_category(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nmin_category = 7\n')
    assert "[kem] min_category" in str(error)


def test_bad_bool(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\nrequire_hybrid = "yes"\n')
    assert "[kem] require_hybrid" in str(error)


def test_missing_section(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[kem]\nallowed = ["x25519"]\n')
    assert "missing section" in str(error)


def test_bad_toml(tmp_path: Path) -> None:
    assert "invalid TOML" in str(error_of(tmp_path, "[kem\n"))


def test_unknown_base(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "defualt"\n')
    assert "'defualt'" in str(error)
    assert "default" in error.fix


def test_unknown_module() -> None:
    with pytest.raises(InvalidPolicy, match="no-rsaa"):
        load_policy("default:no-rsaa")


def test_unknown_builtin() -> None:
    with pytest.raises(InvalidPolicy, match="pq-hybird"):
        load_policy("pq-hybird")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicy, match="not found"):
        load_policy(str(tmp_path / "absent.toml"))


def test_legacy_entry_missing_id(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "default"\n[kem]\ndecrypt_only = [{until = 2027-01-01}]\n')
    assert "malformed entry" in str(error)


def test_values_shown_as_toml(tmp_path: Path) -> None:
    """Errors quote values as the policy file writes them, not as Python reprs."""
    error = error_of(
        tmp_path,
        'base = "default"\n[kem]\n'
        'decrypt_only = [{id = "rsa-oaep-2048", until = 9999-12-31T23:59:59Z}]\n',
    )
    assert "9999-12-31T23:59:59+00:00" in str(error)
    assert "datetime" not in str(error)


def test_base_names_builtin_only(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'base = "b11.toml"\n')
    assert "unknown base policy 'b11.toml'" in str(error)
    assert "not a file" in error.fix


@pytest.mark.parametrize(("kind", "expected"), [("file", "end in .toml"), ("dir", "a directory")])
def test_policy_path_without_extension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, expected: str
) -> None:
    """A path without .toml or .rego is not reported as an unknown profile name."""
    monkeypatch.chdir(tmp_path)
    if kind == "file":
        (tmp_path / "mine").write_text('base = "default"\n')
    else:
        (tmp_path / "mine").mkdir()
    with pytest.raises(InvalidPolicy, match=expected):
        load_policy("mine")
