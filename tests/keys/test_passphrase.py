from __future__ import annotations

import pytest

from agile.errors import SealError, WrongPassphrase
from agile.seal.passphrase import DEFAULT_PARAMETERS, PassphraseSealer


@pytest.fixture(autouse=True)
def cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "256")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")


def test_round_trip() -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"ad")
    assert PassphraseSealer("pw").unseal(blob, b"ad") == b"k" * 32


def test_wrong_passphrase() -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"ad")
    with pytest.raises(WrongPassphrase):
        PassphraseSealer("other").unseal(blob, b"ad")


def test_wrong_associated_data() -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"ad")
    with pytest.raises(WrongPassphrase):
        PassphraseSealer("pw").unseal(blob, b"another keyset")


def test_parameters_recorded() -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    assert blob["argon2"] == {"memory_kib": 256, "iterations": 1, "lanes": 4}


def test_default_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILE_ARGON2_MEMORY_KIB")
    monkeypatch.delenv("AGILE_ARGON2_ITERATIONS")
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    assert blob["argon2"]["memory_kib"] == DEFAULT_PARAMETERS.memory_kib == 65536
    assert blob["argon2"]["iterations"] == 3


def test_memory_below_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "8")
    with pytest.raises(SealError):
        PassphraseSealer("pw").seal(b"k" * 32, b"")


def test_memory_not_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "lots")
    with pytest.raises(SealError):
        PassphraseSealer("pw").seal(b"k" * 32, b"")


def test_blob_huge_memory_rejected() -> None:
    blob = PassphraseSealer("pw").seal(b"k" * 32, b"")
    blob["argon2"]["memory_kib"] = 1 << 40
    with pytest.raises(SealError):
        PassphraseSealer("pw").unseal(blob, b"")


def test_environment_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "from env")
    blob = PassphraseSealer().seal(b"k" * 32, b"")
    assert PassphraseSealer("from env").unseal(blob, b"") == b"k" * 32


def test_no_passphrase_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILE_PASSPHRASE", raising=False)
    with pytest.raises(SealError):
        PassphraseSealer().seal(b"k" * 32, b"")


def test_blob_holds_no_secret() -> None:
    # Spaces cannot occur in base64, so the salt and ciphertext never match by chance.
    blob = PassphraseSealer("not in blob").seal(b"S" * 32, b"")
    text = repr(blob)
    assert "not in blob" not in text
    assert "SSSS" not in text


def test_unseal_from_threads_at_once() -> None:
    """Threads that unseal at the same moment all get the KEK, without hanging or failing.

    Two threads in cryptography's Argon2id at once used to hang or raise MemoryError.
    """
    import threading

    blob = PassphraseSealer("pw").seal(b"k" * 32, b"ad")
    start = threading.Barrier(4)
    results: list[object] = []

    def unseal() -> None:
        start.wait()
        try:
            results.append(PassphraseSealer("pw").unseal(blob, b"ad"))
        except Exception as error:  # noqa: BLE001 - the test reports what went wrong
            results.append(error)

    threads = [threading.Thread(target=unseal, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads), "an Argon2id derivation hung"
    assert results == [b"k" * 32] * 4


def test_forget_keks_asks_again(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After forget_keks() a wrong passphrase no longer opens the keyset, even with keys parsed."""
    from agile import envelope
    from agile.errors import WrongPassphrase
    from agile.keys import Keystore
    from agile.keys.kek import forget_keks

    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_PASSPHRASE", "right")
    store = Keystore.open(tmp_path / "ks")
    sealed = envelope.encrypt(b"data", store.create_keyset("k", "kem", "x25519"))
    assert envelope.decrypt(sealed, store) == b"data"

    forget_keks()
    monkeypatch.setenv("AGILE_PASSPHRASE", "wrong")

    with pytest.raises(WrongPassphrase):
        envelope.decrypt(sealed, Keystore.open(tmp_path / "ks"))
