"""A stored key record damaged on disk, and how a client reports broker-side failures.

A record that fails authentication is the broker's fault.  The broker replies
with 500 and logs the key id and file, and the client raises BrokerFailure
(exit 2).  A rejected release is a failed check instead, so ``agile decrypt``
exits with 1.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys

import pytest

from agile import api
from agile.attest.broker import BrokerFailure, StoredKeyInvalid
from agile.attest.evidence import SimulatorEvidence
from agile.attest.policy import parse_policy
from agile.attest.simulator import GuestLaunch
from agile.keys.kek import forget_keks
from agile.keys.keystore import Keystore
from tests.attest.conftest import BAD_MEASUREMENT, GOOD_MEASUREMENT

SECRET = bytes(range(32))
POLICY = parse_policy({"snp": {"measurements": [GOOD_MEASUREMENT.hex()], "vmpl": 0}})


def evidence(simulator, measurement=GOOD_MEASUREMENT):
    return SimulatorEvidence(simulator, GuestLaunch(measurement=measurement))


def record_path(broker, key_id):
    return broker.config.directory / "keys" / f"{key_id}.json"


def edit_record(broker, key_id, change):
    """Apply ``change`` to the JSON record of ``key_id`` on disk."""
    path = record_path(broker, key_id)
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def flip_ciphertext(record):
    ciphertext = bytearray(base64.b64decode(record["ciphertext"]))
    ciphertext[0] ^= 1
    record["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()


def allow_other_measurement(record):
    record["policy"]["snp"]["measurements"] = [BAD_MEASUREMENT.hex()]


def test_flipped_ciphertext_broker_failure(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    edit_record(test_broker, key_id, flip_ciphertext)

    with pytest.raises(BrokerFailure) as caught:
        test_broker.reader().release(key_id, evidence(simulator))
    assert "HTTP 500" in str(caught.value)
    assert "failed authentication" in str(caught.value)
    assert "operator" in caught.value.fix
    assert caught.value.exit_code == 2


def test_edited_policy_broker_failure(test_broker, simulator):
    """A policy edited to admit other evidence fails, because it is associated data."""
    key_id = test_broker.client.put_key(SECRET, POLICY)
    edit_record(test_broker, key_id, allow_other_measurement)

    with pytest.raises(BrokerFailure, match="failed authentication"):
        test_broker.reader().release(key_id, evidence(simulator, BAD_MEASUREMENT))


def test_malformed_record_broker_failure(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    record_path(test_broker, key_id).write_text("{not json")

    with pytest.raises(BrokerFailure, match="failed authentication"):
        test_broker.reader().release(key_id, evidence(simulator))


def test_missing_field_broker_failure(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    edit_record(test_broker, key_id, lambda record: record.pop("nonce"))

    with pytest.raises(BrokerFailure, match="failed authentication"):
        test_broker.reader().release(key_id, evidence(simulator))


def test_reply_hides_record_details(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    edit_record(test_broker, key_id, flip_ciphertext)

    with pytest.raises(BrokerFailure) as caught:
        test_broker.reader().release(key_id, evidence(simulator))
    assert key_id in str(caught.value)
    assert str(record_path(test_broker, key_id)) not in str(caught.value)
    assert "AES" not in str(caught.value)


def test_tampered_record_logged(test_broker, simulator, caplog):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    edit_record(test_broker, key_id, flip_ciphertext)

    with caplog.at_level(logging.INFO, logger="agile.attest.broker"):
        with pytest.raises(BrokerFailure):
            test_broker.reader().release(key_id, evidence(simulator))
    errors = [entry for entry in caplog.records if entry.levelno == logging.ERROR]
    assert len(errors) == 1
    assert key_id in errors[0].getMessage()
    assert str(record_path(test_broker, key_id)) in errors[0].getMessage()
    assert not any("bad request" in entry.getMessage() for entry in caplog.records)


def test_load_key_raises_stored_key_invalid(test_broker):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    edit_record(test_broker, key_id, flip_ciphertext)

    with pytest.raises(StoredKeyInvalid) as caught:
        test_broker.broker._load_key(key_id)
    assert caught.value.key_id == key_id
    assert caught.value.path == record_path(test_broker, key_id)


def test_refused_release_decrypt_exits_1(test_broker, simulator, tmp_path, monkeypatch):
    """A rejected attestation is a failed check, so exit code 1, as for an invalid signature."""
    simulator.save(tmp_path / "simulator")
    policy_file = tmp_path / "keep-policy.toml"
    policy_file.write_text(f'[snp]\nmeasurements = ["{GOOD_MEASUREMENT.hex()}"]\nvmpl = 0\n')
    environment = {
        "AGILE_KEEP_BROKER": test_broker.url,
        "AGILE_KEEP_BROKER_CERT": str(test_broker.config.cert_path),
        "AGILE_KEEP_EVIDENCE": f"simulator:{tmp_path / 'simulator'}",
        "AGILE_KEEP_SIMULATED_MEASUREMENT": GOOD_MEASUREMENT.hex(),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGILE_KEEP_TOKEN", test_broker.config.token_path.read_text().strip())
    monkeypatch.setenv("AGILE_KEEP_POLICY", str(policy_file))
    store = Keystore.open(tmp_path / "keystore")
    store.create_keyset("files", "kem", sealer="keep")
    (tmp_path / "data.agile").write_bytes(api.encrypt(b"attested data", "files", keystore=store))
    forget_keks()

    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--keystore", str(tmp_path / "keystore")]
        + ["decrypt", str(tmp_path / "data.agile")],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            **environment,
            "AGILE_KEEP_SIMULATED_MEASUREMENT": BAD_MEASUREMENT.hex(),
        },
    )

    assert result.returncode == 1, result.stderr
    assert "not an allowed measurement" in result.stderr
    assert result.stdout == ""
