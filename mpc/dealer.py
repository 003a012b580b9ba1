"""The Beaver-triple dealer: a process that sends each party its triple shares, then exits.

The dealer connects to every party with its own certificate (which the party
configs name by fingerprint) and seals each party's shares to that party's
X-Wing key, like any share message.  See :mod:`mpc.beaver` for what trusting
the dealer means.
"""

from __future__ import annotations

import asyncio
import logging

from agile.errors import InvalidArgument, MPCError

from . import beaver, field
from .config import PartyConfig, PartyInfo
from .party import Endpoint, close_writers

__all__ = ["Dealer", "run_dealer"]

log = logging.getLogger("agile.mpc")


class Dealer(Endpoint):
    """Deals one batch of triples to every party of the deployment."""

    async def deal(self, length: int) -> None:
        """Send ``length`` triples to every party it reaches.

        Raises :class:`MPCError` if fewer than threshold parties received them.  An
        unreachable party is logged and waited for at most ``connect_timeout``.
        """
        if isinstance(length, bool) or not isinstance(length, int):
            raise InvalidArgument(
                f"triple count {length!r} is not an integer", fix="give the input vector length"
            )
        if not 1 <= length <= field.MAX_LENGTH:
            raise InvalidArgument(
                f"triple count {length} is outside 1..{field.MAX_LENGTH}",
                fix="give the input vector length, or more",
            )
        if not self.config.is_dealer:
            raise MPCError(
                f"configuration is for party {self.config.party}, not for the dealer",
                fix="use the dealer.json that 'agile mpc init --dealer' wrote",
            )
        parties = self.config.parties
        shares = beaver.deal_triples(length, self.config.threshold, [p.id for p in parties])
        # Each party is reached on its own, so a party that left after sharing its input,
        # or never started, delays and fails only its own delivery.  The others go on as
        # long as at least threshold parties hold triples, the fewest the open round needs.
        outcomes = await asyncio.gather(
            *(self._deliver(info, shares[info.id]) for info in parties), return_exceptions=True
        )
        failures = []
        for info, outcome in zip(parties, outcomes, strict=True):
            if isinstance(outcome, Exception):
                failures.append(f"party {info.id}: {outcome}")
                log.warning("dealer could not send triples to party %d: %s", info.id, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        delivered = len(parties) - len(failures)
        if delivered < self.config.threshold:
            raise MPCError(
                f"the dealer sent triples to {delivered} of {len(parties)} parties, fewer than "
                f"the threshold {self.config.threshold} ({failures[0]})",
                fix="start the parties first, then the dealer",
            )
        log.info("dealer sent %d triples to %d parties", length, delivered)

    async def _deliver(self, info: PartyInfo, vector: list[int]) -> None:
        writer = await self._connect(info, self.client_context)
        try:
            await self._send(writer, info.id, "triples", vector)
        finally:
            await close_writers([writer])


def run_dealer(config: PartyConfig, length: int, *, connect_timeout: float = 30.0) -> None:
    """Run :meth:`Dealer.deal` in a fresh event loop."""
    dealer = Dealer(config, connect_timeout=connect_timeout, send_timeout=connect_timeout)
    asyncio.run(dealer.deal(length))
