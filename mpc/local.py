"""``agile mpc local``: run N real party processes on 127.0.0.1 for one computation.

A fresh deployment (CA, certificates, X-Wing keys, configs) is created in a
temporary directory with free loopback ports, one ``agile mpc party`` process
is started per input file, and the outputs are returned once every party
agrees on them.  The temporary directory is removed afterwards.

Private keys and results must not outlive the run, even when this process is
killed with SIGKILL and no cleanup code of its own runs.  So:

- every child holds the read end of a pipe whose write end only this process
  holds.  When this process ends, however it ends, the kernel closes the write
  end, and the child reads end-of-file, deletes its key files and exits
  (:func:`watch_parent`).  This works on every POSIX system, unlike Linux's
  PR_SET_PDEATHSIG;
- every child deletes its own key files as soon as it has loaded them, so they
  exist only during start-up;
- outputs come back over pipes and are never written to disk;
- the folder of a run whose process is gone (its id is in the folder name) is
  removed at the start of the next run, which catches what remains when a
  child was killed together with this process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from agile.errors import InvalidArgument, MPCError

from .config import PartyConfig
from .deployment import check_base_port, create_deployment
from .field import check_inputs
from .protocols import BEAVER_OPERATIONS, check_operation, read_integers

__all__ = [
    "LocalRun",
    "default_threshold",
    "free_ports",
    "remove_key_files",
    "run_local",
    "watch_parent",
]

log = logging.getLogger("agile.mpc")

LOOPBACK = "127.0.0.1"
_AGILE = (sys.executable, "-m", "cli.main")
#: Prefix of a run's temporary folder; the process id that follows names its owner.
_FOLDER_PREFIX = "agile-mpc-"
_FOLDER_NAME = re.compile(re.escape(_FOLDER_PREFIX) + r"([0-9]+)-[^/]+")


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
    if base_port is not None:
        check_base_port(base_port, count, fix_suffix=", or leave it out to use free ports")
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
    _remove_stale_folders(Path(tempfile.gettempdir()))
    prefix = f"{_FOLDER_PREFIX}{os.getpid()}-"
    with _terminate_as_exit(), tempfile.TemporaryDirectory(prefix=prefix) as temporary:
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
        results = _run_processes(commands, timeout + 30, helpers=1 if needs_dealer else 0)

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
    commands: Sequence[tuple[str, list[str]]], timeout: float, *, helpers: int = 0
) -> list[tuple[int, str, str]]:
    """Start every command at once; return (exit code, stdout, stderr) of each.

    When one process fails the others are stopped at once, because they would
    only wait for it until their timeout.  The last ``helpers`` commands (the
    dealer) only serve the others: once all others exited with 0, a helper still
    waiting for a party that dropped out is stopped and counts as successful.
    Every child gets the read end of a pipe that reaches end-of-file when this
    process is gone (see the module docstring).
    """
    watch_read, watch_write = os.pipe()
    processes = []
    readers = []
    try:
        for _, command in commands:
            process = subprocess.Popen(
                [*command, "--parent-pipe", str(watch_read)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(watch_read,),
            )
            processes.append(process)
            # A thread per stream drains it, so a child never blocks on a full pipe.
            readers.append((_drain(process.stdout), _drain(process.stderr)))
    except BaseException:
        for process in processes:
            process.kill()
            process.wait()
        os.close(watch_write)
        raise
    finally:
        os.close(watch_read)

    served = len(processes) - helpers
    stopped_helpers = False
    deadline = time.monotonic() + timeout
    try:
        while any(process.poll() is None for process in processes):
            if any(process.poll() not in (None, 0) for process in processes):
                break
            if helpers and all(process.poll() == 0 for process in processes[:served]):
                stopped_helpers = True
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
        os.close(watch_write)

    results = []
    for index, (process, (out, err)) in enumerate(zip(processes, readers, strict=True)):
        out.join()
        err.join()
        code = process.returncode
        if stopped_helpers and index >= served and code < 0:
            code = 0
        results.append((code, out.text(), err.text()))
    return results


class _Drain(threading.Thread):
    """A thread that reads a stream to its end and keeps what it read."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._data = b""

    def run(self) -> None:
        with self._stream:
            self._data = self._stream.read()

    def text(self) -> str:
        return self._data.decode(errors="replace")


def _drain(stream: IO[bytes] | None) -> _Drain:
    assert stream is not None, "Popen was given stdout=PIPE and stderr=PIPE"
    thread = _Drain(stream)
    thread.start()
    return thread


def _remove_stale_folders(folder: Path) -> None:
    """Remove this user's run folders in ``folder`` whose owning process no longer exists.

    Such a folder is left only when its run and a child were killed at once (SIGKILL).
    A folder whose process id was reused by another process is kept until a later run.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        # NOTE: without POSIX user ids (Windows) a folder's owner cannot be checked cheaply,
        # so stale folders are left in place there.
        return
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _FOLDER_NAME.fullmatch(entry.name)
        if match is None:
            continue
        try:
            status = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(status.st_mode) or status.st_uid != getuid():
            continue
        if _process_exists(int(match.group(1))):
            continue
        log.info("removing %s, left by an 'agile mpc local' run that was killed", entry)
        shutil.rmtree(entry, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The id belongs to a live process of another user.
        return True
    except OverflowError:
        # No process has an id this large.
        return False
    return True


def key_files(config: PartyConfig) -> list[Path]:
    """Return the private key files of ``config``: its TLS key and its X-Wing key."""
    return [config.private_key, config.xwing_private_key]


def remove_key_files(config: PartyConfig) -> None:
    """Delete the private key files of ``config``, which a child of ``run_local`` has loaded."""
    for path in key_files(config):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def watch_parent(fd: int, config: PartyConfig) -> None:
    """Exit this process, deleting the key files of ``config``, when pipe ``fd`` reaches its end.

    ``run_local`` holds the only write end and never writes, so end-of-file means
    that it is gone, even if it was killed with SIGKILL.  A daemon thread waits
    for it, so the caller goes on at once.
    """

    def wait() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError as error:
            # Without the pipe the parent cannot be watched, but the run itself may be fine.
            log.error("cannot watch the parent 'agile mpc local' (pipe %d): %s", fd, error)
            return
        try:
            remove_key_files(config)
            # stderr is usually a pipe to the parent that is gone, so writing may fail.
            with contextlib.suppress(OSError):
                sys.stderr.write("agile: error: the parent 'agile mpc local' is gone; stopping\n")
                sys.stderr.flush()
        finally:
            os._exit(2)

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()
