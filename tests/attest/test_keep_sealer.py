"""The keep sealer against a live broker: release to matching simulated evidence only."""

from __future__ import annotations

import os

import pytest

from agile import api
from agile.attest.evidence import SimulatorEvidence
from agile.attest.simulator import GuestLaunch
from agile.errors import SealError
from agile.keys.kek import forget_keks
from agile.keys.keystore import Keystore
from agile.seal.keep import KeepReleaseRejected, KeepSealer
from tests.attest.conftest import BAD_MEASUREMENT, GOOD_MEASUREMENT

KEK = os.urandom(32)
ASSOCIATED = b"keyset files 0123"


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "keep-policy.toml"
    path.write_text(f'[snp]\nmeasurements = ["{GOOD_MEASUREMENT.hex()}"]\nvmpl = 0\n')
    return path


def sealer(broker, policy_file, simulator, measurement=GOOD_MEASUREMENT, **options):
    settings = {
        "keep_broker": broker.url,
        "keep_broker_cert": str(broker.config.cert_path),
        "keep_token": broker.config.token_path.read_text().strip(),
        "keep_policy": str(policy_file),
        "keep_evidence": SimulatorEvidence(simulator, GuestLaunch(measurement=measurement)),
    }
    settings.update(options)
    return KeepSealer(**settings)


def test_keep_round_trip(test_broker, policy_file, simulator):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    opened = sealer(test_broker, policy_file, simulator).unseal(blob, ASSOCIATED)
    assert opened == KEK


def test_keep_blob_names_broker(test_broker, policy_file, simulator):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    assert blob["broker"] == test_broker.url
    assert blob["key_id"].startswith("k-")
    assert len(blob["policy_sha256"]) == 64


def test_keep_blob_holds_no_kek(test_broker, policy_file, simulator):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    assert KEK.hex() not in str(blob)


def test_keep_other_measurement_rejected(test_broker, policy_file, simulator):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    other = sealer(test_broker, policy_file, simulator, BAD_MEASUREMENT)
    with pytest.raises(KeepReleaseRejected) as caught:
        other.unseal(blob, ASSOCIATED)
    assert any("not an allowed measurement" in reason for reason in caught.value.reasons)


def test_keep_other_keyset_rejected(test_broker, policy_file, simulator):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    with pytest.raises(SealError, match="not this keyset's KEK"):
        sealer(test_broker, policy_file, simulator).unseal(blob, b"keyset other 4567")


def test_keep_check_not_hex(test_broker, policy_file, simulator):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    with pytest.raises(SealError, match="'check' is not hex"):
        sealer(test_broker, policy_file, simulator).unseal({**blob, "check": "zz"}, ASSOCIATED)


def test_keep_unseal_ignores_kem_variable(test_broker, policy_file, simulator, monkeypatch):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    settings = sealer(test_broker, policy_file, simulator).settings
    monkeypatch.setenv("AGILE_KEEP_KEM", "no-such-kem")
    opened = KeepSealer.from_blob(blob, **settings).unseal(blob, ASSOCIATED)
    assert opened == KEK


def test_keep_other_broker_cert_rejected(test_broker, policy_file, simulator, tmp_path):
    blob = sealer(test_broker, policy_file, simulator).seal(KEK, ASSOCIATED)
    other = tmp_path / "other-cert.pem"
    other.write_bytes(simulator.pem(simulator.ark))
    with pytest.raises(SealError, match="broker certificate differs"):
        sealer(test_broker, policy_file, simulator, keep_broker_cert=str(other)).unseal(
            blob, ASSOCIATED
        )


def test_keep_seal_needs_policy(test_broker, policy_file, simulator, monkeypatch):
    monkeypatch.delenv("AGILE_KEEP_POLICY", raising=False)
    with pytest.raises(SealError, match="attestation policy"):
        sealer(test_broker, policy_file, simulator, keep_policy=None).seal(KEK, ASSOCIATED)


def test_keep_keyset_via_environment(test_broker, policy_file, simulator, tmp_path, monkeypatch):
    simulator_dir = tmp_path / "simulator"
    simulator.save(simulator_dir)
    monkeypatch.setenv("AGILE_KEEP_BROKER", test_broker.url)
    monkeypatch.setenv("AGILE_KEEP_BROKER_CERT", str(test_broker.config.cert_path))
    monkeypatch.setenv("AGILE_KEEP_TOKEN", test_broker.config.token_path.read_text().strip())
    monkeypatch.setenv("AGILE_KEEP_POLICY", str(policy_file))
    monkeypatch.setenv("AGILE_KEEP_EVIDENCE", f"simulator:{simulator_dir}")
    monkeypatch.setenv("AGILE_KEEP_SIMULATED_MEASUREMENT", GOOD_MEASUREMENT.hex())
    store = Keystore.open(tmp_path / "keystore")
    store.create_keyset("files", "kem", sealer="keep")
    sealed = api.encrypt(b"attested data", "files", keystore=store)
    forget_keks()

    assert api.decrypt(sealed, keystore=Keystore.open(tmp_path / "keystore")) == b"attested data"


def test_keep_keyset_wrong_measurement(test_broker, policy_file, simulator, tmp_path, monkeypatch):
    simulator_dir = tmp_path / "simulator"
    simulator.save(simulator_dir)
    monkeypatch.setenv("AGILE_KEEP_BROKER_CERT", str(test_broker.config.cert_path))
    monkeypatch.setenv("AGILE_KEEP_TOKEN", test_broker.config.token_path.read_text().strip())
    monkeypatch.setenv("AGILE_KEEP_POLICY", str(policy_file))
    monkeypatch.setenv("AGILE_KEEP_EVIDENCE", f"simulator:{simulator_dir}")
    monkeypatch.setenv("AGILE_KEEP_SIMULATED_MEASUREMENT", GOOD_MEASUREMENT.hex())
    monkeypatch.setenv("AGILE_KEEP_BROKER", test_broker.url)
    store = Keystore.open(tmp_path / "keystore")
    store.create_keyset("files", "kem", sealer="keep")
    sealed = api.encrypt(b"attested data", "files", keystore=store)
    forget_keks()
    monkeypatch.setenv("AGILE_KEEP_SIMULATED_MEASUREMENT", BAD_MEASUREMENT.hex())

    with pytest.raises(KeepReleaseRejected):
        api.decrypt(sealed, keystore=Keystore.open(tmp_path / "keystore"))


def test_missing_policy_names_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILE_KEEP_POLICY", raising=False)
    with pytest.raises(SealError) as caught:
        KeepSealer(keep_broker="https://127.0.0.1:1", keep_broker_cert="x.pem").seal(
            bytes(32), b"ad"
        )
    assert "--keep-policy" in (caught.value.fix or "")


def test_unreachable_broker_keeps_fix(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agile.attest.broker import init_broker

    monkeypatch.setenv("AGILE_PASSPHRASE", "broker test passphrase")
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    config = init_broker(tmp_path / "broker", port=0)
    policy = tmp_path / "policy.toml"
    policy.write_text('[snp]\nmeasurements = ["' + "ab" * 48 + '"]\n')
    sealer = KeepSealer(
        keep_broker="https://127.0.0.1:1",
        keep_broker_cert=str(config.cert_path),
        keep_token="x",
        keep_policy=str(policy),
    )
    with pytest.raises(SealError, match="storing the KEK") as caught:
        sealer.seal(bytes(32), b"ad")
    assert "agile keep serve" in (caught.value.fix or "")
