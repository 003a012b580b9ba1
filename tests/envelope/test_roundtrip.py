from __future__ import annotations

import io

import pytest

from agile import envelope
from agile.envelope.format import MIN_CHUNK_SIZE
from agile.errors import AuthenticationFailed, InvalidArgument, KeysetError
from agile.keys import Keystore

KEMS = [
    "x25519",
    "p256",
    "p384",
    "ml-kem-512",
    "ml-kem-768",
    "ml-kem-1024",
    "x-wing",
    "rsa-oaep-3072",
]


@pytest.mark.parametrize("algorithm", KEMS)
def test_kem_recipient(store: Keystore, algorithm: str) -> None:
    keyset = store.create_keyset("r", "kem", algorithm)
    sealed = envelope.encrypt(b"message", keyset)
    assert envelope.decrypt(sealed, store) == b"message"


def test_rsa_oaep_2048_legacy(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "rsa-oaep-2048", policy="legacy")
    sealed = envelope.encrypt(b"message", keyset, policy="legacy")
    assert envelope.decrypt(sealed, store, policy="legacy") == b"message"


@pytest.mark.parametrize("algorithm", ["aes-256-gcm", "chacha20-poly1305", "aes-128-gcm"])
def test_symmetric_recipient(store: Keystore, algorithm: str) -> None:
    keyset = store.create_keyset("s", "aead", algorithm)
    sealed = envelope.encrypt(b"message", keyset)
    assert envelope.decrypt(sealed, store) == b"message"


@pytest.mark.parametrize(
    "payload",
    ["aes-256-gcm", "aes-128-gcm", "chacha20-poly1305", "xchacha20-poly1305", "aes-256-gcm-siv"],
)
def test_payload_algorithms(store: Keystore, payload: str) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"m" * 3000, keyset, payload_algorithm=payload, chunk_size=1024)
    assert envelope.read_header(sealed).payload_algorithm == payload
    assert envelope.decrypt(sealed, store) == b"m" * 3000


def test_payload_default_from_policy(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"m", keyset)
    assert envelope.read_header(sealed).payload_algorithm == store.policy().preferred("aead")


def test_multiple_recipients(store: Keystore, tmp_path: object) -> None:
    recipients = [
        store.create_keyset("a", "kem", "x-wing"),
        store.create_keyset("b", "kem", "x25519"),
        store.create_keyset("c", "aead", "aes-256-gcm"),
    ]
    sealed = envelope.encrypt(b"shared", recipients)
    header = envelope.read_header(sealed)
    assert [s.key_id for s in header.recipients] == [r.primary.id for r in recipients]
    assert envelope.decrypt(sealed, store) == b"shared"


def test_each_recipient_alone(store: Keystore, tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    first = store.create_keyset("a", "kem", "x25519")
    second = store.create_keyset("b", "kem", "p256")
    sealed = envelope.encrypt(b"shared", [first, second])
    for name in ("a", "b"):
        folder = Path(str(tmp_path)) / f"only-{name}"
        (folder / "keysets").mkdir(parents=True)
        shutil.copy(store.path / "keystore.json", folder)
        shutil.copy(store.path / "keysets" / f"{name}.json", folder / "keysets")
        assert envelope.decrypt(sealed, Keystore.open(folder)) == b"shared"


@pytest.mark.parametrize(
    "size", [0, 1, MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE, 3 * MIN_CHUNK_SIZE, 3 * MIN_CHUNK_SIZE + 7]
)
def test_sizes_at_chunk_boundaries(store: Keystore, size: int) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    data = bytes(i % 251 for i in range(size))
    sealed = envelope.encrypt(data, keyset, chunk_size=MIN_CHUNK_SIZE)
    assert envelope.decrypt(sealed, store) == data


@pytest.mark.parametrize("size", [0, MIN_CHUNK_SIZE, 2 * MIN_CHUNK_SIZE + 5])
def test_stream_matches_bytes_api(store: Keystore, size: int) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    data = bytes(i % 253 for i in range(size))
    output = io.BytesIO()
    envelope.encrypt_stream(io.BytesIO(data), output, keyset, chunk_size=MIN_CHUNK_SIZE)
    plain = io.BytesIO()
    envelope.decrypt_stream(io.BytesIO(output.getvalue()), plain, store)
    assert plain.getvalue() == data
    assert envelope.decrypt(output.getvalue(), store) == data


def test_associated_data(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"m", keyset, aad=b"row 17")
    assert envelope.decrypt(sealed, store, aad=b"row 17") == b"m"


def test_associated_data_mismatch(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    sealed = envelope.encrypt(b"m", keyset, aad=b"row 17")
    with pytest.raises(AuthenticationFailed):
        envelope.decrypt(sealed, store, aad=b"row 18")


def test_armour_round_trip(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    armoured = envelope.encrypt(b"m", keyset, armor=True)
    assert armoured.startswith(b"-----BEGIN AGILE ENCRYPTED MESSAGE-----\n")
    assert envelope.decrypt(armoured, store) == b"m"
    assert envelope.read_header(armoured.decode()).recipients[0].algorithm == "x25519"


def test_decrypt_only_key_still_decrypts(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    old = keyset.primary.id
    sealed = envelope.encrypt(b"m", keyset)
    keyset.add_key("x-wing", promote=True)
    keyset.set_status(old, "decrypt-only")
    assert envelope.decrypt(sealed, store) == b"m"


def test_disabled_key_cannot_decrypt(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    old = keyset.primary.id
    sealed = envelope.encrypt(b"m", keyset)
    keyset.add_key("x25519", promote=True)
    keyset.disable(old)
    with pytest.raises(KeysetError):
        envelope.decrypt(sealed, store)


def test_decrypt_only_key_cannot_encrypt(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    old = keyset.primary
    keyset.add_key("x25519", promote=True)
    keyset.set_status(old.id, "decrypt-only")
    with pytest.raises(KeysetError):
        envelope.encrypt(b"m", [keyset.key(old.id)])


def test_signature_keyset_cannot_receive(store: Keystore) -> None:
    keyset = store.create_keyset("s", "signature", "ed25519")
    with pytest.raises(KeysetError):
        envelope.encrypt(b"m", keyset)


def test_no_recipients(store: Keystore) -> None:
    with pytest.raises(InvalidArgument):
        envelope.encrypt(b"m", [], policy="default")


def test_chunk_size_out_of_range(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    with pytest.raises(InvalidArgument):
        envelope.encrypt(b"m", keyset, chunk_size=16)


def test_bare_public_key_recipient(store: Keystore) -> None:
    keyset = store.create_keyset("r", "kem", "x25519")
    public = keyset.public_key(keyset.primary.id)
    sealed = envelope.encrypt(b"m", [(keyset.primary.id, public)], policy="default")
    assert envelope.decrypt(sealed, store) == b"m"
