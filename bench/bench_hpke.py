"""Benchmark agile.hpke single-shot seal and open of a 1 KiB message against its peers.

For each suite, one run measures:

* the bare KEM operation of the registry provider that agile.hpke uses
  (encapsulate for seal, decapsulate for open), which bounds HPKE from below;
* agile.hpke.seal / agile.hpke.open (KEM + key schedule + one AEAD call);
* pyca/cryptography's HPKE ``Suite.encrypt`` / ``Suite.decrypt`` (base mode, Rust);
* pyhpke's sender and recipient contexts (DHKEMs only: pyhpke has no PQ KEMs).

Each figure is the median (or, with ``--statistic min``, the minimum) over
``--repeat`` runs of ``--number`` calls, in microseconds per call.  The runs of
all calls of a suite are interleaved.

Run: ``/work/venv/bin/python bench/bench_hpke.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519

from agile import hpke

MESSAGE = bytes(1024)
INFO = b"bench info"

# (agile KEM, KDF, AEAD, cryptography KEM, pyhpke KEM id or None)
SUITES = [
    ("x25519", "hkdf-sha256", "aes-128-gcm", pyca_hpke.KEM.X25519, 0x0020),
    ("p256", "hkdf-sha256", "aes-128-gcm", pyca_hpke.KEM.P256, 0x0010),
    ("ml-kem-768", "hkdf-sha256", "aes-128-gcm", pyca_hpke.KEM.MLKEM768, None),
    ("x-wing", "hkdf-sha256", "aes-128-gcm", pyca_hpke.KEM.MLKEM768_X25519, None),
]


def _time_all_us(
    calls: dict[str, Callable[[], object]], number: int, repeat: int, statistic: str
) -> dict[str, float]:
    # Interleave the runs of all calls so that load from other processes hits each alike.
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            times[name].append(timeit.timeit(call, number=number))

    combine = statistics.median if statistic == "median" else min
    return {name: combine(values) / number * 1e6 for name, values in times.items()}


def _pyca_private(kem: str, data: bytes) -> Any:
    if kem == "x25519":
        return x25519.X25519PrivateKey.from_private_bytes(data)
    if kem == "p256":
        return ec.derive_private_key(int.from_bytes(data, "big"), ec.SECP256R1())
    if kem == "ml-kem-768":
        return mlkem.MLKEM768PrivateKey.from_seed_bytes(data)
    # X-Wing: SHAKE256(seed, 96) contains the ML-KEM-768 seed and then the X25519 key.
    expanded = hashlib.shake_256(data).digest(96)
    return pyca_hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


def _pyhpke_calls(
    kem_id: int, private_data: bytes, public_data: bytes
) -> tuple[Callable[[], object], Callable[[], object]]:
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId

    suite = CipherSuite.new(KEMId(kem_id), KDFId.HKDF_SHA256, AEADId.AES128_GCM)
    private_key = suite.kem.deserialize_private_key(private_data)
    public_key = suite.kem.deserialize_public_key(public_data)
    enc, sender = suite.create_sender_context(public_key, INFO)
    ciphertext = sender.seal(MESSAGE)

    def seal() -> object:
        _, context = suite.create_sender_context(public_key, INFO)
        return context.seal(MESSAGE)

    def open_() -> object:
        context = suite.create_recipient_context(enc, private_key, INFO)
        return context.open(ciphertext)

    return seal, open_


def _measure(
    kem: str,
    kdf: str,
    aead: str,
    pyca_kem: Any,
    pyhpke_kem: int | None,
    number: int,
    repeat: int,
    statistic: str,
) -> dict[str, Any]:
    suite = hpke.Suite.from_ids(kem, kdf, aead)
    private_key = suite.kem_impl.generate()
    public_key = private_key.public_key
    enc, ciphertext = hpke.seal(suite, public_key, MESSAGE, INFO)

    pyca_suite = pyca_hpke.Suite(pyca_kem, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_128_GCM)
    pyca_private = _pyca_private(kem, private_key.data)
    pyca_public = pyca_private.public_key()
    pyca_sealed = pyca_suite.encrypt(MESSAGE, pyca_public, info=INFO)

    calls: dict[str, Callable[[], object]] = {
        "kem_encap": lambda: suite.kem_impl.encapsulate(public_key),
        "kem_decap": lambda: suite.kem_impl.decapsulate(private_key, enc),
        "agile_seal": lambda: hpke.seal(suite, public_key, MESSAGE, INFO),
        "agile_open": lambda: hpke.open(suite, enc, private_key, ciphertext, INFO),
        "pyca_seal": lambda: pyca_suite.encrypt(MESSAGE, pyca_public, info=INFO),
        "pyca_open": lambda: pyca_suite.decrypt(pyca_sealed, pyca_private, info=INFO),
    }
    if pyhpke_kem is not None:
        calls["pyhpke_seal"], calls["pyhpke_open"] = _pyhpke_calls(
            pyhpke_kem, private_key.data, public_key.data
        )

    row: dict[str, Any] = {"suite": f"{kem} + {kdf} + {aead}", "provider": suite.kem_impl.provider}
    row["pyhpke_seal"] = row["pyhpke_open"] = None
    row.update(_time_all_us(calls, number, repeat, statistic))
    return row


def run(number: int, repeat: int, statistic: str) -> list[dict[str, Any]]:
    return [_measure(*suite, number, repeat, statistic) for suite in SUITES]


def _format(rows: list[dict[str, Any]]) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    def ratio(value: float, peer: float | None) -> str:
        return "-" if peer is None else f"{value / peer:.2f}"

    lines = [
        "| suite (KEM provider) | op | bare KEM | agile.hpke | agile - KEM | cryptography "
        "| pyhpke | agile / cryptography | agile / pyhpke |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for op, kem_op in (("seal", "kem_encap"), ("open", "kem_decap")):
            agile = row[f"agile_{op}"]
            lines.append(
                f"| {row['suite']} ({row['provider']}) | {op} | {cell(row[kem_op])} | "
                f"{cell(agile)} | {cell(agile - row[kem_op])} | {cell(row[f'pyca_{op}'])} | "
                f"{cell(row[f'pyhpke_{op}'])} | {ratio(agile, row[f'pyca_{op}'])} | "
                f"{ratio(agile, row[f'pyhpke_{op}'])} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=31, help="timing runs per figure")
    parser.add_argument(
        "--statistic",
        choices=["median", "min"],
        default="median",
        help="how the timing runs combine; min is steadier on a shared machine",
    )
    arguments = parser.parse_args()
    print(_format(run(arguments.number, arguments.repeat, arguments.statistic)))


if __name__ == "__main__":
    main()
