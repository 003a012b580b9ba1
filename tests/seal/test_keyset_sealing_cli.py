"""``agile keyset create --seal tpm2|pkcs11|sss`` and ``agile keyset reseal``, end to end.

Every command runs in a new process, so no KEK is cached between steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

_agile = run_cli


@pytest.fixture
def plaintext(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_bytes(b"quarterly numbers\n")
    return path


def _encrypt_decrypt(keyset: str, plaintext: Path, **env: str) -> subprocess.CompletedProcess:
    sealed = plaintext.with_suffix(".agile")
    encrypted = _agile("encrypt", "--to", keyset, "-o", str(sealed), str(plaintext), **env)
    assert encrypted.returncode == 0, encrypted.stderr
    return _agile("decrypt", str(sealed), **env)


def _sealed_blob(keystore: Path, name: str) -> dict:
    return json.loads((keystore / "keysets" / f"{name}.json").read_text())["seal"]


def test_tpm2_keyset_pcr_change(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    created = _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2",
        "--pcrs", "sha256:7", "--tpm-tcti", swtpm.tcti,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    sealed = plaintext.with_suffix(".agile")
    assert _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext)).returncode == 0
    opened = _agile("decrypt", str(sealed))
    assert opened.stdout == plaintext.read_bytes()

    swtpm.extend_pcr(7)
    failed = _agile("decrypt", str(sealed))
    assert failed.returncode != 0
    assert b"PCR 7 in bank sha256" in failed.stderr
    assert failed.stdout == b""


def test_tpm2_keyset_with_pin(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    created = _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "8642"
    )
    assert created.returncode == 0, created.stderr
    assert _sealed_blob(keystore, "files")["pin"] is True
    opened = _encrypt_decrypt("files", plaintext, AGILE_TPM_PIN="8642")
    assert opened.stdout == plaintext.read_bytes()


def test_tpm2_keyset_wrong_pin(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "8642")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext), AGILE_TPM_PIN="8642")
    failed = _agile("decrypt", str(sealed), AGILE_TPM_PIN="1111")
    assert failed.returncode == 2
    assert b"wrong TPM PIN" in failed.stderr


def test_pkcs11_keyset_round_trip(keystore, fast_passphrase, softhsm, plaintext: Path) -> None:
    created = _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "pkcs11")
    assert created.returncode == 0, created.stderr
    opened = _encrypt_decrypt("files", plaintext)
    assert opened.stdout == plaintext.read_bytes()


def test_pkcs11_keyset_wrong_pin(keystore, fast_passphrase, softhsm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "pkcs11")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext))
    failed = _agile("decrypt", str(sealed), AGILE_PKCS11_PIN="9999")
    assert failed.returncode == 2
    assert b"wrong PIN for PKCS#11 token" in failed.stderr


def test_sss_keyset_reseal_after_pcr_change(
    keystore, fast_passphrase, swtpm, softhsm, plaintext: Path
) -> None:
    created = _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "sss",
        "--sss-threshold", "2", "--sss-members", "passphrase,tpm2,pkcs11",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    sealed = plaintext.with_suffix(".agile")
    assert _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext)).returncode == 0

    swtpm.extend_pcr(7)
    # Passphrase and token still make a quorum of 2.
    assert _agile("decrypt", str(sealed)).stdout == plaintext.read_bytes()
    resealed = _agile("keyset", "reseal", "files")
    assert resealed.returncode == 0, resealed.stderr

    # The TPM member opens again: passphrase wrong, TPM + token suffice.
    opened = _agile("decrypt", str(sealed), AGILE_PASSPHRASE="wrong")
    assert opened.stdout == plaintext.read_bytes()


def test_reseal_plain_tpm2_after_change_fails(keystore, fast_passphrase, swtpm) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2")
    swtpm.extend_pcr(7)
    failed = _agile("keyset", "reseal", "files")
    assert failed.returncode == 2
    assert b"PCR 7" in failed.stderr


def test_reseal_new_pcrs(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2")
    resealed = _agile("keyset", "reseal", "files", "--pcrs", "sha256:0,7")
    assert resealed.returncode == 0, resealed.stderr
    assert _sealed_blob(keystore, "files")["pcrs"] == "sha256:0,7"


def test_reseal_to_other_sealer(keystore, fast_passphrase, swtpm, softhsm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext))
    moved = _agile("keyset", "reseal", "files", "--seal", "pkcs11")
    assert moved.returncode == 0, moved.stderr
    assert _sealed_blob(keystore, "files")["sealer"] == "pkcs11"
    opened = _agile("decrypt", str(sealed), AGILE_TPM_TCTI="swtpm:host=127.0.0.1,port=1")
    assert opened.stdout == plaintext.read_bytes()


def test_invalid_pcrs_option(keystore, fast_passphrase, swtpm) -> None:
    failed = _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--pcrs", "sha256:99"
    )
    assert failed.returncode == 2
    assert b"invalid PCR list" in failed.stderr


def test_reseal_passphrase_to_tpm2(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext))
    moved = _agile("keyset", "reseal", "files", "--seal", "tpm2", "--pcrs", "sha256:7")
    assert moved.returncode == 0, moved.stderr
    opened = _agile("decrypt", str(sealed), AGILE_PASSPHRASE="wrong")
    assert opened.stdout == plaintext.read_bytes()


def test_reseal_tpm2_to_passphrase(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2")
    moved = _agile("keyset", "reseal", "files", "--seal", "passphrase")
    assert moved.returncode == 0, moved.stderr
    assert _sealed_blob(keystore, "files")["sealer"] == "passphrase"


def test_reseal_policy_rejects_member(keystore, fast_passphrase, tmp_path: Path) -> None:
    default = Path(__file__).resolve().parents[2] / "agile" / "policy" / "profiles" / "default.toml"
    text = default.read_text().replace(
        'allowed = ["passphrase", "tpm2", "pkcs11", "keep", "sss"]',
        'allowed = ["passphrase", "sss"]',
    )
    assert 'allowed = ["passphrase", "sss"]' in text
    policy = tmp_path / "no-tpm.toml"
    policy.write_text(text)
    _agile("keyset", "create", "files", "--purpose", "aead")
    rejected = _agile(
        "keyset", "reseal", "files", "--seal", "sss", "--sss-threshold", "1",
        "--sss-members", "passphrase,tpm2", "--policy", str(policy),
    )  # fmt: skip
    assert rejected.returncode != 0
    assert b"'tpm2' sealer" in rejected.stderr


def test_reseal_predicted_before_change(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext))
    future = hashlib.sha256(bytes(32) + bytes.fromhex("ab" * 32)).hexdigest()
    resealed = _agile("keyset", "reseal", "files", "--pcr-values", f"7={future}")
    assert resealed.returncode == 0, resealed.stderr
    assert _agile("decrypt", str(sealed)).returncode == 2

    swtpm.extend_pcr(7)
    opened = _agile("decrypt", str(sealed))
    assert opened.stdout == plaintext.read_bytes()


def test_reseal_changes_tpm_pin(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    # The current PIN comes from AGILE_TPM_PIN and the new one from --tpm-pin.
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "8642")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext), AGILE_TPM_PIN="8642")
    resealed = _agile("keyset", "reseal", "files", "--tpm-pin", "1357", AGILE_TPM_PIN="8642")
    assert resealed.returncode == 0, resealed.stderr
    opened = _agile("decrypt", str(sealed), AGILE_TPM_PIN="1357")
    assert opened.stdout == plaintext.read_bytes()


def test_reseal_old_pin_rejected(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2", "--tpm-pin", "8642")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext), AGILE_TPM_PIN="8642")
    _agile("keyset", "reseal", "files", "--tpm-pin", "1357", AGILE_TPM_PIN="8642")
    failed = _agile("decrypt", str(sealed), AGILE_TPM_PIN="8642")
    assert b"wrong TPM PIN" in failed.stderr


def test_reseal_moves_to_other_token(keystore, fast_passphrase, softhsm, plaintext: Path) -> None:
    # The current token and PIN come from the variables, the new ones from the options.
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "agile-move", "--pin", "5678",
         "--so-pin", "123456"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "pkcs11")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext))
    moved = _agile(
        "keyset", "reseal", "files", "--pkcs11-token", "agile-move", "--pkcs11-pin", "5678"
    )
    assert moved.returncode == 0, moved.stderr
    opened = _agile(
        "decrypt", str(sealed), AGILE_PKCS11_TOKEN="agile-move", AGILE_PKCS11_PIN="5678"
    )
    assert opened.stdout == plaintext.read_bytes()


def test_pkcs11_missing_config_named(keystore, fast_passphrase, softhsm, tmp_path: Path) -> None:
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "pkcs11")
    failed = _agile(
        "encrypt", "--to", "files", "-", data=b"x", SOFTHSM2_CONF=str(tmp_path / "missing.conf")
    )
    assert b"SOFTHSM2_CONF" in failed.stderr


def _connected(port: int) -> bool:
    # An established connection (state 01 in /proc/net/tcp) to swtpm's command port or to its
    # control port, which the swtpm TCTI also uses.
    ends = (f":{port:04X}", f":{port + 1:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2].endswith(ends) and fields[3] == "01":
            return True
    return False


def _sealed_then_stopped(swtpm, plaintext: Path) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    """Encrypt ``plaintext`` to a tpm2-sealed keyset and stop swtpm.  Return the file and pid."""
    _agile("keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2")
    sealed = plaintext.with_suffix(".agile")
    _agile("encrypt", "--to", "files", "-o", str(sealed), str(plaintext))
    pid = int((swtpm.directory / "swtpm.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    return sealed, pid


def test_tpm_killed_mid_command(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    import time

    sealed, pid = _sealed_then_stopped(swtpm, plaintext)
    try:
        reader = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "decrypt", str(sealed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not _connected(swtpm.port) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGKILL)
    _, stderr = reader.communicate(timeout=60)
    assert b"failed in the middle of a command" in stderr


def test_show_names_pcrs(keystore, fast_passphrase, swtpm) -> None:
    _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2",
        "--pcrs", "sha256:7", "--tpm-tcti", swtpm.tcti,
    )  # fmt: skip
    described = json.loads(_agile("keyset", "show", "files", "--json").stdout)
    assert described["seal"]["pcrs"] == "sha256:7"


def test_show_text_names_pcrs(keystore, fast_passphrase, swtpm) -> None:
    _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2",
        "--pcrs", "sha256:7", "--tpm-tcti", swtpm.tcti,
    )  # fmt: skip
    assert b"pcrs=sha256:7" in _agile("keyset", "show", "files").stdout


def test_show_sss_members(keystore, fast_passphrase, swtpm) -> None:
    _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "sss",
        "--sss-threshold", "1", "--sss-members", "passphrase,tpm2", "--tpm-tcti", swtpm.tcti,
    )  # fmt: skip
    described = json.loads(_agile("keyset", "show", "files", "--json").stdout)
    assert [member["sealer"] for member in described["seal"]["members"]] == ["passphrase", "tpm2"]


def test_stopped_tpm_times_out(keystore, fast_passphrase, swtpm, plaintext: Path) -> None:
    sealed, pid = _sealed_then_stopped(swtpm, plaintext)
    try:
        stopped = _agile("decrypt", str(sealed), AGILE_TPM_TIMEOUT="1")
    finally:
        os.kill(pid, signal.SIGCONT)

    assert stopped.returncode == 2
    assert b"no response within 1 s while unsealing" in stopped.stderr
    assert stopped.stdout == b""


def test_bad_timeout_named(keystore, fast_passphrase, swtpm) -> None:
    created = _agile(
        "keyset", "create", "files", "--purpose", "aead", "--seal", "tpm2",
        AGILE_TPM_TIMEOUT="soon",
    )  # fmt: skip
    assert b"AGILE_TPM_TIMEOUT='soon'" in created.stderr
