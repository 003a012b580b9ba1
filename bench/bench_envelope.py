"""Benchmark envelope encrypt and decrypt against pyhpke, Tink hybrid and raw AES-256-GCM.

One run measures, for X25519 and X-Wing recipients:

* small messages (1 KiB): the registry provider's bare encapsulate and
  decapsulate (the floor), agile's envelope encrypt and decrypt (keys parsed
  and KEKs unsealed once before timing), pyhpke's base-mode sender and
  recipient contexts (X25519 only: pyhpke has no PQ KEMs), pyca/cryptography's
  own single-shot HPKE (``hpke.Suite`` with the same KEM, HKDF-SHA256 and
  AES-256-GCM: one Rust call that does the whole of RFC 9180's base mode, with
  no envelope around it), and Tink's hybrid encryption
  (``DHKEM_X25519_..._AES_256_GCM`` and ``X_WING_..._AES_256_GCM``);
  figures are the best of ``--repeat`` runs of ``--number`` calls, in µs;
* bulk messages (``--bulk-mib``, default 256 MiB): agile (256 KiB chunks),
  Tink, one raw AES-256-GCM call of pyca/cryptography over the same bytes, and
  raw AES-256-GCM calls on 256 KiB pieces joined into one ``bytes`` (what any
  chunked format returning ``bytes`` must at least do: one more copy), and
  agile's streaming API from memory to a sink that discards the output;
  figures are the best of ``--bulk-repeat`` runs, in MB/s (10^6 bytes).

The candidates are timed in turns (round robin), so that load from other
processes falls on all of them alike, and the best run is reported because it
is the one least disturbed by that load.  ``--timer cpu`` times with the
calling thread's CPU time instead of the wall clock, which leaves out the time
the thread waits for a CPU on a loaded machine (every candidate here runs its
work in the calling thread, Tink's C++ included).

Run: ``/work/venv/bin/python bench/bench_envelope.py [--bulk-mib 256] [--timer cpu]``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from typing import Any

SMALL = os.urandom(1024)

TIMERS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
#: The clock every measurement uses; main() sets it from --timer.
timer: Callable[[], float] = time.perf_counter


def _best_in_turns(
    functions: dict[str, Callable[[], object]], number: int, repeat: int
) -> dict[str, float]:
    """Return the best seconds per call of each function, timing them in turns."""
    best = {name: float("inf") for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            elapsed = timeit.timeit(function, number=number, timer=timer) / number
            best[name] = min(best[name], elapsed)
    return best


def _tink(template_name: str) -> tuple[Any, Any]:
    import tink
    from tink import hybrid

    hybrid.register()
    template = getattr(hybrid.hybrid_key_templates, template_name)
    private = tink.new_keyset_handle(template)
    encrypter = private.public_keyset_handle().primitive(hybrid.HybridEncrypt)
    decrypter = private.primitive(hybrid.HybridDecrypt)
    return encrypter, decrypter


def _pyhpke_x25519(
    private_data: bytes, public_data: bytes
) -> tuple[Callable[[], object], Callable[[], object]]:
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId

    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
    private_key = suite.kem.deserialize_private_key(private_data)
    public_key = suite.kem.deserialize_public_key(public_data)
    enc, sender = suite.create_sender_context(public_key, b"")
    ciphertext = sender.seal(SMALL)

    def seal() -> object:
        _, context = suite.create_sender_context(public_key, b"")
        return context.seal(SMALL)

    def open_() -> object:
        return suite.create_recipient_context(enc, private_key, b"").open(ciphertext)

    return seal, open_


def _cryptography_hpke(kem: str, private: Any) -> tuple[Callable[[], object], Callable[[], object]]:
    """Return seal and open of 1 KiB through pyca/cryptography's HPKE, on agile's key pair."""
    from cryptography.hazmat.primitives import hpke

    if kem == "x25519":
        kem_id = hpke.KEM.X25519
        private_key, public_key = private.handle
    else:
        # agile's X-Wing key handle contains the expanded parts: (ML-KEM-768 key, X25519 key, pk_X).
        kem_id = hpke.KEM.MLKEM768_X25519
        mlkem_private, x25519_private, _ = private.handle
        private_key = hpke.MLKEM768X25519PrivateKey(mlkem_private.handle, x25519_private)
        public_key = private_key.public_key()
    suite = hpke.Suite(kem_id, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    sealed = suite.encrypt(SMALL, public_key)

    def seal() -> object:
        return suite.encrypt(SMALL, public_key)

    def open_() -> object:
        return suite.decrypt(sealed, private_key)

    return seal, open_


TINK_TEMPLATES = {
    "x25519": "DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM_RAW",
    "x-wing": "X_WING_HKDF_SHA256_HKDF_SHA256_AES_256_GCM_RAW",
}


def small_rows(store: Any, number: int, repeat: int) -> list[dict[str, Any]]:
    rows = []
    policy = store.policy()
    for kem in ("x25519", "x-wing"):
        rows.append(_small_row(store, policy, kem, number, repeat))
    return rows


def _small_row(store: Any, policy: Any, kem: str, number: int, repeat: int) -> dict[str, Any]:
    from agile import envelope, registry

    keyset = store.create_keyset(f"bench-{kem}", "kem", kem)
    key_id = keyset.primary.id
    public = keyset.public_key(key_id)
    private = keyset.private_key(key_id)
    implementation = registry.kem(kem)
    ciphertext, _ = implementation.encapsulate(public)
    sealed = envelope.encrypt(SMALL, keyset, policy=policy)
    encrypter, decrypter = _tink(TINK_TEMPLATES[kem])
    tink_sealed = encrypter.encrypt(SMALL, b"")
    calls: dict[str, Callable[[], object]] = {
        "kem_encap": lambda: implementation.encapsulate(public),
        "kem_decap": lambda: implementation.decapsulate(private, ciphertext),
        "agile_encrypt": lambda: envelope.encrypt(SMALL, keyset, policy=policy),
        "agile_decrypt": lambda: envelope.decrypt(sealed, store, policy=policy),
        "tink_encrypt": lambda: encrypter.encrypt(SMALL, b""),
        "tink_decrypt": lambda: decrypter.decrypt(tink_sealed, b""),
    }
    calls["cryptography_encrypt"], calls["cryptography_decrypt"] = _cryptography_hpke(kem, private)
    if kem == "x25519":
        seal, open_ = _pyhpke_x25519(private.data, public.data)
        calls["pyhpke_encrypt"] = seal
        calls["pyhpke_decrypt"] = open_

    best = _best_in_turns(calls, number, repeat)
    row: dict[str, Any] = {"kem": kem, "provider": implementation.provider}
    row.update({name: seconds * 1e6 for name, seconds in best.items()})
    return row


class _Discard(io.RawIOBase):
    """A writable stream that drops what it is given, like /dev/null without system calls."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def bulk_rows(store: Any, size: int, repeat: int) -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from agile import envelope

    data = os.urandom(size)
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    raw = AESGCM(key)
    raw_sealed = raw.encrypt(nonce, data, None)
    policy = store.policy()
    chunk = 256 << 10
    view = memoryview(data)

    def chunked_encrypt() -> bytes:
        return b"".join(
            raw.encrypt(nonce, view[i : i + chunk], None) for i in range(0, size, chunk)
        )

    chunked_sealed = chunked_encrypt()
    sealed_view = memoryview(chunked_sealed)

    def chunked_decrypt() -> bytes:
        step = chunk + 16
        return b"".join(
            raw.decrypt(nonce, sealed_view[i : i + step], None)
            for i in range(0, len(chunked_sealed), step)
        )

    calls: dict[str, Callable[[], object]] = {
        "raw AES-256-GCM (one call)/encrypt": lambda: raw.encrypt(nonce, data, None),
        "raw AES-256-GCM (one call)/decrypt": lambda: raw.decrypt(nonce, raw_sealed, None),
        "raw AES-256-GCM (256 KiB calls, joined)/encrypt": chunked_encrypt,
        "raw AES-256-GCM (256 KiB calls, joined)/decrypt": chunked_decrypt,
    }
    for kem in ("x25519", "x-wing"):
        keyset = store.keyset(f"bench-{kem}")
        sealed = envelope.encrypt(data, keyset, policy=policy)
        encrypter, decrypter = _tink(TINK_TEMPLATES[kem])
        tink_sealed = encrypter.encrypt(data, b"")

        def agile_encrypt(keyset: Any = keyset) -> object:
            return envelope.encrypt(data, keyset, policy=policy)

        def agile_decrypt(sealed: bytes = sealed) -> object:
            return envelope.decrypt(sealed, store, policy=policy)

        def tink_encrypt(encrypter: Any = encrypter) -> object:
            return encrypter.encrypt(data, b"")

        def tink_decrypt(decrypter: Any = decrypter, sealed: bytes = tink_sealed) -> object:
            return decrypter.decrypt(sealed, b"")

        def stream_encrypt(keyset: Any = keyset) -> object:
            return envelope.encrypt_stream(io.BytesIO(data), _Discard(), keyset, policy=policy)

        def stream_decrypt(sealed: bytes = sealed) -> object:
            return envelope.decrypt_stream(io.BytesIO(sealed), _Discard(), store, policy=policy)

        calls[f"agile envelope, {kem}/encrypt"] = agile_encrypt
        calls[f"agile envelope, {kem}/decrypt"] = agile_decrypt
        calls[f"agile stream to a discarding sink, {kem}/encrypt"] = stream_encrypt
        calls[f"agile stream to a discarding sink, {kem}/decrypt"] = stream_decrypt
        calls[f"Tink hybrid, {kem}/encrypt"] = tink_encrypt
        calls[f"Tink hybrid, {kem}/decrypt"] = tink_decrypt

    best = _best_in_turns(calls, 1, repeat)
    rows: dict[str, dict[str, Any]] = {}
    for label, seconds in best.items():
        name, operation = label.split("/")
        rows.setdefault(name, {"name": name})[operation] = size / seconds / 1e6
    return list(rows.values())


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def report(small: list[dict[str, Any]], bulk: list[dict[str, Any]], size: int) -> str:
    lines = [
        "1 KiB message, µs per call (best run):",
        "",
        "| KEM (provider) | op | bare KEM | agile | agile − KEM | cryptography HPKE "
        "| pyhpke | Tink | agile / cryptography | agile / pyhpke | agile / Tink |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in small:
        for op, kem_op in (("encrypt", "kem_encap"), ("decrypt", "kem_decap")):
            agile = row[f"agile_{op}"]
            pyhpke = row.get(f"pyhpke_{op}")
            tink = row[f"tink_{op}"]
            raw_hpke = row[f"cryptography_{op}"]
            versus_pyhpke = "—" if pyhpke is None else f"{agile / pyhpke:.2f}"
            lines.append(
                f"| {row['kem']} ({row['provider']}) | {op} | {_cell(row[kem_op])} "
                f"| {_cell(agile)} | {_cell(agile - row[kem_op])} | {_cell(raw_hpke)} "
                f"| {_cell(pyhpke)} | {_cell(tink)} | {agile / raw_hpke:.2f} "
                f"| {versus_pyhpke} | {agile / tink:.2f} |"
            )
    if not bulk:
        return "\n".join(lines)
    raw = bulk[0]
    lines += [
        "",
        f"{size >> 20} MiB message, MB/s (best run):",
        "",
        "| implementation | encrypt | decrypt | encrypt / raw | decrypt / raw |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in bulk:
        lines.append(
            f"| {row['name']} | {row['encrypt']:.0f} | {row['decrypt']:.0f} | "
            f"{row['encrypt'] / raw['encrypt']:.0%} | {row['decrypt'] / raw['decrypt']:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=300, help="Calls per timing run.")
    parser.add_argument("--repeat", type=int, default=7, help="Timing runs (best taken).")
    parser.add_argument(
        "--bulk-mib", type=int, default=256, help="Bulk message size in MiB (0: skip)."
    )
    parser.add_argument("--bulk-repeat", type=int, default=5, help="Bulk runs (best taken).")
    parser.add_argument(
        "--timer",
        choices=sorted(TIMERS),
        default="wall",
        help="wall: elapsed time; cpu: the calling thread's CPU time (steadier under load).",
    )
    arguments = parser.parse_args()
    global timer
    timer = TIMERS[arguments.timer]

    os.environ.setdefault("AGILE_PASSPHRASE", "benchmark only")
    # The sealer's cost is not measured: KEKs are unsealed once before timing.
    os.environ.setdefault("AGILE_ARGON2_MEMORY_KIB", "1024")
    from agile.keys import Keystore

    with tempfile.TemporaryDirectory() as folder:
        store = Keystore.open(folder)
        started = time.perf_counter()
        small = small_rows(store, arguments.number, arguments.repeat)
        size = arguments.bulk_mib << 20
        bulk = bulk_rows(store, size, arguments.bulk_repeat) if size else []
        elapsed = time.perf_counter() - started
    print(report(small, bulk, size))
    print(
        f"\n(python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {arguments.timer} timer, "
        f"{elapsed:.0f} s)"
    )


if __name__ == "__main__":
    main()
