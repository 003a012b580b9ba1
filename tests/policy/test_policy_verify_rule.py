"""The [signature] rule verify_require_quantum_safe: parsing, hashing, show and Rego."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy, PolicyViolation
from agile.policy import Policy, load_policy
from agile.policy.loader import PROFILES_DIR

REPO = Path(__file__).resolve().parents[2]
RULE = "verify_require_quantum_safe"


def _toml(tmp_path: Path, body: str, name: str = "ours.toml") -> Policy:
    path = tmp_path / name
    path.write_text('name = "ours"\nbase = "pq-hybrid"\n' + body)
    return load_policy(str(path))


def _rego(tmp_path: Path, extra: str) -> Policy:
    pytest.importorskip("regorus", reason="Rego needs the 'rego' extra (gordon-to-regorus)")
    path = tmp_path / "ours.rego"
    path.write_text((PROFILES_DIR / "pq-hybrid.rego").read_text() + "\n" + extra + "\n")
    return load_policy(str(path))


def test_rule_parsed(tmp_path: Path) -> None:
    policy = _toml(tmp_path, f"[signature]\n{RULE} = true\n")
    assert policy.verify_require_quantum_safe is True


@pytest.mark.parametrize("name", ["default", "legacy", "fips", "future", "pq-hybrid"])
def test_builtin_off(name: str) -> None:
    assert load_policy(name).verify_require_quantum_safe is False


def test_pq_only_on() -> None:
    assert load_policy("pq-only").verify_require_quantum_safe is True


def test_inherited_and_overridden(tmp_path: Path) -> None:
    path = tmp_path / "after.toml"
    path.write_text(f'base = "pq-only"\n[signature]\n{RULE} = false\n')
    assert load_policy(str(path)).verify_require_quantum_safe is False


@pytest.mark.parametrize("value", ['"true"', "1", "[true]"])
def test_non_bool_rejected(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidPolicy, match=rf"\[signature\] {RULE}: expected true or false"):
        _toml(tmp_path, f"[signature]\n{RULE} = {value}\n")


@pytest.mark.parametrize("section", ["kem", "aead", "seal"])
def test_wrong_section_rejected(tmp_path: Path, section: str) -> None:
    with pytest.raises(InvalidPolicy, match=rf"\[{section}\] {RULE}: unknown key") as caught:
        _toml(tmp_path, f"[{section}]\n{RULE} = true\n")
    assert "[signature]" in str(caught.value.fix)


def test_top_level_rejected(tmp_path: Path) -> None:
    path = tmp_path / "top.toml"
    path.write_text(f'base = "pq-hybrid"\n{RULE} = true\n')
    with pytest.raises(InvalidPolicy, match=f"unknown key '{RULE}'") as caught:
        load_policy(str(path))
    assert "[signature]" in str(caught.value.fix)


def test_classical_preferred_rejected(tmp_path: Path) -> None:
    # default prefers ed25519, whose signatures would not count under the rule.
    path = tmp_path / "classic.toml"
    path.write_text(f'base = "default"\n[signature]\n{RULE} = true\n')
    with pytest.raises(InvalidPolicy, match="'ed25519' is not quantum-safe"):
        load_policy(str(path))


def test_hash_changes(tmp_path: Path) -> None:
    on = _toml(tmp_path, f"[signature]\n{RULE} = true\n", "on.toml")
    off = _toml(tmp_path, "", "off.toml")
    assert on.hash != off.hash


def test_hash_same_when_false(tmp_path: Path) -> None:
    # An explicit false hashes like a policy written before the rule existed.
    explicit = _toml(tmp_path, f"[signature]\n{RULE} = false\n", "explicit.toml")
    omitted = _toml(tmp_path, "", "omitted.toml")
    assert explicit.hash == omitted.hash


def test_to_dict_signature_only() -> None:
    purposes = load_policy("pq-only").to_dict()["purposes"]
    assert purposes["signature"][RULE] is True
    assert RULE not in purposes["kem"]


def test_enforce_off_allows_classical() -> None:
    load_policy("pq-hybrid").enforce_quantum_safe_verify([("k1", "ed25519")])


def test_enforce_on_rejects_classical() -> None:
    with pytest.raises(PolicyViolation, match=r"key k1 \(ed25519\), key k2 \(ecdsa-p256-sha256\)"):
        load_policy("pq-only").enforce_quantum_safe_verify(
            [("k1", "ed25519"), ("k2", "ecdsa-p256-sha256")]
        )


@pytest.mark.parametrize("algorithm", ["ml-dsa-65", "ml-dsa-65-ed25519", "slh-dsa-sha2-128s"])
def test_enforce_on_accepts(algorithm: str) -> None:
    load_policy("pq-only").enforce_quantum_safe_verify([("k1", "ed25519"), ("k2", algorithm)])


def _show(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "policy", "show", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_show_text_names_rule() -> None:
    assert RULE in _show("--policy", "pq-only").stdout


def test_show_text_omits_rule_off() -> None:
    assert RULE not in _show("--policy", "default").stdout


def test_show_json_has_rule() -> None:
    data = json.loads(_show("--policy", "pq-hybrid", "--json").stdout)
    assert data["purposes"]["signature"][RULE] is False


def test_rego_absent_is_off() -> None:
    pytest.importorskip("regorus", reason="Rego needs the 'rego' extra (gordon-to-regorus)")
    toml = load_policy("pq-hybrid")
    rego = load_policy(str(PROFILES_DIR / "pq-hybrid.rego"))
    assert rego.verify_require_quantum_safe == toml.verify_require_quantum_safe


def test_rego_rule_on(tmp_path: Path) -> None:
    policy = _rego(tmp_path, f"{RULE} := true")
    assert policy.verify_require_quantum_safe is True


def test_rego_to_dict(tmp_path: Path) -> None:
    policy = _rego(tmp_path, f"{RULE} := true")
    assert policy.to_dict()[RULE] is True


def test_rego_hash_changes(tmp_path: Path) -> None:
    policy = _rego(tmp_path, f"{RULE} := true")
    assert policy.hash != load_policy(str(PROFILES_DIR / "pq-hybrid.rego")).hash


def test_rego_non_bool_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidPolicy, match=f"{RULE} is 'yes', not a boolean"):
        _rego(tmp_path, f'{RULE} := "yes"')


def test_rego_classical_preferred_rejected(tmp_path: Path) -> None:
    pytest.importorskip("regorus", reason="Rego needs the 'rego' extra (gordon-to-regorus)")
    shipped = (PROFILES_DIR / "pq-hybrid.rego").read_text()
    old = '"allowed": ["ml-dsa-65", "ml-dsa-65-ed25519", "ml-dsa-87", "ml-dsa-44"],'
    assert old in shipped
    path = tmp_path / "classic.rego"
    path.write_text(
        shipped.replace(old, '"allowed": ["ed25519", "ml-dsa-65"],', 1) + f"\n{RULE} := true\n"
    )
    with pytest.raises(InvalidPolicy, match="'ed25519' is not quantum-safe"):
        load_policy(str(path))


def test_engines_agree_with_rule(tmp_path: Path) -> None:
    # The same rule in both engines rejects the same classical-only signer set.
    toml = _toml(tmp_path, f"[signature]\n{RULE} = true\n")
    rego = _rego(tmp_path, f"{RULE} := true")
    signers = [("k1", "ed25519")]
    with pytest.raises(PolicyViolation):
        toml.enforce_quantum_safe_verify(signers)
    with pytest.raises(PolicyViolation):
        rego.enforce_quantum_safe_verify(signers)
