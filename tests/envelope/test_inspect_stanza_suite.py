"""Stanza KDF and AEAD in agile.inspect, and sss member KDFs in keyset show."""

from __future__ import annotations

import dataclasses

import agile
from agile.envelope import Stanza
from agile.keys import Keystore


def test_hpke_stanza_kdf_and_aead(store: Keystore) -> None:
    store.create_keyset("mail", "kem", algorithm="x25519")
    envelope = agile.encrypt(b"hello", "mail", keystore=store)

    (stanza,) = agile.inspect(envelope).recipients

    assert stanza.kdf == "hkdf-sha256"
    assert stanza.aead == "aes-256-gcm"


def test_symmetric_stanza_has_no_suite(store: Keystore) -> None:
    store.create_keyset("files", "aead")
    envelope = agile.encrypt(b"hello", "files", keystore=store)

    (stanza,) = agile.inspect(envelope).recipients

    assert stanza.kdf is None
    assert stanza.aead is None


def test_stanza_fields_unchanged() -> None:
    stanza = Stanza("k1", "x25519", b"")

    assert [field.name for field in dataclasses.fields(stanza)] == ["key_id", "algorithm", "body"]
    assert repr(stanza) == "Stanza(key_id='k1', algorithm='x25519')"


def test_keyset_show_sss_member_kdf(run) -> None:  # type: ignore[no-untyped-def]
    created = run(
        "keyset",
        "create",
        "quorum",
        "--purpose",
        "kem",
        "--seal",
        "sss",
        "--sss-threshold",
        "1",
        "--sss-members",
        "passphrase",
    )
    assert created.returncode == 0, created.stderr

    output = run("keyset", "show", "quorum")

    assert output.returncode == 0, output.stderr
    assert b"members=passphrase(kdf=argon2id)" in output.stdout
