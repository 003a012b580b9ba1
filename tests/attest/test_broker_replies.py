"""The broker client against a hostile or broken broker: every bad reply is an invalid reply.

A fake broker on 127.0.0.1 presents the broker's own TLS certificate, so the
client's pinning passes, and replies to every request with fixed bytes.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agile.attest.broker import BrokerClient, BrokerReplyInvalid, init_broker
from agile.attest.evidence import SimulatorEvidence
from agile.attest.simulator import GuestLaunch
from agile.attest.verdict import EvidenceRejected
from agile.errors import SealError
from agile.seal.keep import KeepSealer
from tests.attest.conftest import GOOD_MEASUREMENT


def _response(status: str, body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    return head.encode() + body


def _json_reply(data: object, status: str = "200 OK") -> bytes:
    return _response(status, json.dumps(data).encode())


def _read_request(tls: ssl.SSLSocket) -> None:
    """Read one request with its body, so that closing the socket does not reset it."""
    request = b""
    while b"\r\n\r\n" not in request:
        request += tls.recv(65536)
    head, _, body = request.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)content-length: *(\d+)", head)
    length = int(found.group(1)) if found else 0
    while len(body) < length:
        body += tls.recv(65536)


class FakeBroker:
    """A TLS server on 127.0.0.1 that replies to each request with ``reply``, then runs ``tail``."""

    def __init__(self, cert: Path, key: Path, reply: bytes, tail: Callable[[ssl.SSLSocket], None]):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.reply, self.tail = reply, tail
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    tls.settimeout(5)
                    _read_request(tls)
                    tls.sendall(self.reply)
                    self.tail(tls)
            except OSError:
                continue  # The client hung up, as it should on a bad reply.

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        self.listener.close()


def _no_tail(_tls: ssl.SSLSocket) -> None:
    return None


def _endless(tls: ssl.SSLSocket) -> None:
    for _ in range(1000):
        tls.sendall(b"a" * 65536)


@pytest.fixture
def broker_files(tmp_path: Path, cheap_passphrase: None) -> tuple[Path, Path]:
    config = init_broker(tmp_path / "broker", port=0)
    return config.cert_path, config.key_path


@pytest.fixture
def fake_broker(broker_files) -> Iterator[Callable[..., FakeBroker]]:
    started: list[FakeBroker] = []

    def start(reply: bytes, tail: Callable[[ssl.SSLSocket], None] = _no_tail) -> FakeBroker:
        server = FakeBroker(*broker_files, reply, tail)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _nonce_error(fake_broker, broker_files, reply: bytes, tail=_no_tail) -> BrokerReplyInvalid:
    server = fake_broker(reply, tail)
    with pytest.raises(BrokerReplyInvalid) as caught:
        BrokerClient(server.url, broker_files[0]).nonce()
    return caught.value


def test_deep_nesting_rejected(fake_broker, broker_files) -> None:
    error = _nonce_error(fake_broker, broker_files, _response("200 OK", b"[" * 100_000))
    assert "nested 100000 levels deep" in str(error)


def test_huge_length_rejected(fake_broker, broker_files) -> None:
    reply = _response("200 OK", b"", length=100_000_000_000)
    error = _nonce_error(fake_broker, broker_files, reply, _endless)
    assert "Content-Length 100000000000" in str(error)


def _endless_chunks(tls: ssl.SSLSocket) -> None:
    for _ in range(1000):
        tls.sendall(b"10000\r\n" + b"a" * 0x10000 + b"\r\n")


def test_endless_chunked_body_rejected(fake_broker, broker_files) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    error = _nonce_error(fake_broker, broker_files, reply, _endless_chunks)
    assert "more than 1048576 bytes" in str(error)


def test_missing_nonce_names_broker(fake_broker, broker_files) -> None:
    error = _nonce_error(fake_broker, broker_files, _json_reply({"nonce": "zz", "x": 1}))
    assert str(error).startswith("the key broker at https://127.0.0.1:")
    assert "sent an invalid reply: field 'nonce'" in str(error)
    assert "agile keep serve" in (error.fix or "")
    assert error.exit_code == 2


def test_short_nonce_rejected(fake_broker, broker_files) -> None:
    error = _nonce_error(fake_broker, broker_files, _json_reply({"nonce": "AAAA"}))
    assert "the nonce is 3 bytes" in str(error)


def test_json_array_rejected(fake_broker, broker_files) -> None:
    error = _nonce_error(fake_broker, broker_files, _json_reply(["nonce"]))
    assert "not an object" in str(error)


def test_reasons_number_rejected(fake_broker, broker_files) -> None:
    reply = _json_reply({"error": "evidence rejected", "reasons": 5}, "403 Forbidden")
    error = _nonce_error(fake_broker, broker_files, reply)
    assert "field 'reasons' is not a list of strings" in str(error)


def test_error_number_rejected(fake_broker, broker_files) -> None:
    error = _nonce_error(fake_broker, broker_files, _json_reply({"error": 5}, "404 Not Found"))
    assert "field 'error' is int" in str(error)


def test_reasons_escaped(fake_broker, broker_files) -> None:
    reasons = ["a\nINJECTED: fake line\x1b[31mred"]
    server = fake_broker(_json_reply({"error": "rejected", "reasons": reasons}, "403 Forbidden"))

    with pytest.raises(EvidenceRejected) as caught:
        BrokerClient(server.url, broker_files[0]).nonce()

    assert "\n" not in str(caught.value)
    assert "\x1b" not in str(caught.value)
    assert "a\\nINJECTED: fake line\\x1b[31mred" in str(caught.value)


def test_keep_unseal_invalid_reply(fake_broker, broker_files, simulator) -> None:
    server = fake_broker(_response("200 OK", b"[" * 100_000))
    sealer = KeepSealer(
        keep_broker_cert=str(broker_files[0]),
        keep_evidence=SimulatorEvidence(simulator, GuestLaunch(measurement=GOOD_MEASUREMENT)),
    )
    blob = {
        "sealer": "keep",
        "version": 1,
        "broker": server.url,
        "key_id": "k-1",
        "policy_sha256": "00" * 32,
        "broker_cert_sha256": _certificate_sha256(broker_files[0]),
        "check": "00" * 32,
    }

    with pytest.raises(SealError) as caught:
        sealer.unseal(blob, b"ad")

    assert "sent an invalid reply" in str(caught.value)
    assert caught.value.exit_code == 2


def test_keep_unreachable_names_variable(broker_files, simulator) -> None:
    sealer = KeepSealer(keep_broker_cert=str(broker_files[0]), keep_evidence="sev-guest")
    blob = {
        "sealer": "keep",
        "version": 1,
        # Nothing listens on port 9 (discard) of 127.0.0.1.
        "broker": "https://127.0.0.1:9",
        "key_id": "k-1",
        "policy_sha256": "00" * 32,
        "broker_cert_sha256": _certificate_sha256(broker_files[0]),
        "check": "00" * 32,
    }

    with pytest.raises(SealError) as caught:
        sealer.unseal(blob, b"ad")

    assert "AGILE_KEEP_BROKER_CERT" in (caught.value.fix or "")
    assert "--broker-cert" not in (caught.value.fix or "")


def _certificate_sha256(path: Path) -> str:
    from agile.seal.keep import _certificate_sha256 as digest

    return digest(path)
