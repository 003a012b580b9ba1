"""Clevis tpm2 pin interop both ways, against Debian's clevis on swtpm behind tpm2-abrmd."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from agile.errors import AuthenticationFailed, InvalidArgument, SealError
from agile.seal.clevis import decrypt, encrypt_tpm2, parse_config

PLAINTEXT = b"disk unlock secret\n\x00\xff binary tail"
PCR7 = '{"pcr_bank":"sha256","pcr_ids":"7"}'


def _clevis(*arguments: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["clevis", *arguments], input=data, capture_output=True, timeout=120, check=False
    )


def _agile(*arguments: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *arguments],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )


def _tamper_tag(jwe: bytes) -> bytes:
    head, _, tag = jwe.strip().rpartition(b".")
    raw = bytearray(base64.urlsafe_b64decode(tag + b"=" * (-len(tag) % 4)))
    raw[0] ^= 1
    return head + b"." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=")


# Configuration and JWE parsing (no device needed).


def test_config_defaults() -> None:
    config = parse_config("{}")
    assert (config.hash, config.key, config.pcr_bank, config.selection) == (
        "sha256",
        "ecc",
        "sha1",
        None,
    )


def test_config_pcr_list() -> None:
    config = parse_config('{"pcr_bank":"sha256","pcr_ids":[0,"7"]}')
    assert str(config.selection) == "sha256:0,7"


@pytest.mark.parametrize(
    "text", ["[]", "{", '{"colour":"red"}', '{"key":"dsa"}', '{"pcr_ids":"7,x"}']
)
def test_config_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_config(text)


@pytest.mark.parametrize("jwe", [b"a.b.c", b"{}", b"\xff.a.b.c.d", b"e30.x.AA.AA.AA"])
def test_decrypt_malformed(jwe: bytes) -> None:
    with pytest.raises(InvalidArgument):
        decrypt(jwe)


def test_decrypt_encrypted_key_named() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"dir","enc":"A256GCM"}').rstrip(b"=")
    with pytest.raises(InvalidArgument, match="encrypted key part of 4 characters"):
        decrypt(header + b".AAAA.AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA")


def test_decrypt_other_pin() -> None:
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "tang"}}).encode()
    ).rstrip(b"=")
    with pytest.raises(InvalidArgument, match="tang"):
        decrypt(header + b"..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA")


# Against clevis.


def test_clevis_to_agile(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", PCR7, data=PLAINTEXT)
    assert jwe.returncode == 0, jwe.stderr
    assert decrypt(jwe.stdout) == PLAINTEXT


def test_clevis_to_agile_default_bank(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", '{"pcr_ids":"0,7"}', data=PLAINTEXT)
    assert jwe.returncode == 0, jwe.stderr
    assert decrypt(jwe.stdout) == PLAINTEXT


def test_clevis_to_agile_no_policy(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", "{}", data=PLAINTEXT)
    assert jwe.returncode == 0, jwe.stderr
    assert decrypt(jwe.stdout) == PLAINTEXT


def test_clevis_to_agile_rsa(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", '{"key":"rsa","pcr_bank":"sha256","pcr_ids":"7"}', data=b"x")
    assert jwe.returncode == 0, jwe.stderr
    assert decrypt(jwe.stdout) == b"x"


def test_agile_to_clevis(swtpm_abrmd) -> None:
    jwe = encrypt_tpm2(PLAINTEXT, parse_config(PCR7))
    opened = _clevis("decrypt", data=jwe)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == PLAINTEXT


def test_agile_to_clevis_no_policy(swtpm_abrmd) -> None:
    jwe = encrypt_tpm2(PLAINTEXT, parse_config("{}"))
    opened = _clevis("decrypt", data=jwe)
    assert opened.stdout == PLAINTEXT


def test_agile_round_trip(swtpm_abrmd) -> None:
    jwe = encrypt_tpm2(PLAINTEXT, parse_config(PCR7))
    assert decrypt(jwe) == PLAINTEXT


def test_pcr_changed(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", PCR7, data=PLAINTEXT).stdout
    swtpm_abrmd.extend_pcr(7)
    with pytest.raises(SealError, match="sha256:7"):
        decrypt(jwe)


def test_pcr_changed_two_pcrs_wording(swtpm_abrmd) -> None:
    # The JWE keeps no PCR values, so the message cannot claim that both changed.
    jwe = encrypt_tpm2(PLAINTEXT, parse_config('{"pcr_bank":"sha256","pcr_ids":"0,7"}'))
    swtpm_abrmd.extend_pcr(7)
    with pytest.raises(SealError, match="at least one of PCRs 0,7"):
        decrypt(jwe)


def test_pcr_changed_clevis_rejects_ours(swtpm_abrmd) -> None:
    jwe = encrypt_tpm2(PLAINTEXT, parse_config(PCR7))
    swtpm_abrmd.extend_pcr(7)
    assert _clevis("decrypt", data=jwe).returncode != 0


def test_tampered_tag(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", PCR7, data=PLAINTEXT).stdout
    with pytest.raises(AuthenticationFailed):
        decrypt(_tamper_tag(jwe))


def test_cli_round_trip_with_clevis(swtpm_abrmd) -> None:
    sealed = _agile("clevis", "encrypt", "tpm2", PCR7, data=PLAINTEXT)
    assert sealed.returncode == 0, sealed.stderr
    opened = _clevis("decrypt", data=sealed.stdout)
    assert opened.stdout == PLAINTEXT


def test_cli_decrypts_clevis(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", PCR7, data=PLAINTEXT).stdout
    opened = _agile("clevis", "decrypt", data=jwe)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == PLAINTEXT


def test_cli_tampered_prints_nothing(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", PCR7, data=PLAINTEXT).stdout
    opened = _agile("clevis", "decrypt", data=_tamper_tag(jwe))
    assert opened.returncode == 2
    assert opened.stdout == b""
    assert b"tag check failed" in opened.stderr


def test_cli_pcr_changed_exit_code(swtpm_abrmd) -> None:
    jwe = _clevis("encrypt", "tpm2", PCR7, data=PLAINTEXT).stdout
    swtpm_abrmd.extend_pcr(7)
    opened = _agile("clevis", "decrypt", data=jwe)
    assert opened.returncode == 2
    assert b"sha256:7" in opened.stderr


def test_cli_warns_unopenable_hash(swtpm_abrmd) -> None:
    config = '{"pcr_bank":"sha256","pcr_ids":"7","hash":"sha384"}'
    sealed = _agile("clevis", "encrypt", "tpm2", config, data=PLAINTEXT)
    assert b"clevis decrypt (clevis 19, tpm2-tools 5) cannot open" in sealed.stderr


def test_cli_sha384_hash_round_trip(swtpm_abrmd) -> None:
    config = '{"pcr_bank":"sha256","pcr_ids":"7","hash":"sha384"}'
    sealed = _agile("clevis", "encrypt", "tpm2", config, data=PLAINTEXT)
    opened = _agile("clevis", "decrypt", data=sealed.stdout)
    assert opened.stdout == PLAINTEXT


def test_cli_no_warning_for_sha256(swtpm_abrmd) -> None:
    sealed = _agile("clevis", "encrypt", "tpm2", PCR7, data=PLAINTEXT)
    assert b"warning" not in sealed.stderr


def test_config_pcr_ids_integer() -> None:
    config = parse_config('{"pcr_bank":"sha256","pcr_ids":7}')
    assert str(config.selection) == "sha256:7"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"pcr_bank":"md5"}', "pcr_bank"),
        ('{"pcr_bank":"sha256","pcr_ids":{"a":1}}', "pcr_ids"),
        ('{"pcr_bank":"sha256","pcr_ids":"0","pcr_digest":"zz"}', "expected 32"),
        ('{"pcr_bank":"sha256","pcr_digest":"' + "A" * 43 + '"}', "without pcr_ids"),
    ],
)
def test_config_rejects_unusable_policy(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_config(text)


def test_config_pcr_digest_right_size() -> None:
    digest = base64.urlsafe_b64encode(bytes(64)).decode().rstrip("=")
    config = parse_config('{"pcr_bank":"sha256","pcr_ids":"0,7","pcr_digest":"' + digest + '"}')
    assert config.pcr_digest == bytes(64)


def test_full_tpm_named_busy(swtpm) -> None:
    from agile.seal.tpm2 import TPMConnection

    jwe = encrypt_tpm2(PLAINTEXT, parse_config(PCR7), swtpm.tcti)
    with TPMConnection(swtpm.tcti) as other:
        for _ in range(3):
            other.storage_primary()
        with pytest.raises(SealError, match="no free object or session slot"):
            decrypt(jwe, swtpm.tcti)
