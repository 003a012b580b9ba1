"""Hostile input to attestation and clevis: devices as files, deep JSON, slow broker clients."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agile.attest.policy import load_policy
from agile.errors import InvalidArgument, InvalidPolicy
from agile.seal import clevis

DEEP = b"[" * 100_000 + b"]" * 100_000


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=60
    )


def _connect(running) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(running.config.cert_path))
    host, port = running.server.server_address[:2]
    raw = socket.create_connection((host, port), timeout=20)
    return context.wrap_socket(raw, server_hostname=host)


def _post(running, path: str, body: bytes) -> bytes:
    with _connect(running) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return connection.recv(65536)


def test_verify_snp_report_device(amd_sample) -> None:
    result = _agile(
        "attest", "verify-snp", "/dev/zero",
        "--vcek", str(amd_sample.vcek_path), "--chain", str(amd_sample.chain_path),
    )  # fmt: skip
    assert result.returncode == 2


def test_verify_snp_chain_device(amd_sample) -> None:
    result = _agile(
        "attest", "verify-snp", str(amd_sample.report_path),
        "--vcek", str(amd_sample.vcek_path), "--chain", "/dev/zero",
    )  # fmt: skip
    assert "larger than" in result.stderr


def test_policy_device_rejected() -> None:
    with pytest.raises(InvalidPolicy, match="larger than"):
        load_policy("/dev/zero")


def test_broker_deep_json_is_bad_request(test_broker) -> None:
    reply = _post(test_broker, "/v1/release", DEEP)
    assert reply.startswith(b"HTTP/1.1 400")


def _drip(running) -> bool:
    """Send a request one byte every 0.2 s; return whether the broker closed the connection."""
    running.server.connection_deadline = 1.0
    with _connect(running) as connection:
        try:
            connection.sendall(b"POST /v1/nonce HTTP/1.1\r\nX-Pad: ")
            # Never idle for 30 s, so only the connection deadline can end it.
            for _ in range(60):
                connection.sendall(b"a")
                time.sleep(0.2)
        except OSError:
            return True
    return False


def test_broker_drip_client_cut_at_deadline(test_broker) -> None:
    assert _drip(test_broker)


def test_broker_cut_connection_logs_no_traceback(test_broker, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="agile.attest.broker")
    _drip(test_broker)
    time.sleep(0.5)
    assert not any(record.exc_info for record in caplog.records)


def test_keep_put_secret_device(test_broker, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[snp]\nmeasurements = ["' + "a5" * 48 + '"]\n')
    result = _agile(
        "keep", "put", "/dev/zero", "--policy", str(policy),
        "--broker", test_broker.url, "--broker-cert", str(test_broker.config.cert_path),
    )  # fmt: skip
    assert "larger than" in result.stderr


def test_clevis_deep_header_rejected() -> None:
    header = base64.urlsafe_b64encode(DEEP).rstrip(b"=")
    with pytest.raises(InvalidArgument, match="not JSON"):
        clevis.decrypt(header + b"..AAAA.AAAA.AAAA")


def test_clevis_deep_config_rejected() -> None:
    with pytest.raises(InvalidArgument, match="not JSON"):
        clevis.parse_config(DEEP.decode())
