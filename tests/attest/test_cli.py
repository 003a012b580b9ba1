"""``agile attest verify-snp`` and ``agile keep``, run as the installed command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.attest.conftest import BAD_MEASUREMENT, GOOD_MEASUREMENT
from tests.seal.conftest import free_port_pair

AGILE = [sys.executable, "-m", "cli.main"]
CHEAP_ARGON2 = {
    "AGILE_PASSPHRASE": "cli test passphrase",
    "AGILE_ARGON2_MEMORY_KIB": "64",
    "AGILE_ARGON2_ITERATIONS": "1",
}


def agile(*arguments, env=None, cwd=None):
    return subprocess.run(
        [*AGILE, *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def verify(sample, report=None, *extra):
    return agile(
        "attest",
        "verify-snp",
        report or sample.report_path,
        "--vcek",
        sample.vcek_path,
        "--chain",
        sample.chain_path,
        *extra,
    )


def test_verify_sample_valid_json(amd_sample):
    result = verify(amd_sample, None, "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["valid"] is True


def test_verify_measurement_byte_changed(amd_sample, tmp_path):
    changed = bytearray(amd_sample.report)
    changed[0x90] ^= 0xFF
    report = tmp_path / "changed.bin"
    report.write_bytes(bytes(changed))
    result = verify(amd_sample, report, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["valid"] is False


def test_verify_at_past_time_invalid(amd_sample):
    result = verify(amd_sample, None, "--at", "2024-01-01T00:00:00Z")
    assert result.returncode == 1
    assert "VCEK is not valid before" in result.stdout


def test_verify_at_bad_time(amd_sample):
    result = verify(amd_sample, None, "--at", "yesterday")
    assert result.returncode == 2


def test_verify_truncated_report(amd_sample, tmp_path):
    report = tmp_path / "short.bin"
    report.write_bytes(amd_sample.report[:100])
    result = verify(amd_sample, report)
    assert result.returncode == 2
    assert "1184 bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_without_chain(amd_sample):
    result = agile("attest", "verify-snp", amd_sample.report_path, "--vcek", amd_sample.vcek_path)
    assert result.returncode == 2


def test_verify_with_policy(amd_sample, tmp_path):
    policy = tmp_path / "policy.toml"
    measurement = amd_sample.report[0x90:0xC0].hex()
    policy.write_text(f'[snp]\nmeasurements = ["{measurement}"]\nmin_tcb = {{ snp = 28 }}\n')
    result = verify(amd_sample, None, "--policy", policy)
    assert result.returncode == 1
    assert "REPORTED_TCB snp=27 is below the minimum 28" in result.stdout


def test_verify_policy_without_snp(amd_sample, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[tpm]\npcrs = { 7 = "' + "00" * 32 + '" }\n')
    result = verify(amd_sample, None, "--policy", policy)
    assert result.returncode == 2


def test_verify_simulator_needs_test_root(simulator, tmp_path):
    (tmp_path / "report.bin").write_bytes(simulator.report(bytes(64)))
    (tmp_path / "vcek.pem").write_bytes(simulator.vcek_pem)
    (tmp_path / "chain.pem").write_bytes(simulator.chain_pem)
    (tmp_path / "ark.pem").write_bytes(simulator.pem(simulator.ark))
    arguments = ["attest", "verify-snp", "report.bin", "--vcek", "vcek.pem", "--chain", "chain.pem"]
    production = agile(*arguments, cwd=tmp_path)
    testing = agile(*arguments, "--test-root", "ark.pem", cwd=tmp_path)
    assert production.returncode == 1
    assert testing.returncode == 0


@pytest.fixture
def served_broker(tmp_path, simulator):
    """`agile keep init` and `agile keep serve` on a free loopback port, with a simulator."""
    simulator.save(tmp_path / "simulator")
    port = free_port_pair()
    created = agile(
        "keep",
        "init",
        tmp_path / "broker",
        "--port",
        port,
        "--test-root",
        tmp_path / "simulator" / "ark.pem",
        env=CHEAP_ARGON2,
    )
    assert created.returncode == 0, created.stderr
    server = subprocess.Popen(
        [*AGILE, "keep", "serve", "--config", str(tmp_path / "broker" / "broker.toml")],
        env={**os.environ, **CHEAP_ARGON2},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The server prints its address once it listens.
        line = server.stderr.readline()
        deadline = time.monotonic() + 30
        while "listening on" not in line and time.monotonic() < deadline:
            line = server.stderr.readline()
        yield tmp_path, f"https://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_keep_put_and_request(served_broker):
    folder, url = served_broker
    (folder / "secret.bin").write_bytes(os.urandom(32))
    (folder / "policy.toml").write_text(f'[snp]\nmeasurements = ["{GOOD_MEASUREMENT.hex()}"]\n')
    connection = ["--broker", url, "--broker-cert", folder / "broker" / "tls" / "cert.pem"]
    put = agile(
        "keep",
        "put",
        folder / "secret.bin",
        "--policy",
        folder / "policy.toml",
        "--token-file",
        folder / "broker" / "admin.token",
        *connection,
    )
    key_id = put.stdout.strip()
    good = agile(
        "keep",
        "request",
        key_id,
        "--evidence",
        f"simulator:{folder / 'simulator'}",
        "--output",
        folder / "released.bin",
        *connection,
        env={"AGILE_KEEP_SIMULATED_MEASUREMENT": GOOD_MEASUREMENT.hex()},
    )
    bad = agile(
        "keep",
        "request",
        key_id,
        "--evidence",
        f"simulator:{folder / 'simulator'}",
        "--output",
        folder / "refused.bin",
        *connection,
        env={"AGILE_KEEP_SIMULATED_MEASUREMENT": BAD_MEASUREMENT.hex()},
    )

    assert put.returncode == 0, put.stderr
    assert good.returncode == 0, good.stderr
    assert (folder / "released.bin").read_bytes() == (folder / "secret.bin").read_bytes()
    assert (folder / "released.bin").stat().st_mode & 0o777 == 0o600
    assert bad.returncode == 1
    assert "not an allowed measurement" in bad.stderr
    assert not (folder / "refused.bin").exists()
