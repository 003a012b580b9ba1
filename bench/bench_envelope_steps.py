"""Split the cost of decrypting a 1 KiB envelope into its steps.

``bench_envelope.py`` reports what ``agile.envelope.decrypt`` adds to the
bare KEM decapsulation.  This script shows where that time goes: each step
of a decrypt is timed on its own, with its inputs prepared beforehand, in the
order the decrypt runs them:

* parse: the header parser (``parse_header``);
* key lookup: the keystore index, the ``stat`` that notices a changed keyset
  file, and the parsed private key from the per-process cache;
* policy: the two checks (payload AEAD, then the recipient key);
* HPKE open: RFC 9180 base-mode open of the recipient stanza, minus the bare
  KEM decapsulation, that is the HPKE key schedule and the AES-256-GCM open
  of the 32-byte data key;
* key schedule: the envelope's HKDF of the data key;
* commitment and header MAC: the two checks that authenticate the header;
* payload: the payload AD digest and the STREAM open of one 1 KiB chunk.

The steps add up to less than the whole call.  The last row shows the
difference: the Python code between the steps, which no step includes, and
(an estimate, not measured here) cache misses, because a step timed alone
finds its code and data in the CPU caches.  The steps are timed in turns, and each figure is
the best of ``--repeat`` runs of ``--number`` calls, in µs.

Run: ``/work/venv/bin/python bench/bench_envelope_steps.py [--number 400] [--repeat 25]``.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from typing import Any

MESSAGE = os.urandom(1024)


def _best_in_turns(
    functions: dict[str, Callable[[], object]], number: int, repeat: int
) -> dict[str, float]:
    """Return the best µs per call of each function, timing them in turns.

    Taking turns spreads load from other processes over every step alike.
    """
    best = {name: float("inf") for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            elapsed = timeit.timeit(function, number=number, timer=time.perf_counter)
            best[name] = min(best[name], elapsed / number * 1e6)
    return best


def steps(store: Any, kem: str, number: int, repeat: int) -> list[tuple[str, float]]:
    from agile import envelope, hpke, registry
    from agile.envelope import encrypted, format, recipients, schedule

    keyset = store.create_keyset(f"steps-{kem}", "kem", kem)
    policy = store.policy()
    sealed = envelope.encrypt(MESSAGE, keyset, policy=policy)
    header = format.parse_header(sealed)
    stanza = header.recipients[0]
    found_keyset, key = store.find_key(stanza.key_id)
    private = found_keyset.private_key(key.id)
    meta = key.meta()
    (enc_size,) = struct.unpack_from(">H", stanza.body, 4)
    enc = stanza.body[6 : 6 + enc_size]
    ciphertext = stanza.body[6 + enc_size :]
    suite = recipients._suite(kem)
    info = recipients.binding(recipients._HPKE_INFO, header.payload_context, stanza.key_id)
    data_key = recipients.unwrap(stanza, header.payload_context, private_key=private)
    assert header.payload_algorithm is not None
    keys = encrypted._schedule(data_key, header.salt, header.payload_algorithm)
    opened = encrypted._Opened(header, data_key, keys)
    payload = memoryview(sealed)[header.length :]
    kem_implementation = registry.kem(kem)

    def lookup() -> object:
        found, found_key = store.find_key(stanza.key_id)
        return found.private_key(found_key.id)

    def policy_checks() -> None:
        policy.enforce("decrypt", header.payload_algorithm)
        policy.enforce("decrypt", key.algorithm, key=meta)

    def header_checks() -> None:
        keys.check_commitment(header.commitment)
        keys.check_header_mac(header.authenticated, header.mac)

    timed: dict[str, Callable[[], object]] = {
        "bare KEM decapsulation": lambda: kem_implementation.decapsulate(private, enc),
        "parse": lambda: format.parse_header(sealed),
        "key lookup": lookup,
        "policy": policy_checks,
        "HPKE open": lambda: hpke.open(suite, enc, private, ciphertext, info=info),
        "key schedule": lambda: schedule.derive_schedule(
            data_key, header.salt, header.payload_algorithm or "", 32, 12
        ),
        "commitment and header MAC": header_checks,
        "payload": lambda: encrypted._opener(opened, b"").open_all(payload, header.chunk_size),
        "whole decrypt": lambda: envelope.decrypt(sealed, store, policy=policy),
    }
    best = _best_in_turns(timed, number, repeat)
    kem_cost = best.pop("bare KEM decapsulation")
    whole = best.pop("whole decrypt")
    best["HPKE open"] -= kem_cost
    rows = list(best.items())
    parts = sum(value for _, value in rows)
    rows += [
        ("sum of the steps", parts),
        ("whole decrypt minus KEM", whole - kem_cost),
        ("whole minus the sum (code between the steps)", whole - kem_cost - parts),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=400, help="Calls per timing run.")
    parser.add_argument("--repeat", type=int, default=25, help="Timing runs (best taken).")
    arguments = parser.parse_args()

    os.environ.setdefault("AGILE_PASSPHRASE", "benchmark only")
    # The sealer's cost is not measured: KEKs are unsealed once before timing.
    os.environ.setdefault("AGILE_ARGON2_MEMORY_KIB", "1024")
    from agile.keys import Keystore

    kems = ("x25519", "x-wing")
    with tempfile.TemporaryDirectory() as folder:
        store = Keystore.open(folder)
        results = {kem: steps(store, kem, arguments.number, arguments.repeat) for kem in kems}
    print("Decrypting a 1 KiB envelope, µs per step (best run, beyond the KEM):\n")
    print("| step | " + " | ".join(kems) + " |")
    print("|---|" + "---:|" * len(kems))
    for index, (name, _) in enumerate(results[kems[0]]):
        cells = " | ".join(f"{results[kem][index][1]:.1f}" for kem in kems)
        print(f"| {name} | {cells} |")
    print(f"\n(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
