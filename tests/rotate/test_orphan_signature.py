"""A signature envelope to re-sign whose signed message is missing from its store.

Planning reports such an object as unreadable instead of counting it under
``resign``, a real run records it as failed without trying it, and the old
signing key stays decrypt-only until the message is stored or the signature
is removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.envelope import sign, verify
from agile.errors import KeysetError
from agile.rotate import RotateOptions, dry_run, open_store, rotate
from tests.rotate.rotate_helpers import agile

MESSAGE = b"the signed message"


def _orphan_store(keystore, home: Path, object_id: str = "doc.sig"):
    """Return a registered store holding one Ed25519 signature of MESSAGE, without MESSAGE."""
    keyset = keystore.create_keyset("signers", "signature", algorithm="ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put(object_id, sign(MESSAGE, keyset, policy="default"))
    return store, keyset.primary.id


def _status(keystore, key_id: str) -> str:
    return str(keystore.keyset("signers").key(key_id).status.value)


# Planning.


def test_dry_run_not_counted_as_resign(keystore, home: Path) -> None:
    _orphan_store(keystore, home)
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid"))
    assert plan.to_dict()["objects"]["resign"] == 0


def test_dry_run_reports_unreadable(keystore, home: Path) -> None:
    _orphan_store(keystore, home)
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid"))
    assert [(u.store, u.object_id) for u in plan.unreadable] == [("signed", "doc.sig")]


def test_dry_run_names_message_and_fix(keystore, home: Path) -> None:
    _orphan_store(keystore, home)
    error = dry_run(str(home), RotateOptions(policy="pq-hybrid")).unreadable[0].error
    assert "'doc' is not in the store" in error
    assert "store the signed message beside it as 'doc'" in error
    assert "or remove the signature object" in error


def test_dry_run_still_plans_key(keystore, home: Path) -> None:
    _, old = _orphan_store(keystore, home)
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    assert plan["objects_per_old_key"][old]["objects"] == 0
    assert [key["id"] for key in plan["keys"][0]["old_keys"]] == [old]


def test_message_present_counted(keystore, home: Path) -> None:
    store, _ = _orphan_store(keystore, home)
    store.put("doc", MESSAGE)
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid"))
    assert plan.to_dict()["objects"]["resign"] == 1
    assert plan.unreadable == []


def test_message_directory_reported(keystore, home: Path) -> None:
    store, _ = _orphan_store(keystore, home)
    (Path(store.url.removeprefix("dir:")) / "doc").mkdir()
    error = dry_run(str(home), RotateOptions(policy="pq-hybrid")).unreadable[0].error
    assert "signed message 'doc' cannot be read" in error


def test_name_without_suffix_reported(keystore, home: Path) -> None:
    _orphan_store(keystore, home, "doc.signature")
    error = dry_run(str(home), RotateOptions(policy="pq-hybrid")).unreadable[0].error
    assert "does not end in '.sig'" in error


def test_orphan_of_kept_key_ignored(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("pq", "signature", algorithm="ml-dsa-65", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("doc.sig", sign(MESSAGE, keyset, policy="default"))
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid"))
    assert plan.unreadable == []


def test_cli_dry_run_prints_unreadable(keystore, home: Path) -> None:
    _orphan_store(keystore, home)
    result = agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run")
    assert result.returncode == 1, result.stderr
    assert "resign 0" in result.stdout
    unreadable = [line for line in result.stdout.splitlines() if line.startswith("unreadable:")]
    assert len(unreadable) == 1
    assert "doc.sig: cannot re-sign this signature envelope" in unreadable[0]


# The real run.


def test_run_fails_orphan_in_scan(keystore, home: Path) -> None:
    _orphan_store(keystore, home)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "incomplete"
    assert [failure["object"] for failure in report["failures"]] == ["doc.sig"]
    assert "store the signed message beside it as 'doc'" in report["failures"][0]["error"]


def test_run_keeps_old_key_decrypt_only(keystore, home: Path) -> None:
    _, old = _orphan_store(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert _status(keystore, old) == "decrypt-only"


def test_run_leaves_orphan_unchanged(keystore, home: Path) -> None:
    store, _ = _orphan_store(keystore, home)
    before = store.read("doc.sig")
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert store.read("doc.sig") == before


def test_run_after_message_stored(keystore, home: Path) -> None:
    store, old = _orphan_store(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    store.put("doc", MESSAGE)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "done"
    assert report["objects"]["resign"] == 1
    assert _status(keystore, old) == "disabled"
    verify(store.read("doc.sig"), MESSAGE, keystore, policy="pq-hybrid")


def test_run_after_orphan_removed(keystore, home: Path) -> None:
    store, old = _orphan_store(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    Path(store.url.removeprefix("dir:"), "doc.sig").unlink()
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "done"
    assert _status(keystore, old) == "disabled"


def test_cli_run_exits_one(keystore, home: Path) -> None:
    _orphan_store(keystore, home)
    result = agile(home, "rotate", "--policy", "pq-hybrid")
    assert result.returncode == 1
    assert "failed: signed doc.sig:" in result.stdout


# Removing the old key.


def test_remove_key_names_orphan_fix(keystore, home: Path) -> None:
    _, old = _orphan_store(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    keyset = keystore.keyset("signers")
    keyset.disable(old)
    with pytest.raises(KeysetError) as raised:
        keyset.remove_key(old)
    assert "1 stored object names key" in str(raised.value)
    assert "rotation cannot re-sign signed:doc.sig" in (raised.value.fix or "")
    assert "store the signed message beside it as 'doc'" in (raised.value.fix or "")


def test_remove_key_signed_message_present(keystore, home: Path) -> None:
    store, old = _orphan_store(keystore, home)
    store.put("doc", MESSAGE)
    keyset = keystore.keyset("signers")
    keyset.add_key("ed25519", promote=True, policy="default")
    keyset.disable(old)
    with pytest.raises(KeysetError) as raised:
        keyset.remove_key(old)
    assert "cannot re-sign" not in (raised.value.fix or "")


def test_cli_remove_key_one_line(keystore, home: Path) -> None:
    _, old = _orphan_store(keystore, home)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    keystore.keyset("signers").disable(old)
    result = agile(home, "keyset", "remove-key", "signers", old)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "rotation cannot re-sign signed:doc.sig" in lines[0]
