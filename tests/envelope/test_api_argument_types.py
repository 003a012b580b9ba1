"""Option types of agile.encrypt, agile.sign and agile.decrypt, and text before armour."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import agile
from agile import envelope
from agile.errors import InvalidArgument, InvalidEnvelope
from agile.keys import Keystore


@pytest.fixture
def files(store: Keystore) -> Keystore:
    """Return the keystore with an x25519 keyset 'files' and an ed25519 keyset 'signer'."""
    store.create_keyset("files", "kem", "x25519")
    store.create_keyset("signer", "signature", "ed25519")
    return store


def _encrypt_stream(path: Path, **options: Any) -> int:
    return agile.encrypt_stream(
        io.BytesIO(b"m"), io.BytesIO(), to="files", keystore=path, **options
    )


#: Calls with an option of the wrong type, by case, and the exact message expected.
WRONG_OPTIONS: dict[str, tuple[Callable[[Path], object], str]] = {
    "encrypt-armor-str": (
        lambda path: agile.encrypt(b"m", to="files", keystore=path, armor="no"),  # type: ignore[arg-type]
        "armor must be a bool, got str",
    ),
    "encrypt-armor-int": (
        lambda path: agile.encrypt(b"m", to="files", keystore=path, armor=1),  # type: ignore[arg-type]
        "armor must be a bool, got int",
    ),
    "encrypt-stream-armor-none": (
        lambda path: _encrypt_stream(path, armor=None),
        "armor must be a bool, got NoneType",
    ),
    "sign-armor-str": (
        lambda path: agile.sign(b"m", keysets="signer", keystore=path, armor="yes"),  # type: ignore[arg-type]
        "armor must be a bool, got str",
    ),
    "encrypt-stream-chunk-str": (
        lambda path: _encrypt_stream(path, chunk_size="64"),
        "chunk_size must be an int, got str",
    ),
    "encrypt-stream-chunk-float": (
        lambda path: _encrypt_stream(path, chunk_size=65536.0),
        "chunk_size must be an int, got float",
    ),
    "encrypt-payload-int": (
        lambda path: agile.encrypt(b"m", to="files", keystore=path, payload_algorithm=3),  # type: ignore[arg-type]
        "payload_algorithm must be a str (an algorithm id such as 'aes-256-gcm'), got int",
    ),
    "encrypt-stream-payload-bytes": (
        lambda path: _encrypt_stream(path, payload_algorithm=b"aes-256-gcm"),
        "payload_algorithm must be a str (an algorithm id such as 'aes-256-gcm'), got bytes",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_OPTIONS))
def test_option_type_named(files: Keystore, case: str) -> None:
    call, message = WRONG_OPTIONS[case]
    with pytest.raises(InvalidArgument) as raised:
        call(files.path)
    assert str(raised.value) == message
    assert raised.value.fix


def test_envelope_encrypt_armor_str(files: Keystore) -> None:
    keyset = files.keyset("files")
    with pytest.raises(InvalidArgument, match="armor must be a bool, got str"):
        envelope.encrypt(b"m", keyset, armor="no")  # type: ignore[arg-type]


def test_envelope_sign_armor_str(files: Keystore) -> None:
    keyset = files.keyset("signer")
    with pytest.raises(InvalidArgument, match="armor must be a bool, got str"):
        envelope.sign(b"m", [keyset], armor="no")  # type: ignore[arg-type]


def test_chunk_size_bool_rejected(files: Keystore) -> None:
    with pytest.raises(InvalidArgument, match="chunk_size must be an int, got bool"):
        envelope.encrypt(b"m", files.keyset("files"), chunk_size=True)


def test_chunk_size_range_kept(files: Keystore) -> None:
    with pytest.raises(InvalidArgument, match="chunk size 64 is out of range"):
        envelope.encrypt(b"m", files.keyset("files"), chunk_size=64)


def test_armor_bool_still_works(files: Keystore) -> None:
    sealed = agile.encrypt(b"m", to="files", keystore=files.path, armor=True)
    assert sealed.startswith(b"-----BEGIN AGILE ENCRYPTED MESSAGE-----")
    assert agile.decrypt(sealed, keystore=files.path) == b"m"


def test_decrypt_none_message(files: Keystore) -> None:
    with pytest.raises(InvalidArgument) as raised:
        agile.decrypt(None, keystore=files.path)  # type: ignore[arg-type]
    assert str(raised.value) == "sealed must be bytes or armoured text, got NoneType"


def test_encrypt_none_message(files: Keystore) -> None:
    with pytest.raises(InvalidArgument) as raised:
        agile.encrypt(None, to="files", keystore=files.path)  # type: ignore[arg-type]
    assert str(raised.value) == "plaintext must be bytes or a binary file, got NoneType"


@pytest.mark.parametrize("kind", ["str", "bytes", "memoryview"])
def test_text_before_armour_named(files: Keystore, kind: str) -> None:
    armoured = agile.encrypt(b"m", to="files", keystore=files.path, armor=True)
    prefixed = b"hello\n" + armoured
    sealed: Any = {
        "str": prefixed.decode("ascii"),
        "bytes": prefixed,
        "memoryview": memoryview(prefixed),
    }[kind]
    with pytest.raises(InvalidEnvelope) as raised:
        agile.decrypt(sealed, keystore=files.path)
    assert "text before the BEGIN line" in str(raised.value)
    assert raised.value.fix is not None
    assert "cut off the text before" in raised.value.fix


def test_text_before_signature_armour(files: Keystore) -> None:
    signature = agile.sign(b"m", keysets="signer", keystore=files.path, armor=True)
    with pytest.raises(InvalidEnvelope, match="text before the BEGIN line"):
        agile.verify("Signed-off-by: me\n" + signature.decode("ascii"), b"m", keystore=files.path)


def test_text_without_armour_unchanged(files: Keystore) -> None:
    with pytest.raises(InvalidEnvelope, match="no '-----BEGIN AGILE' line"):
        agile.decrypt("hello\n", keystore=files.path)


def test_stream_text_before_armour_fix(files: Keystore) -> None:
    armoured = agile.encrypt(b"m", to="files", keystore=files.path, armor=True)
    with pytest.raises(InvalidEnvelope) as raised:
        agile.decrypt_stream(io.BytesIO(b"hello\n" + armoured), io.BytesIO(), keystore=files.path)
    assert "text before the BEGIN line" in str(raised.value)
    assert raised.value.fix is not None
    assert "cut off the text before" in raised.value.fix
