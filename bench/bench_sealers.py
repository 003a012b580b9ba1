"""Benchmark seal and unseal latency of every sealer against its peers, in one run.

Devices are software: swtpm 0.7 (libtpms) over TCP on 127.0.0.1, and a SoftHSM2
2.6 token in a temporary directory, both started by scripts/devices/ and
stopped afterwards.  Real TPMs and HSMs are slower by an order of magnitude or
more, so these figures bound the cost that agile itself adds.

Measured per sealer (median over ``--repeat`` calls, in milliseconds):

* passphrase: Argon2id at the RFC 9106 defaults (64 MiB, 3 passes, 4 lanes);
* tpm2 direct to swtpm, with and without a PIN, and through tpm2-abrmd;
* peer for tpm2: ``clevis encrypt tpm2`` / ``clevis decrypt`` (tpm2-tools behind
  tpm2-abrmd) against ``agile.seal.clevis`` on the same TPM and resource manager;
* pkcs11 on SoftHSM2 (AES-GCM and RFC 5649 wrap), against raw python-pkcs11
  calls (open a session, log in, encrypt or decrypt 32 bytes with one stored key);
* sss 2 of 3 over passphrase, tpm2 and pkcs11 (unsealing uses the two devices).

Run: ``/work/venv/bin/python bench/bench_sealers.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agile.seal.clevis import decrypt as clevis_decrypt  # noqa: E402
from agile.seal.clevis import encrypt_tpm2, parse_config  # noqa: E402
from agile.seal.passphrase import PassphraseSealer  # noqa: E402
from agile.seal.pkcs11 import PKCS11Sealer  # noqa: E402
from agile.seal.sss import SSSSealer  # noqa: E402
from agile.seal.tpm2 import TPM2Sealer  # noqa: E402

SCRIPTS = REPO / "scripts" / "devices"
AD = b"agile keyset kek v1\x00bench\x00uid"
KEK = os.urandom(32)
CLEVIS_CONFIG = '{"pcr_bank":"sha256","pcr_ids":"7"}'


def _median_ms(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _free_port_pair() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value.strip("'")
    return values


class Devices:
    """swtpm (direct), swtpm behind tpm2-abrmd, and a SoftHSM2 token, in one temp dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[tuple[Path, int]] = []

    def swtpm(self, name: str, abrmd: bool) -> dict[str, str]:
        directory, port = self.root / name, _free_port_pair()
        arguments = [str(SCRIPTS / "swtpm.sh"), "start", str(directory), str(port)]
        subprocess.run(arguments + (["--abrmd"] if abrmd else []), check=True, capture_output=True)
        self.started.append((directory, port))
        return _read_env(directory / "env")

    def softhsm(self) -> dict[str, str]:
        directory = self.root / "softhsm"
        subprocess.run(
            [str(SCRIPTS / "softhsm.sh"), "init", str(directory)], check=True, capture_output=True
        )
        return _read_env(directory / "env")

    def stop(self) -> None:
        for directory, port in self.started:
            subprocess.run(
                [str(SCRIPTS / "swtpm.sh"), "stop", str(directory), str(port)], check=False
            )


def _row(name: str, seal_ms: float, unseal_ms: float, note: str = "") -> None:
    print(f"| {name} | {seal_ms:.2f} | {unseal_ms:.2f} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="calls per figure")
    parser.add_argument("--clevis-repeat", type=int, default=5, help="clevis calls per figure")
    arguments = parser.parse_args()
    repeat = arguments.repeat

    for variable in ("AGILE_ARGON2_MEMORY_KIB", "AGILE_ARGON2_ITERATIONS"):
        os.environ.pop(variable, None)
    os.environ["AGILE_PASSPHRASE"] = "bench passphrase"

    with tempfile.TemporaryDirectory(prefix="agile-bench-") as temporary:
        devices = Devices(Path(temporary))
        try:
            direct = devices.swtpm("direct", abrmd=False)
            managed = devices.swtpm("managed", abrmd=True)
            os.environ.update(devices.softhsm())
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = managed["DBUS_SESSION_BUS_ADDRESS"]
            _run(direct["AGILE_TPM_TCTI"], managed, repeat, arguments.clevis_repeat)
        finally:
            devices.stop()


def _run(direct_tcti: str, managed: dict[str, str], repeat: int, clevis_repeat: int) -> None:
    print("| sealer | seal ms | unseal ms | notes |")
    print("|---|---:|---:|---|")

    passphrase = PassphraseSealer()
    blob = passphrase.seal(KEK, AD)
    _row(
        "passphrase (Argon2id 64 MiB, t=3, p=4)",
        _median_ms(lambda: passphrase.seal(KEK, AD), max(3, repeat // 4)),
        _median_ms(lambda: passphrase.unseal(blob, AD), max(3, repeat // 4)),
    )

    for label, sealer in [
        ("tpm2, swtpm over TCP, sha256:7", TPM2Sealer(tpm_tcti=direct_tcti)),
        ("tpm2, swtpm over TCP, sha256:7 + PIN", TPM2Sealer(tpm_tcti=direct_tcti, tpm_pin="1234")),
        (
            "tpm2, swtpm behind tpm2-abrmd, sha256:7",
            TPM2Sealer(tpm_tcti=managed["AGILE_TPM_TCTI"]),
        ),
    ]:
        blob = sealer.seal(KEK, AD)
        _row(
            label,
            _median_ms(lambda sealer=sealer: sealer.seal(KEK, AD), repeat),
            _median_ms(lambda sealer=sealer, blob=blob: sealer.unseal(blob, AD), repeat),
        )

    # Peer: the clevis tpm2 pin (tpm2-tools processes) on the same TPM and resource manager.
    environment = {**os.environ, **managed, "TPM2TOOLS_TCTI": managed["AGILE_TPM_TCTI"]}
    config = parse_config(CLEVIS_CONFIG)

    def clevis_encrypt() -> bytes:
        return subprocess.run(
            ["clevis", "encrypt", "tpm2", CLEVIS_CONFIG],
            input=KEK,
            capture_output=True,
            check=True,
            env=environment,
        ).stdout

    jwe_clevis = clevis_encrypt()

    def clevis_open() -> bytes:
        return subprocess.run(
            ["clevis", "decrypt"],
            input=jwe_clevis,
            capture_output=True,
            check=True,
            env=environment,
        ).stdout

    jwe_agile = encrypt_tpm2(KEK, config, managed["AGILE_TPM_TCTI"])
    clevis_seal = _median_ms(clevis_encrypt, clevis_repeat)
    clevis_unseal = _median_ms(clevis_open, clevis_repeat)
    agile_seal = _median_ms(lambda: encrypt_tpm2(KEK, config, managed["AGILE_TPM_TCTI"]), repeat)
    agile_unseal = _median_ms(lambda: clevis_decrypt(jwe_agile, managed["AGILE_TPM_TCTI"]), repeat)
    _row("clevis encrypt/decrypt tpm2 (peer)", clevis_seal, clevis_unseal, "tpm2-tools processes")
    _row(
        "agile.seal.clevis, same JWE format",
        agile_seal,
        agile_unseal,
        f"clevis/agile: seal {clevis_seal / agile_seal:.0f}x, "
        f"unseal {clevis_unseal / agile_unseal:.0f}x",
    )

    blobs = {}
    for mechanism in ("aes-gcm", "aes-key-wrap-pad"):
        sealer = PKCS11Sealer(pkcs11_mechanism=mechanism)
        blob = blobs[mechanism] = sealer.seal(KEK, AD)
        _row(
            f"pkcs11, SoftHSM2, {mechanism}",
            _median_ms(lambda sealer=sealer: sealer.seal(KEK, AD), repeat),
            _median_ms(lambda sealer=sealer, blob=blob: sealer.unseal(blob, AD), repeat),
            "seal generates a token key",
        )
    raw_encrypt, raw_decrypt = _raw_pkcs11(repeat)
    # Timed again right after the peer, on a token in the same state: every seal above
    # stored one more key on it, and unsealing was measured slower on a fuller token.
    pkcs11_unseal = _median_ms(lambda: PKCS11Sealer().unseal(blobs["aes-gcm"], AD), repeat)
    _row(
        "raw python-pkcs11 (peer): login + AES-GCM on one key",
        raw_encrypt,
        raw_decrypt,
        f"sealer (aes-gcm) / raw unseal: {pkcs11_unseal / raw_decrypt:.2f}x",
    )

    quorum = SSSSealer(sss_threshold=2, sss_members="passphrase,tpm2,pkcs11", tpm_tcti=direct_tcti)
    blob = quorum.seal(KEK, AD)
    _row(
        "sss 2 of 3 (passphrase, tpm2, pkcs11)",
        _median_ms(lambda: quorum.seal(KEK, AD), max(3, repeat // 4)),
        _median_ms(lambda: SSSSealer(tpm_tcti=direct_tcti).unseal(blob, AD), repeat),
        "unseal opens tpm2 + pkcs11",
    )


def _raw_pkcs11(repeat: int) -> tuple[float, float]:
    """Time login + one AES-GCM encrypt, and login + one decrypt, with raw python-pkcs11."""
    import pkcs11

    library = pkcs11.lib(os.environ["AGILE_PKCS11_MODULE"])
    token = library.get_token(token_label=os.environ["AGILE_PKCS11_TOKEN"])
    pin = os.environ["AGILE_PKCS11_PIN"]
    key_id = os.urandom(8)
    with token.open(user_pin=pin, rw=True) as session:
        session.generate_key(pkcs11.KeyType.AES, 256, id=key_id, store=True)
    iv = os.urandom(12)
    parameters = pkcs11.GCMParams(iv, AD, 128)

    def encrypt() -> bytes:
        with token.open(user_pin=pin) as session:
            key = session.get_key(key_type=pkcs11.KeyType.AES, id=key_id)
            return bytes(
                key.encrypt(KEK, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=parameters)
            )

    wrapped = encrypt()

    def decrypt() -> bytes:
        with token.open(user_pin=pin) as session:
            key = session.get_key(key_type=pkcs11.KeyType.AES, id=key_id)
            return bytes(
                key.decrypt(wrapped, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=parameters)
            )

    return _median_ms(encrypt, repeat), _median_ms(decrypt, repeat)


if __name__ == "__main__":
    if shutil.which("swtpm") is None or shutil.which("clevis") is None:
        sys.exit("bench_sealers.py needs swtpm and clevis: run scripts/devices/install.sh")
    main()
