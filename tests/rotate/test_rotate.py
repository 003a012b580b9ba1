"""Rotation through the library: key changes, per-object actions, failures, resume points."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header, sign, verify
from agile.errors import RotationInProgress
from agile.fsio import exclusive_lock
from agile.rotate import AuditLog, Journal, RotateOptions, dry_run, open_store, rotate
from agile.rotate.journal import KeyChange
from tests.rotate.rotate_helpers import fill

#: Every KEM recipient type that a classical or older deployment may hold.
KEM_RECIPIENTS = [
    "x25519",
    "p256",
    "p384",
    "rsa-oaep-3072",
    "ml-kem-768",
    "ml-kem-1024",
]


def _status(keystore, keyset: str, key_id: str) -> str:
    return keystore.keyset(keyset).key(key_id).status.value


def _setup(keystore, home: Path, purpose: str, algorithm: str, count: int = 6, **fill_options):
    keyset = keystore.create_keyset("team", purpose, algorithm=algorithm, policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = fill(store, keyset, count, **fill_options)
    return keyset, store, originals


@pytest.mark.parametrize("algorithm", KEM_RECIPIENTS)
def test_rotate_kem_to_xwing(keystore, home: Path, algorithm: str) -> None:
    keyset, store, originals = _setup(keystore, home, "kem", algorithm)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    new_key = report["keys"][0]["new_key_id"]
    for object_id in originals:
        header = read_header(store.read(object_id))
        assert [(r.key_id, r.algorithm) for r in header.recipients] == [(new_key, "x-wing")]


@pytest.mark.parametrize("algorithm", KEM_RECIPIENTS)
def test_rotate_kem_plaintext_kept(keystore, home: Path, algorithm: str) -> None:
    keyset, store, originals = _setup(keystore, home, "kem", algorithm)
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore, policy="pq-hybrid") == plaintext


def test_rotate_legacy_rsa_2048(keystore, home: Path) -> None:
    # RSA-OAEP-2048 is legacy: only the 'legacy' policy still creates and encrypts to it.
    keyset = keystore.create_keyset("team", "kem", algorithm="rsa-oaep-2048", policy="legacy")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    store.put("old", encrypt(b"legacy secret", keyset, policy="legacy"))
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    sealed = store.read("old")
    assert [r.algorithm for r in read_header(sealed).recipients] == ["x-wing"]
    assert decrypt(sealed, keystore, policy="pq-hybrid") == b"legacy secret"


def test_rotate_old_key_disabled(keystore, home: Path) -> None:
    keyset, store, _ = _setup(keystore, home, "kem", "x25519")
    old = keyset.primary.id
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert _status(keystore, "team", old) == "disabled"


def test_rotate_new_key_primary(keystore, home: Path) -> None:
    _setup(keystore, home, "kem", "x25519")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert _status(keystore, "team", report["keys"][0]["new_key_id"]) == "primary"


def test_rotate_symmetric_recipient(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home, "aead", "aes-128-gcm")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    header = read_header(store.read("obj00000"))
    assert [r.algorithm for r in header.recipients] == ["aes-256-gcm"]
    assert report["keys"][0]["new_algorithm"] == "aes-256-gcm"


def test_rotate_symmetric_plaintext_kept(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home, "aead", "aes-128-gcm")
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore, policy="pq-hybrid") == plaintext


def test_rewrap_keeps_payload(keystore, home: Path) -> None:
    keyset, store, _ = _setup(keystore, home, "kem", "x25519", payload="aes-256-gcm")
    before = store.read("obj00000")
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    after = store.read("obj00000")
    assert after[read_header(after).length :] == before[read_header(before).length :]


def test_rewrap_counted(keystore, home: Path) -> None:
    _setup(keystore, home, "kem", "x25519", count=4, payload="aes-256-gcm")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["objects"] == {"rewrap": 4, "reencrypt": 0, "resign": 0}


def test_reencrypt_for_aes128(keystore, home: Path) -> None:
    _setup(keystore, home, "kem", "x25519", count=4, payload="aes-128-gcm")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["objects"] == {"rewrap": 0, "reencrypt": 4, "resign": 0}


def test_reencrypt_payload_algorithm(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", payload="aes-128-gcm")
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert read_header(store.read("obj00000")).payload_algorithm == "aes-256-gcm"


def test_dry_run_counts(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", count=3, payload="aes-128-gcm")
    store.put("extra", encrypt(b"x", keystore.keyset("team"), policy="default"))
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    assert plan["objects"]["reencrypt"] == 3


def test_dry_run_changes_nothing(keystore, home: Path) -> None:
    keyset, store, _ = _setup(keystore, home, "kem", "x25519", count=3)
    before = store.read("obj00000")
    dry_run(str(home), RotateOptions(policy="pq-hybrid"))
    assert store.read("obj00000") == before
    assert len(keystore.keyset("team").keys) == 1


def test_resign_adds_signature(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("signers", "signature", algorithm="ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("doc", b"the message")
    store.put("doc.sig", sign(b"the message", keyset, policy="default"))
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    algorithms = {s.algorithm for s in read_header(store.read("doc.sig")).signatures}
    assert "ml-dsa-65" in algorithms or "ml-dsa-65-ed25519" in algorithms


def test_resign_verifies(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("signers", "signature", algorithm="ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("doc", b"the message")
    store.put("doc.sig", sign(b"the message", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    verified = verify(store.read("doc.sig"), b"the message", keystore, policy="pq-hybrid")
    assert [v.key_id for v in verified] == [report["keys"][0]["new_key_id"]]


def test_resign_counted(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("signers", "signature", algorithm="ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("doc", b"the message")
    store.put("doc.sig", sign(b"the message", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["objects"]["resign"] == 1


def test_resign_orphan_reported(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("signers", "signature", algorithm="ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("doc.sig", sign(b"the message", keyset, policy="default"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert "no signed message beside it" in report["failures"][0]["error"]


def test_corrupted_object_reported(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", count=5)
    damaged = bytearray(store.read("obj00002"))
    damaged[40] ^= 0xFF
    store.put("obj00002", bytes(damaged))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert [f["object"] for f in report["failures"]] == ["obj00002"]


def test_corrupted_object_untouched(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", count=5)
    damaged = bytearray(store.read("obj00002"))
    damaged[40] ^= 0xFF
    store.put("obj00002", bytes(damaged))
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert store.read("obj00002") == bytes(damaged)


def test_corrupted_object_others_migrated(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", count=5)
    damaged = bytearray(store.read("obj00002"))
    damaged[40] ^= 0xFF
    store.put("obj00002", bytes(damaged))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["objects"]["rewrap"] == 4


def test_corrupted_object_keeps_old_key(keystore, home: Path) -> None:
    keyset, store, _ = _setup(keystore, home, "kem", "x25519", count=5)
    old = keyset.primary.id
    store.put("obj00002", b"not an envelope at all")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["state"] == "incomplete"
    assert _status(keystore, "team", old) == "decrypt-only"


def test_second_rotation_refused(keystore, home: Path) -> None:
    _setup(keystore, home, "kem", "x25519", count=2)
    with exclusive_lock(home / "rotation.lock"), pytest.raises(RotationInProgress):
        rotate(str(home), RotateOptions(policy="pq-hybrid"))


def test_resume_adopts_created_key(keystore, home: Path) -> None:
    """Killed after the new key was saved but before the journal recorded it."""
    keyset, store, originals = _setup(keystore, home, "kem", "x25519", count=3)
    old = keyset.primary.id
    journal = Journal(home)
    run = journal.create_run(
        "pq-hybrid",
        keystore.policy("pq-hybrid").hash,
        {
            "policy": "pq-hybrid",
            "stores": [["objects", store.url]],
            "all_stores": True,
        },
    )
    journal.add_key_change(
        run.run_id, KeyChange("team", (old,), (old,), "x-wing", None, "planned", {old: ["test"]})
    )
    journal.close()
    orphan = keyset.add_key("x-wing", promote=True, policy="pq-hybrid")

    report = rotate(str(home), RotateOptions())
    assert report["keys"][0]["new_key_id"] == orphan.id
    assert len(keystore.keyset("team").keys) == 2


def test_resume_skips_written_object(keystore, home: Path) -> None:
    """Killed after an object was rewritten but before the journal marked it done."""
    keyset, store, originals = _setup(keystore, home, "kem", "x25519", count=3)
    old = keyset.primary.id
    new = keyset.add_key("x-wing", promote=True, policy="pq-hybrid")
    journal = Journal(home)
    run = journal.create_run(
        "pq-hybrid",
        keystore.policy("pq-hybrid").hash,
        {
            "policy": "pq-hybrid",
            "stores": [["objects", store.url]],
            "all_stores": True,
        },
    )
    journal.add_key_change(
        run.run_id, KeyChange("team", (old,), (old, new.id), "x-wing", new.id, "created", {})
    )
    journal.set_run_state(run.run_id, "migrating")
    journal.add_objects(run.run_id, [("objects", object_id, "rewrap") for object_id in originals])
    journal.close()
    from agile.envelope import rewrap

    store.put(
        "obj00000",
        rewrap(
            store.read("obj00000"),
            keystore,
            old_key_ids=[old],
            new_recipients=[new],
            policy="pq-hybrid",
        ),
    )

    report = rotate(str(home), RotateOptions())
    assert report["already_migrated"] == 1
    assert report["objects"]["rewrap"] == 2


def test_resume_refuses_other_policy(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", count=2)
    journal = Journal(home)
    journal.create_run("pq-hybrid", keystore.policy("pq-hybrid").hash, {"policy": "pq-hybrid"})
    journal.close()
    from agile.errors import RotationError

    with pytest.raises(RotationError):
        rotate(str(home), RotateOptions(policy="pq-only"))


def test_audit_records_run(keystore, home: Path) -> None:
    _setup(keystore, home, "kem", "x25519", count=2)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    events = [
        (record["event"], record.get("status"))
        for record in AuditLog(home).records()
        if record.get("run_id") == report["run_id"]
    ]
    assert events == [
        ("run-started", None),
        ("key-status", "enabled"),
        ("key-status", "primary"),
        ("key-created", "primary"),
        ("key-status", "decrypt-only"),
        ("key-status", "disabled"),
        ("run-finished", None),
    ]


def test_audit_policy_hash(keystore, home: Path) -> None:
    _setup(keystore, home, "kem", "x25519", count=2)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    hashes = {
        record.get("policy_hash")
        for record in AuditLog(home).records()
        if record.get("run_id") == report["run_id"]
    }
    assert hashes == {keystore.policy("pq-hybrid").hash}


def test_nothing_to_do(keystore, home: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x-wing", policy="default")
    assert rotate(str(home), RotateOptions(policy="pq-hybrid"))["state"] == "nothing-to-do"


def test_keep_old_keys(keystore, home: Path) -> None:
    keyset, _, _ = _setup(keystore, home, "kem", "x25519", count=2)
    old = keyset.primary.id
    rotate(str(home), RotateOptions(policy="pq-hybrid", keep_old_keys=True))
    assert _status(keystore, "team", old) == "decrypt-only"


def test_sqlite_store_rotated(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(f"sqlite:///{home.parent}/objects.db", create=True)
    keystore.add_store("db", store.url)
    originals = fill(store, keyset, 150, payload="aes-128-gcm")
    rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=32))
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore, policy="pq-hybrid") == plaintext


def test_two_workers(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home, "kem", "x25519", count=40)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", workers=2, batch_size=8))
    assert report["objects"]["rewrap"] == 40
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore, policy="pq-hybrid") == plaintext


UNDO_POLICY = """\
name = "undo-xwing"
base = "default"
[kem]
allowed = ["x25519"]
decrypt_only = ["x-wing"]
"""


def test_undo_while_decrypt_only(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home, "kem", "x25519", count=4)
    old = keyset.primary.id
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", keep_old_keys=True))
    new = report["keys"][0]["new_key_id"]

    keystore.keyset("team").promote(old, policy="default")
    undo = home.parent / "undo.toml"
    undo.write_text(UNDO_POLICY)
    rotate(str(home), RotateOptions(policy=str(undo)))

    for object_id, plaintext in originals.items():
        envelope = store.read(object_id)
        assert [r.key_id for r in read_header(envelope).recipients] == [old]
        assert decrypt(envelope, keystore, policy="default") == plaintext
    assert _status(keystore, "team", new) == "disabled"


def test_sqlite_corrupted_row(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(f"sqlite:///{home.parent}/objects.db", create=True)
    keystore.add_store("db", store.url)
    fill(store, keyset, 5)
    damaged = bytearray(store.read("obj00003"))
    damaged[-5] ^= 0x01
    store.put("obj00003", bytes(damaged))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", batch_size=2))
    assert [f["object"] for f in report["failures"]] == ["obj00003"]
    assert store.read("obj00003") == bytes(damaged)
    assert report["objects"]["rewrap"] == 4


def test_fail_fast_stops(keystore, home: Path) -> None:
    _, store, _ = _setup(keystore, home, "kem", "x25519", count=6)
    store.put("obj00000", b"garbage")
    damaged = bytearray(store.read("obj00001"))
    damaged[-5] ^= 0x01
    store.put("obj00001", bytes(damaged))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", fail_fast=True, batch_size=1))
    assert report["state"] == "incomplete"
    assert report["objects"]["rewrap"] == 0


def test_store_given_as_path(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    folder = home.parent / "loose"
    originals = fill(open_store(str(folder), create=True), keyset, 3)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid", stores=(str(folder),)))
    assert report["objects"]["rewrap"] == len(originals)
    assert report["disabled_key_ids"] == [keyset.primary.id]


@pytest.mark.parametrize("seed", range(7, 13))
def test_random_corruption_never_lost(keystore, home: Path, seed: int) -> None:
    """Each object gets a flipped bit or is truncated: migrated intact or left untouched."""
    import random

    keyset, store, originals = _setup(keystore, home, "kem", "x25519", count=40, size=300)
    rng = random.Random(seed)
    damaged = {}
    for object_id in originals:
        data = bytearray(store.read(object_id))
        if rng.random() < 0.8:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            del data[rng.randrange(len(data)) :]
        damaged[object_id] = bytes(data)
        store.put(object_id, damaged[object_id])

    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    failed = {f["object"] for f in report["failures"]}
    for object_id, plaintext in originals.items():
        envelope = store.read(object_id)
        if object_id in failed:
            assert envelope == damaged[object_id], object_id
        else:
            assert decrypt(envelope, keystore, policy="pq-hybrid") == plaintext, object_id
