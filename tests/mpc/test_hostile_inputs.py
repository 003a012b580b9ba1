"""Hostile peers on loopback: parties that stop reading, garbage on the listening port."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from agile.errors import MPCError
from mpc.config import PartyConfig
from mpc.party import Party, _server_context

Deployment = Callable[..., list[PartyConfig]]


class _DeafParty(Party):
    """A party with a valid certificate that shares its input but never reads its connections."""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)


def test_deaf_peer_no_stall(deployment: Deployment) -> None:
    """Honest parties finish without a peer whose socket is full, instead of waiting forever."""
    configs = deployment(3, 2)
    honest = [Party(c, connect_timeout=10.0, round_timeout=4.0) for c in configs[:2]]
    deaf = _DeafParty(configs[2], connect_timeout=10.0, round_timeout=4.0)
    # Large enough that the deaf party's socket buffers fill up before the output round.
    values = [1] * 600_000

    async def scenario() -> list[object]:
        dropped = asyncio.create_task(deaf.run(values, "sum", drop_after_sharing=True))
        try:
            runs = asyncio.gather(*(party.run(values, "sum") for party in honest))
            return list(await asyncio.wait_for(runs, 60))
        finally:
            dropped.cancel()

    results = asyncio.run(scenario())
    assert [set(result.outputs) for result in results] == [{"3"}, {"3"}]  # type: ignore[attr-defined]


@pytest.fixture
def silent_tls_peer(deployment: Deployment) -> Iterator[list[PartyConfig]]:
    """A server with party 2's certificate that completes TLS, then neither reads nor closes."""
    configs = deployment(2, 2)
    peer = configs[1]
    context = _server_context(peer)
    listener = socket.create_server((peer.me.host, peer.me.port))
    accepted: list[ssl.SSLSocket] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
                accepted.append(context.wrap_socket(connection, server_side=True))
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield configs
    listener.close()
    for connection in accepted:
        connection.close()


def test_silent_peer_mpc_error(silent_tls_peer: list[PartyConfig]) -> None:
    """Closing a connection the peer never acknowledges ends in MPCError, not TimeoutError."""
    party = Party(silent_tls_peer[0], connect_timeout=5.0, round_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(MPCError, match="timed out after 2 s in the input round"):
        asyncio.run(party.run([1] * 300_000, "sum"))
    assert time.monotonic() - started < 25


def test_garbage_connections_ignored(deployment: Deployment) -> None:
    """Plain-text bytes and a TLS client without a certificate do not disturb a run."""
    configs = deployment(2, 2)
    parties = [Party(c, connect_timeout=10.0, round_timeout=10.0) for c in configs]
    target = configs[0].me

    async def intruder() -> None:
        for _ in range(200):
            try:
                _, plain = await asyncio.open_connection(target.host, target.port)
                break
            except ConnectionError:
                await asyncio.sleep(0.01)
        plain.write(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 64)
        await plain.drain()
        plain.close()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            _, anonymous = await asyncio.open_connection(target.host, target.port, ssl=context)
            anonymous.write(b"AMPC" + b"\xff" * 100)
            anonymous.close()
        except (ssl.SSLError, ConnectionError):
            pass

    async def scenario() -> list[object]:
        runs = asyncio.gather(*(party.run([5], "sum") for party in parties), intruder())
        return list(await asyncio.wait_for(runs, 30))

    results = asyncio.run(scenario())
    assert [result.outputs for result in results[:2]] == [["10"], ["10"]]  # type: ignore[attr-defined]


def test_mismatched_threshold_rejected(deployment: Deployment) -> None:
    """A party configured with another threshold would make the others open a wrong sum."""
    configs = deployment(3, 2)
    configs[2] = dataclasses.replace(configs[2], threshold=3)
    parties = [Party(c, connect_timeout=10.0, round_timeout=3.0) for c in configs]

    async def scenario() -> list[object]:
        runs = (party.run([5], "sum") for party in parties)
        return list(await asyncio.gather(*runs, return_exceptions=True))

    results = asyncio.run(scenario())
    assert isinstance(results[0], MPCError)
    assert "party 3 uses threshold 3, party 1 uses 2" in str(results[0])
    assert results[0].fix == "give every party the configuration files of one 'agile mpc init'"
