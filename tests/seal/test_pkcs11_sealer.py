"""The pkcs11 sealer against a real SoftHSM2 token."""

from __future__ import annotations

import base64
import json
import os

import pytest

from agile.errors import InvalidArgument, SealError, SealerUnavailable, WrongPassphrase
from agile.seal.base import unseal
from agile.seal.pkcs11 import MECHANISMS, PKCS11Sealer, UnwrapFailed

AD = b"agile keyset kek v1\x00test\x00uid"


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


def _flip(blob: dict, field: str, position: int = 0) -> dict:
    data = bytearray(base64.b64decode(blob[field]))
    data[position] ^= 1
    return dict(blob, **{field: base64.b64encode(bytes(data)).decode()})


def test_unknown_mechanism() -> None:
    with pytest.raises(InvalidArgument, match="aes-cbc"):
        PKCS11Sealer(pkcs11_mechanism="aes-cbc")


def test_missing_module(monkeypatch: pytest.MonkeyPatch, kek: bytes) -> None:
    pytest.importorskip("pkcs11")
    monkeypatch.delenv("AGILE_PKCS11_MODULE", raising=False)
    sealer = PKCS11Sealer(pkcs11_token="t", pkcs11_pin="1")
    with pytest.raises(SealerUnavailable, match="no PKCS#11 module"):
        sealer.seal(kek, AD)


def test_prefers_gcm(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    assert blob["mechanism"] == "aes-gcm"


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_round_trip(softhsm, kek: bytes, mechanism: str) -> None:
    blob = PKCS11Sealer(pkcs11_mechanism=mechanism).seal(kek, AD)
    assert unseal(blob, AD) == kek


def test_round_trip_explicit_options(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer(**softhsm.options()).seal(kek, AD)
    assert unseal(blob, AD, **softhsm.options()) == kek


def test_blob_has_no_kek(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    assert kek.hex() not in json.dumps(blob)


def test_blob_has_no_pin(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    assert softhsm.pin not in json.dumps(blob).replace(blob["key_id"], "")


def test_wrapping_key_not_extractable(softhsm, kek: bytes) -> None:
    import pkcs11

    blob = PKCS11Sealer().seal(kek, AD)
    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin) as session:
        key = session.get_key(id=bytes.fromhex(blob["key_id"]))
        assert key[pkcs11.Attribute.EXTRACTABLE] is False
        assert key[pkcs11.Attribute.SENSITIVE] is True
        assert key[pkcs11.Attribute.TOKEN] is True


def test_wrong_pin(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(WrongPassphrase, match="wrong PIN"):
        unseal(blob, AD, pkcs11_pin="0000")


def test_short_pin(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(WrongPassphrase):
        unseal(blob, AD, pkcs11_pin="1")


def test_no_pin(softhsm, kek: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    monkeypatch.delenv("AGILE_PKCS11_PIN")
    with pytest.raises(WrongPassphrase, match="no PIN"):
        unseal(blob, AD)


def test_missing_token(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealerUnavailable, match="no-such-token"):
        unseal(blob, AD, pkcs11_token="no-such-token")


def test_token_label_from_blob(softhsm, kek: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    monkeypatch.delenv("AGILE_PKCS11_TOKEN")
    assert unseal(blob, AD) == kek


def test_bad_module_path(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealerUnavailable):
        unseal(blob, AD, pkcs11_module="/nonexistent/libnothing.so")


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_tampered_wrapped_key(softhsm, kek: bytes, mechanism: str) -> None:
    blob = PKCS11Sealer(pkcs11_mechanism=mechanism).seal(kek, AD)
    with pytest.raises(UnwrapFailed, match="tampered"):
        unseal(_flip(blob, "wrapped", 5), AD)


def test_tampered_iv(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer(pkcs11_mechanism="aes-gcm").seal(kek, AD)
    with pytest.raises(UnwrapFailed):
        unseal(_flip(blob, "iv"), AD)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_other_keyset_rejected(softhsm, kek: bytes, mechanism: str) -> None:
    blob = PKCS11Sealer(pkcs11_mechanism=mechanism).seal(kek, AD)
    with pytest.raises(UnwrapFailed):
        unseal(blob, AD + b"x")


def test_missing_wrapping_key(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealError, match="not found"):
        unseal(dict(blob, key_id="00" * 16), AD)


def test_missing_wrapping_key_names_id(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealError, match="id " + "00" * 16):
        unseal(dict(blob, key_id="00" * 16), AD)


def test_malformed_blob(softhsm) -> None:
    with pytest.raises(SealError, match="malformed"):
        unseal({"sealer": "pkcs11", "version": 1, "mechanism": "aes-gcm"}, AD)


def test_reseal_new_key(softhsm, kek: bytes) -> None:
    sealer = PKCS11Sealer()
    blob = sealer.seal(kek, AD)
    resealed = sealer.reseal(blob, AD)
    assert resealed["key_id"] != blob["key_id"]
    assert unseal(resealed, AD) == kek


@pytest.mark.parametrize("key_id", [5, "zz", None])
def test_malformed_key_id(softhsm, kek: bytes, key_id: object) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(SealError, match="malformed"):
        unseal(dict(blob, key_id=key_id), AD)


def test_wrong_pin_names_variable(softhsm, kek: bytes) -> None:
    blob = PKCS11Sealer().seal(kek, AD)
    with pytest.raises(WrongPassphrase) as caught:
        unseal(blob, AD, pkcs11_pin="0000")
    assert "AGILE_PKCS11_PIN" in (caught.value.fix or "")


def test_softhsm_script_env_private(tmp_path) -> None:
    # DIR/env contains the token's user PIN.
    import shutil
    import stat
    import subprocess

    from tests.seal.conftest import SCRIPTS, missing

    if shutil.which("softhsm2-util") is None:
        missing("softhsm2-util is not installed")
    directory = tmp_path / "token"
    subprocess.run(
        [str(SCRIPTS / "softhsm.sh"), "init", str(directory), "agile-mode", "2468"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert stat.S_IMODE((directory / "env").stat().st_mode) == 0o600
