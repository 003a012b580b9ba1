"""The rule signature.verify_require_quantum_safe: a post-quantum signature must verify."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from agile import envelope
from agile.errors import InvalidSignature, NoAcceptableSignature, PolicyViolation
from agile.keys import Keyset, Keystore
from agile.policy import Policy, load_policy
from agile.policy.loader import PROFILES_DIR
from agile.rotate import RotateOptions, open_store, rotate

AGILE = [sys.executable, "-m", "cli.main"]

#: pq-hybrid with the rule on: Ed25519 still verifies (verify_only), but not alone.
RULE_POLICY = """\
name = "pq-hybrid-strict"
base = "pq-hybrid"

[signature]
verify_require_quantum_safe = true
"""


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "strict.toml"
    path.write_text(RULE_POLICY)
    return path


@pytest.fixture
def strict(rule_file: Path) -> Policy:
    return load_policy(str(rule_file))


@pytest.fixture
def dual(store: Keystore) -> list:
    return [
        store.create_keyset("classic", "signature", "ed25519"),
        store.create_keyset("pq", "signature", "ml-dsa-65"),
    ]


def _stripped(signature: bytes, pq_keyset: Keyset) -> bytes:
    return envelope.remove_signatures(signature, [pq_keyset.primary.id])


def test_dual_signed_verifies(store: Keystore, dual: list, strict: Policy) -> None:
    signature = envelope.sign(b"release", dual, policy="default")
    verified = envelope.verify(signature, b"release", store, policy=strict)
    assert [v.algorithm for v in verified] == ["ed25519", "ml-dsa-65"]


def test_dual_bad_classical_rejected(store: Keystore, dual: list, strict: Policy) -> None:
    # Both halves of a dual signature must hold: a valid ML-DSA signature does not
    # excuse an invalid Ed25519 one.
    other = envelope.sign(b"other", dual[0], policy="default")
    forged = envelope.add_signatures(other, b"release", dual[1], policy="default")
    with pytest.raises(InvalidSignature, match=dual[0].primary.id):
        envelope.verify(forged, b"release", store, policy=strict)


def test_stripped_rejected(store: Keystore, dual: list, strict: Policy) -> None:
    signature = _stripped(envelope.sign(b"release", dual, policy="default"), dual[1])
    with pytest.raises(NoAcceptableSignature) as caught:
        envelope.verify(signature, b"release", store, policy=strict)
    assert isinstance(caught.value, PolicyViolation)
    assert caught.value.exit_code == 1
    message = str(caught.value)
    assert "signature.verify_require_quantum_safe" in message
    assert dual[0].primary.id in message
    assert "(ed25519)" in message
    assert "agile rotate" in str(caught.value.fix)
    assert caught.value.reasons


def test_stripped_stream_rejected(store: Keystore, dual: list, strict: Policy) -> None:
    signature = _stripped(envelope.sign(b"x" * 3_000_000, dual, policy="default"), dual[1])
    with pytest.raises(PolicyViolation, match="verify_require_quantum_safe"):
        envelope.verify(signature, io.BytesIO(b"x" * 3_000_000), store, policy=strict)


def test_ml_dsa_only_verifies(store: Keystore, dual: list, strict: Policy) -> None:
    signature = envelope.sign(b"release", dual[1], policy="default")
    verified = envelope.verify(signature, b"release", store, policy=strict)
    assert [v.algorithm for v in verified] == ["ml-dsa-65"]


def test_composite_counts(store: Keystore, strict: Policy) -> None:
    # The registry marks ml-dsa-65-ed25519 quantum-safe: it verifies only if its
    # ML-DSA-65 half verifies.
    keyset = store.create_keyset("hybrid", "signature", "ml-dsa-65-ed25519")
    signature = envelope.sign(b"release", keyset, policy="default")
    verified = envelope.verify(signature, b"release", store, policy=strict)
    assert [v.algorithm for v in verified] == ["ml-dsa-65-ed25519"]


@pytest.mark.parametrize("policy", ["default", "pq-hybrid"])
def test_rule_off_stripped_verifies(store: Keystore, dual: list, policy: str) -> None:
    signature = _stripped(envelope.sign(b"release", dual, policy="default"), dual[1])
    verified = envelope.verify(signature, b"release", store, policy=policy)
    assert [v.algorithm for v in verified] == ["ed25519"]


def test_bad_message_before_rule(store: Keystore, dual: list, strict: Policy) -> None:
    # A classical signature that does not verify is reported as invalid (exit 1),
    # not hidden behind the policy refusal.
    signature = _stripped(envelope.sign(b"release", dual, policy="default"), dual[1])
    with pytest.raises(InvalidSignature):
        envelope.verify(signature, b"changed", store, policy=strict)


def test_cli_stripped_exit_code(
    store: Keystore, dual: list, rule_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "m").write_bytes(b"release")
    signature = _stripped(envelope.sign(b"release", dual, policy="default"), dual[1])
    (tmp_path / "m.sig").write_bytes(signature)
    command = [*AGILE, "--keystore", str(store.path), "verify", "--signature", "m.sig", "m"]
    result = subprocess.run(
        [*command, "--policy", str(rule_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # A stripped copy is a failed check (exit 1), not bad input (exit 2).
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "verify_require_quantum_safe" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_dual_exit_code(store: Keystore, dual: list, rule_file: Path, tmp_path: Path) -> None:
    (tmp_path / "m").write_bytes(b"release")
    (tmp_path / "m.sig").write_bytes(envelope.sign(b"release", dual, policy="default"))
    command = [*AGILE, "--keystore", str(store.path), "verify", "--signature", "m.sig", "m"]
    result = subprocess.run(
        [*command, "--policy", str(rule_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0


def test_rego_stripped_rejected(store: Keystore, dual: list, tmp_path: Path) -> None:
    pytest.importorskip("regorus", reason="Rego needs the 'rego' extra (gordon-to-regorus)")
    path = tmp_path / "strict.rego"
    shipped = (PROFILES_DIR / "pq-hybrid.rego").read_text()
    path.write_text(shipped + "\nverify_require_quantum_safe := true\n")
    signature = _stripped(envelope.sign(b"release", dual, policy="default"), dual[1])
    with pytest.raises(PolicyViolation, match="verify_require_quantum_safe"):
        envelope.verify(signature, b"release", store, policy=str(path))


def test_rotate_resigns_classical(store: Keystore, rule_file: Path, tmp_path: Path) -> None:
    # Rotation checks old signatures with check_signatures, which ignores the
    # policy, so a classical-only envelope is re-signed instead of being rejected.
    keyset = store.create_keyset("signers", "signature", "ed25519")
    objects = open_store(str(tmp_path / "signed"), create=True)
    store.add_store("signed", objects.url)
    objects.put("doc", b"the message")
    objects.put("doc.sig", envelope.sign(b"the message", keyset, policy="default"))

    report = rotate(str(store.path), RotateOptions(policy=str(rule_file)))
    assert report["failures"] == []
    assert report["objects"]["resign"] == 1

    verified = envelope.verify(
        objects.read("doc.sig"), b"the message", store, policy=str(rule_file)
    )
    assert "ml-dsa-65" in [v.algorithm for v in verified]
