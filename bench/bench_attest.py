"""Benchmark SEV-SNP verification, attested key release and TPM quotes.

One run measures:

* ``verify_snp`` on AMD's published Google Cloud sample, which parses the report
  and certificates and checks the chain, the report signature and the VCEK
  bindings.  Two peers do only the cryptography.  Raw pyca/cryptography calls
  load the three certificates and run three RSASSA-PSS verifications and one
  ECDSA P-384 verification: the floor.  The ``openssl`` command line runs the
  same checks (``openssl verify`` for the chain, ``openssl dgst -verify`` for
  the report) in one process per check, as shell scripts do;
* a full key release through the broker over TLS on 127.0.0.1 with simulated
  SEV-SNP evidence (nonce request, evidence, verification, HPKE), for X-Wing
  and X25519 ephemeral keys;
* a TPM quote on swtpm (create the AK, quote, read PCRs) and its verification,
  when swtpm and tpm2-pytss are installed.

Figures are the median of ``--repeat`` calls in milliseconds; candidates are
timed in turns so that load from other processes falls on all of them alike.

Run: ``/work/venv/bin/python bench/bench_attest.py [--repeat 30]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("AGILE_SHARED_VECTORS", REPO.parent / "shared" / "vectors"))
SAMPLES = SAMPLES / "amd-sev-snp"


def median_ms(functions: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Return the median milliseconds per call of each function, timing them in turns."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def snp_candidates(workdir: Path) -> dict[str, Callable[[], object]]:
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from agile.attest.snp import verify_snp

    report = (SAMPLES / "sev-gcp.bin").read_bytes()
    vcek_pem = (SAMPLES / "sev-gcp-vcek.pem").read_bytes()
    chain_pem = (SAMPLES / "milan_cert_chain.pem").read_bytes()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)

    def agile_verify() -> None:
        if not verify_snp(report, vcek_pem, chain_pem).valid:
            raise SystemExit("the sample did not verify")

    def raw_cryptography() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vcek = x509.load_pem_x509_certificate(vcek_pem)
        ask, ark = x509.load_pem_x509_certificates(chain_pem)
        for issuer, subject in ((ark, ark), (ark, ask), (ask, vcek)):
            issuer.public_key().verify(  # type: ignore[call-arg]
                subject.signature, subject.tbs_certificate_bytes, pss, hashes.SHA384()
            )
        r = int.from_bytes(report[0x2A0 : 0x2A0 + 72], "little")
        s = int.from_bytes(report[0x2A0 + 72 : 0x2A0 + 144], "little")
        vcek.public_key().verify(  # type: ignore[call-arg]
            encode_dss_signature(r, s), report[:0x2A0], ec.ECDSA(hashes.SHA384())
        )

    candidates: dict[str, Callable[[], object]] = {
        "agile verify_snp (all checks)": agile_verify,
        "raw cryptography: 3 PSS + 1 ECDSA (floor)": raw_cryptography,
    }

    if shutil.which("openssl"):
        from cryptography.hazmat.primitives import serialization

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vcek = x509.load_pem_x509_certificate(vcek_pem)
        (workdir / "vcek.pem").write_bytes(vcek_pem)
        ask, ark = x509.load_pem_x509_certificates(chain_pem)
        (workdir / "ark.pem").write_bytes(ark.public_bytes(serialization.Encoding.PEM))
        (workdir / "ask.pem").write_bytes(ask.public_bytes(serialization.Encoding.PEM))
        (workdir / "vcek-key.pem").write_bytes(
            vcek.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (workdir / "signed.bin").write_bytes(report[:0x2A0])
        r = int.from_bytes(report[0x2A0 : 0x2A0 + 72], "little")
        s = int.from_bytes(report[0x2A0 + 72 : 0x2A0 + 144], "little")
        (workdir / "signature.der").write_bytes(encode_dss_signature(r, s))

        def openssl_cli() -> None:
            subprocess.run(
                ["openssl", "verify", "-CAfile", "ark.pem", "-untrusted", "ask.pem", "vcek.pem"],
                cwd=workdir,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                ["openssl", "dgst", "-sha384", "-verify", "vcek-key.pem"]
                + ["-signature", "signature.der", "signed.bin"],
                cwd=workdir,
                check=True,
                capture_output=True,
            )

        candidates["openssl CLI: verify + dgst (2 processes)"] = openssl_cli
    return candidates


def release_candidates(workdir: Path) -> tuple[dict[str, Callable[[], object]], Callable[[], None]]:
    os.environ.setdefault("AGILE_PASSPHRASE", "benchmark passphrase")
    os.environ.setdefault("AGILE_ARGON2_MEMORY_KIB", "64")
    os.environ.setdefault("AGILE_ARGON2_ITERATIONS", "1")
    from agile.attest.broker import BrokerClient, BrokerServer, KeyBroker, init_broker
    from agile.attest.evidence import SimulatorEvidence
    from agile.attest.policy import parse_policy
    from agile.attest.simulator import GuestLaunch, SimulatedAmdSp

    simulator = SimulatedAmdSp()
    (workdir / "ark.pem").write_bytes(simulator.pem(simulator.ark))
    config = init_broker(workdir / "broker", port=0, test_root=workdir / "ark.pem")
    server = BrokerServer(KeyBroker(config))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    admin = BrokerClient(server.url, config.cert_path, token=config.token_path.read_text().strip())
    measurement = bytes(range(48))
    key_id = admin.put_key(
        os.urandom(32), parse_policy({"snp": {"measurements": [measurement.hex()]}})
    )
    client = BrokerClient(server.url, config.cert_path)
    source = SimulatorEvidence(simulator, GuestLaunch(measurement=measurement))

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return {
        "release over TLS, x-wing": lambda: client.release(key_id, source, kem="x-wing"),
        "release over TLS, x25519": lambda: client.release(key_id, source, kem="x25519"),
    }, stop


def tpm_candidates(workdir: Path) -> tuple[dict[str, Callable[[], object]], Callable[[], None]]:
    import importlib.util

    if shutil.which("swtpm") is None or importlib.util.find_spec("tpm2_pytss") is None:
        return {}, lambda: None
    sys.path.insert(0, str(REPO))
    from agile.attest.evidence import tpm_qualifying_data
    from agile.attest.policy import TpmPolicy
    from agile.attest.tpm_quote import TpmQuoteEvidence, verify_quote_evidence
    from tests.seal.conftest import SoftwareTPM, free_port_pair

    device = SoftwareTPM(workdir / "swtpm", free_port_pair(), "", False, {})
    device.start()
    quoter = TpmQuoteEvidence(tcti=device.tcti, pcrs="sha256:0,7")
    import hashlib

    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(quoter.ak_public_pem())
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    policy = TpmPolicy((hashlib.sha256(spki).hexdigest(),), "sha256", quoter.current_pcrs())
    evidence = quoter.collect(b"benchmark")
    expected = tpm_qualifying_data(b"benchmark")
    return {
        "TPM quote on swtpm (AK + quote + PCR read)": lambda: quoter.collect(b"benchmark"),
        "TPM quote verification": lambda: verify_quote_evidence(evidence, policy, expected),
    }, device.stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        (workdir / "openssl").mkdir()
        snp = median_ms(snp_candidates(workdir / "openssl"), arguments.repeat)
        floor = snp["raw cryptography: 3 PSS + 1 ECDSA (floor)"]
        print("| SEV-SNP verification of the sample | ms | / floor |")
        print("|---|---:|---:|")
        for name, value in snp.items():
            print(f"| {name} | {value:.2f} | {value / floor:.2f}x |")

        releases, stop_broker = release_candidates(workdir)
        quotes, stop_tpm = tpm_candidates(workdir)
        try:
            timings = median_ms({**releases, **quotes}, arguments.repeat)
        finally:
            stop_broker()
            stop_tpm()
        print()
        print("| operation | ms |")
        print("|---|---:|")
        for name, value in timings.items():
            print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
