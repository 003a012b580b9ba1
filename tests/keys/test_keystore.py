from __future__ import annotations

import base64
import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from agile.errors import (
    InvalidArgument,
    KeyNotFound,
    KeysetError,
    PolicyViolation,
    UnsupportedAlgorithm,
    WrongPassphrase,
)
from agile.keys import KeyStatus, Keystore
from agile.keys.kek import forget_keks
from agile.keys.keyset import _private_cache


def _forget_unsealed() -> None:
    forget_keks()
    _private_cache.clear()


def test_create_uses_preferred_algorithm(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem")
    assert keyset.primary.algorithm == store.policy().preferred("kem")


def test_create_explicit_algorithm(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x-wing")
    assert keyset.primary.algorithm == "x-wing"


def test_create_duplicate_name(store: Keystore) -> None:
    store.create_keyset("mail", "kem", "x25519")
    with pytest.raises(KeysetError):
        store.create_keyset("mail", "kem", "x25519")


def test_create_bad_name(store: Keystore) -> None:
    with pytest.raises(InvalidArgument):
        store.create_keyset("../evil", "kem")


def test_create_wrong_family(store: Keystore) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        store.create_keyset("mail", "kem", "ed25519")


def test_create_policy_rejects_algorithm(store: Keystore) -> None:
    with pytest.raises(PolicyViolation):
        store.create_keyset("mail", "kem", "x25519", policy="pq-hybrid")


def test_create_policy_rejects_sealer(store: Keystore, tmp_path: Path) -> None:
    policy_file = tmp_path / "p.toml"
    policy_file.write_text('name = "tpm-only"\nbase = "default"\n[seal]\nallowed = ["tpm2"]\n')
    with pytest.raises(PolicyViolation):
        store.create_keyset("mail", "kem", "x25519", policy=str(policy_file))


def test_files_are_private(store: Keystore) -> None:
    store.create_keyset("mail", "kem", "x25519")
    for path in [store.path / "keystore.json", store.path / "keysets" / "mail.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_directories_are_private(store: Keystore) -> None:
    for path in [store.path, store.path / "keysets"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_open_tightens_directory(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    Keystore.open(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "purpose,algorithm",
    [
        ("kem", "x25519"),
        ("kem", "ml-kem-768"),
        ("signature", "ed25519"),
        ("aead", "aes-256-gcm"),
    ],
)
def test_no_private_key_in_clear(store: Keystore, purpose: str, algorithm: str) -> None:
    keyset = store.create_keyset("k", purpose, algorithm)
    key_id = keyset.primary.id
    secret = keyset.secret_key(key_id) if purpose == "aead" else keyset.private_key(key_id).data
    content = (store.path / "keysets" / "k.json").read_bytes()
    for encoding in (secret, secret.hex().encode(), base64.b64encode(secret)):
        assert encoding not in content


def test_lifecycle(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    first = keyset.primary.id
    second = keyset.add_key("x-wing", promote=True).id
    keyset.set_status(first, KeyStatus.DECRYPT_ONLY)
    reopened = Keystore.open(store.path).keyset("mail")
    assert reopened.primary.id == second
    assert reopened.key(first).status == KeyStatus.DECRYPT_ONLY


def test_add_key_not_promoted(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    key = keyset.add_key("x25519")
    assert key.status == KeyStatus.ENABLED


def test_promote_demotes_old_primary(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    first = keyset.primary.id
    keyset.promote(keyset.add_key("x25519").id)
    assert keyset.key(first).status == KeyStatus.ENABLED


def test_promote_disabled_key(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    extra = keyset.add_key("x25519").id
    keyset.disable(extra)
    with pytest.raises(KeysetError):
        keyset.promote(extra)


def test_disable_primary(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    with pytest.raises(KeysetError):
        keyset.disable(keyset.primary.id)


def test_destroy_needs_disabled(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    extra = keyset.add_key("x25519").id
    with pytest.raises(KeysetError):
        keyset.destroy(extra)


def test_destroy_force(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    extra = keyset.add_key("x25519").id
    destroyed = keyset.destroy(extra, force=True)
    assert destroyed.status == KeyStatus.DESTROYED


def test_destroy_primary_refused(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    with pytest.raises(KeysetError):
        keyset.destroy(keyset.primary.id, force=True)


def test_destroy_keeps_public_drops_private(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    extra = keyset.add_key("x25519")
    keyset.disable(extra.id)
    keyset.destroy(extra.id)
    stored = json.loads((store.path / "keysets" / "mail.json").read_text())
    entry = next(k for k in stored["keys"] if k["id"] == extra.id)
    assert entry["private"] is None
    assert base64.b64decode(entry["public"]) == extra.public
    with pytest.raises(KeysetError):
        Keystore.open(store.path).keyset("mail").private_key(extra.id)


def test_find_key(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    found_set, found_key = store.find_key(keyset.primary.id)
    assert found_set.name == "mail"
    assert found_key.id == keyset.primary.id


def test_find_key_missing(store: Keystore) -> None:
    with pytest.raises(KeyNotFound):
        store.find_key("0011223344556677")


def test_key_meta(store: Keystore) -> None:
    key = store.create_keyset("mail", "kem", "x25519").primary
    meta = key.meta()
    assert (meta.key_id, meta.algorithm, meta.status, meta.keyset, meta.purpose) == (
        key.id,
        "x25519",
        "primary",
        "mail",
        "kem",
    )


def test_private_key_round_trip(store: Keystore) -> None:
    keyset = store.create_keyset("sig", "signature", "ml-dsa-65")
    key_id = keyset.primary.id
    _forget_unsealed()
    private = Keystore.open(store.path).keyset("sig").private_key(key_id)
    assert private.public_key.data == keyset.primary.public


def test_wrong_passphrase(store: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    _forget_unsealed()
    monkeypatch.setenv("AGILE_PASSPHRASE", "not the passphrase")
    with pytest.raises(WrongPassphrase):
        Keystore.open(store.path).keyset("mail").private_key(keyset.primary.id)


def test_tampered_private_part(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    file = store.path / "keysets" / "mail.json"
    data = json.loads(file.read_text())
    other = store.create_keyset("other", "kem", "x25519")
    other_data = json.loads((store.path / "keysets" / "other.json").read_text())
    data["keys"][0]["private"] = other_data["keys"][0]["private"]
    file.write_text(json.dumps(data))
    _forget_unsealed()
    from agile.errors import KeystoreError

    with pytest.raises(KeystoreError):
        Keystore.open(store.path).keyset("mail").private_key(keyset.primary.id)
    assert other.primary.id != keyset.primary.id


def test_stores_registry(store: Keystore, tmp_path: Path) -> None:
    store.add_store("files", str(tmp_path / "data"))
    store.add_store("db", f"sqlite:///{tmp_path}/x.db")
    store.remove_store("files")
    expected = f"sqlite:///{tmp_path}/x.db?table=secrets&column=envelope&key=id"
    assert Keystore.open(store.path).stores() == {"db": expected}


def test_remove_missing_store(store: Keystore) -> None:
    with pytest.raises(KeyNotFound):
        store.remove_store("nope")


def test_lock_is_reentrant(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    with store.lock():
        keyset.add_key("x25519")
    assert len(keyset.keys) == 2


def _add_keys(path: str, count: int) -> None:
    keystore = Keystore.open(path)
    keyset = keystore.keyset("shared")
    for _ in range(count):
        keyset.add_key("x25519")


def test_concurrent_writers(store: Keystore) -> None:
    store.create_keyset("shared", "kem", "x25519")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_keys, args=(str(store.path), 3)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    keys = Keystore.open(store.path).keyset("shared").keys
    assert len(keys) == 13
    assert len({k.id for k in keys}) == 13


def test_homomorphic_keyset(store: Keystore) -> None:
    from agile import registry

    if not registry.providers_for("paillier-3072"):
        pytest.skip("no Paillier provider registered (he/ provider not installed)")
    keyset = store.create_keyset("agg", "homomorphic", "paillier-3072")
    assert keyset.public_key(keyset.primary.id).algorithm == "paillier-3072"


def test_replace_seal_new_passphrase(store: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    from agile.keys.kek import kek_associated_data, unseal_kek
    from agile.seal.passphrase import PassphraseSealer

    keyset = store.create_keyset("mail", "kem", "x25519")
    kek = unseal_kek(store.root, keyset.name, keyset.uid, keyset.seal_blob)
    blob = PassphraseSealer("new passphrase").seal(
        kek, kek_associated_data(keyset.name, keyset.uid)
    )
    keyset.replace_seal(blob)
    _forget_unsealed()
    monkeypatch.setenv("AGILE_PASSPHRASE", "new passphrase")
    reopened = Keystore.open(store.path).keyset("mail")
    assert reopened.private_key(reopened.primary.id).public_key.data == keyset.primary.public


def test_replace_seal_rejects_malformed(store: Keystore) -> None:
    keyset = store.create_keyset("mail", "kem", "x25519")
    with pytest.raises(InvalidArgument):
        keyset.replace_seal({"no": "sealer"})
