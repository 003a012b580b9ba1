"""Fixtures for attestation tests: AMD's published samples, a simulated AMD-SP, a live broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agile.attest.broker import BrokerClient, BrokerConfig, BrokerServer, KeyBroker, init_broker
from agile.attest.simulator import SimulatedAmdSp
from tests.seal.conftest import swtpm  # noqa: F401 - the swtpm fixture, reused

#: A measurement the test policies allow, and one they do not.
GOOD_MEASUREMENT = bytes.fromhex("a5" * 48)
BAD_MEASUREMENT = bytes.fromhex("5a" * 48)


@dataclass(frozen=True)
class AmdSample:
    """The real report from a Google Cloud SEV-SNP guest, its VCEK and the Milan chain."""

    report: bytes
    vcek: bytes
    chain: bytes
    report_path: Path
    vcek_path: Path
    chain_path: Path


@pytest.fixture(scope="session")
def amd_sample(shared_vectors: Path) -> AmdSample:
    folder = shared_vectors / "amd-sev-snp"
    paths = (folder / "sev-gcp.bin", folder / "sev-gcp-vcek.pem", folder / "milan_cert_chain.pem")
    return AmdSample(*(path.read_bytes() for path in paths), *paths)


@pytest.fixture(scope="session")
def simulator() -> SimulatedAmdSp:
    """One software AMD-SP for the session (RSA-4096 key generation takes about a second)."""
    return SimulatedAmdSp()


@pytest.fixture
def cheap_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the broker's master-key passphrase and cheap Argon2id costs (tests only)."""
    monkeypatch.setenv("AGILE_PASSPHRASE", "broker test passphrase")
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")


@dataclass
class RunningBroker:
    """A broker serving on 127.0.0.1 in a thread, with an admin client."""

    config: BrokerConfig
    broker: KeyBroker
    server: BrokerServer
    client: BrokerClient

    @property
    def url(self) -> str:
        return self.server.url

    def reader(self) -> BrokerClient:
        """Return a client without the admin token, as a workload has."""
        return BrokerClient(self.url, self.config.cert_path)


def _serve(directory: Path, test_root: Path | None) -> Iterator[RunningBroker]:
    config = init_broker(directory, port=0, test_root=test_root)
    broker = KeyBroker(config)
    server = BrokerServer(broker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token = config.token_path.read_text().strip()
    try:
        yield RunningBroker(
            config, broker, server, BrokerClient(server.url, config.cert_path, token=token)
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def test_broker(
    tmp_path: Path, simulator: SimulatedAmdSp, cheap_passphrase: None
) -> Iterator[RunningBroker]:
    """A broker that trusts the simulator's test root (and not AMD's roots)."""
    root = tmp_path / "sim-ark.pem"
    root.write_bytes(simulator.pem(simulator.ark))
    yield from _serve(tmp_path / "broker", root)


@pytest.fixture
def production_broker(tmp_path: Path, cheap_passphrase: None) -> Iterator[RunningBroker]:
    """A broker with the default trust: AMD's pinned roots only."""
    yield from _serve(tmp_path / "broker", None)
