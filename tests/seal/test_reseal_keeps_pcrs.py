"""Resealing with another sealer keeps the PCR selection of the current tpm2 seal.

Every command runs in a new process against a fresh swtpm on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from agile.attest.broker import init_broker, read_master_blob
from cli.keep import keep
from tests.cli_helpers import run_cli


def _sealed_blob(keystore: Path, name: str) -> dict:
    return json.loads((keystore / "keysets" / f"{name}.json").read_text())["seal"]


def _create_tpm2(name: str, pcrs: str) -> None:
    created = run_cli(
        "keyset", "create", name, "--purpose", "aead", "--seal", "tpm2", "--pcrs", pcrs, text=True
    )
    assert created.returncode == 0, created.stderr


def _reseal(name: str, *arguments: str) -> str:
    resealed = run_cli("keyset", "reseal", name, *arguments, text=True)
    assert resealed.returncode == 0, resealed.stderr
    return resealed.stdout


def test_reseal_to_sss_keeps_pcrs(keystore, fast_passphrase, swtpm) -> None:
    _create_tpm2("m1", "sha256:0,7")

    output = _reseal(
        "m1", "--seal", "sss", "--sss-threshold", "1", "--sss-members", "tpm2,passphrase"
    )

    member = _sealed_blob(keystore, "m1")["members"][0]
    assert member["sealer"] == "tpm2"
    assert member["pcrs"] == "sha256:0,7"
    assert "keeping the PCR selection sha256:0,7" in output


def test_reseal_from_sss_keeps_pcrs(keystore, fast_passphrase, swtpm) -> None:
    _create_tpm2("m1", "sha256:0,7")
    _reseal("m1", "--seal", "sss", "--sss-threshold", "1", "--sss-members", "tpm2,passphrase")

    _reseal("m1", "--seal", "tpm2")

    assert _sealed_blob(keystore, "m1")["pcrs"] == "sha256:0,7"


def test_reseal_pcrs_option_wins(keystore, fast_passphrase, swtpm) -> None:
    _create_tpm2("m1", "sha256:0,7")

    output = _reseal(
        "m1", "--seal", "sss", "--sss-threshold", "1", "--sss-members", "tpm2,passphrase",
        "--pcrs", "sha256:1",
    )  # fmt: skip

    assert _sealed_blob(keystore, "m1")["members"][0]["pcrs"] == "sha256:1"
    assert "sha256:1 from --pcrs" in output


def test_reseal_via_pkcs11_says_dropped(keystore, fast_passphrase, swtpm, softhsm) -> None:
    _create_tpm2("m1", "sha256:0,7")

    to_pkcs11 = _reseal("m1", "--seal", "pkcs11")
    back_to_tpm2 = _reseal("m1", "--seal", "tpm2")

    assert "pass --pcrs sha256:0,7" in to_pkcs11
    assert "to PCRs sha256:7, the default" in back_to_tpm2


def test_keep_reseal_keeps_master_pcrs(tmp_path, fast_passphrase, swtpm, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_TPM_PCRS", "sha256:16")
    config = init_broker(tmp_path / "broker", port=0, master_sealer="tpm2")
    monkeypatch.delenv("AGILE_TPM_PCRS")
    assert read_master_blob(config)["pcrs"] == "sha256:16"

    result = CliRunner().invoke(
        keep,
        [
            "reseal", str(config.directory), "--master-sealer", "sss",
            "--sss-threshold", "1", "--sss-members", "tpm2,passphrase",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert read_master_blob(config)["members"][0]["pcrs"] == "sha256:16"
    assert "keeping the PCR selection sha256:16" in result.output
