"""Benchmark he (Paillier on gmpy2) against phe and tno-mpc-encryption-schemes-paillier in one run.

Usage (from the repository root, with the ``bench`` extra installed)::

    python bench/bench_he.py [--bits 2048 3072] [--batch 500] [--aggregate 100000] [--repeat 3]

Prints one Markdown table per key size: the median time of each operation for
he, phe and tno, and the ratio of the peer's time to he's (above 1 means he is
faster).  Rows without a peer number compare he's variant with the peer's
plain operation on the same row label.

The aggregation rows sum synthetic ciphertexts: valid encryptions whose masks
are products of two masks from a pool of 200 fresh ones.  Computing 100,000
fresh masks would take minutes, and the cost of a sum does not depend on the
randomness.  Such ciphertexts must never leave a benchmark.
"""

from __future__ import annotations

import argparse
import functools
import operator
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import he  # noqa: E402
from he import packing  # noqa: E402
from he.packing import PackedVector, PackingScheme  # noqa: E402


def median_time(function: Callable[[], Any], repeat: int) -> float:
    """Return the median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_call(function: Callable[[], Any], calls: int, repeat: int) -> float:
    """Return the median time of one call, measured over loops of ``calls`` calls."""
    return median_time(lambda: [function() for _ in range(calls)], repeat) / calls


class Table:
    """Rows of (operation, he, phe, tno) times in seconds; None where a column does not apply."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.rows: list[tuple[str, float | None, float | None, float | None]] = []

    def add(
        self, label: str, ours: float | None, phe: float | None = None, tno: float | None = None
    ) -> None:
        self.rows.append((label, ours, phe, tno))
        print(f"  {label}: he={_fmt(ours)} phe={_fmt(phe)} tno={_fmt(tno)}", file=sys.stderr)

    def markdown(self) -> str:
        lines = [
            f"### paillier-{self.bits}",
            "",
            "| operation | he | phe | tno | phe / he | tno / he |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for label, ours, phe, tno in self.rows:
            lines.append(
                f"| {label} | {_fmt(ours)} | {_fmt(phe)} | {_fmt(tno)} "
                f"| {_ratio(phe, ours)} | {_ratio(tno, ours)} |"
            )
        return "\n".join(lines) + "\n"


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or ours == 0:
        return ""
    return f"{peer / ours:.1f}x"


def mixed_values(count: int, seed: int) -> list[Decimal]:
    """Return integers and decimals with up to 3 digits, as the CLI acceptance uses."""
    generator = random.Random(seed)
    values = []
    for _ in range(count):
        if generator.random() < 0.5:
            values.append(Decimal(generator.randint(-(10**6), 10**6)))
        else:
            values.append(Decimal(generator.randint(-(10**9), 10**9)) / 1000)
    return values


def bench_size(bits: int, args: argparse.Namespace) -> Table:
    import phe
    from tno.mpc.encryption_schemes.paillier import Paillier, PaillierCiphertext

    table = Table(bits)
    repeat = args.repeat
    print(f"paillier-{bits}", file=sys.stderr)

    # Key generation.
    table.add(
        "key generation",
        median_time(lambda: he.generate_keypair(bits), repeat),
        median_time(lambda: phe.generate_paillier_keypair(n_length=bits), repeat),
        median_time(lambda: Paillier.from_security_parameter(key_length=bits, precision=3), repeat),
    )
    public, private = he.generate_keypair(bits)
    phe_public = phe.PaillierPublicKey(int(public.n))
    phe_private = phe.PaillierPrivateKey(phe_public, int(private.p), int(private.q))
    tno = Paillier.from_security_parameter(key_length=bits, precision=3)

    # Single encryption with a fresh mask.
    table.add(
        "encrypt one value",
        per_call(lambda: public.encrypt(Decimal("123.456"), 3), 10, repeat),
        per_call(lambda: phe_public.encrypt(123.456), 10, repeat),
        per_call(lambda: tno.encrypt(123.456), 10, repeat),
    )

    # Batched encryption of mixed integers and 3-digit decimals.
    batch = args.batch
    values = mixed_values(batch, bits)
    floats = [float(v) for v in values]
    phe_batch = median_time(lambda: [phe_public.encrypt(v) for v in floats], repeat)
    tno_batch = median_time(lambda: list(tno.encrypt_sequence(floats)), repeat)
    scheme = PackingScheme(value_bits=64, max_additions=2**20 - 1, precision=3)
    label = f"encrypt {batch} values"
    table.add(
        f"{label}, unpacked",
        median_time(lambda: he.encrypt_batch(public, values, 3), repeat),
        phe_batch,
        tno_batch,
    )
    table.add(
        f"{label}, packed ({scheme.slots(public)} per ciphertext)",
        median_time(lambda: he.encrypt_vector(public, values, scheme), repeat),
        phe_batch,
        tno_batch,
    )
    workers = he.engine.default_workers()
    table.add(
        f"{label}, packed, {workers} worker processes",
        median_time(lambda: he.encrypt_vector(public, values, scheme, workers=workers), repeat),
        phe_batch,
        tno_batch,
    )
    table.add(
        f"{label}, unpacked, {workers} worker processes",
        median_time(lambda: he.encrypt_batch(public, values, 3, workers=workers), repeat),
        phe_batch,
        tno_batch,
    )
    table.add(
        f"{label}, unpacked, CRT masks (encrypter holds the private key)",
        median_time(
            lambda: he.encrypt_batch(
                public, values, 3, pool=he.RandomnessPool(public, private_key=private)
            ),
            repeat,
        ),
        phe_batch,
        tno_batch,
    )

    # Precomputed randomness: the offline part on its own row, then online, then both.
    pools = []
    offline_times = []
    for _ in range(repeat):
        start = time.perf_counter()
        pool = he.RandomnessPool(public)
        pool.fill(batch)
        offline_times.append(time.perf_counter() - start)
        pools.append(pool)
    offline = statistics.median(offline_times)
    online = median_time(lambda: he.encrypt_batch(public, values, 3, pool=pools.pop()), repeat)
    table.add(f"precompute {batch} masks r^n (offline)", offline)
    table.add(f"{label}, unpacked, from precomputed masks (online)", online, phe_batch, tno_batch)
    table.add(f"{label}, unpacked, precompute + online", offline + online, phe_batch, tno_batch)

    # Opt-in Damgard-Jurik-Nielsen short-exponent masks.
    djn_public, _ = he.generate_keypair(bits, djn=True)
    from he.djn import FixedBaseTable

    table.add(
        "DJN fixed-base table build (once per key)",
        median_time(
            lambda: FixedBaseTable(djn_public.djn_base, djn_public.nsquare, -(-bits // 2)), 1
        ),
    )
    he.RandomnessPool(djn_public, djn=True)  # builds and caches the table
    table.add(
        f"{label}, unpacked, DJN masks",
        median_time(
            lambda: he.encrypt_batch(
                djn_public, values, 3, pool=he.RandomnessPool(djn_public, djn=True)
            ),
            repeat,
        ),
        phe_batch,
        tno_batch,
    )
    table.add(
        f"{label}, packed, DJN masks",
        median_time(
            lambda: he.encrypt_vector(
                djn_public, values, scheme, pool=he.RandomnessPool(djn_public, djn=True)
            ),
            repeat,
        ),
        phe_batch,
        tno_batch,
    )

    # One homomorphic addition.
    a, b = public.encrypt(Decimal("1.5"), 3), public.encrypt(Decimal("2.25"), 3)
    pa, pb = phe_public.encrypt(1.5), phe_public.encrypt(2.25)
    ta, tb = tno.encrypt(1.5), tno.encrypt(2.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.add(
            "add two ciphertexts",
            per_call(lambda: a + b, 2000, repeat),
            per_call(lambda: pa + pb, 2000, repeat),
            per_call(lambda: ta + tb, 2000, repeat),
        )

    # Aggregation of many values (synthetic ciphertexts, see the module docstring).
    count = args.aggregate
    masks = [public.mask() for _ in range(200)]
    generator = random.Random(bits + 1)
    plain = [generator.randint(-(10**6), 10**6) for _ in range(count)]
    raw = [
        public.raw_encrypt(m % public.n, masks[i % 200] * masks[(i * 7 + 3) % 200] % public.nsquare)
        for i, m in enumerate(plain)
    ]
    ours = [he.EncryptedNumber(public, c, 0, 10, 10**6) for c in raw]
    theirs = [phe.EncryptedNumber(phe_public, int(c), 0) for c in raw]
    phe_sum = median_time(lambda: functools.reduce(operator.add, theirs), repeat)
    tno_scheme = tno_like(public, private)
    tno_items = [PaillierCiphertext(c, tno_scheme) for c in raw]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tno_sum = median_time(lambda: functools.reduce(operator.add, tno_items), repeat)
    table.add(
        f"sum {count:,} encrypted values, unpacked",
        median_time(lambda: he.total(ours), repeat),
        phe_sum,
        tno_sum,
    )

    packed_scheme = PackingScheme(value_bits=32, max_additions=count)
    slots = packed_scheme.slots(public)
    plaintexts = packed_scheme.pack(packed_scheme.encode_values(plain), slots)
    packed_raw = tuple(
        public.raw_encrypt(m, masks[i % 200] * masks[(i * 11 + 5) % 200] % public.nsquare)
        for i, m in enumerate(plaintexts)
    )
    vector = PackedVector(public, packed_raw, count, packed_scheme)
    table.add(
        f"sum {count:,} values, packed ({slots} per ciphertext, fold)",
        median_time(lambda: packing.fold(vector), repeat),
        phe_sum,
        tno_sum,
    )

    # Decryption of the aggregate.
    total = he.total(ours)
    phe_total = functools.reduce(operator.add, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tno_total = functools.reduce(operator.add, tno_items)
        tno_decrypt = per_call(lambda: tno_scheme.decrypt(tno_total), 20, repeat)
    assert private.decrypt(total) == sum(plain)
    assert phe_private.decrypt(phe_total) == sum(plain)
    table.add(
        "decrypt the aggregate",
        per_call(lambda: private.decrypt(total), 20, repeat),
        per_call(lambda: phe_private.decrypt(phe_total), 20, repeat),
        tno_decrypt,
    )
    folded = packing.fold(vector)
    assert sum(he.decrypt_vector(private, folded)) == sum(plain)
    table.add(
        "decrypt the packed aggregate and add its slots",
        per_call(lambda: sum(he.decrypt_vector(private, folded)), 20, repeat),
        per_call(lambda: phe_private.decrypt(phe_total), 20, repeat),
        tno_decrypt,
    )
    return table


def tno_like(public: Any, private: Any) -> Any:
    """Return a tno scheme with the same key as he's, so that both sum the same ciphertexts."""
    from tno.mpc.encryption_schemes.paillier import Paillier, PaillierPublicKey, PaillierSecretKey

    # With g = n + 1, L(g^lambda mod n^2) = lambda mod n, so mu = lambda^-1 mod n.
    n = int(public.n)
    lam = (int(private.p) - 1) * (int(private.q) - 1)
    return Paillier(PaillierPublicKey(n, n + 1), PaillierSecretKey(lam, pow(lam, -1, n), n))


def bench_cli(bits: int, repeat: int) -> str:
    """Time 'agile he encrypt' of 500 values (start-up included) against phe in process."""
    import phe

    from agile.keys import Keystore

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        environment = dict(os.environ)
        environment["AGILE_HOME"] = str(root / "keystore")
        environment["AGILE_PASSPHRASE"] = "benchmark passphrase"
        os.environ.update(
            AGILE_HOME=environment["AGILE_HOME"], AGILE_PASSPHRASE=environment["AGILE_PASSPHRASE"]
        )
        store = Keystore.open(root / "keystore")
        store.create_keyset("bench", "homomorphic", f"paillier-{bits}", policy="legacy")
        values = mixed_values(500, 99)
        source = root / "values.csv"
        source.write_text("".join(f"{v}\n" for v in values))
        command = [
            sys.executable, "-m", "cli.main", "he", "encrypt", "--keyset", "bench",
            "--precision", "3", "--policy", "legacy", str(source), "-o", str(root / "out.he"),
        ]  # fmt: skip

        def run_cli() -> None:
            subprocess.run(command, cwd=REPO, env=environment, check=True)

        ours = median_time(run_cli, repeat)
        phe_public, _ = phe.generate_paillier_keypair(n_length=bits)
        floats = [float(v) for v in values]
        theirs = median_time(lambda: [phe_public.encrypt(v) for v in floats], repeat)
    return (
        f"| `agile he encrypt` 500 values, paillier-{bits}, process start-up included "
        f"| {_fmt(ours)} | {_fmt(theirs)} | {_ratio(theirs, ours)} |\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[2048, 3072])
    parser.add_argument("--batch", type=int, default=500, help="values per batched encryption")
    parser.add_argument("--aggregate", type=int, default=100_000, help="values summed")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()

    import gmpy2
    import phe

    print(
        f"Python {sys.version.split()[0]}, gmpy2 {gmpy2.version()}, phe {phe.__version__} "
        f"(gmpy2 backend: {phe.util.HAVE_GMP}), {os.cpu_count()} CPUs\n"
    )
    for bits in args.bits:
        print(bench_size(bits, args).markdown())
    print("| CLI check | agile he | phe (in process) | phe / he |")
    print("|---|---:|---:|---:|")
    print(bench_cli(2048, args.repeat), end="")


if __name__ == "__main__":
    main()
