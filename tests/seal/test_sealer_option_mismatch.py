"""Options for a sealer that the command does not use are usage errors; variables are not."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

_agile = functools.partial(run_cli, text=True)


def _usage_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.fixture
def ed25519_pem(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "ed.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def existing(keystore: Path, fast_passphrase: str) -> str:
    created = _agile(
        "keyset", "create", "existing", "--purpose", "signature", "--algorithm", "ed25519"
    )
    assert created.returncode == 0, created.stderr
    return "existing"


def test_create_tpm_pin_on_passphrase(keystore: Path) -> None:
    result = _agile("keyset", "create", "y2", "--purpose", "kem", "--tpm-pin", "4711")
    _usage_error(result, "--tpm-pin", "--seal tpm2", "default of --seal")
    assert not (keystore / "keysets" / "y2.json").exists()


def test_create_sss_option_on_tpm2(keystore: Path) -> None:
    result = _agile(
        "keyset", "create", "y4", "--purpose", "kem", "--seal", "tpm2", "--sss-threshold", "2"
    )
    _usage_error(result, "--sss-threshold", "--seal sss")


def test_create_keep_option_on_pkcs11(keystore: Path) -> None:
    result = _agile(
        "keyset", "create", "y6", "--purpose", "kem", "--seal", "pkcs11", "--keep-token", "t"
    )
    _usage_error(result, "--keep-token", "--seal keep")


def test_create_sss_non_member_option(keystore: Path) -> None:
    result = _agile(
        "keyset", "create", "y5", "--purpose", "kem", "--seal", "sss", "--sss-threshold", "1",
        "--sss-members", "passphrase,tpm2", "--pkcs11-pin", "1234",
    )  # fmt: skip
    _usage_error(result, "--pkcs11-pin", "sss members passphrase,tpm2", "--sss-members")


def test_create_sss_members_from_variable(keystore: Path) -> None:
    result = _agile(
        "keyset", "create", "y7", "--purpose", "kem", "--seal", "sss", "--sss-threshold", "1",
        "--pkcs11-pin", "1234", AGILE_SSS_MEMBERS="passphrase",
    )  # fmt: skip
    _usage_error(result, "--pkcs11-pin", "sss members passphrase")


def test_create_sss_member_option_used(keystore: Path, fast_passphrase: str, swtpm) -> None:
    result = _agile(
        "keyset", "create", "y8", "--purpose", "kem", "--seal", "sss", "--sss-threshold", "1",
        "--sss-members", "passphrase,tpm2", "--tpm-pin", "4711",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_create_variable_not_checked(keystore: Path, fast_passphrase: str) -> None:
    result = _agile(
        "keyset", "create", "y3", "--purpose", "kem",
        AGILE_TPM_PIN="4711", AGILE_SSS_THRESHOLD="2", AGILE_PKCS11_TOKEN="vault",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_import_existing_other_seal(existing: str, ed25519_pem: Path) -> None:
    result = _agile(
        "keyset", "import", existing, str(ed25519_pem), "--seal", "pkcs11", AGILE_TPM_PIN="1111"
    )
    _usage_error(result, "--seal pkcs11", "passphrase", "agile keyset reseal existing")


def test_import_existing_same_seal(existing: str, ed25519_pem: Path) -> None:
    result = _agile(
        "keyset", "import", existing, str(ed25519_pem), "--seal", "passphrase", AGILE_TPM_PIN="1"
    )
    assert result.returncode == 0, result.stderr


def test_import_existing_foreign_option(existing: str, ed25519_pem: Path) -> None:
    result = _agile("keyset", "import", existing, str(ed25519_pem), "--tpm-pin", "4711")
    _usage_error(result, "--tpm-pin", "exists, sealed with passphrase", "--seal tpm2")


def test_import_new_foreign_option(keystore: Path, ed25519_pem: Path) -> None:
    result = _agile(
        "keyset", "import", "fresh", str(ed25519_pem), "--purpose", "signature",
        "--pkcs11-pin", "1234",
    )  # fmt: skip
    _usage_error(result, "--pkcs11-pin", "--seal pkcs11")


def test_reseal_foreign_option(existing: str) -> None:
    result = _agile("keyset", "reseal", existing, "--tpm-pin", "4711")
    _usage_error(result, "--tpm-pin", "its current sealer", "--seal tpm2")


def test_reseal_sss_non_member_option(existing: str) -> None:
    result = _agile(
        "keyset", "reseal", existing, "--seal", "sss", "--sss-threshold", "1",
        "--sss-members", "passphrase,tpm2", "--pkcs11-pin", "1234",
    )  # fmt: skip
    _usage_error(result, "--pkcs11-pin", "--sss-members")
