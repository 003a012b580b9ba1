"""Rotation follows the policy's payload and HPKE rules, not only its key rules.

An object whose keys stay but whose payload AEAD the policy no longer allows
to encrypt is re-encrypted to the same keys.  An object the policy does not let
rotation decrypt (its payload AEAD, or the KDF or AEAD of its HPKE stanza) is
listed by the dry run, and a real run stops before it changes any key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header
from agile.errors import PolicyViolation
from agile.rotate import Journal, RotateOptions, dry_run, open_store, rotate
from tests.rotate.rotate_helpers import agile

NO_AES128 = "default:no-aes128"
#: Under this policy aes-128-gcm may not even decrypt.
NO_AES128_AT_ALL = "default:no-aes128:no-legacy"
#: pq-hybrid without AES-256-GCM, the AEAD of every X25519 HPKE stanza, even to decrypt.
NO_AES256 = """\
name = "no-aes-256-gcm"
base = "pq-hybrid"
[aead]
allowed = ["chacha20-poly1305"]
decrypt_only = []
"""


def _setup(keystore, home: Path, payloads: dict[str, int]):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = {}
    for payload, count in payloads.items():
        for index in range(count):
            object_id = f"{payload}-{index}"
            originals[object_id] = os.urandom(64)
            sealed = encrypt(
                originals[object_id], keyset, policy="default", payload_algorithm=payload
            )
            store.put(object_id, sealed)
    return keyset, store, originals


def _key_states(keystore) -> list[tuple[str, str]]:
    return [(key.id, key.status.value) for key in keystore.keyset("team").keys]


def _runs(home: Path) -> list:
    journal = Journal(home)
    try:
        return journal.runs()
    finally:
        journal.close()


def test_payload_only_objects_reencrypted(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home, {"aes-128-gcm": 3, "aes-256-gcm": 2})
    key_id = keyset.primary.id

    report = rotate(str(home), RotateOptions(policy=NO_AES128))

    assert report["state"] == "done"
    assert report["objects"]["reencrypt"] == 3
    assert report["objects"]["rewrap"] == 0
    for object_id, plaintext in originals.items():
        data = store.read(object_id)
        header = read_header(data)
        assert header.payload_algorithm == "aes-256-gcm"
        assert [stanza.key_id for stanza in header.recipients] == [key_id]
        assert decrypt(data, keystore) == plaintext
    assert _key_states(keystore) == [(key_id, "primary")]


def test_payload_only_dry_run_counts(keystore, home: Path) -> None:
    _setup(keystore, home, {"aes-128-gcm": 2, "aes-256-gcm": 1})

    summary = dry_run(str(home), RotateOptions(policy=NO_AES128)).to_dict()

    assert summary["keys"] == []
    assert summary["objects"]["reencrypt"] == 2
    assert summary["payload_only"] == 2
    assert summary["unreadable"] == []


def test_payload_only_cli_dry_run_and_run(keystore, home: Path) -> None:
    _setup(keystore, home, {"aes-128-gcm": 2})

    planned = agile(home, "rotate", "--dry-run", "--policy", NO_AES128)
    ran = agile(home, "rotate", "--policy", NO_AES128)
    again = agile(home, "rotate", "--policy", NO_AES128, "--json")

    assert planned.returncode == 0, planned.stderr
    assert "2 objects of these keep their keys" in planned.stdout
    assert ran.returncode == 0, ran.stderr
    assert "reencrypt 2" in ran.stdout
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["state"] == "nothing-to-do"


def test_nothing_due_without_payload_change(keystore, home: Path) -> None:
    _setup(keystore, home, {"aes-256-gcm": 2})

    report = rotate(str(home), RotateOptions(policy=NO_AES128))

    assert report["state"] == "nothing-to-do"
    assert _runs(home) == []


def test_undecryptable_payload_dry_run_exit_1(keystore, home: Path) -> None:
    _setup(keystore, home, {"aes-128-gcm": 2, "aes-256-gcm": 1})

    summary = dry_run(str(home), RotateOptions(policy=NO_AES128_AT_ALL)).to_dict()
    result = agile(home, "rotate", "--dry-run", "--policy", NO_AES128_AT_ALL)

    blocked = [item for item in summary["unreadable"] if item["blocked_by_policy"]]
    assert len(blocked) == 2
    assert "does not allow decrypting it" in blocked[0]["error"]
    assert "'aes-128-gcm'" in blocked[0]["error"]
    assert result.returncode == 1, result.stderr


def test_undecryptable_payload_stops_run_before_change(keystore, home: Path) -> None:
    keyset, store, originals = _setup(keystore, home, {"aes-128-gcm": 2})
    before = {object_id: store.read(object_id) for object_id in originals}

    with pytest.raises(PolicyViolation, match="rotation would fail on 2 objects") as caught:
        rotate(str(home), RotateOptions(policy=NO_AES128_AT_ALL))

    assert "nothing was changed" in str(caught.value)
    assert _runs(home) == []
    assert {object_id: store.read(object_id) for object_id in originals} == before
    result = agile(home, "rotate", "--policy", NO_AES128_AT_ALL)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_denied_hpke_aead_stops_run_before_key_change(keystore, home: Path, tmp_path: Path) -> None:
    # ChaCha20-Poly1305 payloads, so that only the stanza's AES-256-GCM is denied.
    _setup(keystore, home, {"chacha20-poly1305": 2})
    policy = tmp_path / "no-aes-256-gcm.toml"
    policy.write_text(NO_AES256)
    before = _key_states(keystore)

    summary = dry_run(str(home), RotateOptions(policy=str(policy))).to_dict()
    with pytest.raises(PolicyViolation, match="'aes-256-gcm'"):
        rotate(str(home), RotateOptions(policy=str(policy)))

    assert all(item["blocked_by_policy"] for item in summary["unreadable"])
    assert len(summary["unreadable"]) == 2
    assert _key_states(keystore) == before
    assert _runs(home) == []


#: pq-hybrid that still reads HKDF-SHA256 but no longer writes with it.
READ_ONLY_HKDF_SHA256 = """\
name = "read-only-hkdf-sha256"
base = "pq-hybrid"
[kdf]
allowed = ["hkdf-sha512"]
decrypt_only = ["hkdf-sha256"]
"""

#: pq-hybrid whose only AEAD for new data is ChaCha20-Poly1305.
CHACHA_ONLY = """\
name = "chacha-only"
base = "pq-hybrid"
[aead]
allowed = ["chacha20-poly1305"]
decrypt_only = ["aes-256-gcm", "aes-128-gcm"]
"""


def test_unwritable_format_stops_run_before_key_change(
    keystore, home: Path, tmp_path: Path
) -> None:
    _setup(keystore, home, {"aes-256-gcm": 2})
    policy = tmp_path / "read-only-hkdf-sha256.toml"
    policy.write_text(READ_ONLY_HKDF_SHA256)
    before = _key_states(keystore)

    with pytest.raises(PolicyViolation, match="could not write the new envelopes") as caught:
        rotate(str(home), RotateOptions(policy=str(policy)))
    with pytest.raises(PolicyViolation, match="could not write the new envelopes"):
        dry_run(str(home), RotateOptions(policy=str(policy)))

    assert "hkdf-sha256" in str(caught.value)
    assert _key_states(keystore) == before
    assert _runs(home) == []


def test_policy_aead_used_for_new_stanzas(keystore, home: Path, tmp_path: Path) -> None:
    _keyset, store, originals = _setup(keystore, home, {"aes-256-gcm": 2})
    policy = tmp_path / "chacha-only.toml"
    policy.write_text(CHACHA_ONLY)

    report = rotate(str(home), RotateOptions(policy=str(policy)))

    assert report["state"] == "done"
    for object_id, plaintext in originals.items():
        data = store.read(object_id)
        header = read_header(data)
        (stanza,) = header.recipients
        assert stanza.algorithm == "x-wing"
        assert int.from_bytes(stanza.body[2:4], "big") == 0x0003  # HPKE ChaCha20Poly1305
        assert header.payload_algorithm == "chacha20-poly1305"
        assert decrypt(data, keystore, policy=str(policy)) == plaintext


#: default with AES-128-GCM as the only AES for new data, so HPKE stanzas use it.
STANZA_AES128 = """\
name = "stanza-aes128"
base = "default"
[aead]
allowed = ["xchacha20-poly1305", "aes-128-gcm"]
decrypt_only = []
"""


def _stanza_aes128_objects(keystore, home: Path, tmp_path: Path):
    policy = tmp_path / "stanza-aes128.toml"
    policy.write_text(STANZA_AES128)
    keyset = keystore.create_keyset("team", "kem", algorithm="x-wing", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = {}
    for index in range(3):
        originals[f"o{index}"] = os.urandom(48)
        store.put(f"o{index}", encrypt(originals[f"o{index}"], keyset, policy=str(policy)))
    return keyset, store, originals


def _stanza_aead_id(data: bytes) -> int:
    (stanza,) = read_header(data).recipients
    return int.from_bytes(stanza.body[2:4], "big")


def test_retired_stanza_suite_rewrapped_to_same_key(keystore, home: Path, tmp_path: Path) -> None:
    keyset, store, originals = _stanza_aes128_objects(keystore, home, tmp_path)
    key_id = keyset.primary.id
    payloads = {object_id: store.read(object_id)[-64:] for object_id in originals}
    assert {_stanza_aead_id(store.read(o)) for o in originals} == {0x0001}  # AES-128-GCM

    summary = dry_run(str(home), RotateOptions(policy=NO_AES128)).to_dict()
    report = rotate(str(home), RotateOptions(policy=NO_AES128))

    assert summary["objects"]["rewrap"] == 3
    assert summary["payload_only"] == 3
    assert report["state"] == "done"
    assert report["objects"]["rewrap"] == 3
    for object_id, plaintext in originals.items():
        data = store.read(object_id)
        assert _stanza_aead_id(data) == 0x0002  # AES-256-GCM
        assert [s.key_id for s in read_header(data).recipients] == [key_id]
        assert data[-64:] == payloads[object_id]
        assert decrypt(data, keystore, policy=NO_AES128) == plaintext
    assert _key_states(keystore) == [(key_id, "primary")]
    again = rotate(str(home), RotateOptions(policy=NO_AES128))
    assert again["state"] == "nothing-to-do"


def test_unreadable_stanza_suite_blocks(keystore, home: Path, tmp_path: Path) -> None:
    _stanza_aes128_objects(keystore, home, tmp_path)

    summary = dry_run(str(home), RotateOptions(policy=NO_AES128_AT_ALL)).to_dict()
    with pytest.raises(PolicyViolation, match="rotation would fail on 3 objects"):
        rotate(str(home), RotateOptions(policy=NO_AES128_AT_ALL))

    assert len(summary["unreadable"]) == 3
    assert all(item["blocked_by_policy"] for item in summary["unreadable"])
    assert _runs(home) == []


def test_denied_password_kdf_stops_run_before_key_change(
    keystore, home: Path, tmp_path: Path
) -> None:
    # The keyset is sealed with Argon2id; this policy allows only scrypt.
    _setup(keystore, home, {"aes-256-gcm": 1})
    policy = tmp_path / "pq-scrypt.toml"
    policy.write_text('base = "pq-hybrid"\n[password-kdf]\nallowed = ["scrypt"]\n')
    before = _key_states(keystore)

    with pytest.raises(PolicyViolation, match="password KDF of keyset 'team'") as caught:
        rotate(str(home), RotateOptions(policy=str(policy)))

    assert "agile keyset reseal team" in (caught.value.fix or "")
    assert _key_states(keystore) == before
    assert _runs(home) == []


def test_object_only_public_key_opens_listed(keystore, home: Path, tmp_path: Path) -> None:
    from agile.keys import Keystore
    from agile.keys.transfer import parse_key

    _setup(keystore, home, {"aes-128-gcm": 1})
    other = Keystore.open(tmp_path / "other").create_keyset("peer", "kem", "x25519")
    public = parse_key(other.primary.public, "kem", format="raw", algorithm="x25519", public=True)
    imported = keystore.create_keyset("ext", "kem", first_key=public)
    store = open_store(str(home.parent / "objects"))
    plaintext = b"only the peer can read this"
    store.put(
        "peer-only", encrypt(plaintext, imported, policy="default", payload_algorithm="aes-128-gcm")
    )

    summary = dry_run(str(home), RotateOptions(policy=NO_AES128)).to_dict()
    result = agile(home, "rotate", "--dry-run", "--policy", NO_AES128)
    report = rotate(str(home), RotateOptions(policy=NO_AES128))

    (item,) = summary["unreadable"]
    assert item["object"] == "peer-only"
    assert "no key of this keystore can open it" in item["error"]
    assert "public-only" in item["error"]
    assert item["blocked_by_policy"] is False
    assert result.returncode == 1, result.stderr
    assert report["objects"]["reencrypt"] == 1  # the object of the keystore's own key
    assert [f["object"] for f in report["failures"]] == ["peer-only"]


def test_denied_password_kdf_of_staying_key_blocks(keystore, home: Path, tmp_path: Path) -> None:
    # No key is due, but opening the AES-128-GCM objects needs the Argon2id of keyset 'team'.
    _setup(keystore, home, {"aes-128-gcm": 2})
    policy = tmp_path / "no-aes128-scrypt.toml"
    policy.write_text('base = "default:no-aes128"\n[password-kdf]\nallowed = ["scrypt"]\n')

    summary = dry_run(str(home), RotateOptions(policy=str(policy))).to_dict()
    with pytest.raises(PolicyViolation, match="rotation would fail on 2 objects"):
        rotate(str(home), RotateOptions(policy=str(policy)))

    assert len(summary["unreadable"]) == 2
    assert all(item["blocked_by_policy"] for item in summary["unreadable"])
    assert "password KDF" in summary["unreadable"][0]["error"]
    assert _runs(home) == []


def test_unwritable_rsa_stanza_blocks(keystore, home: Path, tmp_path: Path) -> None:
    # RSA-OAEP stanzas wrap with a fixed AES-256-GCM, which this policy keeps for decrypt only.
    keyset = keystore.create_keyset("legacy", "kem", algorithm="rsa-oaep-3072", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    store.put("rsa", encrypt(b"x", keyset, policy="default", payload_algorithm="aes-128-gcm"))
    policy = tmp_path / "chacha.toml"
    policy.write_text(
        'base = "default"\n[aead]\nallowed = ["chacha20-poly1305"]\n'
        'decrypt_only = ["aes-256-gcm", "aes-128-gcm"]\n'
    )

    summary = dry_run(str(home), RotateOptions(policy=str(policy))).to_dict()
    with pytest.raises(PolicyViolation, match="rotation would fail on 1 object"):
        rotate(str(home), RotateOptions(policy=str(policy)))

    (item,) = summary["unreadable"]
    assert item["blocked_by_policy"] is True
    assert "does not let rotation write its stanzas" in item["error"]
    assert _runs(home) == []


def test_reencrypt_with_foreign_recipient_listed(keystore, home: Path, tmp_path: Path) -> None:
    from agile.keys import Keystore

    keyset, store, _originals = _setup(keystore, home, {"aes-256-gcm": 0})
    foreign = Keystore.open(tmp_path / "other").create_keyset("peer", "kem", "x25519")
    sealed = encrypt(
        b"two readers",
        [keyset, foreign.primary],
        policy="default",
        payload_algorithm="aes-128-gcm",
    )
    store.put("shared", sealed)

    summary = dry_run(str(home), RotateOptions(policy=NO_AES128)).to_dict()

    (item,) = summary["unreadable"]
    assert item["blocked_by_policy"] is False
    assert "is not in this keystore" in item["error"]
