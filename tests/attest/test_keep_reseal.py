"""``agile keep init`` sealer options and ``agile keep reseal`` of a broker's master key.

The tpm2 cases run against a fresh swtpm on 127.0.0.1 and extend PCR 7 as a
firmware update would.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from agile.attest.broker import KeyBroker, init_broker
from agile.attest.policy import parse_policy
from agile.errors import SealError, WrongPassphrase
from cli.keep import keep
from tests.attest.conftest import GOOD_MEASUREMENT

SECRET = bytes(range(32))
POLICY = parse_policy({"snp": {"measurements": [GOOD_MEASUREMENT.hex()], "vmpl": 0}})
#: The digest that SoftwareTPM.extend_pcr extends a sha256 PCR with.
EXTEND_DIGEST = bytes.fromhex("ab" * 32)


def run(*arguments, env=None):
    """Run ``agile keep ARGUMENTS`` in this process and return the click result."""
    return CliRunner().invoke(keep, [str(argument) for argument in arguments], env=env)


def store_key(config):
    broker = KeyBroker(config)
    return broker.put_key(SECRET, POLICY)


def stored_secret(config, key_id):
    secret, _ = KeyBroker(config)._load_key(key_id)
    return secret


@pytest.fixture
def tpm2_broker(tmp_path, swtpm):
    return init_broker(tmp_path / "broker", port=0, master_sealer="tpm2")


def test_tpm2_master_lost_names_broker(tpm2_broker, swtpm):
    swtpm.extend_pcr(7)

    with pytest.raises(SealError) as caught:
        KeyBroker(tpm2_broker)
    assert "broker's master key" in str(caught.value)
    assert "keyset" not in caught.value.fix
    assert f"agile keep reseal {tpm2_broker.directory}" in caught.value.fix
    assert "cannot be recovered" in caught.value.fix


def test_reseal_predicted_pcr_survives_change(tpm2_broker, swtpm):
    key_id = store_key(tpm2_broker)
    predicted = hashlib.sha256(bytes(32) + EXTEND_DIGEST).hexdigest()

    result = run("reseal", tpm2_broker.directory, "--pcr-values", f"7={predicted}")
    swtpm.extend_pcr(7)

    assert result.exit_code == 0, result.output
    assert stored_secret(tpm2_broker, key_id) == SECRET
    assert tpm2_broker.master_key_path.stat().st_mode & 0o777 == 0o600


def test_reseal_to_sss_survives_change(tpm2_broker, swtpm, cheap_passphrase):
    key_id = store_key(tpm2_broker)
    arguments = ["--master-sealer", "sss", "--sss-members", "tpm2,passphrase"]

    result = run("reseal", tpm2_broker.directory, *arguments, "--sss-threshold", "1")
    swtpm.extend_pcr(7)

    assert result.exit_code == 0, result.output
    assert stored_secret(tpm2_broker, key_id) == SECRET
    assert 'master_sealer = "sss"' in (tpm2_broker.directory / "broker.toml").read_text()


def test_sss_master_lost_names_broker(tpm2_broker, swtpm, cheap_passphrase, monkeypatch):
    arguments = ["--master-sealer", "sss", "--sss-members", "tpm2,passphrase"]
    run("reseal", tpm2_broker.directory, *arguments, "--sss-threshold", "2")
    swtpm.extend_pcr(7)
    monkeypatch.setenv("AGILE_PASSPHRASE", "not the broker passphrase")

    with pytest.raises(SealError) as caught:
        KeyBroker(tpm2_broker)
    assert "broker's master key" in str(caught.value)
    assert f"agile keep reseal {tpm2_broker.directory}" in caught.value.fix


def test_reseal_renews_tpm2_member(tpm2_broker, swtpm, cheap_passphrase, monkeypatch):
    """An sss master key resealed after the change opens with its tpm2 member alone again."""
    arguments = ["--master-sealer", "sss", "--sss-members", "tpm2,passphrase"]
    run("reseal", tpm2_broker.directory, *arguments, "--sss-threshold", "1")
    swtpm.extend_pcr(7)

    renewed = run("reseal", tpm2_broker.directory)
    monkeypatch.delenv("AGILE_PASSPHRASE")

    assert renewed.exit_code == 0, renewed.output
    KeyBroker(tpm2_broker)  # the tpm2 member opens it, with no passphrase set


def test_reseal_without_pcrs_fails(tpm2_broker, swtpm):
    swtpm.extend_pcr(7)
    before = tpm2_broker.master_key_path.read_bytes()

    result = run("reseal", tpm2_broker.directory)

    assert isinstance(result.exception, SealError)
    assert "broker's master key" in str(result.exception)
    assert tpm2_broker.master_key_path.read_bytes() == before


def test_reseal_passphrase_change(tmp_path, cheap_passphrase, monkeypatch):
    config = init_broker(tmp_path / "broker", port=0)
    key_id = store_key(config)

    result = run("reseal", config.directory, env={"AGILE_NEW_PASSPHRASE": "new broker words"})

    assert result.exit_code == 0, result.output
    with pytest.raises(WrongPassphrase) as caught:
        KeyBroker(config)
    assert "AGILE_PASSPHRASE" in caught.value.fix
    assert "keyset" not in caught.value.fix
    monkeypatch.setenv("AGILE_PASSPHRASE", "new broker words")
    assert stored_secret(config, key_id) == SECRET


def test_reseal_new_passphrase_needs_passphrase_sealer(tpm2_broker, swtpm):
    result = run("reseal", tpm2_broker.directory, env={"AGILE_NEW_PASSPHRASE": "words"})

    assert isinstance(result.exception, SealError)
    assert "has no passphrase" in str(result.exception)


def test_init_sss_options(tmp_path, cheap_passphrase):
    directory = tmp_path / "broker"
    arguments = ["--master-sealer", "sss", "--sss-members", "passphrase", "--sss-threshold", "1"]

    result = run("init", directory, "--port", "0", *arguments)

    assert result.exit_code == 0, result.output
    assert json.loads((directory / "master.json").read_text())["sealer"] == "sss"


def test_init_foreign_option_rejected(tmp_path, cheap_passphrase):
    result = run("init", tmp_path / "broker", "--port", "0", "--pkcs11-token", "token")

    assert result.exit_code == 2
    assert "--pkcs11-token is an option of the pkcs11 sealer" in result.output
    assert not (tmp_path / "broker").exists()


def test_init_repeated_member_rejected(tmp_path, cheap_passphrase):
    arguments = ["--master-sealer", "sss", "--sss-members", "passphrase,passphrase"]

    result = run("init", tmp_path / "broker", "--port", "0", *arguments)

    assert "more than once" in str(result.exception)
    assert not (tmp_path / "broker").exists()
