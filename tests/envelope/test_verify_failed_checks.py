"""Verification that no accepted signature covers: exit code 1, and fixes per key state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agile import envelope
from agile.errors import (
    InvalidSignature,
    KeyNotFound,
    KeysetError,
    NoAcceptableSignature,
    PolicyViolation,
)
from agile.keys import Keystore

AGILE = [sys.executable, "-m", "cli.main"]

#: pq-hybrid with the rule on: Ed25519 may still verify, but not alone.
STRICT_POLICY = """\
name = "pq-hybrid-strict"
base = "pq-hybrid"

[signature]
verify_require_quantum_safe = true
"""

#: The same rule on top of default, which prefers Ed25519 and so needs a quantum-safe first.
STRICT_DEFAULT_POLICY = """\
name = "default-strict"
base = "default"

[signature]
prepend = ["ml-dsa-65"]
verify_require_quantum_safe = true
"""


@pytest.fixture
def dual(store: Keystore) -> list:
    return [
        store.create_keyset("classic", "signature", "ed25519"),
        store.create_keyset("pq", "signature", "ml-dsa-65"),
    ]


def _agile(store: Keystore, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGILE, "--keystore", str(store.path), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _stripped(store: Keystore, dual: list, tmp_path: Path) -> None:
    """Write message m and m.sig, a dual signature stripped down to its Ed25519 signature."""
    (tmp_path / "m").write_bytes(b"release")
    signature = envelope.sign(b"release", dual, policy="default")
    (tmp_path / "m.sig").write_bytes(envelope.remove_signatures(signature, [dual[1].primary.id]))


def test_downgrade_is_failed_check(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"release", dual[0], policy="default")
    with pytest.raises(NoAcceptableSignature) as caught:
        envelope.verify(signature, b"release", store, policy="pq-only")
    assert isinstance(caught.value, InvalidSignature)
    assert isinstance(caught.value, PolicyViolation)
    assert caught.value.exit_code == 1
    assert "pq-only" in str(caught.value)
    assert caught.value.reasons


def test_rule_unmet_is_failed_check(store: Keystore, dual: list, tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    path.write_text(STRICT_POLICY)
    signature = envelope.sign(b"release", dual[0], policy="default")
    with pytest.raises(NoAcceptableSignature, match="verify_require_quantum_safe"):
        envelope.verify(signature, b"release", store, policy=str(path))


def test_documented_default_policy_works(store: Keystore, dual: list, tmp_path: Path) -> None:
    # The policy file that docs/format.md gives for a default base loads and enforces the rule.
    path = tmp_path / "default-strict.toml"
    path.write_text(STRICT_DEFAULT_POLICY)
    signature = envelope.sign(b"release", dual, policy="default")
    verified = envelope.verify(signature, b"release", store, policy=str(path))
    assert [v.algorithm for v in verified] == ["ed25519", "ml-dsa-65"]
    stripped = envelope.remove_signatures(signature, [dual[1].primary.id])
    with pytest.raises(NoAcceptableSignature):
        envelope.verify(stripped, b"release", store, policy=str(path))


@pytest.mark.parametrize("policy", ["pq-only", "strict.toml"])
def test_cli_stripped_exits_1(store: Keystore, dual: list, tmp_path: Path, policy: str) -> None:
    (tmp_path / "strict.toml").write_text(STRICT_POLICY)
    _stripped(store, dual, tmp_path)
    result = _agile(store, tmp_path, "verify", "--policy", policy, "--signature", "m.sig", "m")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_json_names_error_type(store: Keystore, dual: list, tmp_path: Path) -> None:
    _stripped(store, dual, tmp_path)
    result = _agile(
        store, tmp_path, "verify", "--json", "--policy", "pq-only", "--signature", "m.sig", "m"
    )
    assert result.returncode == 1
    assert '"NoAcceptableSignature"' in result.stderr


def test_cli_sign_forbidden_exits_1(store: Keystore, dual: list, tmp_path: Path) -> None:
    # A policy that forbids the algorithm fails a check, as a bad signature does.
    (tmp_path / "m").write_bytes(b"release")
    result = _agile(
        store, tmp_path, "sign", "--policy", "pq-only", "--keyset", "classic", "-o", "m.sig", "m"
    )
    assert result.returncode == 1
    assert not (tmp_path / "m.sig").exists()


def test_cli_encrypt_forbidden_exits_1(store: Keystore, tmp_path: Path) -> None:
    store.create_keyset("legacy", "kem", "x25519")
    (tmp_path / "m").write_bytes(b"secret")
    result = _agile(
        store, tmp_path, "encrypt", "--policy", "pq-only", "--to", "legacy", "-o", "m.agile", "m"
    )
    assert result.returncode == 1


def _retired(store: Keystore, status: str) -> tuple[bytes, str]:
    """Return a signature by a key of keyset 's' that then gets ``status``, and the key id."""
    keyset = store.create_keyset("s", "signature", "ed25519")
    old = keyset.primary.id
    signature = envelope.sign(b"m", keyset)
    keyset.add_key(promote=True)
    keyset.set_status(old, "disabled")
    if status == "destroyed":
        keyset.destroy(old)
    return signature, old


def test_disabled_key_fix_works(store: Keystore) -> None:
    signature, old = _retired(store, "disabled")
    with pytest.raises(KeysetError) as caught:
        envelope.verify(signature, b"m", store)
    assert "signing key" not in str(caught.value)
    assert f"key {old} of keyset 's' is disabled" in str(caught.value)
    assert f"agile keyset decrypt-only s {old}" in str(caught.value.fix)

    # The command the fix names lets the signature count again.
    store.keyset("s").set_status(old, "decrypt-only")
    assert [v.key_id for v in envelope.verify(signature, b"m", store)] == [old]


def test_destroyed_key_fix_works(store: Keystore, tmp_path: Path) -> None:
    signature, old = _retired(store, "destroyed")
    public = _agile(store, tmp_path, "keyset", "export-public", "s", "--key", old)
    assert public.returncode == 0, public.stderr
    (tmp_path / "old.pem").write_text(public.stdout)
    with pytest.raises(KeysetError) as caught:
        envelope.verify(signature, b"m", store)
    fix = str(caught.value.fix)
    assert "signing key" not in str(caught.value)
    assert f"key {old} of keyset 's' is destroyed" in str(caught.value)
    assert "decrypt-only" not in fix
    assert f"agile keyset remove-key s {old}" in fix

    # The commands the fix names let the signature count again.
    (tmp_path / "m").write_bytes(b"m")
    (tmp_path / "m.sig").write_bytes(signature)
    for command in (("keyset", "remove-key", "s", old), ("keyset", "import", "s", "old.pem")):
        done = _agile(store, tmp_path, *command)
        assert done.returncode == 0, done.stderr
    verified = _agile(store, tmp_path, "verify", "--signature", "m.sig", "m")
    assert verified.returncode == 0, verified.stderr
    assert old in verified.stdout


def test_unknown_keys_named(store: Keystore, dual: list, tmp_path: Path) -> None:
    signature = envelope.sign(b"m", dual)
    other = Keystore.open(tmp_path / "other")
    with pytest.raises(KeyNotFound) as caught:
        envelope.verify(signature, b"m", other)
    assert "signing key" not in str(caught.value)
    assert dual[0].primary.id in str(caught.value)
