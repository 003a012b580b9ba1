"""Damaged passphrase blobs and passphrases that are not UTF-8."""

from __future__ import annotations

import os

import pytest

from agile.errors import SealError
from agile.seal.passphrase import PassphraseSealer, read_passphrase


@pytest.fixture(autouse=True)
def cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "256")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")


@pytest.mark.parametrize("salt", ["", "AAAA"], ids=["empty", "three-bytes"])
def test_short_salt(salt: str) -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    blob["salt"] = salt
    with pytest.raises(SealError, match="salt is .* bytes, Argon2id needs at least 8"):
        PassphraseSealer("pw").unseal(blob, b"")


@pytest.mark.parametrize("value", [1.5, True, "1024", None], ids=["float", "bool", "text", "null"])
def test_parameter_not_integer(value: object) -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    blob["argon2"]["memory_kib"] = value
    with pytest.raises(SealError, match="must contain the integers"):
        PassphraseSealer("pw").unseal(blob, b"")


def test_parameter_list() -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    blob["argon2"] = [1024, 1, 4]
    with pytest.raises(SealError, match="must contain the integers"):
        PassphraseSealer("pw").unseal(blob, b"")


def test_out_of_range_fix_names_file() -> None:
    """A blob's parameters are not the environment's: the fix points at the keyset file."""
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    blob["argon2"]["lanes"] = 0
    with pytest.raises(SealError) as caught:
        PassphraseSealer("pw").unseal(blob, b"")
    assert "restore it from a backup" in (caught.value.fix or "")


def test_passphrase_not_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", os.fsdecode(b"\xff\xfe pass"))
    assert read_passphrase() == b"\xff\xfe pass"


def test_passphrase_not_utf8_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", os.fsdecode(b"\xff\xfe pass"))
    blob = PassphraseSealer().seal(b"k" * 32, b"")
    assert PassphraseSealer(b"\xff\xfe pass").unseal(blob, b"") == b"k" * 32


def test_passphrase_utf8_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """UTF-8 passphrases give the same bytes as before, so existing keysets still open."""
    monkeypatch.setenv("AGILE_PASSPHRASE", "café")
    assert read_passphrase() == "café".encode()


def test_sealer_passphrase_not_utf8() -> None:
    """A new passphrase from AGILE_NEW_PASSPHRASE reaches the sealer as a str with escapes."""
    blob = PassphraseSealer(os.fsdecode(b"\xff new")).seal(b"k" * 32, b"")
    assert PassphraseSealer(b"\xff new").unseal(blob, b"") == b"k" * 32
