"""Key escrow: a keyset's KEK split into agile shares and restored under a new passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.errors import InsufficientShares, InvalidShare, PolicyViolation, WrongPassphrase
from agile.keys import Keystore
from agile.keys.kek import forget_keks, unseal_kek
from agile.sharing import share_format
from cli.main import main
from mpc.escrow import restore_keyset, split_keyset


def _unseal(keystore: Path, name: str) -> bytes:
    forget_keks()
    store = Keystore.open(keystore)
    keyset = store.keyset(name)
    return unseal_kek(store.root, keyset.name, keyset.uid, keyset.seal_blob)


def test_restore_under_new_passphrase(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    kek = _unseal(keystore, "pay")
    shares = split_keyset(keystore, "pay", 2, 3)

    monkeypatch.setenv("AGILE_PASSPHRASE", "a new passphrase for the restored keyset")
    restore_keyset(keystore, "pay", [shares[0], shares[2]])
    assert _unseal(keystore, "pay") == kek

    monkeypatch.setenv("AGILE_PASSPHRASE", "correct horse battery staple")
    with pytest.raises(WrongPassphrase):
        _unseal(keystore, "pay")


def test_restore_below_threshold(keystore: Path) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    shares = split_keyset(keystore, "pay", 3, 3)
    with pytest.raises(InsufficientShares):
        restore_keyset(keystore, "pay", shares[:2])


def test_restore_other_keysets_shares(keystore: Path) -> None:
    store = Keystore.open(keystore)
    store.create_keyset("pay", "kem", "x25519")
    store.create_keyset("hr", "kem", "x25519")
    shares = split_keyset(keystore, "hr", 2, 2)
    with pytest.raises(InvalidShare, match="do not hold the KEK of keyset 'pay'"):
        restore_keyset(keystore, "pay", shares)


def test_restore_wrong_length_secret(keystore: Path) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    shares = share_format.split(b"not a kek", 2, 2)
    with pytest.raises(InvalidShare, match="9 bytes"):
        restore_keyset(keystore, "pay", shares)


def test_cli_escrow_roundtrip(
    keystore: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    kek = _unseal(keystore, "pay")
    prefix = tmp_path / "escrow"
    main(["share", "split", "--keyset", "pay", "-t", "2", "-n", "3", "-o", str(prefix)])
    main(["share", "combine", "--keyset", "pay", f"{prefix}-2", f"{prefix}-3"])
    assert "restored" in capsys.readouterr().out
    assert _unseal(keystore, "pay") == kek


def test_restore_policy_denies_sealer(keystore: Path, tmp_path: Path) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    shares = split_keyset(keystore, "pay", 2, 2)
    policy = tmp_path / "tpm-only.toml"
    policy.write_text('base = "default"\n[seal]\nallowed = ["tpm2"]\n')
    with pytest.raises(PolicyViolation, match="'passphrase' sealer"):
        restore_keyset(keystore, "pay", shares, policy=str(policy))


def test_split_policy_denies_shamir(keystore: Path, tmp_path: Path) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    policy = tmp_path / "prime-only.toml"
    policy.write_text('base = "default"\n[secret-sharing]\nallowed = ["shamir-prime"]\n')
    with pytest.raises(PolicyViolation, match="shamir-gf256"):
        split_keyset(keystore, "pay", 2, 2, policy=str(policy))


def test_cli_split_default_prefix(
    keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    monkeypatch.chdir(tmp_path)
    main(["share", "split", "--keyset", "pay", "-t", "2", "-n", "3"])
    assert sorted(path.name for path in tmp_path.glob("pay-*")) == ["pay-1", "pay-2", "pay-3"]


def test_split_wrong_passphrase_names_keyset(
    keystore: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    forget_keks()
    monkeypatch.setenv("AGILE_PASSPHRASE", "not the passphrase of this keyset")
    with pytest.raises(WrongPassphrase, match="keyset 'pay'") as caught:
        split_keyset(keystore, "pay", 2, 3)
    assert "keyset 'pay'" in (caught.value.fix or "")


def test_restore_seals_with_policy_kdf(
    keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGILE_SCRYPT_N", "1024")
    Keystore.open(keystore).create_keyset("pay", "kem", "x25519")
    kek = _unseal(keystore, "pay")
    shares = split_keyset(keystore, "pay", 2, 3)
    policy = tmp_path / "scrypt.toml"
    policy.write_text('base = "default"\n[password-kdf]\nallowed = ["scrypt"]\n')

    restore_keyset(keystore, "pay", shares[:2], policy=str(policy))

    assert Keystore.open(keystore).keyset("pay").seal_blob["kdf"] == "scrypt"
    assert _unseal(keystore, "pay") == kek
