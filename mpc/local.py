"""``agile mpc local``: run N real party processes on 127.0.0.1 for one computation.

A fresh deployment (CA, certificates, X-Wing keys, configs) is created in a
temporary directory with free loopback ports, one ``agile mpc party`` process
is started per input file, and the outputs are returned once every party
agrees on them.  The temporary directory, with its private keys, is removed
afterwards.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from agile.errors import InvalidArgument, MPCError

from .deployment import create_deployment
from .field import check_inputs
from .protocols import BEAVER_OPERATIONS, check_operation, read_integers

__all__ = ["LocalRun", "default_threshold", "free_ports", "run_local"]

LOOPBACK = "127.0.0.1"
_AGILE = (sys.executable, "-m", "cli.main")


@dataclass(frozen=True, slots=True)
class LocalRun:
    """The agreed outputs and each party's wall-clock and CPU seconds from connection to output."""

    outputs: list[str]
    elapsed: list[float]
    cpu: list[float]


def default_threshold(parties: int) -> int:
    """Return max(2, floor((n-1)/2) + 1), the least threshold no colluding minority reaches."""
    return max(2, (parties - 1) // 2 + 1)


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_local(
    inputs: Sequence[str | Path],
    operation: str,
    *,
    parties: int | None = None,
    threshold: int | None = None,
    timeout: float = 120.0,
    drop: Sequence[int] = (),
    base_port: int | None = None,
) -> LocalRun:
    """Run one party process per input file and return the outputs they agree on.

    ``drop`` names parties that leave right after sharing their input.  Party i
    listens on 127.0.0.1 port ``base_port + i``, or with ``base_port`` None on a
    port that was free a moment before.  Every argument is checked before a
    deployment is created or a process started.
    """
    _check_arguments(inputs, operation, parties, threshold, timeout, drop)
    count = parties if parties is not None else len(inputs)
    if base_port is not None and (not _is_int(base_port) or not 1024 <= base_port <= 65535 - count):
        raise InvalidArgument(
            f"base port {base_port!r} is not an int from 1024 to {65535 - count}",
            fix="pass a port such that every party's port (base + party number) is a valid "
            "unprivileged port, or leave it out to use free ports",
        )
    if len(inputs) != count:
        raise InvalidArgument(
            f"{len(inputs)} input file(s) for {count} parties",
            fix="give exactly one --inputs file per party",
        )
    threshold = threshold if threshold is not None else default_threshold(count)
    lengths = set()
    counts = []
    for source in inputs:
        values = read_integers(source)
        check_inputs(values, f"input {str(source)!r}")
        lengths.add(len(values))
        counts.append(f"{source} {len(values)}")
    if len(lengths) > 1:
        raise InvalidArgument(
            f"the input files contain different numbers of integers: {', '.join(counts)}",
            fix="give every party an input of the same length",
        )
    needs_dealer = operation in BEAVER_OPERATIONS
    if needs_dealer and lengths == {0}:
        raise InvalidArgument(
            f"operation {operation!r} needs at least one integer per party, and the input files "
            "are empty",
            fix="give every party the same non-empty list of integers",
        )
    with _terminate_as_exit(), tempfile.TemporaryDirectory(prefix="agile-mpc-") as temporary:
        folder = Path(temporary) / "deployment"
        configs = create_deployment(
            folder,
            count,
            threshold,
            host=LOOPBACK,
            ports=free_ports(count)
            if base_port is None
            else [base_port + party for party in range(1, count + 1)],
            dealer=needs_dealer,
        )
        commands = []
        for party_id, (config, source) in enumerate(zip(configs, inputs, strict=True), start=1):
            command = [*_AGILE, "mpc", "party", "--config", str(config)]
            command += ["--input", str(Path(source).resolve()), "--operation", operation]
            command += ["--timeout", str(timeout), "--timing"]
            if party_id in drop:
                command.append("--drop-after-sharing")
            commands.append((f"party {party_id}", command))
        if needs_dealer:
            length = lengths.pop()
            command = [*_AGILE, "mpc", "dealer", "--config", str(folder / "dealer.json")]
            command += ["--length", str(length), "--timeout", str(timeout)]
            commands.append(("the dealer", command))
        results = _run_processes(commands, Path(temporary), timeout + 30)

    outputs: list[list[str]] = []
    elapsed: list[float] = []
    cpu: list[float] = []
    # Report a party that failed on its own before those stopped because of it (code < 0).
    ranked = sorted(zip(commands, results, strict=True), key=lambda item: item[1][0] < 0)
    for (name, _), (code, _stdout, stderr) in ranked:
        if code != 0:
            last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code}"
            raise MPCError(f"{name} failed: {last}", fix="rerun with -v for details")
    for party_id, (_, stdout, stderr) in enumerate(results[:count], start=1):
        if party_id in drop:
            continue
        outputs.append(stdout.splitlines())
        for line in stderr.splitlines():
            words = line.split()
            if words[:1] == ["elapsed"] and words[2:3] == ["cpu"]:
                elapsed.append(float(words[1]))
                cpu.append(float(words[3]))
    if any(lines != outputs[0] for lines in outputs[1:]):
        raise MPCError("the parties opened different outputs", fix="rerun; a party is faulty")
    return LocalRun(outputs[0], elapsed, cpu)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_arguments(
    inputs: object,
    operation: object,
    parties: object,
    threshold: object,
    timeout: object,
    drop: object,
) -> None:
    """Raise InvalidArgument for an argument of run_local of the wrong type or range."""
    if isinstance(inputs, str | bytes | os.PathLike) or not isinstance(inputs, Sequence):
        raise InvalidArgument(
            f"inputs must be a list of CSV file paths, not {type(inputs).__name__}",
            fix="pass one path per party, for example ['a.csv', 'b.csv']",
        )
    for source in inputs:
        if not isinstance(source, str | os.PathLike):
            raise InvalidArgument(
                f"input {source!r} is not a file path", fix="pass one CSV file path per party"
            )
    check_operation(operation)
    for name, value in (("parties", parties), ("threshold", threshold)):
        if value is not None and not _is_int(value):
            raise InvalidArgument(
                f"{name} {value!r} is not an integer", fix=f"pass {name} as an int, or None"
            )
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidArgument(
            f"timeout {timeout!r} is not a positive number of seconds",
            fix="pass timeout in seconds, for example 120",
        )
    if not isinstance(drop, Sequence) or not all(_is_int(party) for party in drop):
        raise InvalidArgument(
            f"drop {drop!r} is not a list of party numbers", fix="pass party ids, for example [2]"
        )


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so that the parties are stopped and the keys deleted.

    Python's default SIGTERM action ends the process without running finally
    blocks, which would leave the temporary private keys on disk.
    """
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may install signal handlers.
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _run_processes(
    commands: Sequence[tuple[str, list[str]]], folder: Path, timeout: float
) -> list[tuple[int, str, str]]:
    """Start every command at once; return (exit code, stdout, stderr) of each.

    When one process fails the others are stopped at once, because they would
    only wait for it until their timeout.  Output goes to files in ``folder``
    so a party never blocks on a full pipe.
    """
    processes = []
    files = []
    for index, (_, command) in enumerate(commands):
        out = open(folder / f"{index}.out", "w+b")  # noqa: SIM115 - closed below
        err = open(folder / f"{index}.err", "w+b")  # noqa: SIM115 - closed below
        files.append((out, err))
        processes.append(subprocess.Popen(command, stdout=out, stderr=err))
    deadline = time.monotonic() + timeout
    try:
        while any(process.poll() is None for process in processes):
            if any(process.poll() not in (None, 0) for process in processes):
                break
            if time.monotonic() > deadline:
                name = next(
                    n for (n, _), p in zip(commands, processes, strict=True) if p.poll() is None
                )
                raise MPCError(
                    f"{name} did not finish within {timeout:g} s",
                    fix="raise --timeout for long inputs",
                )
            time.sleep(0.005)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    results = []
    for process, (out, err) in zip(processes, files, strict=True):
        out.seek(0)
        err.seek(0)
        results.append((process.returncode, out.read().decode(), err.read().decode()))
        out.close()
        err.close()
    return results
