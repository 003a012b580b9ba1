"""Rotation and keys it does not own: public keys imported from another party.

Only the owner of an imported public key has its private key.  So rotation
never retires such a key in favour of a key of ours, and never generates a key
in its keyset.  It leaves the key's stanzas and signatures as they are and
lists the key with the fix instead.  Once the owner's new public key is imported and
promoted, the owner's older keys retire to it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header, sign, verify
from agile.errors import PolicyViolation
from agile.keys import Keystore
from agile.keys.transfer import parse_key
from agile.rotate import RotateOptions, dry_run, open_store, rotate
from tests.rotate.rotate_helpers import agile

PLAINTEXT = b"shared with the partner"
RELEASE = b"release tarball bytes"


def _import_public(keystore, name: str, source, purpose: str, *, promote: bool = False):
    """Import the public part of ``source`` (a key of another keystore) into keyset ``name``."""
    parsed = parse_key(
        source.public, purpose, format="raw", algorithm=source.algorithm, public=True
    )
    # Raw bytes carry no id, so the key keeps the id it has in its owner's keystore.
    public = dataclasses.replace(parsed, key_id=source.id)
    if name not in [keyset.name for keyset in keystore.keysets()]:
        return keystore.create_keyset(name, purpose, first_key=public).primary
    keyset = keystore.keyset(name)
    return keyset.add_imported(
        public.algorithm,
        public.form,
        public.private,
        public.public,
        promote=promote,
        policy="default",
        key_id=source.id,
    )


def _stanzas(envelope: bytes) -> dict[str, tuple[str, bytes]]:
    return {s.key_id: (s.algorithm, bytes(s.body)) for s in read_header(envelope).recipients}


def _kem_setup(keystore, home: Path, tmp_path: Path, *, payload: str = "aes-256-gcm"):
    """Return (partner keystore, partner key, our keyset, store) with docs/shared.agile."""
    partner = Keystore.open(tmp_path / "partner")
    partner_keyset = partner.create_keyset("mine", "kem", "x25519", policy="default")
    ours = keystore.create_keyset("kx", "kem", "x25519", policy="default")
    _import_public(keystore, "ext", partner_keyset.primary, "kem")
    store = open_store(str(home.parent / "docs"), create=True)
    keystore.add_store("docs", store.url)
    store.put(
        "shared.agile",
        encrypt(
            PLAINTEXT,
            [ours, keystore.keyset("ext")],
            policy="default",
            payload_algorithm=payload,
        ),
    )
    return partner, partner_keyset.primary, ours, store


# An imported encryption key.


def test_kem_partner_stanza_kept(keystore, home: Path, tmp_path: Path) -> None:
    _, partner_key, _, store = _kem_setup(keystore, home, tmp_path)
    before = _stanzas(store.read("shared.agile"))

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    after = _stanzas(store.read("shared.agile"))
    assert after[partner_key.id] == before[partner_key.id]


def test_kem_partner_still_decrypts(keystore, home: Path, tmp_path: Path) -> None:
    partner, _, _, store = _kem_setup(keystore, home, tmp_path)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert decrypt(store.read("shared.agile"), partner, policy="default") == PLAINTEXT


def test_kem_partner_key_not_replaced(keystore, home: Path, tmp_path: Path) -> None:
    _, partner_key, _, _ = _kem_setup(keystore, home, tmp_path)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    ext = keystore.keyset("ext")
    assert [key.id for key in ext.keys] == [partner_key.id]
    assert ext.key(partner_key.id).status.value == "primary"


def test_kem_own_stanza_moves(keystore, home: Path, tmp_path: Path) -> None:
    _, partner_key, ours, store = _kem_setup(keystore, home, tmp_path)
    old_id = ours.primary.id

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    new = keystore.keyset("kx").primary
    after = _stanzas(store.read("shared.agile"))
    assert new.algorithm == "x-wing"
    assert sorted(after) == sorted([new.id, partner_key.id])
    assert after[new.id][0] == "x-wing"
    assert keystore.keyset("kx").key(old_id).status.value == "disabled"
    assert decrypt(store.read("shared.agile"), keystore, policy="pq-hybrid") == PLAINTEXT
    assert report["objects"]["rewrap"] == 1


def test_kem_report_lists_key(keystore, home: Path, tmp_path: Path) -> None:
    _, partner_key, _, _ = _kem_setup(keystore, home, tmp_path)

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    (item,) = report["awaiting_owner"]
    assert (item["keyset"], item["key_id"], item["algorithm"]) == ("ext", partner_key.id, "x25519")
    assert "agile keyset import ext FILE --public" in item["fix"]
    assert item["reasons"]
    assert report["state"] == "done"
    assert report["failed"] == 0
    assert [key["keyset"] for key in report["keys"]] == ["kx"]


def test_kem_dry_run_lists_key(keystore, home: Path, tmp_path: Path) -> None:
    _, partner_key, ours, _ = _kem_setup(keystore, home, tmp_path)

    summary = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()

    assert [key_plan["keyset"] for key_plan in summary["keys"]] == ["kx"]
    assert [item["key_id"] for item in summary["awaiting_owner"]] == [partner_key.id]
    assert summary["objects_per_old_key"][ours.primary.id]["objects"] == 1
    assert partner_key.id not in summary["objects_per_old_key"]


def test_kem_imported_key_in_own_keyset(keystore, home: Path, tmp_path: Path) -> None:
    # A partner's key added to a keyset of ours, beside our own primary.
    partner = Keystore.open(tmp_path / "partner").create_keyset("mine", "kem", "x25519")
    ours = keystore.create_keyset("kx", "kem", "x25519", policy="default")
    imported = _import_public(keystore, "kx", partner.primary, "kem")
    store = open_store(str(home.parent / "docs"), create=True)
    keystore.add_store("docs", store.url)
    store.put(
        "shared.agile",
        encrypt(PLAINTEXT, [ours.primary, imported], policy="default"),
    )
    before = _stanzas(store.read("shared.agile"))

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    kx = keystore.keyset("kx")
    assert kx.primary.algorithm == "x-wing"
    assert kx.key(imported.id).status.value == "enabled"
    assert _stanzas(store.read("shared.agile"))[imported.id] == before[imported.id]
    assert [item["key_id"] for item in report["awaiting_owner"]] == [imported.id]
    assert report["keys"][0]["old_key_ids"] == [ours.primary.id]


def test_kem_owner_new_key_replaces(keystore, home: Path, tmp_path: Path) -> None:
    partner, old_partner_key, _, store = _kem_setup(keystore, home, tmp_path)
    partner_new = partner.keyset("mine").add_key(algorithm="x-wing", promote=True)
    _import_public(keystore, "ext", partner_new, "kem", promote=True)

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    ext = keystore.keyset("ext")
    after = _stanzas(store.read("shared.agile"))
    assert sorted(key.id for key in ext.keys) == sorted([old_partner_key.id, partner_new.id])
    assert ext.primary.id == partner_new.id
    assert ext.key(old_partner_key.id).status.value == "disabled"
    assert old_partner_key.id not in after
    assert after[partner_new.id][0] == "x-wing"
    assert decrypt(store.read("shared.agile"), partner, policy="pq-hybrid") == PLAINTEXT
    assert report["awaiting_owner"] == []
    assert report["state"] == "done"


def test_kem_own_key_under_partner_primary(keystore, home: Path, tmp_path: Path) -> None:
    # The owner's compliant key is the primary, but our own X25519 key must not move to it:
    # we could not decrypt the objects afterwards.
    partner = Keystore.open(tmp_path / "partner").create_keyset("mine", "kem", "x-wing")
    mixed = keystore.create_keyset("mixed", "kem", "x25519", policy="default")
    own = mixed.primary
    _import_public(keystore, "mixed", partner.primary, "kem", promote=True)
    store = open_store(str(home.parent / "docs"), create=True)
    keystore.add_store("docs", store.url)
    store.put("ours.agile", encrypt(PLAINTEXT, [own], policy="default"))
    before = store.read("ours.agile")

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    mixed = keystore.keyset("mixed")
    (item,) = report["awaiting_owner"]
    assert item["key_id"] == own.id
    assert "agile keyset promote mixed ID" in item["fix"]
    assert report["state"] == "nothing-to-do"
    assert mixed.key(own.id).status.value == "enabled"
    assert len(mixed.keys) == 2
    assert store.read("ours.agile") == before


def test_kem_reencrypt_blocked(keystore, home: Path, tmp_path: Path) -> None:
    # pq-hybrid keeps AES-128-GCM for decrypt only, so the object must be re-encrypted,
    # which needs a new stanza for the partner's X25519 key that the policy denies.
    _, partner_key, _, store = _kem_setup(keystore, home, tmp_path, payload="aes-128-gcm")
    before = store.read("shared.agile")

    summary = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    with pytest.raises(PolicyViolation, match="rotation would fail on 1 object") as caught:
        rotate(str(home), RotateOptions(policy="pq-hybrid"))

    (item,) = summary["unreadable"]
    assert item["object"] == "shared.agile"
    assert item["blocked_by_policy"] is True
    assert "does not let rotation write its stanzas" in item["error"]
    assert "another party's public key" in item["error"]
    assert "another party's public key" in str(caught.value)
    assert [entry["key_id"] for entry in summary["awaiting_owner"]] == [partner_key.id]
    assert store.read("shared.agile") == before


# An imported signature key.


def _signature_setup(keystore, home: Path, tmp_path: Path):
    """Return (Alice's key, store) with release.tar signed by Alice, and a build of ours."""
    alice = Keystore.open(tmp_path / "alice").create_keyset(
        "release", "signature", "ed25519", policy="default"
    )
    alice_key = _import_public(keystore, "alice-rel", alice.primary, "signature")
    builds = keystore.create_keyset("builds", "signature", "ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("release.tar", RELEASE)
    store.put("release.tar.sig", sign(RELEASE, alice, policy="default"))
    store.put("build.bin", b"our build")
    store.put("build.bin.sig", sign(b"our build", builds, policy="default"))
    return alice_key, store


def test_signature_alice_kept(keystore, home: Path, tmp_path: Path) -> None:
    alice_key, store = _signature_setup(keystore, home, tmp_path)
    before = store.read("release.tar.sig")

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    assert store.read("release.tar.sig") == before
    assert [s.key_id for s in read_header(before).signatures] == [alice_key.id]
    assert report["objects"]["resign"] == 1  # build.bin.sig only
    assert [item["key_id"] for item in report["awaiting_owner"]] == [alice_key.id]


def test_signature_no_key_generated(keystore, home: Path, tmp_path: Path) -> None:
    alice_key, _ = _signature_setup(keystore, home, tmp_path)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    alice_rel = keystore.keyset("alice-rel")
    assert [key.id for key in alice_rel.keys] == [alice_key.id]
    assert alice_rel.key(alice_key.id).status.value == "primary"
    assert keystore.keyset("builds").primary.algorithm == "ml-dsa-65"


def test_signature_verifies_as_alice(keystore, home: Path, tmp_path: Path) -> None:
    alice_key, store = _signature_setup(keystore, home, tmp_path)

    rotate(str(home), RotateOptions(policy="pq-hybrid"))

    verified = verify(store.read("release.tar.sig"), RELEASE, keystore, policy="default")
    assert [(v.key_id, v.keyset) for v in verified] == [(alice_key.id, "alice-rel")]


# The command line.


def test_cli_reports_and_exits_like_policy_check(keystore, home: Path, tmp_path: Path) -> None:
    _, partner_key, _, store = _kem_setup(keystore, home, tmp_path)
    before = _stanzas(store.read("shared.agile"))

    check = agile(home, "policy", "check", "--policy", "pq-hybrid")
    planned = agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run")
    result = agile(home, "rotate", "--policy", "pq-hybrid", "--json")
    again = agile(home, "rotate", "--policy", "pq-hybrid")

    report = json.loads(result.stdout)
    assert check.returncode == 1
    assert f"ext/{partner_key.id}" in check.stdout
    assert planned.returncode == 1, planned.stderr
    assert f"awaiting owner: keyset ext: key {partner_key.id} (x25519)" in planned.stdout
    assert result.returncode == 1, result.stderr
    assert report["state"] == "done"
    assert report["failed"] == 0
    assert [item["key_id"] for item in report["awaiting_owner"]] == [partner_key.id]
    assert again.returncode == 1, again.stderr
    assert "nothing to do" in again.stdout
    assert f"awaiting owner: keyset ext: key {partner_key.id}" in again.stdout
    assert _stanzas(store.read("shared.agile"))[partner_key.id] == before[partner_key.id]
