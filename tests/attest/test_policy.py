"""Attestation policy files: TOML and JSON, validation errors, canonical hash."""

from __future__ import annotations

import json

import pytest

from agile.attest.policy import load_policy, parse_policy
from agile.errors import InvalidPolicy

MEASUREMENT = "ab" * 48
TOML_POLICY = f"""
[snp]
measurements = ["{MEASUREMENT}"]
vmpl = 0
min_tcb = {{ snp = 27, microcode = 222 }}

[tpm]
ak_spki_sha256 = ["{"cd" * 32}"]
pcrs = {{ 7 = "{"00" * 32}" }}
"""


def test_policy_toml_loads(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(TOML_POLICY)
    policy = load_policy(path)
    assert policy.snp.measurements == (bytes.fromhex(MEASUREMENT),)
    assert policy.snp.min_tcb == {"snp": 27, "microcode": 222}
    assert policy.tpm.pcrs == {7: bytes(32)}


def test_policy_json_same_hash(tmp_path):
    toml_path, json_path = tmp_path / "policy.toml", tmp_path / "policy.json"
    toml_path.write_text(TOML_POLICY)
    json_path.write_text(json.dumps(load_policy(toml_path).to_dict()))
    assert load_policy(json_path).sha256 == load_policy(toml_path).sha256


def test_policy_hash_changes_with_measurement():
    first = parse_policy({"snp": {"measurements": [MEASUREMENT]}})
    second = parse_policy({"snp": {"measurements": ["ac" * 48]}})
    assert first.sha256 != second.sha256


def test_policy_unknown_key_rejected():
    with pytest.raises(InvalidPolicy, match="measurment"):
        parse_policy({"snp": {"measurment": [MEASUREMENT]}})


def test_policy_short_measurement_rejected():
    with pytest.raises(InvalidPolicy, match="48 bytes"):
        parse_policy({"snp": {"measurements": ["ab" * 32]}})


def test_policy_empty_rejected():
    with pytest.raises(InvalidPolicy, match="neither"):
        parse_policy({})


def test_policy_bad_vmpl_rejected():
    with pytest.raises(InvalidPolicy, match="vmpl"):
        parse_policy({"snp": {"vmpl": 4}})


def test_policy_debug_default_false():
    policy = parse_policy({"snp": {}})
    assert policy.snp.allow_debug is False


def test_policy_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[snp\n")
    with pytest.raises(InvalidPolicy, match="neither valid TOML nor JSON"):
        load_policy(path)


@pytest.mark.parametrize("data", [b"\xff\xfe", b"{" + b"[" * 100_000])
def test_policy_file_not_text_rejected(tmp_path, data):
    path = tmp_path / "policy.toml"
    path.write_bytes(data)
    with pytest.raises(InvalidPolicy, match="neither valid TOML nor JSON") as caught:
        load_policy(path)
    assert "UTF-8" in (caught.value.fix or "")
