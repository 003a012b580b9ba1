"""Caps of the key broker: unused nonces per client, and connections served at once."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agile.attest.broker import (
    BrokerClient,
    BrokerConfig,
    BrokerServer,
    KeyBroker,
    NonceLimitReached,
    init_broker,
)
from agile.errors import AttestationError, InvalidArgument

#: Caps small enough to reach in a test.
NONCES_PER_CLIENT = 3
CONNECTIONS = 2
#: Caps of the broker for per-client connection tests.  The broker-wide cap is the larger.
CLIENT_CONNECTIONS = 2
CONNECTIONS_FOR_CLIENTS = 4


def _serve(directory: Path, caps: dict[str, int]) -> Iterator[BrokerServer]:
    """Serve a new broker in ``directory`` on 127.0.0.1, with ``caps`` set in its broker.toml."""
    init_broker(directory, port=0)
    config_file = directory / "broker.toml"
    lines = [
        line for line in config_file.read_text().splitlines() if line.partition(" ")[0] not in caps
    ]
    lines += [f"{name} = {value}" for name, value in caps.items()]
    config_file.write_text("\n".join(lines) + "\n")
    server = BrokerServer(KeyBroker(BrokerConfig.load(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def limited(tmp_path: Path, cheap_passphrase: None) -> Iterator[BrokerServer]:
    """A broker on 127.0.0.1 whose broker.toml sets small caps."""
    yield from _serve(
        tmp_path / "broker",
        {
            "max_connections": CONNECTIONS,
            "max_connections_per_client": CONNECTIONS,
            "max_nonces_per_client": NONCES_PER_CLIENT,
        },
    )


@pytest.fixture
def per_client(tmp_path: Path, cheap_passphrase: None) -> Iterator[BrokerServer]:
    """A broker on 127.0.0.1 whose per-client connection cap is below its broker-wide one."""
    yield from _serve(
        tmp_path / "broker",
        {
            "max_connections": CONNECTIONS_FOR_CLIENTS,
            "max_connections_per_client": CLIENT_CONNECTIONS,
        },
    )


def _client(server: BrokerServer) -> BrokerClient:
    return BrokerClient(server.url, server.broker.config.cert_path, timeout=10)


def _nonce_from(server: BrokerServer, source: str) -> http.client.HTTPResponse:
    """Send POST /v1/nonce from the local address ``source`` and return the read response."""
    context = ssl.create_default_context(cafile=str(server.broker.config.cert_path))
    host, port = server.server_address[:2]
    connection = http.client.HTTPSConnection(
        host, port, context=context, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("POST", "/v1/nonce", "{}", {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def _idle_connections(server: BrokerServer, count: int, source: str) -> list[socket.socket]:
    """Open ``count`` TCP connections from ``source`` that send nothing, and wait until served."""
    host, port = server.server_address[:2]
    before = server.open_connections
    idle = [
        socket.create_connection((host, port), timeout=10, source_address=(source, 0))
        for _ in range(count)
    ]
    _wait_for_open_connections(server, before + count)
    return idle


def _wait_for_open_connections(server: BrokerServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while server.open_connections != count:
        assert time.monotonic() < deadline, f"{server.open_connections} connections still open"
        time.sleep(0.05)


# Nonces, in the broker's logic.


def test_nonce_quota_per_client(limited: BrokerServer) -> None:
    broker = limited.broker
    for _ in range(NONCES_PER_CLIENT):
        broker.issue_nonce("192.0.2.1")
    with pytest.raises(NonceLimitReached) as caught:
        broker.issue_nonce("192.0.2.1")
    assert caught.value.per_client


def test_nonce_quota_names_client(limited: BrokerServer) -> None:
    broker = limited.broker
    for _ in range(NONCES_PER_CLIENT):
        broker.issue_nonce("192.0.2.1")
    with pytest.raises(NonceLimitReached, match="client 192.0.2.1 has 3 unused nonces"):
        broker.issue_nonce("192.0.2.1")


def test_nonce_quota_spares_other_client(limited: BrokerServer) -> None:
    broker = limited.broker
    for _ in range(NONCES_PER_CLIENT):
        broker.issue_nonce("192.0.2.1")
    assert len(broker.issue_nonce("192.0.2.2")) == 32


def test_nonce_quota_freed_by_use(limited: BrokerServer) -> None:
    broker = limited.broker
    nonces = [broker.issue_nonce("192.0.2.1") for _ in range(NONCES_PER_CLIENT)]
    broker._consume_nonce(nonces[0])
    assert len(broker.issue_nonce("192.0.2.1")) == 32


def test_nonce_quota_freed_by_expiry(tmp_path: Path, cheap_passphrase: None) -> None:
    import dataclasses

    config = init_broker(tmp_path / "broker", port=0)
    broker = KeyBroker(dataclasses.replace(config, nonce_ttl=0.2, max_nonces_per_client=1))
    broker.issue_nonce("192.0.2.1")
    time.sleep(0.3)
    assert len(broker.issue_nonce("192.0.2.1")) == 32


def test_nonce_quota_retry_after(limited: BrokerServer) -> None:
    broker = limited.broker
    for _ in range(NONCES_PER_CLIENT):
        broker.issue_nonce("192.0.2.1")
    with pytest.raises(NonceLimitReached) as caught:
        broker.issue_nonce("192.0.2.1")
    assert 0 < caught.value.retry_after <= broker.config.nonce_ttl


def test_global_nonce_cap_not_per_client(limited: BrokerServer, monkeypatch) -> None:
    import agile.attest.broker as broker_module

    monkeypatch.setattr(broker_module, "_MAX_OPEN_NONCES", 2)
    limited.broker.issue_nonce("192.0.2.1")
    limited.broker.issue_nonce("192.0.2.2")
    with pytest.raises(NonceLimitReached) as caught:
        limited.broker.issue_nonce("192.0.2.3")
    assert not caught.value.per_client


# Nonces, over TLS from two loopback addresses.


def test_nonce_quota_over_http_is_429(limited: BrokerServer) -> None:
    for _ in range(NONCES_PER_CLIENT):
        assert _nonce_from(limited, "127.0.0.1").status == 200
    response = _nonce_from(limited, "127.0.0.1")
    assert response.status == 429
    assert response.getheader("Retry-After") is not None


def test_nonce_quota_over_http_spares_other_address(limited: BrokerServer) -> None:
    statuses = [_nonce_from(limited, "127.0.0.1").status for _ in range(NONCES_PER_CLIENT + 1)]
    assert statuses[-1] == 429
    assert _nonce_from(limited, "127.0.0.2").status == 200


def test_client_reports_busy_broker(limited: BrokerServer) -> None:
    client = _client(limited)
    for _ in range(NONCES_PER_CLIENT):
        client.nonce()
    with pytest.raises(AttestationError, match="busy") as caught:
        client.nonce()
    assert "retry in" in (caught.value.fix or "")


# Connections.


def test_connection_over_cap_gets_503(limited: BrokerServer) -> None:
    host, port = limited.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(CONNECTIONS)]
    try:
        _wait_for_open_connections(limited, CONNECTIONS)
        response = _nonce_from(limited, "127.0.0.1")
    finally:
        for connection in idle:
            connection.close()
    assert response.status == 503


def test_connection_over_cap_reply(limited: BrokerServer) -> None:
    host, port = limited.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(CONNECTIONS)]
    try:
        _wait_for_open_connections(limited, CONNECTIONS)
        with pytest.raises(AttestationError, match="503") as caught:
            _client(limited).nonce()
    finally:
        for connection in idle:
            connection.close()
    assert "connections, its maximum" in str(caught.value)


def test_connection_accepted_after_idle_close(limited: BrokerServer) -> None:
    host, port = limited.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(CONNECTIONS)]
    _wait_for_open_connections(limited, CONNECTIONS)
    for connection in idle:
        connection.close()
    _wait_for_open_connections(limited, 0)
    assert len(_client(limited).nonce()) == 32


def test_connection_rejections_logged_once(limited: BrokerServer, caplog) -> None:
    import logging

    caplog.set_level(logging.WARNING, logger="agile.attest.broker")
    host, port = limited.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(CONNECTIONS)]
    try:
        _wait_for_open_connections(limited, CONNECTIONS)
        for _ in range(3):
            _nonce_from(limited, "127.0.0.1")
    finally:
        for connection in idle:
            connection.close()
    rejected = [r for r in caplog.records if "rejected a connection" in r.getMessage()]
    assert len(rejected) == 1


# Connections per client, from two loopback addresses.


def test_client_connection_cap_gets_503(per_client: BrokerServer) -> None:
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    try:
        response = _nonce_from(per_client, "127.0.0.1")
    finally:
        for connection in idle:
            connection.close()
    assert response.status == 503
    assert response.getheader("Retry-After") == "1"


def test_client_connection_cap_spares_other_address(per_client: BrokerServer) -> None:
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    try:
        response = _nonce_from(per_client, "127.0.0.2")
    finally:
        for connection in idle:
            connection.close()
    assert response.status == 200


def test_client_connection_cap_reply_names_client(per_client: BrokerServer) -> None:
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    try:
        with pytest.raises(AttestationError, match="503") as caught:
            _client(per_client).nonce()
    finally:
        for connection in idle:
            connection.close()
    assert "client 127.0.0.1 has 2 connections open, the maximum per client" in str(caught.value)


def test_client_connection_cap_within_total(per_client: BrokerServer) -> None:
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    idle += _idle_connections(per_client, CONNECTIONS_FOR_CLIENTS - CLIENT_CONNECTIONS, "127.0.0.2")
    try:
        with pytest.raises(AttestationError, match="503") as caught:
            _client(per_client).nonce()
        response = _nonce_from(per_client, "127.0.0.3")
    finally:
        for connection in idle:
            connection.close()
    assert "connections, its maximum" in str(caught.value)
    assert response.status == 503


def test_client_connections_freed_by_close(per_client: BrokerServer) -> None:
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    for connection in idle:
        connection.close()
    _wait_for_open_connections(per_client, 0)
    assert _nonce_from(per_client, "127.0.0.1").status == 200


def test_client_counter_dropped_after_close(per_client: BrokerServer) -> None:
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    for connection in idle:
        connection.close()
    _wait_for_open_connections(per_client, 0)
    assert not per_client._connections_per_client


def test_client_connections_freed_by_failed_handshake(per_client: BrokerServer) -> None:
    host, port = per_client.server_address[:2]
    for _ in range(CLIENT_CONNECTIONS + 1):
        with socket.create_connection((host, port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not a TLS ClientHello
            while connection.recv(4096):
                pass  # until the broker closes the connection
    _wait_for_open_connections(per_client, 0)
    assert _nonce_from(per_client, "127.0.0.1").status == 200


def test_client_connections_freed_when_thread_fails(
    per_client: BrokerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socketserver

    def fail(*_: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(socketserver.ThreadingMixIn, "process_request", fail)
    with socket.socket() as unused, pytest.raises(RuntimeError):
        per_client.process_request(unused, ("192.0.2.1", 1))
    assert per_client.open_connections == 0
    assert "192.0.2.1" not in per_client._connections_per_client


def test_client_connection_rejections_logged_once(per_client: BrokerServer, caplog) -> None:
    import logging

    caplog.set_level(logging.WARNING, logger="agile.attest.broker")
    idle = _idle_connections(per_client, CLIENT_CONNECTIONS, "127.0.0.1")
    try:
        for _ in range(3):
            _nonce_from(per_client, "127.0.0.1")
    finally:
        for connection in idle:
            connection.close()
    rejected = [r for r in caplog.records if "rejected a connection" in r.getMessage()]
    assert len(rejected) == 1
    assert "client 127.0.0.1 has 2 connections open" in rejected[0].getMessage()


# Configuration.


@pytest.mark.parametrize(
    "line",
    [
        "max_connections = 0",
        "max_connections = true",
        'max_connections = "8"',
        "max_connections = 1.5",
        "max_nonces_per_client = 0",
        "max_nonces_per_client = 10001",
        "max_connections_per_client = 0",
        "max_connections_per_client = true",
        'max_connections_per_client = "8"',
        "max_connections_per_client = 1.5",
        "max_connections_per_client = 10001",
    ],
)
def test_config_rejects_bad_cap(tmp_path: Path, line: str) -> None:
    key = line.partition(" ")[0]
    (tmp_path / "broker.toml").write_text(f'address = "127.0.0.1"\n{line}\n')
    with pytest.raises(InvalidArgument, match=key):
        BrokerConfig.load(tmp_path)


def test_config_cap_defaults(tmp_path: Path) -> None:
    (tmp_path / "broker.toml").write_text('address = "127.0.0.1"\n')
    config = BrokerConfig.load(tmp_path)
    assert (config.max_connections, config.max_nonces_per_client) == (128, 100)
    assert config.max_connections_per_client == 16


def test_config_rejects_client_cap_above_total(tmp_path: Path) -> None:
    (tmp_path / "broker.toml").write_text("max_connections = 8\nmax_connections_per_client = 9\n")
    with pytest.raises(InvalidArgument, match=r"is 9, more than max_connections \(8\)") as caught:
        BrokerConfig.load(tmp_path)
    assert "lower 'max_connections_per_client' to at most 8" in (caught.value.fix or "")


def test_config_accepts_client_cap_equal_total(tmp_path: Path) -> None:
    (tmp_path / "broker.toml").write_text("max_connections = 8\nmax_connections_per_client = 8\n")
    assert BrokerConfig.load(tmp_path).max_connections_per_client == 8


def test_config_client_cap_default_within_total(tmp_path: Path) -> None:
    (tmp_path / "broker.toml").write_text("max_connections = 8\n")
    assert BrokerConfig.load(tmp_path).max_connections_per_client == 8


def test_init_writes_caps(tmp_path: Path, cheap_passphrase: None) -> None:
    init_broker(tmp_path / "broker", port=0)
    text = (tmp_path / "broker" / "broker.toml").read_text()
    assert "max_connections = 128" in text
    assert "max_nonces_per_client = 100" in text
    assert "max_connections_per_client = 16" in text


def test_busy_reply_is_json(limited: BrokerServer) -> None:
    host, port = limited.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(CONNECTIONS)]
    context = ssl.create_default_context(cafile=str(limited.broker.config.cert_path))
    try:
        _wait_for_open_connections(limited, CONNECTIONS)
        connection = http.client.HTTPSConnection(host, port, context=context, timeout=10)
        connection.request("POST", "/v1/nonce", "{}")
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
    finally:
        for socket_ in idle:
            socket_.close()
    assert "error" in body
