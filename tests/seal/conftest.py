"""Fixtures that start real software devices on 127.0.0.1: swtpm (+ tpm2-abrmd) and SoftHSM2.

Each fixture skips with the reason when its device or Python binding is
missing, except when ``AGILE_REQUIRE_DEVICES=1`` (CI sets it): then it fails,
so that a broken install cannot pass as skipped tests.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "devices"


def missing(reason: str) -> None:
    """Skip the test, or fail it when the devices are required."""
    if os.environ.get("AGILE_REQUIRE_DEVICES") == "1":
        pytest.fail(f"{reason} (AGILE_REQUIRE_DEVICES=1); run scripts/devices/install.sh")
    pytest.skip(f"{reason}; run scripts/devices/install.sh to enable this test")


def _port_pair_free(port: int) -> bool:
    for candidate in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                return False
    return True


def free_port_pair() -> int:
    """Return a port P on 127.0.0.1 such that P and P+1 are free now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65535 and _port_pair_free(port):
            return port
    raise RuntimeError("no two adjacent free TCP ports on 127.0.0.1")


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            values[name] = value.strip("'")
    return values


@dataclass
class SoftwareTPM:
    """A running swtpm and the TCTI string that reaches it."""

    directory: Path
    port: int
    tcti: str
    abrmd: bool
    env: dict[str, str]

    def start(self) -> None:
        arguments = [str(SCRIPTS / "swtpm.sh"), "start", str(self.directory), str(self.port)]
        if self.abrmd:
            arguments.append("--abrmd")
        subprocess.run(arguments, check=True, capture_output=True, timeout=60)
        self.env = _read_env(self.directory / "env")
        self.tcti = self.env["AGILE_TPM_TCTI"]

    def stop(self) -> None:
        subprocess.run(
            [str(SCRIPTS / "swtpm.sh"), "stop", str(self.directory), str(self.port)],
            check=False,
            capture_output=True,
            timeout=60,
        )

    def restart(self) -> None:
        """Stop with an orderly shutdown and start again on the same state (PCRs reset)."""
        self.stop()
        self.start()

    def tool(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run a tpm2-tools command against this TPM."""
        return subprocess.run(
            list(arguments),
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **self.env, "TPM2TOOLS_TCTI": self.tcti},
        )

    def extend_pcr(self, index: int, bank: str = "sha256") -> None:
        size = {"sha1": 20, "sha256": 32}[bank]
        self.tool("tpm2_pcrextend", f"{index}:{bank}=" + "ab" * size)


def _need_tpm_stack(abrmd: bool) -> None:
    for program in ("swtpm", "swtpm_ioctl", "tpm2_dictionarylockout", "tpm2_shutdown"):
        if shutil.which(program) is None:
            missing(f"{program} is not installed")
    if importlib.util.find_spec("tpm2_pytss") is None:
        missing("tpm2-pytss is not installed")
    if abrmd:
        for program in ("tpm2-abrmd", "dbus-daemon", "clevis", "jose"):
            if shutil.which(program) is None:
                missing(f"{program} is not installed")


def _software_tpm(tmp_path: Path, abrmd: bool) -> Iterator[SoftwareTPM]:
    _need_tpm_stack(abrmd)
    device = SoftwareTPM(tmp_path / "swtpm", free_port_pair(), "", abrmd, {})
    try:
        device.start()
    except subprocess.CalledProcessError as error:
        device.stop()
        pytest.fail(f"swtpm.sh start failed: {error.stderr.decode(errors='replace')}")
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def swtpm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftwareTPM]:
    """A fresh swtpm on 127.0.0.1, reached directly over TCP and named by AGILE_TPM_TCTI."""
    for device in _software_tpm(tmp_path, abrmd=False):
        monkeypatch.setenv("AGILE_TPM_TCTI", device.tcti)
        yield device


@pytest.fixture
def swtpm_abrmd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftwareTPM]:
    """A fresh swtpm behind tpm2-abrmd on a private D-Bus, as clevis and tpm2-tools need."""
    for device in _software_tpm(tmp_path, abrmd=True):
        for name, value in device.env.items():
            monkeypatch.setenv(name, value)
        yield device


@dataclass(frozen=True)
class SoftHSMToken:
    """An initialized SoftHSM2 token and the options that open it."""

    module: str
    label: str
    pin: str

    def options(self) -> dict[str, str]:
        return {"pkcs11_module": self.module, "pkcs11_token": self.label, "pkcs11_pin": self.pin}


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSMToken]:
    """One SoftHSM2 token for the session, exported through SOFTHSM2_CONF and AGILE_PKCS11_*.

    python-pkcs11 loads a module once per process, and SoftHSM2 reads its
    configuration then, so every test shares this token.
    """
    if shutil.which("softhsm2-util") is None:
        missing("softhsm2-util is not installed")
    if importlib.util.find_spec("pkcs11") is None:
        missing("python-pkcs11 is not installed")
    directory = tmp_path_factory.mktemp("softhsm")
    result = subprocess.run(
        [str(SCRIPTS / "softhsm.sh"), "init", str(directory), "agile-test", "1234"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.fail(f"softhsm.sh init failed: {result.stderr}")
    values = _read_env(directory / "env")
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield SoftHSMToken(
            values["AGILE_PKCS11_MODULE"], values["AGILE_PKCS11_TOKEN"], values["AGILE_PKCS11_PIN"]
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def fast_passphrase(monkeypatch: pytest.MonkeyPatch) -> str:
    """Set a passphrase and cheap Argon2id costs for the passphrase sealer (tests only)."""
    monkeypatch.setenv("AGILE_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    return "correct horse battery staple"
