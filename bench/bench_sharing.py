"""Benchmark: Shamir split and combine of a 32-byte secret, 3 of 5, against pyshamir.

Run: python bench/bench_sharing.py [--repeat N]

Prints the median time per operation of each implementation and the ratio
pyshamir / agile, measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit
from collections.abc import Callable

import pyshamir

from agile.sharing import gf256, share_format

SECRET = os.urandom(32)
THRESHOLD, COUNT = 3, 5


def _median_seconds(function: Callable[[], object], repeat: int, number: int) -> float:
    return statistics.median(timeit.repeat(function, repeat=repeat, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timing rounds (median is kept)")
    args = parser.parse_args()

    ours = gf256.split(SECRET, THRESHOLD, COUNT)
    agile_shares = share_format.split(SECRET, THRESHOLD, COUNT)
    theirs = pyshamir.split(SECRET, COUNT, THRESHOLD)

    rows = [
        (
            "split",
            _median_seconds(lambda: gf256.split(SECRET, THRESHOLD, COUNT), args.repeat, 2000),
            _median_seconds(
                lambda: share_format.split(SECRET, THRESHOLD, COUNT), args.repeat, 2000
            ),
            _median_seconds(lambda: pyshamir.split(SECRET, COUNT, THRESHOLD), args.repeat, 20),
        ),
        (
            "combine",
            _median_seconds(lambda: gf256.combine(ours[:THRESHOLD]), args.repeat, 2000),
            _median_seconds(
                lambda: share_format.combine(agile_shares[:THRESHOLD]), args.repeat, 2000
            ),
            _median_seconds(lambda: pyshamir.combine(theirs[:THRESHOLD]), args.repeat, 5),
        ),
    ]
    print(f"Shamir GF(2^8), 32-byte secret, {THRESHOLD} of {COUNT}; median of {args.repeat} rounds")
    print(f"{'operation':<10}{'agile vault':>14}{'agile format':>14}{'pyshamir':>12}{'ratio':>9}")
    for name, vault, agile, peer in rows:
        print(
            f"{name:<10}{vault * 1e6:>11.1f} µs{agile * 1e6:>11.1f} µs{peer * 1e6:>9.0f} µs"
            f"{peer / vault:>8.0f}x"
        )


if __name__ == "__main__":
    main()
