"""A keyset whose unseal failed is not tried again with the same settings in the same process.

Each wrong TPM PIN counts towards the TPM's dictionary-attack lockout, so a
rotation over many objects with a wrong PIN used to lock the TPM out after the
third object.  A changed environment (another PIN) is tried again, and
``forget_keks`` allows a new attempt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt
from agile.errors import WrongPassphrase
from agile.keys import Keystore
from agile.keys.kek import forget_keks
from agile.rotate import RotateOptions, open_store, rotate

PIN = "4711"


def _lockout_counter(swtpm) -> int:
    output = swtpm.tool("tpm2_getcap", "properties-variable").stdout
    line = next(line for line in output.splitlines() if "TPM2_PT_LOCKOUT_COUNTER" in line)
    return int(line.split(":")[1].strip(), 16)


@pytest.fixture
def sealed(swtpm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Return a keystore with a TPM-sealed x25519 keyset (PIN 4711) and 6 objects in a store."""
    swtpm.tool("tpm2_dictionarylockout", "--clear-lockout")
    monkeypatch.setenv("AGILE_TPM_PIN", PIN)
    keystore = Keystore.open(tmp_path / "keystore")
    keyset = keystore.create_keyset(
        "vault", "kem", "x25519", sealer="tpm2", policy="default", sealer_options={"tpm_pin": PIN}
    )
    store = open_store(str(tmp_path / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = {}
    for index in range(6):
        originals[f"o{index}"] = os.urandom(32)
        store.put(f"o{index}", encrypt(originals[f"o{index}"], keyset, policy="default"))
    forget_keks()
    yield keystore, store, originals
    forget_keks()


def test_wrong_pin_counted_once_per_process(sealed, swtpm, monkeypatch) -> None:
    keystore, store, _originals = sealed
    monkeypatch.setenv("AGILE_TPM_PIN", "0000")
    before = _lockout_counter(swtpm)

    for _ in range(4):
        with pytest.raises(WrongPassphrase) as caught:
            decrypt(store.read("o0"), keystore)

    assert _lockout_counter(swtpm) == before + 1
    assert "not tried again" in str(caught.value)
    assert str(caught.value).count("keyset 'vault'") == 1


def test_rotation_with_wrong_pin_counts_once(sealed, swtpm, monkeypatch) -> None:
    keystore, store, originals = sealed
    # With the new key in place, the run needs the KEK only to open each object.
    keyset = keystore.keyset("vault")
    keyset.promote(keyset.add_key("x-wing", policy="pq-hybrid").id, policy="pq-hybrid")
    forget_keks()
    monkeypatch.setenv("AGILE_TPM_PIN", "0000")
    before = _lockout_counter(swtpm)

    report = rotate(str(keystore.path), RotateOptions(policy="pq-hybrid", workers=1))

    assert report["state"] == "incomplete"
    assert report["failed"] == len(originals)
    assert _lockout_counter(swtpm) == before + 1

    monkeypatch.setenv("AGILE_TPM_PIN", PIN)
    finished = rotate(str(keystore.path), RotateOptions(policy="pq-hybrid", workers=1))
    assert finished["state"] == "done"
    for object_id, plaintext in originals.items():
        assert decrypt(store.read(object_id), keystore) == plaintext


def test_other_pin_tried_again(sealed, monkeypatch) -> None:
    keystore, store, originals = sealed
    monkeypatch.setenv("AGILE_TPM_PIN", "0000")
    with pytest.raises(WrongPassphrase):
        decrypt(store.read("o0"), keystore)

    monkeypatch.setenv("AGILE_TPM_PIN", PIN)

    assert decrypt(store.read("o0"), keystore) == originals["o0"]


def test_forget_keks_allows_new_attempt(sealed, swtpm, monkeypatch) -> None:
    keystore, store, _originals = sealed
    monkeypatch.setenv("AGILE_TPM_PIN", "0000")
    before = _lockout_counter(swtpm)
    with pytest.raises(WrongPassphrase):
        decrypt(store.read("o0"), keystore)

    forget_keks()
    with pytest.raises(WrongPassphrase) as caught:
        decrypt(store.read("o0"), keystore)

    assert "not tried again" not in str(caught.value)
    assert _lockout_counter(swtpm) == before + 2
