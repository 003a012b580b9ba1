"""Passphrases are sealed in NFC, and blobs sealed from other bytes still open."""

from __future__ import annotations

import base64
import os
import unicodedata
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agile.errors import WrongPassphrase
from agile.seal import passphrase as passphrase_module
from agile.seal.passphrase import PassphraseSealer

NFC = unicodedata.normalize("NFC", "caf\u00e9 cr\u00e8me")
NFD = unicodedata.normalize("NFD", NFC)
AAD = b"keyset test"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")


def test_nfd_opens_nfc_sealed() -> None:
    blob = PassphraseSealer(NFC).seal(b"k" * 32, AAD)

    assert PassphraseSealer(NFD).unseal(blob, AAD) == b"k" * 32


def test_nfc_opens_nfd_sealed() -> None:
    blob = PassphraseSealer(NFD).seal(b"k" * 32, AAD)

    assert PassphraseSealer(NFC).unseal(blob, AAD) == b"k" * 32


def test_blob_from_exact_bytes_opens() -> None:
    """A blob sealed before normalization, from NFD bytes, opens with those bytes."""
    blob = _seal_without_normalization(NFD.encode())

    assert PassphraseSealer(NFD).unseal(blob, AAD) == b"k" * 32


def test_non_utf8_passphrase_kept() -> None:
    raw = b"\xff\xfepass"
    blob = PassphraseSealer(raw).seal(b"k" * 32, AAD)

    assert PassphraseSealer(raw).unseal(blob, AAD) == b"k" * 32


def test_wrong_passphrase_names_modification() -> None:
    blob = PassphraseSealer(NFC).seal(b"k" * 32, AAD)

    with pytest.raises(WrongPassphrase, match="or the keyset file was modified"):
        PassphraseSealer("other").unseal(blob, AAD)


def _seal_without_normalization(passphrase: bytes) -> dict[str, Any]:
    """Seal as agile did before NFC: the Argon2id input is the exact passphrase bytes."""
    parameters = passphrase_module.parameters_from_environment()
    salt, nonce = os.urandom(16), os.urandom(12)
    key = PassphraseSealer._derive(passphrase, salt, parameters)
    ciphertext = AESGCM(key).encrypt(nonce, b"k" * 32, passphrase_module._LABEL + AAD)
    return {
        "sealer": "passphrase",
        "version": 1,
        "kdf": "argon2id",
        "argon2": {
            "memory_kib": parameters.memory_kib,
            "iterations": parameters.iterations,
            "lanes": parameters.lanes,
        },
        "salt": base64.b64encode(salt).decode(),
        "aead": "aes-256-gcm",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
