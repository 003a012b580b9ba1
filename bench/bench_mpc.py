"""Benchmark: 3-party secure aggregation on loopback, agile mpc against MPyC, in one run.

Run: python bench/bench_mpc.py [--length 10000] [--repeat 3]

Each of three parties has a vector of ``length`` random 32-bit integers, in
its own process.  Two computations are timed:

- element-wise sum, every one of the ``length`` sums opened;
- secure sum (total) of all the parties' integers, one output.

Times run from the moment a party's connections are up to the moment it has
the output (process start-up excluded); a run counts as the slowest party's
time, and the median over ``--repeat`` runs is printed with the ratio
MPyC / agile.  The slowest party's CPU seconds over the same span are printed
too: on a loaded machine the wall-clock time is mostly waiting for a core.
MPyC runs with SecInt(64), agile over the 253-bit ristretto255 scalar field
with X-Wing HPKE-sealed shares inside TLS 1.3.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mpc.local import free_ports, run_local

MPYC_PARTY = """
import os, sys, time
from mpyc.runtime import mpc

async def main():
    values = [int(line) for line in open(os.environ["BENCH_INPUT"]) if line.strip()]
    secint = mpc.SecInt(64)
    await mpc.start()
    started = time.perf_counter()
    started_cpu = time.process_time()
    vectors = mpc.input([secint(v) for v in values])
    if os.environ["BENCH_MODE"] == "sum":
        sums = vectors[0]
        for vector in vectors[1:]:
            sums = mpc.vector_add(sums, vector)
        outputs = await mpc.output(sums)
    else:
        outputs = [await mpc.output(mpc.sum([x for vector in vectors for x in vector]))]
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - started_cpu
    await mpc.shutdown()
    print("\\n".join(map(str, outputs)))
    print(f"elapsed {elapsed:.6f} cpu {cpu:.6f}", file=sys.stderr)

mpc.run(main())
"""


def run_mpyc(script: Path, inputs: list[Path], mode: str) -> tuple[list[str], float, float]:
    """Run one MPyC computation; return party 1's outputs, max wall and max CPU seconds."""
    ports = free_ports(len(inputs))
    addresses = [arg for port in ports for arg in ("-P", f"127.0.0.1:{port}")]
    processes = []
    for index, path in enumerate(inputs):
        environment = {**os.environ, "BENCH_INPUT": str(path), "BENCH_MODE": mode}
        command = [sys.executable, str(script), f"-M{len(inputs)}", f"-I{index}", *addresses]
        command.append("--no-log")
        processes.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, text=True
            )
        )
    outputs, times, cpus = [], [], []
    for process in processes:
        out, err = process.communicate(timeout=300)
        if process.returncode != 0:
            raise RuntimeError(f"MPyC party failed: {err.strip()[-300:]}")
        outputs.append(out.split())
        for line in err.splitlines():
            words = line.split()
            if words[:1] == ["elapsed"]:
                times.append(float(words[1]))
                cpus.append(float(words[3]))
    return outputs[0], max(times), max(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=10_000, help="integers per party")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median kept)")
    args = parser.parse_args()

    rng = random.Random(7)
    vectors = [[rng.randint(-(2**31), 2**31 - 1) for _ in range(args.length)] for _ in range(3)]
    expected = {
        "sum": [str(sum(column)) for column in zip(*vectors, strict=True)],
        "total": [str(sum(map(sum, vectors)))],
    }
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        paths = []
        for index, vector in enumerate(vectors):
            path = folder / f"party{index}.csv"
            path.write_text("\n".join(map(str, vector)) + "\n")
            paths.append(path)
        script = folder / "mpyc_party.py"
        script.write_text(MPYC_PARTY)

        print(f"3 parties on 127.0.0.1, {args.length} integers each; median of {args.repeat} runs")
        header = f"{'computation':<30}{'agile':>9}{'MPyC':>9}{'ratio':>7}"
        print(header + f"{'agile CPU':>11}{'MPyC CPU':>10}")
        computations = (
            ("sum", "element-wise sum, all opened"),
            ("total", "secure sum, one output"),
        )
        for mode, label in computations:
            ours, theirs, our_cpu, their_cpu = [], [], [], []
            for _ in range(args.repeat):
                run = run_local(paths, mode)
                if run.outputs != expected[mode]:
                    raise RuntimeError(f"agile gave wrong {mode} outputs")
                ours.append(max(run.elapsed))
                our_cpu.append(max(run.cpu))
                outputs, elapsed, cpu = run_mpyc(script, paths, mode)
                if outputs != expected[mode]:
                    raise RuntimeError(f"MPyC gave wrong {mode} outputs")
                theirs.append(elapsed)
                their_cpu.append(cpu)
            agile_time, mpyc_time = statistics.median(ours), statistics.median(theirs)
            print(
                f"{label:<30}{agile_time:>8.3f}s{mpyc_time:>8.3f}s{mpyc_time / agile_time:>6.1f}x"
                f"{statistics.median(our_cpu):>10.3f}s{statistics.median(their_cpu):>9.3f}s"
            )


if __name__ == "__main__":
    main()
