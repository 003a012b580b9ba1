"""Faulty peers and mistyped arguments: forged frames, wrong ports, other operations, types."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from agile.errors import InvalidArgument, MPCError
from cli.main import main
from mpc.config import PartyConfig, load_config
from mpc.deployment import create_deployment
from mpc.local import free_ports, run_local
from mpc.party import PROTOCOL_VERSION, Party, PartyResult, run_party
from mpc.protocols import read_integers
from mpc.wire import write_frame
from tests.mpc.mpc_helpers import (
    client_context,
    connect_when_listening,
    make_parties,
    slow_to_reach,
)

Deployment = Callable[..., list[PartyConfig]]


async def _forge_input(target: PartyConfig, holder: PartyConfig) -> None:
    """Send ``target`` an input frame with ``holder``'s certificate and a random body.

    Waits until ``target`` closes the connection, so that the frame has been judged.
    """
    reader, writer = await connect_when_listening(target, client_context(holder, target))
    header = {
        "version": PROTOCOL_VERSION,
        "session": target.session.hex(),
        "round": "input",
        "from": holder.party,
        "to": target.party,
        "threshold": target.threshold,
        "operation": "sum",
        "length": 1,
        "enc": "00" * 1120,
    }
    await write_frame(writer, header, os.urandom(100))
    try:
        await asyncio.wait_for(reader.read(), 10)
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


def test_forged_input_does_not_block_peer(deployment: Deployment) -> None:
    """A frame that does not open is dropped, and the genuine peer's later input counts."""
    configs = deployment(2, 2)
    parties = make_parties(configs, timeout=10.0)

    async def scenario() -> list[PartyResult | None]:
        first = asyncio.create_task(parties[0].run([1], "sum"))
        await _forge_input(configs[0], configs[1])
        second = await parties[1].run([2], "sum")
        return [await first, second]

    results = asyncio.run(scenario())
    assert [result.outputs if result else None for result in results] == [["3"], ["3"]]
    assert "failed HPKE authentication" in parties[0].dropped[2]


def test_wrong_peer_port_unreachable(deployment: Deployment) -> None:
    """A peer that runs but is listed at a wrong port is named unreachable, not departed."""
    configs = deployment(3, 2)
    wrong_port = free_ports(1)[0]
    entries = tuple(
        dataclasses.replace(info, port=wrong_port) if info.id == 3 else info
        for info in configs[0].parties
    )
    configs[0] = dataclasses.replace(configs[0], parties=entries)
    parties = [Party(configs[0], connect_timeout=2.0, round_timeout=2.0)]
    parties += [Party(c, connect_timeout=6.0, round_timeout=6.0) for c in configs[1:]]

    async def scenario() -> list[object]:
        runs = (party.run([5], "sum") for party in parties)
        return list(await asyncio.gather(*runs, return_exceptions=True))

    results = asyncio.run(scenario())
    first = results[0]
    assert isinstance(first, MPCError)
    assert f"party 3 at 127.0.0.1:{wrong_port} did not accept a connection" in str(first)
    assert "correct its host and port in party 1's configuration" in (first.fix or "")
    assert all(isinstance(result, MPCError) for result in results[1:])


def test_departed_peer_logged_unreachable(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that shared and closed its connection is logged with the address it missed."""
    parties = make_parties(deployment(3, 2), timeout=5.0)
    slow_to_reach(monkeypatch, parties[0], 3)

    async def scenario() -> list[PartyResult | None]:
        return list(
            await asyncio.gather(
                *(
                    party.run([index], "sum", drop_after_sharing=index == 3)
                    for index, party in enumerate(parties, start=1)
                )
            )
        )

    with caplog.at_level(logging.WARNING, logger="agile.mpc"):
        results = asyncio.run(scenario())
    assert results[0] is not None
    assert results[0].outputs == ["6"]
    peer = parties[0].config.by_id[3]
    assert f"could not reach party 3 at {peer.host}:{peer.port}" in caplog.text
    assert "left before" not in caplog.text


def test_different_operations_named(deployment: Deployment) -> None:
    parties = make_parties(deployment(2, 2), timeout=2.0)

    async def scenario() -> list[object]:
        runs = (party.run([5], op) for party, op in zip(parties, ("sum", "mean"), strict=True))
        return list(await asyncio.gather(*runs, return_exceptions=True))

    results = asyncio.run(scenario())
    first = results[0]
    assert isinstance(first, MPCError)
    assert "party 2 runs operation 'mean', party 1 runs 'sum'" in str(first)
    assert first.fix == "start every party with the same --operation"


def _variance_run(tmp_path: Path, triples: int) -> list[object]:
    from mpc.dealer import Dealer

    paths = create_deployment(tmp_path / "d", 2, 2, ports=free_ports(2), dealer=True)
    configs = [load_config(path) for path in paths]
    dealer = Dealer(load_config(tmp_path / "d" / "dealer.json"))
    parties = make_parties(configs, timeout=10.0)

    async def scenario() -> list[object]:
        inputs = ([1, 5], [3, 5])
        runs = [
            party.run(values, "variance") for party, values in zip(parties, inputs, strict=True)
        ]
        return list(await asyncio.gather(*runs, dealer.deal(triples), return_exceptions=True))

    return asyncio.run(scenario())


def test_dealer_extra_triples_unused(tmp_path: Path) -> None:
    results = _variance_run(tmp_path, 5)
    first = results[0]
    assert isinstance(first, PartyResult)
    assert first.outputs == ["1", "0"]


def test_dealer_too_few_triples(tmp_path: Path) -> None:
    results = _variance_run(tmp_path, 1)
    first = results[0]
    assert isinstance(first, MPCError)
    assert "the dealer sent 1 triple, 2 are needed" in str(first)
    assert first.fix == "start the dealer with --length 2 or more"


@pytest.mark.parametrize(
    "call",
    [
        lambda folder: create_deployment(folder / "d", "3", 2),  # type: ignore[arg-type]
        lambda folder: create_deployment(folder / "d", 3, 2.0),  # type: ignore[arg-type]
        lambda folder: create_deployment(folder / "d", 3, 2, base_port="x"),  # type: ignore[arg-type]
        lambda folder: create_deployment(None, 3, 2),  # type: ignore[arg-type]
        lambda folder: read_integers(5),  # type: ignore[arg-type]
        lambda folder: run_party(None, [1], "sum"),  # type: ignore[arg-type]
    ],
    ids=["count-str", "threshold-float", "base-port-str", "directory-none", "path-int", "config"],
)
def test_wrong_types_invalid_argument(tmp_path: Path, call: Callable[[Path], object]) -> None:
    with pytest.raises(InvalidArgument):
        call(tmp_path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"operation": "product"}, "unknown MPC operation 'product'"),
        ({"operation": None}, "unknown MPC operation None"),
        ({"threshold": "2"}, "threshold '2' is not an integer"),
        ({"parties": 2.0}, "parties 2.0 is not an integer"),
        ({"timeout": -1}, "timeout -1 is not a positive number"),
        ({"inputs": "a.csv"}, "inputs must be a list"),
    ],
    ids=["unknown-operation", "operation-none", "threshold-str", "parties-float", "timeout", "str"],
)
def test_run_local_checked_first(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arguments: dict[str, object],
    message: str,
) -> None:
    import mpc.local

    def no_deployment(*args: object, **kwargs: object) -> None:
        raise AssertionError("a deployment was created before the arguments were checked")

    monkeypatch.setattr(mpc.local, "create_deployment", no_deployment)
    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in files:
        path.write_text("1\n")
    options: dict[str, object] = {"inputs": files, "operation": "sum", **arguments}
    with pytest.raises(InvalidArgument, match=message):
        run_local(**options)  # type: ignore[arg-type]


def test_party_checks_operation_first(deployment: Deployment) -> None:
    config = deployment(2, 2)[0]
    me = config.me
    with socket.create_server((me.host, me.port)):
        # The port is taken, so a party that got as far as listening would raise MPCError.
        with pytest.raises(InvalidArgument, match="unknown MPC operation 'product'"):
            run_party(config, [1], "product")


def test_init_missing_parent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "deploy"
    with pytest.raises(SystemExit) as exit_info:
        main(["mpc", "init", "--parties", "2", "--dir", str(target)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"the folder {str(target.parent)!r} of directory {str(target)!r} does not exist" in error
    assert not target.parent.exists()


def test_init_existing_parent(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "deploy", 2, 2, ports=free_ports(2))
    assert json.loads(paths[0].read_text())["party"] == 1
