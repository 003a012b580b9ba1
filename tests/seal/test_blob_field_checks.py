"""Edited fields of tpm2 blobs and clevis JWE headers are reported as such, not as PCR changes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agile.errors import InvalidArgument, SealError
from agile.seal.base import unseal
from agile.seal.clevis import decrypt, encrypt_tpm2, parse_config
from agile.seal.tpm2 import PCRChanged, TPM2Sealer

AD = b"agile keyset kek v1\x00fields\x00uid"
PLAINTEXT = b"clevis secret\n"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def blob(swtpm, kek: bytes) -> dict[str, Any]:
    return TPM2Sealer(pcrs="sha256:0,7").seal(kek, AD)


def _malformed(blob: dict[str, Any], field: str) -> SealError:
    with pytest.raises(SealError, match="tpm2 sealed blob is malformed") as caught:
        unseal(blob, AD)
    assert not isinstance(caught.value, PCRChanged)
    assert field in str(caught.value)
    return caught.value


# tpm2 blobs


def test_pcr_value_deleted(blob: dict[str, Any]) -> None:
    values = {index: value for index, value in blob["pcr_values"].items() if index != "7"}
    _malformed(dict(blob, pcr_values=values), "no value for PCR 7")


def test_pcr_value_number(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, pcr_values={**blob["pcr_values"], "7": 5}), "PCR 7 is 5")


def test_pcr_value_short(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, pcr_values={**blob["pcr_values"], "7": "00" * 20}), "32-byte")


def test_pcr_value_not_hex(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, pcr_values={**blob["pcr_values"], "7": "zz" * 32}), "PCR 7")


def test_pcr_value_extra(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, pcr_values={**blob["pcr_values"], "3": "00" * 32}), "PCR 3")


def test_pcrs_not_selection(blob: dict[str, Any]) -> None:
    error = _malformed(dict(blob, pcrs="md5:7"), "'pcrs'")
    assert "restore the keyset file" in (error.fix or "")


def test_pin_string(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, pin="yes"), "'pin'")


def test_pin_missing(blob: dict[str, Any]) -> None:
    _malformed({key: value for key, value in blob.items() if key != "pin"}, "'pin'")


def test_predicted_outside_selection(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, predicted=[3]), "'predicted'")


def test_predicted_not_list(blob: dict[str, Any]) -> None:
    _malformed(dict(blob, predicted="7"), "'predicted'")


def test_intact_blob_opens(blob: dict[str, Any], kek: bytes) -> None:
    assert unseal(blob, AD) == kek


def test_cli_edited_pcr_value(keystore: Path, fast_passphrase: str, swtpm, tmp_path) -> None:
    agile = [sys.executable, "-m", "cli.main"]
    created = subprocess.run(
        [*agile, "keyset", "create", "edited", "--purpose", "aead", "--seal", "tpm2"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    keyset_file = keystore / "keysets" / "edited.json"
    document = json.loads(keyset_file.read_text())
    document["seal"]["pcr_values"]["7"] = 5
    keyset_file.write_text(json.dumps(document))

    opened = subprocess.run(
        [*agile, "encrypt", "--to", "edited", "-"],
        input="x", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert opened.returncode == 2
    assert "malformed" in opened.stderr
    assert "changed since" not in opened.stderr


# clevis JWE headers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _edit_header(jwe: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    parts = jwe.decode("ascii").split(".")
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    change(header["clevis"]["tpm2"])
    parts[0] = _b64url(json.dumps(header, separators=(",", ":")).encode())
    return ".".join(parts).encode("ascii")


@pytest.fixture
def pcr_jwe(swtpm) -> bytes:
    return encrypt_tpm2(PLAINTEXT, parse_config('{"pcr_bank":"sha256","pcr_ids":"7"}'))


@pytest.fixture
def plain_jwe(swtpm) -> bytes:
    return encrypt_tpm2(PLAINTEXT, parse_config("{}"))


def test_clevis_pcr_ids_removed(pcr_jwe: bytes) -> None:
    edited = _edit_header(pcr_jwe, lambda pin: (pin.pop("pcr_ids"), pin.pop("pcr_bank")))
    with pytest.raises(InvalidArgument, match="protected header was modified"):
        decrypt(edited)


def test_clevis_pcr_ids_added(plain_jwe: bytes) -> None:
    edited = _edit_header(plain_jwe, lambda pin: pin.update(pcr_bank="sha256", pcr_ids="7"))
    with pytest.raises(InvalidArgument, match="protected header was modified"):
        decrypt(edited)


def test_clevis_hash_changed(pcr_jwe: bytes) -> None:
    edited = _edit_header(pcr_jwe, lambda pin: pin.update(hash="sha1"))
    with pytest.raises(InvalidArgument, match="hash is sha1"):
        decrypt(edited)


@pytest.mark.parametrize(
    "change",
    [{"pcr_ids": "0,7"}, {"pcr_ids": "0"}, {"pcr_bank": "sha1"}],
    ids=["pcr-ids-widened", "pcr-ids-replaced", "pcr-bank"],
)
def test_clevis_selection_edited(pcr_jwe: bytes, change: dict[str, str]) -> None:
    edited = _edit_header(pcr_jwe, lambda pin: pin.update(change))
    with pytest.raises(SealError, match="policy check failed") as caught:
        decrypt(edited)
    assert "header was modified in pcr_bank or pcr_ids" in str(caught.value)


def test_clevis_intact_opens(pcr_jwe: bytes) -> None:
    assert decrypt(pcr_jwe) == PLAINTEXT
