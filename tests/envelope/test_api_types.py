"""Wrong argument types at the envelope entry points, and the streaming functions of agile."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import agile
from agile import envelope
from agile.errors import InvalidArgument, KeystoreError
from agile.keys import Keystore


@pytest.fixture
def box(store: Keystore) -> tuple[Keystore, Any, bytes]:
    """Return the keystore, an x25519 keyset 'box' and an envelope encrypted to it."""
    keyset = store.create_keyset("box", "kem", "x25519")
    return store, keyset, envelope.encrypt(b"m", keyset)


def _calls(store: Keystore, keyset: Any, sealed: bytes) -> dict[str, Callable[[], object]]:
    return {
        "encrypt-aad-str": lambda: envelope.encrypt(b"m", keyset, aad="x"),  # type: ignore[arg-type]
        "encrypt-aad-none": lambda: envelope.encrypt(b"m", keyset, aad=None),  # type: ignore[arg-type]
        "encrypt-text-stream": lambda: envelope.encrypt(io.StringIO("m"), keyset),  # type: ignore[arg-type]
        "encrypt-recipients-none": lambda: envelope.encrypt(b"m", None),
        "encrypt-recipients-name": lambda: envelope.encrypt(b"m", "box"),
        "encrypt-key-id-space": lambda: envelope.encrypt(
            b"m", [("has space", keyset.public_key(keyset.primary.id))]
        ),
        "encrypt-key-id-unicode": lambda: envelope.encrypt(
            b"m", [("cl\u00e9", keyset.public_key(keyset.primary.id))]
        ),
        "encrypt-policy-object": lambda: envelope.encrypt(b"m", keyset, policy=object()),  # type: ignore[arg-type]
        "encrypt-stream-bytes": lambda: envelope.encrypt_stream(b"m", io.BytesIO(), keyset),  # type: ignore[arg-type]
        "encrypt-stream-text-out": lambda: envelope.encrypt_stream(
            io.BytesIO(b"m"),
            io.StringIO(),  # type: ignore[arg-type]
            keyset,
        ),
        "decrypt-keystore-path": lambda: envelope.decrypt(sealed, str(store.path)),  # type: ignore[arg-type]
        "decrypt-keystore-none": lambda: envelope.decrypt(sealed, None),  # type: ignore[arg-type]
        "decrypt-aad-str": lambda: envelope.decrypt(sealed, store, aad="x"),  # type: ignore[arg-type]
        "decrypt-stream-bytes": lambda: envelope.decrypt_stream(sealed, io.BytesIO(), store),  # type: ignore[arg-type]
        "decrypt-stream-text-in": lambda: envelope.decrypt_stream(
            io.StringIO("m"),  # type: ignore[arg-type]
            io.BytesIO(),
            store,
        ),
        "decrypt-stream-text-out": lambda: envelope.decrypt_stream(
            io.BytesIO(sealed),
            io.StringIO(),  # type: ignore[arg-type]
            store,
        ),
        "rewrap-keystore-path": lambda: envelope.rewrap(sealed, str(store.path)),  # type: ignore[arg-type]
        "read-header-text-stream": lambda: envelope.read_header(io.StringIO("m")),  # type: ignore[arg-type]
        "agile-encrypt-text-stream": lambda: agile.encrypt(io.StringIO("m"), to="box"),  # type: ignore[arg-type]
    }


# The lambdas are not called here, so placeholder arguments are enough to list the cases.
NAMES = list(_calls(None, None, b"").keys())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_wrong_type_raises_invalid_argument(box: tuple[Keystore, Any, bytes], name: str) -> None:
    call = _calls(*box)[name]
    with pytest.raises(InvalidArgument) as caught:
        call()
    assert caught.value.fix is not None


def test_stream_functions_round_trip(box: tuple[Keystore, Any, bytes]) -> None:
    store = box[0]
    sealed = io.BytesIO()
    agile.encrypt_stream(io.BytesIO(b"x" * 3000), sealed, to="box", keystore=store.path)
    plain = io.BytesIO()
    agile.decrypt_stream(io.BytesIO(sealed.getvalue()), plain, keystore=store.path)
    assert plain.getvalue() == b"x" * 3000


def test_stream_functions_armour(box: tuple[Keystore, Any, bytes]) -> None:
    store = box[0]
    sealed = io.BytesIO()
    agile.encrypt_stream(io.BytesIO(b"x"), sealed, to="box", keystore=store.path, armor=True)
    plain = io.BytesIO()
    agile.decrypt_stream(io.BytesIO(sealed.getvalue()), plain, keystore=store.path)
    assert plain.getvalue() == b"x"


def test_stream_encrypt_returns_size(box: tuple[Keystore, Any, bytes]) -> None:
    store = box[0]
    sealed = io.BytesIO()
    written = agile.encrypt_stream(io.BytesIO(b"x"), sealed, to="box", keystore=store.path)
    assert written == len(sealed.getvalue())


def test_stream_decrypt_aad_checked(box: tuple[Keystore, Any, bytes]) -> None:
    store = box[0]
    with pytest.raises(InvalidArgument, match="aad must be bytes"):
        agile.decrypt_stream(io.BytesIO(box[2]), io.BytesIO(), keystore=store.path, aad="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("operation", ["encrypt", "decrypt", "sign", "verify"])
def test_missing_keystore_not_created(tmp_path: Path, operation: str) -> None:
    typo = tmp_path / "typo"
    calls: dict[str, Callable[[], object]] = {
        "encrypt": lambda: agile.encrypt(b"m", to="box", keystore=typo),
        "decrypt": lambda: agile.decrypt(b"m", keystore=typo),
        "sign": lambda: agile.sign(b"m", "ed", keystore=typo),
        "verify": lambda: agile.verify(b"m", b"m", keystore=typo),
    }
    with pytest.raises(KeystoreError, match="no keystore at"):
        calls[operation]()
    assert not typo.exists()


def test_too_many_recipients(store: Keystore) -> None:
    from agile import registry

    kem = registry.get("x25519")
    recipients = [kem.generate().public_key for _ in range(1025)]  # type: ignore[attr-defined]
    with pytest.raises(InvalidArgument, match="1 to 1024 recipients, got 1025"):
        envelope.encrypt(b"m", recipients, policy="default")
