"""A recipient keyset whose sealer fails moves decryption on to the next stanza."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile import envelope
from agile.errors import WrongPassphrase
from agile.keys import Keystore
from agile.keys.kek import forget_keks
from agile.seal import passphrase

AGILE = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def two_passphrases(store: Keystore, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Create kem keysets 'a' (passphrase pw1) and 'b' (pw2); return an envelope to both."""
    monkeypatch.setenv("AGILE_PASSPHRASE", "pw1")
    first = store.create_keyset("a", "kem", "x25519")
    monkeypatch.setenv("AGILE_PASSPHRASE", "pw2")
    second = store.create_keyset("b", "kem", "x25519")
    data = envelope.encrypt(b"hello", [first, second])
    forget_keks()
    return data


def _count_argon2(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count Argon2id derivations of the passphrase sealer (the real function still runs)."""
    calls: list[int] = []
    derive = passphrase.derive_argon2id

    def counted(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return derive(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passphrase, "derive_argon2id", counted)
    return calls


def test_later_recipient_opens(
    store: Keystore, two_passphrases: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "pw2")
    assert envelope.decrypt(two_passphrases, store) == b"hello"


def test_no_recipient_opens_names_sealer(
    store: Keystore, two_passphrases: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", "pw3")
    with pytest.raises(WrongPassphrase) as caught:
        envelope.decrypt(two_passphrases, store)
    message = str(caught.value)
    assert "keyset 'a'" in message
    assert "keyset 'b'" in message
    assert "wrong passphrase" in message
    assert "AGILE_PASSPHRASE" in str(caught.value.fix)


def test_failed_keyset_unsealed_once(store: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two stanzas for two keys of one keyset: a wrong passphrase costs one Argon2id run.
    keyset = store.create_keyset("a", "kem", "x25519")
    old = keyset.primary
    keyset.add_key(promote=True)
    data = envelope.encrypt(b"hello", [old, store.keyset("a").primary])
    forget_keks()
    monkeypatch.setenv("AGILE_PASSPHRASE", "wrong")
    calls = _count_argon2(monkeypatch)
    with pytest.raises(WrongPassphrase):
        envelope.decrypt(data, store)
    assert len(calls) == 1


def test_first_stanza_opens_alone(
    store: Keystore, two_passphrases: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first stanza opens, so keyset 'b' is never unsealed.
    monkeypatch.setenv("AGILE_PASSPHRASE", "pw1")
    calls = _count_argon2(monkeypatch)
    assert envelope.decrypt(two_passphrases, store) == b"hello"
    assert len(calls) == 1


def test_cli_later_recipient_opens(tmp_path: Path) -> None:
    home = tmp_path / "ks"
    env = dict(
        os.environ,
        AGILE_HOME=str(home),
        AGILE_ARGON2_MEMORY_KIB="1024",
        AGILE_ARGON2_ITERATIONS="1",
    )

    def agile(passphrase_text: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGILE, *args],
            env={**env, "AGILE_PASSPHRASE": passphrase_text},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    (tmp_path / "m.txt").write_text("hello\n")
    assert agile("pw1", "keyset", "create", "a", "--purpose", "kem").returncode == 0
    assert agile("pw2", "keyset", "create", "b", "--purpose", "kem").returncode == 0
    encrypted = agile("pw1", "encrypt", "--to", "a", "--to", "b", "-o", "ab.agile", "m.txt")
    assert encrypted.returncode == 0, encrypted.stderr

    opened = agile("pw2", "decrypt", "ab.agile")
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == "hello\n"

    failed = agile("pw3", "decrypt", "ab.agile")
    assert failed.returncode == 2
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "keyset 'a': wrong passphrase" in failed.stderr
    assert "set AGILE_PASSPHRASE to the passphrase of keyset 'a'" in failed.stderr
