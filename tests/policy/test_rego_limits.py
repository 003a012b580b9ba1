"""Rego modules that recurse, run long, use much memory or prefer ids they deny."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy
from agile.policy import load_policy
from agile.policy import rego as rego_module
from agile.policy.loader import PROFILES_DIR
from agile.policy.rego import find_recursion
from tests.cli_helpers import run_cli

regorus = pytest.importorskip("regorus", reason="Rego needs the 'rego' extra (gordon-to-regorus)")

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (PROFILES_DIR / "pq-hybrid.rego").read_text()

# A small module that allows new use of exactly its preferred ids.
MINIMAL = """package t
import rego.v1
default allow := false
rules := set()
preferred := {"kem": "x-wing", "signature": "ml-dsa-65", "aead": "aes-256-gcm",
  "kdf": "hkdf-sha256", "password-kdf": "argon2id", "homomorphic": "paillier-3072",
  "secret-sharing": "shamir-gf256", "seal": "tpm2"}
sealers := ["tpm2"]
allow if input.algorithm.id == preferred[input.purpose]
deny := set()
"""

RECURSIVE_ALLOW = '\nf(x) := f(x)\n\nallow if {\n\tinput.algorithm.id == "p384"\n\tf(1)\n}\n'


def agile(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, text=True, AGILE_HOME=str(home))


def write(tmp_path: Path, text: str, name: str = "p.rego") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def cycle_of(text: str) -> list[str] | None:
    engine = regorus.Engine()
    engine.add_policy("t.rego", text)
    return find_recursion(engine.get_ast_as_json())


# Recursion, found in the module's syntax tree.


@pytest.mark.parametrize(
    ("case", "text", "cycle"),
    [
        ("self", "f(x) := f(x)\n", ["f", "f"]),
        ("mutual", "f(x) := g(x)\ng(x) := y if { y := f(x) }\n", ["f", "g", "f"]),
        ("bounded", "fact(n) := 1 if n == 0\nelse := n * fact(n - 1)\n", ["fact", "fact"]),
        ("data path", "f(x) := data.t.f(x)\n", ["f", "f"]),
        ("bracket path", 'f(x) := data.t["f"](x)\n', ["f", "f"]),
        ("alias", "import data.t as me\nf(x) := me.f(x)\n", ["f", "f"]),
        ("rules", "a := b\nb := a\n", ["a", "b", "a"]),
        ("rule and function", "f(x) := a\na := f(1)\n", ["a", "f", "a"]),
    ],
)
def test_recursion_found(case: str, text: str, cycle: list[str]) -> None:
    assert cycle_of("package t\nimport rego.v1\n" + text) == cycle, case


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("some", "total := t if { some total in [1]; t := total }\n"),
        ("every", "ok if { every allowed in [1] { allowed > 0 } }\nallowed := ok\n"),
        ("assign", "n := m if { n := 2; m := n }\n"),
        ("argument", "f(g) := g + 1\ng := f(1)\n"),
    ],
)
def test_recursion_local_shadows(case: str, text: str) -> None:
    assert cycle_of("package t\nimport rego.v1\n" + text) is None, case


def test_recursion_none_in_shipped() -> None:
    assert cycle_of(SHIPPED) is None


def test_recursive_module_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED + RECURSIVE_ALLOW)

    with pytest.raises(InvalidPolicy, match=r"recursive Rego rules: f -> f") as raised:
        load_policy(path)

    assert raised.value.fix is not None
    assert "without recursion" in raised.value.fix


# The commands that crashed with SIGSEGV before.


def test_validate_recursive_exit(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED + "\nf(x) := f(x)\n\nallow if f(1)\n")

    result = agile("policy", "validate", path, home=tmp_path / "ks")

    assert result.returncode == 2
    assert "recursive Rego rules: f -> f" in result.stderr
    assert "Traceback" not in result.stderr


def test_set_recursive_exit(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED + RECURSIVE_ALLOW)

    result = agile("policy", "set", path, home=tmp_path / "ks")

    assert result.returncode == 2
    assert "recursive Rego rules" in result.stderr
    assert not (tmp_path / "ks" / "policy.json").exists()


def test_explain_recursive_exit(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED + RECURSIVE_ALLOW)

    result = agile(
        "policy",
        "explain",
        "--policy",
        path,
        "--operation",
        "decrypt",
        "--algorithm",
        "p384",
        home=tmp_path / "ks",
    )

    assert result.returncode == 2
    assert "recursive Rego rules" in result.stderr


def test_stored_recursive_exit(tmp_path: Path) -> None:
    # A record without a hash, as written by hand, gets the isolated check of a file.
    home = tmp_path / "ks"
    home.mkdir()
    record = {
        "version": 1,
        "name": "pq-hybrid",
        "engine": "rego",
        "source": "old.rego",
        "text": SHIPPED + RECURSIVE_ALLOW,
    }
    (home / "policy.json").write_text(json.dumps(record))

    result = agile("policy", "explain", "--operation", "decrypt", "--algorithm", "p384", home=home)

    assert result.returncode == 2
    assert "recursive Rego rules" in result.stderr


# Time and memory, bounded by the isolated check.


def test_slow_module_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One evaluation takes about a second here, so a 1 s limit always fires.
    monkeypatch.setattr(rego_module, "CHECK_TIMEOUT_SECONDS", 1.0)
    slow = "\nslow := count([x | some x in numbers.range(0, 3000000)])\n"
    path = write(tmp_path, SHIPPED + slow)

    with pytest.raises(InvalidPolicy, match=r"Rego evaluation timed out after 1 s") as raised:
        load_policy(path)

    assert raised.value.fix is not None
    assert "numbers.range" in raised.value.fix


def test_large_module_memory_exit(tmp_path: Path) -> None:
    big = "\nbig := count([x | some x in numbers.range(0, 100000000)])\n"
    path = write(tmp_path, SHIPPED + big)

    result = agile("policy", "validate", path, home=tmp_path / "ks")

    assert result.returncode == 2
    assert "Rego evaluation needs more than 512 MiB" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_decision_error_rejected(tmp_path: Path) -> None:
    # allow becomes a string only for one sealer, which the isolated check also decides on.
    text = MINIMAL + 'allow := "yes" if input.algorithm.id == "sss"\n'
    path = write(tmp_path, text)

    with pytest.raises(InvalidPolicy, match="allow is 'yes', not a boolean"):
        load_policy(path)


def test_isolated_check_passes(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, MINIMAL))

    assert policy.decide("encrypt", "x-wing").allowed


# Preferred ids must pass the module's own decisions.


def test_preferred_denied_generate(tmp_path: Path) -> None:
    text = SHIPPED.replace('"allowed": ["x-wing"],', '"allowed": ["x25519", "x-wing"],', 1)
    assert text != SHIPPED
    path = write(tmp_path, text)

    with pytest.raises(InvalidPolicy) as raised:
        load_policy(path)

    message = str(raised.value)
    assert "preferred['kem'] is 'x25519'" in message
    assert "denies generate" in message
    assert "kem.require_hybrid" in message
    assert raised.value.fix is not None
    assert "preferred['kem']" in raised.value.fix


@pytest.mark.parametrize(
    ("purpose", "operation"),
    [("aead", "encrypt"), ("signature", "sign"), ("seal", "seal")],
)
def test_preferred_denied_use(tmp_path: Path, purpose: str, operation: str) -> None:
    rule = (
        f'deny contains "no {operation}" if {{ input.purpose == "{purpose}"; '
        f'input.operation == "{operation}" }}\n'
    )
    path = write(tmp_path, MINIMAL.replace("deny := set()\n", rule))

    with pytest.raises(InvalidPolicy) as raised:
        load_policy(path)

    assert f"preferred[{purpose!r}]" in str(raised.value)
    assert f"denies {operation} with it: no {operation}" in str(raised.value)


def test_validate_preferred_exit(tmp_path: Path) -> None:
    text = SHIPPED.replace('"allowed": ["x-wing"],', '"allowed": ["x25519", "x-wing"],', 1)
    path = write(tmp_path, text)

    result = agile("policy", "validate", path, home=tmp_path / "ks")

    assert result.returncode == 2
    assert "preferred['kem'] is 'x25519'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_set_preferred_exit(tmp_path: Path) -> None:
    text = SHIPPED.replace('"allowed": ["x-wing"],', '"allowed": ["x25519", "x-wing"],', 1)
    path = write(tmp_path, text)

    result = agile("policy", "set", path, home=tmp_path / "ks")

    assert result.returncode == 2
    assert "preferred['kem']" in result.stderr
    assert not (tmp_path / "ks" / "policy.json").exists()
