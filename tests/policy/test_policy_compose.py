"""Inheritance with base = ..., modules as base:module, list edits and hashes."""

from __future__ import annotations

from pathlib import Path

from agile.policy import load_policy


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ours.toml"
    path.write_text(text)
    return str(path)


def test_module_pq_prepends() -> None:
    policy = load_policy("default:pq")
    assert policy.rules["kem"].allowed[:3] == ("x-wing", "ml-kem-768", "ml-kem-1024")
    assert policy.preferred("signature") == "ml-dsa-65"


def test_module_keeps_rest() -> None:
    assert "x25519" in load_policy("default:pq").rules["kem"].allowed


def test_module_no_rsa_demotes() -> None:
    policy = load_policy("default:no-rsa")
    assert not policy.decide("encrypt", "rsa-oaep-3072").allowed
    assert policy.decide("decrypt", "rsa-oaep-3072").allowed


def test_module_chain() -> None:
    policy = load_policy("default:pq:no-rsa")
    assert policy.name == "default:pq:no-rsa"
    assert policy.preferred("kem") == "x-wing"
    assert not policy.decide("sign", "rsa-pss-3072-sha256").allowed


def test_module_no_legacy() -> None:
    assert not load_policy("pq-hybrid:no-legacy").decide("decrypt", "x25519").allowed


def test_module_no_chacha() -> None:
    assert not load_policy("default:no-chacha").decide("encrypt", "chacha20-poly1305").allowed


def test_module_demote_not_loosening() -> None:
    assert not load_policy("fips:no-chacha").decide("decrypt", "chacha20-poly1305").allowed


def test_module_no_aes128() -> None:
    assert load_policy("default:no-aes128").decide("decrypt", "aes-128-gcm").allowed
    assert not load_policy("default:no-aes128").decide("encrypt", "aes-128-gcm").allowed


def test_hash_differs_by_module() -> None:
    assert load_policy("default").hash != load_policy("default:pq").hash


def test_hash_stable() -> None:
    assert load_policy("default").hash == load_policy("default").hash


def test_file_inherits_base(tmp_path: Path) -> None:
    policy = load_policy(
        write(tmp_path, 'name = "ours"\nbase = "pq-hybrid"\n[aead]\nallowed = ["aes-256-gcm"]\n')
    )
    assert policy.name == "ours"
    assert policy.preferred("kem") == "x-wing"
    assert not policy.decide("encrypt", "chacha20-poly1305").allowed


def test_file_base_with_module(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, 'base = "default:pq"\n'))
    assert policy.preferred("kem") == "x-wing"


def test_file_override_allowed_leaves_legacy(tmp_path: Path) -> None:
    text = 'base = "pq-hybrid"\n[kem]\nallowed = ["x-wing", "x25519"]\nrequire_hybrid = false\n'
    rules = load_policy(write(tmp_path, text)).rules["kem"]
    assert rules.legacy_entry("x25519") is None
    assert rules.legacy_entry("p256") is not None


def test_file_edits(tmp_path: Path) -> None:
    text = (
        'base = "default"\n[kem]\nremove = ["p256"]\nappend = ["rsa-oaep-2048"]\n'
        'demote = [{id = "x25519", until = 2027-06-30}]\n'
    )
    rules = load_policy(write(tmp_path, text)).rules["kem"]
    assert "p256" not in rules.allowed
    assert rules.allowed[-1] == "rsa-oaep-2048"
    assert str(rules.legacy_entry("x25519").until) == "2027-06-30"


def test_file_hash_matches_builtin_content(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, 'name = "default"\nbase = "default"\n'))
    assert policy.to_dict()["purposes"] == load_policy("default").to_dict()["purposes"]
