"""MPC cleanup after SIGKILL, a missing dealer, variance dropouts, port and config checks, --timing.

Parties here listen on fixed ports from 47200 to 47299 of 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agile.errors import InvalidArgument, MPCError
from mpc.config import load_config
from mpc.dealer import Dealer
from mpc.deployment import create_deployment
from mpc.local import run_local
from mpc.party import Party, PartyResult

REPO = Path(__file__).resolve().parents[2]
AGILE = [sys.executable, "-m", "cli.main"]


def _agile(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGILE, *args], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )


def _write_inputs(folder: Path, vectors: list[list[int]]) -> list[Path]:
    paths = []
    for index, vector in enumerate(vectors):
        path = folder / f"in{index}.csv"
        path.write_text("\n".join(map(str, vector)) + "\n")
        paths.append(path)
    return paths


def _processes_naming(text: str) -> list[int]:
    """Return the ids of live processes whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command and "mpc" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_sigkill_stops_parties_removes_keys(tmp_path: Path) -> None:
    """SIGKILL of 'agile mpc local' ends its parties and leaves no private key behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # Long enough inputs keep the parties busy for a few seconds.
    paths = _write_inputs(tmp_path, [list(range(i, 300_000 + i)) for i in range(3)])
    command = [*AGILE, "mpc", "local", "--base-port", "47200", "--timeout", "60", "--inputs"]
    parent = subprocess.Popen(
        [*command, *map(str, paths)],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        # The three parties name their config in TMPDIR; the parent does not.
        while len(_processes_naming(str(scratch))) < 3:
            assert time.monotonic() < deadline, "the parties did not start"
            assert parent.poll() is None, "agile mpc local ended early"
            time.sleep(0.01)
        children = _processes_naming(str(scratch))
        run_folders = list(scratch.glob("agile-mpc-*"))
        assert len(run_folders) == 1
        # Outputs travel over pipes: the run folder contains the deployment only.
        assert [entry.name for entry in run_folders[0].iterdir()] == ["deployment"]
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children):
            assert time.monotonic() < deadline, "parties still run after their parent died"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in _processes_naming(str(scratch)):
            os.kill(pid, signal.SIGKILL)
    assert list(scratch.rglob("key.pem")) == []
    assert list(scratch.rglob("xwing.key")) == []


def test_stale_run_folder_removed(tmp_path: Path) -> None:
    """The next run removes the folder that a killed run of a process now gone left behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    stale = scratch / f"agile-mpc-{finished.pid}-abcd1234"
    (stale / "deployment" / "party-1").mkdir(parents=True)
    (stale / "deployment" / "party-1" / "key.pem").write_text("secret")
    alive = scratch / f"agile-mpc-{os.getpid()}-abcd1234"
    alive.mkdir()
    paths = _write_inputs(tmp_path, [[1], [2]])

    done = _agile(
        "mpc", "local", "--base-port", "47210", "--inputs", *map(str, paths),
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert not stale.exists()
    assert alive.exists()


def test_missing_dealer_named(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 3, 2, base_port=47220, dealer=True)
    parties = [Party(load_config(p), connect_timeout=10.0, round_timeout=2.0) for p in paths]

    async def scenario() -> list[PartyResult | BaseException | None]:
        return await asyncio.gather(
            *(party.run([1], "variance") for party in parties), return_exceptions=True
        )

    outcome = asyncio.run(scenario())[0]
    assert isinstance(outcome, MPCError)
    assert "none yet from the dealer" in str(outcome)
    assert "agile mpc dealer" in (outcome.fix or "")


def test_variance_tolerates_dropout(tmp_path: Path) -> None:
    """A party that shares its input and leaves before the dealer comes does not stop variance."""
    paths = create_deployment(tmp_path / "d", 3, 2, base_port=47230, dealer=True)
    parties = [Party(load_config(p), connect_timeout=10.0, round_timeout=15.0) for p in paths]
    dealer = Dealer(load_config(tmp_path / "d" / "dealer.json"), connect_timeout=2.0)

    async def scenario() -> list[PartyResult | None]:
        staying = [
            asyncio.ensure_future(party.run([value], "variance"))
            for party, value in zip(parties[:2], (0, 0), strict=True)
        ]
        leaving = await parties[2].run([3], "variance", drop_after_sharing=True)
        assert leaving is None
        await dealer.deal(1)
        return list(await asyncio.gather(*staying))

    results = asyncio.run(scenario())
    # Variance of 0, 0 and 3: (3 * 9 - 3^2) / 3^2 = 2.
    for result in results:
        assert result is not None
        assert result.outputs == ["2"]


def test_local_variance_with_dropout(tmp_path: Path) -> None:
    paths = _write_inputs(tmp_path, [[0], [0], [3]])
    started = time.monotonic()
    run = run_local(paths, "variance", drop=[3], timeout=30, base_port=47240)
    assert run.outputs == ["2"]
    # The dealer, still waiting for the departed party, is stopped once the others finish.
    assert time.monotonic() - started < 25


@pytest.mark.parametrize("base_port", ["0", "80", "1023", "65533"])
def test_init_base_port_range(tmp_path: Path, base_port: str) -> None:
    done = _agile("mpc", "init", "--parties", "3", "--dir", str(tmp_path / "d"),
                  "--base-port", base_port)  # fmt: skip
    assert done.returncode == 2
    assert f"base port {base_port} is not an integer from 1024 to 65532" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_library_base_port_range(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="from 1024"):
        create_deployment(tmp_path / "d", 3, 2, base_port=0)


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("session", ["", "00", "ab" * 15])
def test_short_session_rejected(tmp_path: Path, session: str) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, base_port=47250)
    _edit(paths[0], session=session)
    with pytest.raises(InvalidArgument, match="'session'"):
        load_config(paths[0])


def test_init_session_accepted(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, base_port=47250)
    assert len(load_config(paths[0]).session) == 16


def test_foreign_xwing_key_rejected(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, base_port=47255)
    _edit(paths[0], xwing_private_key="party-2/xwing.key")
    with pytest.raises(MPCError, match="does not match") as caught:
        Party(load_config(paths[0]))
    assert "party-2/xwing.key" in str(caught.value)


def test_cli_foreign_xwing_key_exits_2(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, base_port=47255)
    _edit(paths[0], xwing_private_key="party-2/xwing.key")
    (tmp_path / "a.csv").write_text("1\n")
    started = time.monotonic()
    done = _agile("mpc", "party", "--config", str(paths[0]), "--input",
                  str(tmp_path / "a.csv"), "--timeout", "30")  # fmt: skip
    assert done.returncode == 2
    assert "does not match" in done.stderr
    assert time.monotonic() - started < 20


def test_timing_output_matches_help(tmp_path: Path) -> None:
    party_help = _agile("mpc", "party", "--help").stdout
    local_help = _agile("mpc", "local", "--help").stdout
    assert "'elapsed WALL cpu CPU'" in " ".join(party_help.split())
    assert "'elapsed S1 S2 ...'" in " ".join(local_help.split())
    paths = _write_inputs(tmp_path, [[1], [2], [3]])

    done = _agile("mpc", "local", "--timing", "--base-port", "47260", "--inputs", *map(str, paths))

    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"elapsed( [0-9]+\.[0-9]{6}){3}", done.stderr.strip())
