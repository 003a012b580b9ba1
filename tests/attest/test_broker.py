"""The key broker over real TLS on 127.0.0.1, with simulated SEV-SNP evidence."""

from __future__ import annotations

import base64

import pytest

from agile.attest.broker import BrokerClient
from agile.attest.evidence import SimulatorEvidence, binding_input
from agile.attest.policy import parse_policy
from agile.attest.simulator import GuestLaunch
from agile.attest.verdict import EvidenceRejected
from agile.errors import AttestationError, InvalidArgument, KeyNotFound
from tests.attest.conftest import BAD_MEASUREMENT, GOOD_MEASUREMENT

SECRET = bytes(range(32))
POLICY = parse_policy({"snp": {"measurements": [GOOD_MEASUREMENT.hex()], "vmpl": 0}})


def evidence(simulator, measurement=GOOD_MEASUREMENT):
    return SimulatorEvidence(simulator, GuestLaunch(measurement=measurement))


def release_request(broker, simulator, key_id, *, measurement=GOOD_MEASUREMENT):
    """Build a release request by hand, as a workload would, with an X25519 public key."""
    from agile import hpke

    suite = hpke.Suite.from_ids("x25519", "hkdf-sha256", "aes-256-gcm")
    public = suite.kem_impl.generate().public_key.data
    nonce = broker.issue_nonce()
    binding = binding_input(nonce, key_id, "x25519", public)
    return {
        "key_id": key_id,
        "nonce": base64.b64encode(nonce).decode(),
        "kem": "x25519",
        "public_key": base64.b64encode(public).decode(),
        "evidence": evidence(simulator, measurement).collect(binding),
    }


def test_release_matching_measurement(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    released = test_broker.reader().release(key_id, evidence(simulator))
    assert released == SECRET


def test_release_with_x25519(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    released = test_broker.reader().release(key_id, evidence(simulator), kem="x25519")
    assert released == SECRET


def test_release_other_measurement_rejected(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    with pytest.raises(EvidenceRejected) as caught:
        test_broker.reader().release(key_id, evidence(simulator, BAD_MEASUREMENT))
    assert any("not an allowed measurement" in reason for reason in caught.value.reasons)


def test_release_nonce_replay_rejected(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    request = release_request(test_broker.broker, simulator, key_id)
    test_broker.broker.release(dict(request))
    with pytest.raises(EvidenceRejected, match="was used"):
        test_broker.broker.release(dict(request))


def test_release_unknown_nonce_rejected(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    request = release_request(test_broker.broker, simulator, key_id)
    request["nonce"] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(EvidenceRejected, match="not issued"):
        test_broker.broker.release(request)


def test_release_swapped_public_key_rejected(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    request = release_request(test_broker.broker, simulator, key_id)
    other = release_request(test_broker.broker, simulator, key_id)
    request["public_key"] = other["public_key"]
    with pytest.raises(EvidenceRejected, match="REPORT_DATA"):
        test_broker.broker.release(request)


def test_release_evidence_for_other_key_rejected(test_broker, simulator):
    first = test_broker.client.put_key(SECRET, POLICY)
    second = test_broker.client.put_key(b"other key", POLICY)
    request = release_request(test_broker.broker, simulator, first)
    request["key_id"] = second
    with pytest.raises(EvidenceRejected, match="REPORT_DATA"):
        test_broker.broker.release(request)


def test_production_broker_rejects_simulator(production_broker, simulator):
    key_id = production_broker.client.put_key(SECRET, POLICY)
    with pytest.raises(EvidenceRejected) as caught:
        production_broker.reader().release(key_id, evidence(simulator))
    assert any("is not a trusted root" in reason for reason in caught.value.reasons)


def test_put_key_needs_token(test_broker):
    with pytest.raises(InvalidArgument, match="admin token"):
        test_broker.reader().put_key(SECRET, POLICY)


def test_put_key_wrong_token(test_broker):
    client = BrokerClient(test_broker.url, test_broker.config.cert_path, token="00" * 32)
    with pytest.raises(AttestationError, match="401"):
        client.put_key(SECRET, POLICY)


def test_put_key_open_policy_rejected(test_broker):
    with pytest.raises(AttestationError, match="allows no evidence"):
        test_broker.client.put_key(SECRET, parse_policy({"snp": {}}))


def test_release_unknown_key(test_broker, simulator):
    with pytest.raises(KeyNotFound):
        test_broker.reader().release("k-" + "00" * 16, evidence(simulator))


def test_client_rejects_other_certificate(test_broker, tmp_path, simulator):
    other = tmp_path / "other.pem"
    other.write_bytes(simulator.pem(simulator.ark))
    client = BrokerClient(test_broker.url, other)
    with pytest.raises(AttestationError, match="failed"):
        client.nonce()


def test_key_file_is_private(test_broker):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    path = test_broker.config.directory / "keys" / f"{key_id}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert SECRET.hex() not in path.read_text()


def test_silent_connection_does_not_block(test_broker):
    import socket

    host, port = test_broker.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as silent:
        silent.sendall(b"not TLS at all\r\n")
        nonce = test_broker.reader().nonce()
    assert len(nonce) == 32


def test_release_malformed_evidence(test_broker, simulator):
    key_id = test_broker.client.put_key(SECRET, POLICY)
    request = release_request(test_broker.broker, simulator, key_id)
    request["evidence"] = {"type": "sev-snp", "report": "not base64!"}
    with pytest.raises(AttestationError, match="not base64"):
        test_broker.broker.release(request)


def test_port_in_use_names_port(test_broker):
    import dataclasses

    from agile.attest.broker import BrokerServer, KeyBroker

    port = test_broker.server.server_address[1]
    config = dataclasses.replace(test_broker.config, port=port)
    with pytest.raises(AttestationError, match=f"failed to listen on 127.0.0.1:{port}") as caught:
        BrokerServer(KeyBroker(config))
    assert "broker.toml" in (caught.value.fix or "")


@pytest.mark.parametrize("size", [0, 4097, 20_000_000])
def test_put_key_size_checked_by_client(test_broker, size):
    with pytest.raises(InvalidArgument, match=f"got {size}"):
        test_broker.client.put_key(bytes(size), POLICY)


def test_bad_request_exits_2(test_broker):
    from agile.attest.broker import BrokerBadRequest

    with pytest.raises(BrokerBadRequest) as caught:
        test_broker.client.put_key(SECRET, parse_policy({"snp": {}}))
    assert caught.value.exit_code == 2


def test_client_missing_certificate_named(tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(InvalidArgument, match="missing.pem") as caught:
        BrokerClient("https://127.0.0.1:8443", missing)
    assert "--broker-cert" in (caught.value.fix or "")


def test_client_port_out_of_range(test_broker):
    with pytest.raises(InvalidArgument, match="port from 1 to 65535"):
        BrokerClient("https://127.0.0.1:99999", test_broker.config.cert_path)


def test_init_rejects_bad_test_root(tmp_path):
    from agile.attest.broker import init_broker

    root = tmp_path / "root.pem"
    root.write_text("not a certificate\n")
    with pytest.raises(AttestationError, match="test root"):
        init_broker(tmp_path / "broker", port=0, test_root=root)
    assert not (tmp_path / "broker").exists()


@pytest.mark.parametrize(
    "line",
    ['nonce_ttl = "abc"', "nonce_ttl = nan", "nonce_ttl = inf", "nonce_ttl = -5", "port = true"],
)
def test_config_rejects_bad_value(tmp_path, line):
    from agile.attest.broker import BrokerConfig

    key = line.partition(" ")[0]
    (tmp_path / "broker.toml").write_text(f'address = "127.0.0.1"\n{line}\n')
    with pytest.raises(InvalidArgument, match=key):
        BrokerConfig.load(tmp_path)


def test_config_rejects_bad_address(tmp_path):
    from agile.attest.broker import BrokerConfig

    (tmp_path / "broker.toml").write_text('address = "not an ip"\n')
    with pytest.raises(InvalidArgument, match="neither an IP address nor a host name"):
        BrokerConfig.load(tmp_path)


def test_init_rejects_bad_address(tmp_path):
    from agile.attest.broker import init_broker

    with pytest.raises(InvalidArgument, match="'not an ip'"):
        init_broker(tmp_path / "broker", address="not an ip", port=0)


def test_init_bad_address_writes_nothing(tmp_path):
    from agile.attest.broker import init_broker

    with pytest.raises(InvalidArgument):
        init_broker(tmp_path / "broker", address="bad_host!", port=0)
    assert not (tmp_path / "broker").exists()


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "localhost", "broker.example.org"])
def test_check_address_accepts(address):
    from agile.attest.broker import check_address

    assert check_address(address) == address


def test_put_tpm_policy_without_ak(test_broker):
    policy = parse_policy({"tpm": {"pcrs": {"7": "00" * 32}}})
    with pytest.raises(AttestationError, match="pins no attestation key"):
        test_broker.client.put_key(SECRET, policy)


def test_simulator_directory_missing(tmp_path):
    from agile.attest.simulator import SimulatedAmdSp

    with pytest.raises(InvalidArgument, match="lacks"):
        SimulatedAmdSp.load(tmp_path)


def test_test_root_without_common_name(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from agile.attest.simulator import load_test_anchor

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "no common name")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(InvalidArgument, match="no common name"):
        load_test_anchor(certificate.public_bytes(Encoding.PEM))


def test_init_unknown_sealer_writes_nothing(tmp_path):
    from agile.attest.broker import init_broker
    from agile.errors import SealError

    with pytest.raises(SealError, match="unknown sealer 'nope'"):
        init_broker(tmp_path / "broker", port=0, master_sealer="nope")
    assert not (tmp_path / "broker").exists()


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_broker_serves_on_ipv6_loopback(tmp_path, cheap_passphrase):
    import threading

    from agile.attest.broker import BrokerClient, BrokerConfig, BrokerServer, KeyBroker, init_broker

    init_broker(tmp_path / "broker", address="::1", port=0)
    config = BrokerConfig.load(tmp_path / "broker")
    server = BrokerServer(KeyBroker(config))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.url.startswith("https://[::1]:")
        client = BrokerClient(server.url, config.cert_path, timeout=10)
        assert client.host == "::1"
        assert len(client.nonce()) == 32
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("url", ["https://::1:8443", "https://[::1:8443", "https://[::1]"])
def test_client_rejects_unbracketed_ipv6(url, tmp_path):
    from agile.attest.broker import BrokerClient

    with pytest.raises(InvalidArgument, match="in brackets"):
        BrokerClient(url, tmp_path / "cert.pem")
