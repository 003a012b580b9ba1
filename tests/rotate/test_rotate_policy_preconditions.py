"""Rotation rejects a plan that its policy would stop half-way, before it changes anything.

Three denials used to surface only after the run was journaled and keys had
changed: a keyset sealer the ``[seal]`` rule forbids, a preferred algorithm the
policy itself denies, and old keys the policy no longer lets decrypt.  A run
stuck on such a denial ends with ``agile rotate --abandon``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from agile.envelope import decrypt, read_header
from agile.errors import PolicyViolation
from agile.policy import load_policy
from agile.rotate import Journal, RotateOptions, dry_run, open_store, rotate
from agile.rotate.executor import _planned_change
from agile.rotate.planner import plan_keys
from tests.rotate.rotate_helpers import agile, fill

REPO = Path(__file__).resolve().parents[2]

HARDWARE_SEAL = "pq-hybrid:hardware-seal"

#: pq-hybrid without x25519 in [kem], not even for decrypt.
NO_X25519 = """\
name = "no-x25519"
base = "pq-hybrid"
[kem]
remove = ["x25519"]
"""


@pytest.fixture
def unchecked_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let Rego modules load whose preferred ids they deny themselves.

    Loading rejects such a module now, but one loaded by an older version can be
    stored in a keystore or journaled in a run, and rotation must still stop on it
    before it changes anything.
    """
    from agile.policy import rego

    monkeypatch.setattr(rego.RegoPolicy, "_check_preferred_allowed", lambda self: None)
    # The isolated check runs the same preferred-id check in a child process.
    monkeypatch.setattr(rego, "check_isolated", lambda text, source: None)


def _self_denying_rego(directory: Path) -> str:
    """Write pq-hybrid.rego changed to prefer x25519, which its require_hybrid rule denies."""
    text = (REPO / "agile/policy/profiles/pq-hybrid.rego").read_text()
    text = text.replace('"allowed": ["x-wing"]', '"allowed": ["x25519", "x-wing"]', 1)
    text = text.replace('name := "pq-hybrid"', 'name := "prefers-denied"', 1)
    path = directory / "prefers-denied.rego"
    path.write_text(text)
    return str(path)


def _setup(keystore, home: Path, count: int = 3):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = fill(store, keyset, count)
    return store, originals


def _key_states(keystore) -> list[tuple[str, str, str]]:
    keyset = keystore.keyset("team")
    return [(key.id, key.algorithm, key.status.value) for key in keyset.keys]


def _runs(home: Path) -> list:
    journal = Journal(home)
    try:
        return journal.runs()
    finally:
        journal.close()


# The [seal] rule.


def test_forbidden_sealer_rejects_run(keystore, home: Path) -> None:
    _setup(keystore, home)
    before = _key_states(keystore)

    with pytest.raises(PolicyViolation) as caught:
        rotate(str(home), RotateOptions(policy=HARDWARE_SEAL))

    assert "keyset 'team'" in str(caught.value)
    assert "agile keyset reseal team --seal tpm2" in (caught.value.fix or "")
    assert _key_states(keystore) == before
    assert _runs(home) == []


def test_forbidden_sealer_rejects_dry_run(keystore, home: Path) -> None:
    _setup(keystore, home)

    with pytest.raises(PolicyViolation) as caught:
        dry_run(str(home), RotateOptions(policy=HARDWARE_SEAL))

    assert "agile keyset reseal team --seal tpm2" in (caught.value.fix or "")


def test_forbidden_sealer_cli_exit(keystore, home: Path) -> None:
    _setup(keystore, home)

    for extra in ((), ("--dry-run",)):
        result = agile(home, "rotate", "--policy", HARDWARE_SEAL, *extra)
        assert result.returncode == 1, result.stderr
        assert "agile keyset reseal team --seal tpm2" in result.stderr
        assert "Traceback" not in result.stderr


def test_add_key_forbidden_sealer(keystore, home: Path) -> None:
    _setup(keystore, home)
    before = _key_states(keystore)

    with pytest.raises(PolicyViolation) as caught:
        keystore.keyset("team").add_key("x-wing", policy=HARDWARE_SEAL)

    assert "agile keyset reseal team --seal tpm2" in (caught.value.fix or "")
    assert _key_states(keystore) == before


def test_add_key_cli_forbidden_sealer(keystore, home: Path) -> None:
    _setup(keystore, home)

    result = agile(home, "keyset", "add-key", "team", "--policy", HARDWARE_SEAL)

    assert result.returncode == 1, result.stderr
    assert "agile keyset reseal team --seal tpm2" in result.stderr
    assert len(_key_states(keystore)) == 1


def test_promote_ignores_sealer(keystore, home: Path) -> None:
    """Promotion seals no key material, so the [seal] rule does not stop it."""
    _setup(keystore, home)
    added = keystore.keyset("team").add_key("x-wing", policy="pq-hybrid")

    promoted = keystore.keyset("team").promote(added.id, policy=HARDWARE_SEAL)

    assert promoted.status.value == "primary"


# A preferred algorithm that the policy denies.


@pytest.mark.usefixtures("unchecked_preferred")
def test_denied_preferred_leaves_no_run(keystore, home: Path, tmp_path: Path) -> None:
    store, originals = _setup(keystore, home)
    spec = _self_denying_rego(tmp_path)
    before = _key_states(keystore)

    with pytest.raises(PolicyViolation) as caught:
        rotate(str(home), RotateOptions(policy=spec))

    assert "'x25519'" in str(caught.value)
    assert _key_states(keystore) == before
    assert _runs(home) == []

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "done"
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore) == plaintext


@pytest.mark.usefixtures("unchecked_preferred")
def test_denied_preferred_rejects_dry_run(keystore, home: Path, tmp_path: Path) -> None:
    _setup(keystore, home)

    with pytest.raises(PolicyViolation):
        dry_run(str(home), RotateOptions(policy=_self_denying_rego(tmp_path)))


@pytest.mark.usefixtures("unchecked_preferred")
def test_stuck_run_abandon(keystore, home: Path, tmp_path: Path) -> None:
    """A run journaled without the check (as older versions did) ends with --abandon."""
    store, originals = _setup(keystore, home)
    spec = _self_denying_rego(tmp_path)
    policy = keystore.policy(spec)
    options = {
        "policy": spec,
        "stores": [["objects", store.url]],
        "all_stores": True,
        "keep_old_keys": False,
        "fail_fast": False,
    }
    changes = [_planned_change(p) for p in plan_keys(keystore, policy)]
    journal = Journal(home)
    try:
        run_id = journal.create_run(policy.name, policy.hash, options, changes).run_id
    finally:
        journal.close()

    with pytest.raises(PolicyViolation) as caught:
        rotate(str(home), RotateOptions(resume=True))
    assert "agile rotate --abandon" in (caught.value.fix or "")

    result = agile(home, "rotate", "--abandon", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["run_id"] == run_id
    assert report["state"] == "abandoned"
    assert [run.state for run in _runs(home)] == ["abandoned"]

    after = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert after["state"] == "done"
    for object_id, plaintext in originals.items():
        data = store.read(object_id)
        assert decrypt(data, keystore) == plaintext
        assert {r.algorithm for r in read_header(data).recipients} == {"x-wing"}


def test_abandon_without_run(keystore, home: Path) -> None:
    _setup(keystore, home)

    result = agile(home, "rotate", "--abandon")

    assert result.returncode == 0, result.stderr
    assert "no unfinished rotation run" in result.stdout


def test_abandon_rejects_other_options(keystore, home: Path) -> None:
    _setup(keystore, home)

    result = agile(home, "rotate", "--abandon", "--policy", "pq-hybrid")

    assert result.returncode == 2
    assert "--abandon does not combine with --policy" in result.stderr


# Old keys the policy may no longer decrypt with.


def test_undecryptable_old_key_rejects_run(keystore, home: Path, tmp_path: Path) -> None:
    store, originals = _setup(keystore, home, count=4)
    spec = tmp_path / "no-x25519.toml"
    spec.write_text(NO_X25519)
    before = _key_states(keystore)

    with pytest.raises(PolicyViolation) as caught:
        rotate(str(home), RotateOptions(policy=str(spec)))

    assert "'x25519' in kem.decrypt_only" in (caught.value.fix or "")
    assert _key_states(keystore) == before
    assert _runs(home) == []
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore) == plaintext


def test_undecryptable_old_key_cli(keystore, home: Path, tmp_path: Path) -> None:
    _setup(keystore, home, count=4)
    spec = tmp_path / "no-x25519.toml"
    spec.write_text(NO_X25519)

    for extra in ((), ("--dry-run",)):
        result = agile(home, "rotate", "--policy", str(spec), *extra)
        assert result.returncode == 1, result.stderr
        assert "kem.decrypt_only" in result.stderr
        assert "x-wing" not in result.stderr


def test_undecryptable_key_without_objects(keystore, home: Path, tmp_path: Path) -> None:
    """An old key that no object names retires without a decrypt, so the run goes on."""
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    spec = tmp_path / "no-x25519.toml"
    spec.write_text(NO_X25519)

    report = rotate(str(home), RotateOptions(policy=str(spec)))

    assert report["state"] == "done"
    assert [key["new_algorithm"] for key in report["keys"]] == ["x-wing"]


# Fix texts.


def test_decrypt_denial_fix(tmp_path: Path) -> None:
    spec = tmp_path / "no-x25519.toml"
    spec.write_text(NO_X25519)
    policy = load_policy(str(spec))

    with pytest.raises(PolicyViolation) as caught:
        policy.enforce("decrypt", "x25519")

    assert "kem.decrypt_only" in (caught.value.fix or "")
    assert "x-wing" not in (caught.value.fix or "")


def test_max_key_age_fix(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    key = keyset.primary.meta()
    policy = load_policy("default")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365)

    with pytest.raises(PolicyViolation) as caught:
        policy.enforce("encrypt", "x25519", key=key, now=later)

    assert "agile rotate" in (caught.value.fix or "")
    assert "'x25519'" not in (caught.value.fix or "")
