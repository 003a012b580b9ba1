"""Helpers shared by the MPC party tests: parties with short timeouts, and a slow connect."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

import pytest

from mpc.config import PartyConfig
from mpc.party import Party


def make_parties(configs: Sequence[PartyConfig], timeout: float = 20.0) -> list[Party]:
    """Return a Party for each config, with ``timeout`` for connecting and for each round."""
    return [Party(c, connect_timeout=timeout, round_timeout=timeout) for c in configs]


def slow_to_reach(
    monkeypatch: pytest.MonkeyPatch, party: Party, peer_id: int, delay: float = 0.5
) -> None:
    """Make ``party`` start its connection to peer ``peer_id`` ``delay`` seconds late."""
    connect = party._connect

    async def late_connect(peer, context):  # type: ignore[no-untyped-def]
        if peer.id == peer_id:
            await asyncio.sleep(delay)
        return await connect(peer, context)

    monkeypatch.setattr(party, "_connect", late_connect)


def client_context(holder: PartyConfig, trust: PartyConfig) -> ssl.SSLContext:
    """Return a TLS client context with ``holder``'s certificate that trusts ``trust``'s CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(holder.certificate, holder.private_key)
    context.load_verify_locations(trust.ca_certificate)
    return context


async def connect_when_listening(
    target: PartyConfig, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``target`` over TLS, retrying for about 5 s until it listens."""
    me = target.me
    for _ in range(500):
        try:
            return await asyncio.open_connection(
                me.host, me.port, ssl=context, server_hostname=me.host
            )
        except ConnectionRefusedError:
            await asyncio.sleep(0.01)
    raise AssertionError(f"party {target.party} never listened")
