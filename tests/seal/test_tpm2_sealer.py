"""The tpm2 sealer against a real swtpm on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest

from agile.errors import InvalidArgument, SealError, SealerUnavailable, WrongPassphrase
from agile.seal.base import unseal
from agile.seal.tpm2 import PCRChanged, PCRSelection, TPM2Sealer, TPMLockedOut, connect

AD = b"agile keyset kek v1\x00test\x00uid"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


# PCR selections (no device needed).


def test_selection_parse_list() -> None:
    selection = PCRSelection.parse("SHA256:7,0,2")
    assert selection == PCRSelection("sha256", (0, 2, 7))


def test_selection_text_round_trip() -> None:
    assert str(PCRSelection.parse("sha1:16,7")) == "sha1:7,16"


@pytest.mark.parametrize("text", ["sha256", "md5:7", "sha256:", "sha256:x", "sha256:24", "7"])
def test_selection_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        PCRSelection.parse(text)


def test_sealer_default_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILE_TPM_TCTI", raising=False)
    sealer = TPM2Sealer()
    assert str(sealer.selection) == "sha256:7"


def test_sealer_default_tcti(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILE_TPM_TCTI", raising=False)
    assert TPM2Sealer().tcti == "device:/dev/tpmrm0"


def test_sealer_tcti_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_TPM_TCTI", "swtpm:host=127.0.0.1,port=9")
    assert TPM2Sealer().tcti == "swtpm:host=127.0.0.1,port=9"


def test_unreachable_tpm() -> None:
    pytest.importorskip("tpm2_pytss")
    sealer = TPM2Sealer(tpm_tcti="swtpm:host=127.0.0.1,port=1")
    with pytest.raises(SealerUnavailable, match="no TPM reachable"):
        sealer.seal(os.urandom(32), AD)


# Sealing and unsealing on swtpm.


def test_round_trip(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    assert unseal(blob, AD) == kek


def test_blob_records_pcr_values(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(pcrs="sha256:7,16").seal(kek, AD)
    assert blob["pcr_values"] == {"7": "00" * 32, "16": "00" * 32}


def test_blob_is_json(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    assert json.loads(json.dumps(blob)) == blob


def test_blob_has_no_kek(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    assert kek.hex() not in json.dumps(blob)


def test_round_trip_with_pin(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    assert unseal(blob, AD, tpm_pin="2468") == kek


def test_round_trip_sha1_bank(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(pcrs="sha1:0,7").seal(kek, AD)
    assert unseal(blob, AD) == kek


def test_unseal_new_process_after_restart(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    swtpm.restart()
    program = (
        "import json, sys\n"
        "from agile.seal.base import unseal\n"
        "blob = json.loads(sys.stdin.read())\n"
        f"sys.stdout.write(unseal(blob, {AD!r}, tpm_pin='2468').hex())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        input=json.dumps(blob),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AGILE_TPM_TCTI": swtpm.tcti},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == kek.hex()


def test_pcr_extended_names_pcr(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(pcrs="sha256:0,7").seal(kek, AD)
    swtpm.extend_pcr(7)
    with pytest.raises(PCRChanged, match="PCR 7 in bank sha256") as raised:
        unseal(blob, AD)
    assert raised.value.changed == ["sha256:7"]


def test_pcr_extended_error_says_reseal(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    swtpm.extend_pcr(7)
    with pytest.raises(PCRChanged) as raised:
        unseal(blob, AD)
    assert "agile keyset reseal" in raised.value.diagnostics()


def test_policy_fail_from_tpm(swtpm, kek: bytes) -> None:
    """With the stored values edited to the current ones, the TPM's own policy check rejects."""
    blob = TPM2Sealer().seal(kek, AD)
    swtpm.extend_pcr(7)
    with connect(swtpm.tcti) as tpm:
        current = tpm.read_pcrs(PCRSelection.parse("sha256:7"))
    forged = dict(blob, pcr_values={"7": current[7].hex()})
    with pytest.raises(SealError, match="policy check failed although"):
        unseal(forged, AD)


def test_reseal_after_intended_change(swtpm, kek: bytes) -> None:
    sealer = TPM2Sealer()
    blob = sealer.seal(kek, AD)
    swtpm.extend_pcr(7)
    resealed = sealer.reseal(blob, AD, secret=kek)
    assert unseal(resealed, AD) == kek


def test_reseal_needs_key_after_change(swtpm, kek: bytes) -> None:
    sealer = TPM2Sealer()
    blob = sealer.seal(kek, AD)
    swtpm.extend_pcr(7)
    with pytest.raises(PCRChanged):
        sealer.reseal(blob, AD)


def test_reseal_unchanged_pcrs(swtpm, kek: bytes) -> None:
    sealer = TPM2Sealer()
    resealed = sealer.reseal(sealer.seal(kek, AD), AD)
    assert unseal(resealed, AD) == kek


def _extended(old: bytes, digest: bytes) -> bytes:
    """Return a SHA-256 PCR value after TPM2_PCR_Extend: H(old || digest)."""
    return hashlib.sha256(old + digest).digest()


def test_predicted_value_opens_after_change(swtpm, kek: bytes) -> None:
    future = _extended(bytes(32), bytes.fromhex("ab" * 32))
    sealer = TPM2Sealer(pcrs="sha256:0,7", pcr_values=f"7={future.hex()}")
    blob = sealer.seal(kek, AD)
    swtpm.extend_pcr(7)
    assert unseal(blob, AD) == kek


def test_predicted_value_closed_before_change(swtpm, kek: bytes) -> None:
    future = _extended(bytes(32), bytes.fromhex("ab" * 32))
    blob = TPM2Sealer(pcr_values={7: future.hex()}).seal(kek, AD)
    with pytest.raises(PCRChanged, match="predicted value"):
        unseal(blob, AD)


@pytest.mark.parametrize("values", ["16=" + "00" * 32, "7=abcd", "7=zz", "x=00"])
def test_predicted_value_invalid(values: str) -> None:
    with pytest.raises(InvalidArgument):
        TPM2Sealer(pcrs="sha256:7", pcr_values=values)


def test_predicted_value_twice() -> None:
    values = "7=" + "00" * 32 + ",7=" + "11" * 32
    with pytest.raises(InvalidArgument, match="two predicted values"):
        TPM2Sealer(pcrs="sha256:7", pcr_values=values)


def test_unseal_ignores_predicted_variable(swtpm, kek: bytes, monkeypatch) -> None:
    # AGILE_TPM_PCR_VALUES left over from resealing a keyset sealed to other PCRs.
    blob = TPM2Sealer(pcrs="sha256:0").seal(kek, AD)
    monkeypatch.setenv("AGILE_TPM_PCR_VALUES", "7=" + "00" * 32)
    assert unseal(blob, AD) == kek


def test_predicted_variable_checked_on_seal(swtpm, kek: bytes, monkeypatch) -> None:
    monkeypatch.setenv("AGILE_TPM_PCR_VALUES", "7=zz")
    with pytest.raises(InvalidArgument, match="invalid predicted PCR value"):
        TPM2Sealer(pcrs="sha256:7").seal(kek, AD)


def test_wrong_pin(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    with pytest.raises(WrongPassphrase, match="1 of 3"):
        unseal(blob, AD, tpm_pin="1357")


def test_missing_pin(swtpm, kek: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILE_TPM_PIN", raising=False)
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    with pytest.raises(WrongPassphrase, match="no PIN"):
        unseal(blob, AD)


def test_pin_from_env(swtpm, kek: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_TPM_PIN", "2468")
    blob = TPM2Sealer().seal(kek, AD)
    assert unseal(blob, AD) == kek


def test_lockout_after_wrong_pins(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    for _ in range(3):
        with pytest.raises(WrongPassphrase):
            unseal(blob, AD, tpm_pin="0000")
    with pytest.raises(TPMLockedOut, match="lockout"):
        unseal(blob, AD, tpm_pin="2468")


def test_lockout_cleared(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    for _ in range(3):
        with pytest.raises(WrongPassphrase):
            unseal(blob, AD, tpm_pin="0000")
    swtpm.tool("tpm2_dictionarylockout", "--clear-lockout")
    assert unseal(blob, AD, tpm_pin="2468") == kek


def test_other_keyset_rejected(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    with pytest.raises(SealError, match="another keyset"):
        unseal(blob, AD + b"x")


def test_tampered_private_rejected(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    private = bytearray(base64.b64decode(blob["private"]))
    private[-1] ^= 1
    tampered = dict(blob, private=base64.b64encode(bytes(private)).decode())
    with pytest.raises(SealError, match="integrity"):
        unseal(tampered, AD)


def test_other_tpm_rejected(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    foreign = dict(blob, primary_name="000b" + "00" * 32)
    with pytest.raises(SealError, match="not the one"):
        unseal(foreign, AD)


def test_other_tpm_named_before_pcrs(swtpm, kek: bytes) -> None:
    # A blob from another TPM whose PCRs also differ: the TPM is the cause to report.
    blob = TPM2Sealer().seal(kek, AD)
    foreign = dict(blob, primary_name="000b" + "00" * 32, pcr_values={"7": "11" * 32})
    with pytest.raises(SealError, match="not the one"):
        unseal(foreign, AD)


def test_malformed_blob(swtpm) -> None:
    with pytest.raises(SealError, match="malformed"):
        unseal({"sealer": "tpm2", "version": 1, "pcrs": "sha256:7"}, AD)


def test_garbage_public_rejected(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    garbage = dict(blob, public=base64.b64encode(b"\xff\xff\x00").decode())
    with pytest.raises(SealError, match="not a TPM2B"):
        unseal(garbage, AD)


def test_pcr_values_not_object(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    with pytest.raises(SealError, match="pcr_values"):
        unseal(dict(blob, pcr_values=["00"]), AD)


def test_wrong_kek_size(swtpm) -> None:
    with pytest.raises(InvalidArgument):
        TPM2Sealer().seal(b"short", AD)


def test_describe(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="1").seal(kek, AD)
    assert TPM2Sealer().describe(blob) == {"sealer": "tpm2", "pcrs": "sha256:7", "pin": True}


def test_short_private_names_fix(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer().seal(kek, AD)
    tampered = dict(blob, private=base64.b64encode(b"\x00\x00\x00").decode())
    with pytest.raises(SealError, match="failed") as caught:
        unseal(tampered, AD)
    assert "restore it from a backup" in (caught.value.fix or "")


def test_wrong_pin_names_variable(swtpm, kek: bytes) -> None:
    blob = TPM2Sealer(tpm_pin="2468").seal(kek, AD)
    with pytest.raises(WrongPassphrase) as caught:
        unseal(blob, AD, tpm_pin="1357")
    assert "AGILE_TPM_PIN" in (caught.value.fix or "")


def test_swtpm_script_port_in_use(tmp_path) -> None:
    import shutil
    import socket
    import subprocess

    from tests.seal.conftest import SCRIPTS, free_port_pair, missing

    if shutil.which("swtpm") is None:
        missing("swtpm is not installed")
    port = free_port_pair()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        started = subprocess.run(
            ["sh", str(SCRIPTS / "swtpm.sh"), "start", str(tmp_path / "tpm"), str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert "Address already in use" in started.stderr


def test_full_tpm_named_busy(swtpm, kek: bytes) -> None:
    # Another connection fills every object slot, as a second process without a resource
    # manager would.
    from agile.seal.tpm2 import TPMConnection

    blob = TPM2Sealer().seal(kek, AD)
    with TPMConnection(swtpm.tcti) as other:
        for _ in range(3):
            other.storage_primary()
        with pytest.raises(SealError, match="no free object or session slot"):
            unseal(blob, AD)
