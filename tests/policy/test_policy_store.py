"""The keystore's active policy: default when unset, stored atomically with mode 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from agile.errors import InvalidPolicy, KeystoreError
from agile.policy import active_policy, load_policy, set_active_policy
from agile.policy.loader import PROFILES_DIR
from agile.policy.store import POLICY_FILE


def test_active_default(tmp_path: Path) -> None:
    assert active_policy(tmp_path).name == "default"


def test_set_builtin(tmp_path: Path) -> None:
    set_active_policy(tmp_path, "pq-hybrid:no-chacha")
    assert active_policy(tmp_path).name == "pq-hybrid:no-chacha"


def test_set_mode(tmp_path: Path) -> None:
    set_active_policy(tmp_path, "fips")
    assert stat.S_IMODE((tmp_path / POLICY_FILE).stat().st_mode) == 0o600


def test_set_file_copies_text(tmp_path: Path) -> None:
    source = tmp_path / "ours.toml"
    source.write_text('name = "ours"\nbase = "future"\n')
    stored = set_active_policy(tmp_path, str(source))
    source.unlink()
    assert active_policy(tmp_path).hash == stored.hash


def test_set_rego(tmp_path: Path) -> None:
    pytest.importorskip("regorus")
    stored = set_active_policy(tmp_path, str(PROFILES_DIR / "pq-hybrid.rego"))
    assert active_policy(tmp_path).hash == stored.hash


def test_set_invalid_keeps_old(tmp_path: Path) -> None:
    set_active_policy(tmp_path, "fips")
    with pytest.raises(InvalidPolicy):
        set_active_policy(tmp_path, "no-such-profile")
    assert active_policy(tmp_path).name == "fips"


def test_set_missing_keystore(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError):
        set_active_policy(tmp_path / "absent", "fips")


def test_corrupt_record(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text("{not json")
    with pytest.raises(KeystoreError):
        active_policy(tmp_path)


def test_unknown_format(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps({"version": 99}))
    with pytest.raises(KeystoreError):
        active_policy(tmp_path)


def test_load_policy_passthrough() -> None:
    policy = load_policy("default")
    assert load_policy(policy) is policy


def test_active_reused(tmp_path: Path) -> None:
    set_active_policy(tmp_path, "future")
    assert active_policy(tmp_path) is active_policy(tmp_path)


def test_active_follows_set(tmp_path: Path) -> None:
    set_active_policy(tmp_path, "default")
    active_policy(tmp_path)
    set_active_policy(tmp_path, "pq-hybrid")
    assert active_policy(tmp_path).name == "pq-hybrid"


def test_active_after_removal(tmp_path: Path) -> None:
    set_active_policy(tmp_path, "fips")
    active_policy(tmp_path)
    (tmp_path / POLICY_FILE).unlink()
    assert active_policy(tmp_path).name == "default"


def _edit_record(home: Path, **changes: object) -> None:
    path = home / POLICY_FILE
    record = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    path.write_text(json.dumps(record))


def _store_file(home: Path, name: str, text: str) -> str:
    source = home / name
    source.write_text(text)
    return set_active_policy(home, str(source)).hash


def test_stored_without_source(tmp_path: Path) -> None:
    _store_file(tmp_path, "ours.toml", 'base = "default"\n')
    _edit_record(tmp_path, source=None)

    policy = active_policy(tmp_path)

    assert policy.source == str(tmp_path / POLICY_FILE)
    assert policy.name == "ours"


def test_stored_toml_tampered(tmp_path: Path) -> None:
    _store_file(tmp_path, "ours.toml", 'base = "default"\n')
    _edit_record(tmp_path, text='base = "legacy"\n')

    with pytest.raises(InvalidPolicy, match="policy.json.*does not match the hash") as raised:
        active_policy(tmp_path)

    assert raised.value.fix is not None
    assert "agile policy set" in raised.value.fix


def test_stored_rego_tampered_not_run(tmp_path: Path) -> None:
    pytest.importorskip("regorus")
    shipped = (PROFILES_DIR / "pq-hybrid.rego").read_text()
    _store_file(tmp_path, "ours.rego", shipped)
    # The edited module would load and allow every operation that fits its purpose.
    assert "default allow := false" in shipped
    permissive = shipped.replace("default allow := false", "default allow := true", 1)
    _edit_record(tmp_path, text=permissive, text_hash=None)

    with pytest.raises(InvalidPolicy, match="does not match the hash"):
        active_policy(tmp_path)


def test_stored_without_hashes_loads(tmp_path: Path) -> None:
    # policy.json files written before text_hash existed, or without any hash, still load.
    stored_hash = _store_file(tmp_path, "ours.toml", 'base = "future"\n')
    _edit_record(tmp_path, hash=None, text_hash=None)

    assert active_policy(tmp_path).hash == stored_hash


def test_stored_records_text_hash(tmp_path: Path) -> None:
    _store_file(tmp_path, "ours.toml", 'base = "future"\n')

    record = json.loads((tmp_path / POLICY_FILE).read_text())

    assert record["text_hash"].startswith("sha256:")
