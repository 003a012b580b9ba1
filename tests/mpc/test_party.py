"""Parties over real TLS sockets on loopback: 3 and 5 parties, dropouts, foreign certificates."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import ssl
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction

import pytest

from agile.errors import MPCError
from mpc.config import PartyConfig, load_config
from mpc.party import PROTOCOL_VERSION, Party, PartyResult
from mpc.wire import write_frame
from tests.mpc.mpc_helpers import (
    client_context,
    connect_when_listening,
    make_parties,
    slow_to_reach,
)

Deployment = Callable[..., list[PartyConfig]]


def _inputs(count: int, length: int) -> list[list[int]]:
    rng = random.Random(count * 1000 + length)
    return [[rng.randint(-(2**63), 2**63 - 1) for _ in range(length)] for _ in range(count)]


async def _run_all(
    parties: Sequence[Party], inputs: Sequence[list[int]], operation: str, drop: Sequence[int] = ()
) -> list[PartyResult | None]:
    return await asyncio.gather(
        *(
            party.run(values, operation, drop_after_sharing=party.config.party in drop)
            for party, values in zip(parties, inputs, strict=True)
        )
    )


def test_three_party_sum(deployment: Deployment) -> None:
    inputs = _inputs(3, 200)
    results = asyncio.run(_run_all(make_parties(deployment(3, 2)), inputs, "sum"))
    expected = [str(sum(column)) for column in zip(*inputs, strict=True)]
    for result in results:
        assert result is not None
        assert result.outputs == expected


def test_five_party_count_total(deployment: Deployment) -> None:
    configs = deployment(5, 3)
    inputs = _inputs(5, 20)
    count = asyncio.run(_run_all(make_parties(configs), inputs, "count"))[4]
    total = asyncio.run(_run_all(make_parties(configs), inputs, "total"))[2]
    assert count is not None
    assert total is not None
    assert count.outputs == ["5"]
    assert total.outputs == [str(sum(map(sum, inputs)))]


def test_five_party_mean_exact(deployment: Deployment) -> None:
    inputs = [[1, 10], [2, 10], [3, 10], [4, 10], [6, -60]]
    result = asyncio.run(_run_all(make_parties(deployment(5, 3)), inputs, "mean"))[0]
    assert result is not None
    assert result.outputs == ["3.2", "-4"]


def test_two_of_five_drop_out(deployment: Deployment) -> None:
    inputs = _inputs(5, 50)
    results = asyncio.run(_run_all(make_parties(deployment(5, 3)), inputs, "sum", drop=(2, 5)))
    expected = [str(sum(column)) for column in zip(*inputs, strict=True)]
    assert results[1] is None
    for index in (0, 2, 3):
        result = results[index]
        assert result is not None
        assert result.outputs == expected
        assert len(result.contributors) == 3


def test_one_of_three_drops_out(deployment: Deployment) -> None:
    inputs = _inputs(3, 30)
    results = asyncio.run(_run_all(make_parties(deployment(3, 2)), inputs, "sum", drop=(3,)))
    result = results[0]
    assert result is not None
    assert result.outputs == [str(sum(column)) for column in zip(*inputs, strict=True)]


def test_too_many_dropouts_time_out(deployment: Deployment) -> None:
    configs = deployment(3, 3)
    inputs = _inputs(3, 5)
    with pytest.raises(MPCError, match="output round"):
        asyncio.run(_run_all(make_parties(configs, timeout=2.0), inputs, "sum", drop=(3,)))


def test_different_lengths_rejected(deployment: Deployment) -> None:
    with pytest.raises(MPCError, match="different lengths"):
        asyncio.run(_run_all(make_parties(deployment(2, 2)), [[1, 2], [3]], "sum"))


async def _intrude(target: PartyConfig, context: ssl.SSLContext) -> bytes:
    """Connect to ``target`` with ``context``, send a frame and return what comes back."""
    reader, writer = await connect_when_listening(target, context)
    try:
        header = {
            "version": PROTOCOL_VERSION,
            "session": target.session.hex(),
            "round": "input",
            "from": 1,
            "to": target.party,
            "length": 1,
            "enc": "",
        }
        await write_frame(writer, header, b"\x00" * 32)
        return await reader.read(100)
    except (ConnectionError, ssl.SSLError):
        return b""
    finally:
        writer.close()


def test_listed_ca_unlisted_certificate_rejected(deployment: Deployment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Party 4 has a certificate from the same CA but is removed from everyone's party list.
    configs = deployment(4, 2)
    for party_id in (1, 2, 3):
        path = tmp_path / "deploy" / f"party-{party_id}.json"
        data = json.loads(path.read_text())
        data["parties"] = [p for p in data["parties"] if p["id"] != 4]
        path.write_text(json.dumps(data))
    trimmed = [load_config(tmp_path / "deploy" / f"party-{i}.json") for i in (1, 2, 3)]
    parties = make_parties(trimmed)
    inputs = _inputs(3, 10)

    async def scenario() -> tuple[list[PartyResult | None], bytes]:
        # Party 1 waits for its peers, which start only after the intruder is done.
        first = asyncio.create_task(parties[0].run(inputs[0], "sum"))
        answer = await _intrude(trimmed[0], client_context(configs[3], trimmed[0]))
        others = await _run_all(parties[1:], inputs[1:], "sum")
        return [await first, *others], answer

    results, answer = asyncio.run(scenario())
    assert answer == b""
    assert len(parties[0].rejected) == 1
    assert results[0] is not None
    assert results[0].outputs == [str(sum(column)) for column in zip(*inputs, strict=True)]


def test_foreign_ca_certificate_rejected(deployment: Deployment) -> None:
    configs = deployment(2, 2)
    foreign = deployment(2, 2, name="foreign")
    parties = make_parties(configs)

    async def scenario() -> tuple[list[PartyResult | None], bytes]:
        inputs = _inputs(2, 4)
        first = asyncio.create_task(parties[0].run(inputs[0], "sum"))
        answer = await _intrude(configs[0], client_context(foreign[0], configs[0]))
        second = await parties[1].run(inputs[1], "sum")
        return [await first, second], answer

    results, answer = asyncio.run(scenario())
    assert answer == b""
    assert results[0] is not None


def test_peer_with_foreign_certificate_fails(deployment: Deployment) -> None:
    # Party 2 runs with a certificate from another deployment: party 1 cannot verify it.
    configs = deployment(2, 2)
    foreign = deployment(2, 2, name="foreign")
    impostor = PartyConfig(
        party=2,
        threshold=2,
        session=configs[1].session,
        ca_certificate=foreign[1].ca_certificate,
        certificate=foreign[1].certificate,
        private_key=foreign[1].private_key,
        xwing_private_key=configs[1].xwing_private_key,
        parties=configs[1].parties,
    )
    parties = make_parties([configs[0], impostor], timeout=3.0)
    with pytest.raises(MPCError, match="TLS handshake"):
        asyncio.run(_run_all(parties, _inputs(2, 4), "sum"))


def _variance(column: Sequence[int]) -> Fraction:
    n = len(column)
    return Fraction(n * sum(x * x for x in column) - sum(column) ** 2, n * n)


def test_variance_with_dealer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mpc.dealer import Dealer
    from mpc.deployment import create_deployment
    from mpc.local import free_ports

    paths = create_deployment(tmp_path / "d", 3, 2, ports=free_ports(3), dealer=True)
    configs = [load_config(path) for path in paths]
    dealer = Dealer(load_config(tmp_path / "d" / "dealer.json"))
    inputs = [[1, -(2**63), 7], [3, 2**63 - 1, 7], [5, 0, 7]]

    async def scenario() -> list[PartyResult | None]:
        results, _ = await asyncio.gather(
            _run_all(make_parties(configs), inputs, "variance"), dealer.deal(3)
        )
        return results

    result = asyncio.run(scenario())[1]
    assert result is not None
    assert result.outputs[0] == "2.666666666666666666666666666666667"
    assert result.outputs[2] == "0"
    exact = _variance([row[1] for row in inputs])
    assert abs(Fraction(Decimal(result.outputs[1])) - exact) / exact < Fraction(1, 10**30)


def test_variance_without_dealer(deployment: Deployment) -> None:
    with pytest.raises(MPCError, match="needs a Beaver-triple dealer"):
        asyncio.run(_run_all(make_parties(deployment(2, 2)), [[1], [2]], "variance"))


def test_self_connection_retried(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connect that lands on its own source port is closed, so the peer can still bind."""
    import socket

    import mpc.party

    configs = deployment(2, 2)
    peer = configs[0].parties[1]
    real_socket = socket.socket

    def bound_to_peer_port(*args: object) -> socket.socket:
        # Binding the source port to the destination port forces a TCP self-connect.
        sock = real_socket(*args)  # type: ignore[arg-type]
        if len(args) == 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((peer.host, peer.port))
        return sock

    monkeypatch.setattr(mpc.party.socket, "socket", bound_to_peer_port)
    with pytest.raises(ConnectionRefusedError, match="connected to itself"):
        asyncio.run(mpc.party._tcp_connect(peer))
    monkeypatch.undo()

    # The port is free again: the peer can listen on it.
    with socket.create_server((peer.host, peer.port), reuse_port=False) as server:
        assert server.getsockname()[1] == peer.port


def test_port_in_use_names_port(deployment: Deployment) -> None:
    import socket

    configs = deployment(2, 2)
    me = configs[0].me
    with socket.create_server((me.host, me.port)):
        with pytest.raises(MPCError, match=f"failed to listen on {me.host}:{me.port}") as caught:
            asyncio.run(make_parties(configs[:1], timeout=1.0)[0].run([1], "sum"))
    assert "--base-port" in (caught.value.fix or "")


def test_silent_peer_times_out(deployment: Deployment) -> None:
    """A peer that accepts TCP but never completes TLS fails within the connect timeout."""
    import socket
    import time

    configs = deployment(2, 2)
    peer = configs[0].parties[1]
    with socket.create_server((peer.host, peer.port)):
        started = time.monotonic()
        with pytest.raises(MPCError, match="within 1 s"):
            asyncio.run(make_parties(configs[:1], timeout=1.0)[0].run([1], "sum"))
        assert time.monotonic() - started < 10


def test_mismatched_key_names_files(deployment: Deployment) -> None:
    configs = deployment(2, 2)
    mixed = dataclasses.replace(configs[0], certificate=configs[1].certificate)
    with pytest.raises(MPCError, match="could not load its TLS certificate") as caught:
        asyncio.run(make_parties([mixed], timeout=1.0)[0].run([1], "sum"))
    assert str(configs[1].certificate) in str(caught.value)


def test_bad_xwing_key_names_file(deployment: Deployment) -> None:
    configs = deployment(2, 2)
    wrong = dataclasses.replace(configs[0], xwing_private_key=configs[0].certificate)
    with pytest.raises(MPCError, match="X-Wing key file") as caught:
        Party(wrong)
    assert str(configs[0].certificate) in str(caught.value)


def test_dropout_before_peer_connects(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A party that shares and leaves before a slow peer connected to it does not stop the run."""
    parties = make_parties(deployment(3, 2), timeout=5.0)
    slow_to_reach(monkeypatch, parties[0], 3)
    results = asyncio.run(_run_all(parties, [[1], [2], [3]], "sum", drop=(3,)))
    assert results[0] is not None
    assert results[0].outputs == ["6"]


def test_foreign_address_fix(deployment: Deployment) -> None:
    configs = deployment(2, 2)
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no interface here has it, and bind sends nothing.
    me = dataclasses.replace(configs[0].me, host="192.0.2.1")
    moved = dataclasses.replace(configs[0], parties=(me, configs[0].parties[1]))
    with pytest.raises(MPCError, match="failed to listen on 192.0.2.1") as caught:
        asyncio.run(make_parties([moved], timeout=1.0)[0].run([1], "sum"))
    assert "no such address" in (caught.value.fix or "")


async def _garbage_peer(configs: Sequence[PartyConfig]) -> None:
    """Play party 2 with its own certificate: accept party 1, then send it a foreign header."""
    from mpc.party import _server_context

    impostor = configs[1]
    server = await asyncio.start_server(
        lambda reader, writer: None, impostor.me.host, impostor.me.port,
        ssl=_server_context(impostor),
    )  # fmt: skip
    async with server:
        context = client_context(impostor, impostor)
        await _intrude(dataclasses.replace(configs[0], session=b"\x00" * 16), context)
        await asyncio.sleep(3)


def test_garbage_peer_named_in_timeout(deployment: Deployment) -> None:
    configs = deployment(2, 2)
    party = Party(configs[0], connect_timeout=5.0, round_timeout=2.0)

    async def scenario() -> None:
        peer = asyncio.create_task(_garbage_peer(configs))
        try:
            await party.run([1], "sum")
        finally:
            peer.cancel()

    with pytest.raises(MPCError, match="party 2's connection was dropped: party 2 sent a message"):
        asyncio.run(scenario())
