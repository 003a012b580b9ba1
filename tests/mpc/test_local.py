"""``agile mpc local``: real party processes on 127.0.0.1."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agile.errors import InvalidArgument
from mpc.local import default_threshold, run_local

REPO = Path(__file__).resolve().parents[2]


def _write_inputs(folder: Path, count: int, length: int) -> tuple[list[Path], list[int]]:
    rng = random.Random(length)
    vectors = [[rng.randint(-(2**62), 2**62) for _ in range(length)] for _ in range(count)]
    paths = []
    for index, vector in enumerate(vectors):
        path = folder / f"in{index}.csv"
        path.write_text("\n".join(map(str, vector)) + "\n")
        paths.append(path)
    return paths, [sum(column) for column in zip(*vectors, strict=True)]


def test_cli_three_parties_10000(tmp_path: Path) -> None:
    paths, expected = _write_inputs(tmp_path, 3, 10_000)
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "mpc",
        "local",
        "--parties",
        "3",
        "--inputs",
        *map(str, paths),
        "--operation",
        "sum",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(value) for value in expected]


def test_five_processes_two_drop(tmp_path: Path) -> None:
    paths, expected = _write_inputs(tmp_path, 5, 100)
    run = run_local(paths, "sum", threshold=3, drop=(1, 4), timeout=30)
    assert run.outputs == [str(value) for value in expected]


def test_input_count_mismatch(tmp_path: Path) -> None:
    paths, _ = _write_inputs(tmp_path, 2, 3)
    with pytest.raises(InvalidArgument, match="2 input file"):
        run_local(paths, "sum", parties=3)


@pytest.mark.parametrize(("parties", "threshold"), [(2, 2), (3, 2), (4, 2), (5, 3), (7, 4)])
def test_default_threshold(parties: int, threshold: int) -> None:
    assert default_threshold(parties) == threshold


def test_variance_spawns_dealer(tmp_path: Path) -> None:
    rows = [[1, 4, -2], [3, 4, 2], [5, 4, 6]]
    paths = []
    for index, row in enumerate(rows):
        path = tmp_path / f"v{index}.csv"
        path.write_text(",".join(map(str, row)))
        paths.append(path)
    run = run_local(paths, "variance", timeout=30)
    assert run.outputs == [
        "2.666666666666666666666666666666667",
        "0",
        "10.66666666666666666666666666666667",
    ]


def test_unequal_lengths_rejected_early(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("1,2")
    second.write_text("1")
    with pytest.raises(InvalidArgument, match="different numbers"):
        run_local([first, second], "sum")


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1"])
def test_cli_timeout_must_be_finite(tmp_path: Path, timeout: str) -> None:
    paths, _ = _write_inputs(tmp_path, 2, 3)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "mpc", "local", "--inputs", *map(str, paths),
         "--timeout", timeout],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--timeout" in result.stderr


def test_sigterm_deletes_keys(tmp_path: Path) -> None:
    """A terminated 'agile mpc local' stops its parties and removes the temporary keys."""
    import os
    import signal
    import time

    paths, _ = _write_inputs(tmp_path, 3, 10)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # The signal lands while the deployment is written or the parties start (about 1 s).
    command = [sys.executable, "-m", "cli.main", "mpc", "local", "--timeout", "60", "--inputs"]
    command += [str(path) for path in paths]
    process = subprocess.Popen(
        command, cwd=REPO, env={**os.environ, "TMPDIR": str(scratch)}, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not list(scratch.glob("agile-mpc-*/deployment/party-1/key.pem")):
        assert time.monotonic() < deadline, "no deployment appeared"
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert list(scratch.glob("agile-mpc-*")) == []


def _free_run(count: int) -> int:
    """Return a base port B such that B+1 ... B+count are free on 127.0.0.1 right now."""
    import socket

    for start in range(20000, 60000, 97):
        sockets = []
        try:
            for port in range(start + 1, start + count + 1):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    pytest.fail("no run of free ports on 127.0.0.1")


def test_cli_base_port(tmp_path: Path) -> None:
    paths, expected = _write_inputs(tmp_path, 3, 10)
    base = _free_run(3)
    command = [sys.executable, "-m", "cli.main", "mpc", "local", "--base-port", str(base)]
    command += ["--inputs", *map(str, paths), "--json"]

    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"] == [str(value) for value in expected]


@pytest.mark.parametrize("base_port", [80, 65534, "17100", True])
def test_base_port_checked(tmp_path: Path, base_port: object) -> None:
    paths, _ = _write_inputs(tmp_path, 2, 3)
    with pytest.raises(InvalidArgument, match="base port"):
        run_local(paths, "sum", base_port=base_port)  # type: ignore[arg-type]
