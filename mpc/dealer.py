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
from .config import PartyConfig
from .party import Endpoint, _client_context, close_writers

__all__ = ["Dealer", "run_dealer"]

log = logging.getLogger("agile.mpc")


class Dealer(Endpoint):
    """Deals one batch of triples to every party of the deployment."""

    async def deal(self, length: int) -> None:
        """Send ``length`` triples to every party; raise :class:`MPCError` if one is unreachable."""
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
        context = _client_context(self.config)
        parties = self.config.parties
        writers = await asyncio.gather(*(self._connect(info, context) for info in parties))
        try:
            shares = beaver.deal_triples(length, self.config.threshold, [p.id for p in parties])
            await asyncio.gather(
                *(
                    self._send(writer, info.id, "triples", shares[info.id])
                    for info, writer in zip(parties, writers, strict=True)
                )
            )
            log.info("dealer sent %d triples to %d parties", length, len(parties))
        finally:
            await close_writers(writers)


def run_dealer(config: PartyConfig, length: int, *, connect_timeout: float = 30.0) -> None:
    """Run :meth:`Dealer.deal` in a fresh event loop."""
    dealer = Dealer(config, connect_timeout=connect_timeout, send_timeout=connect_timeout)
    asyncio.run(dealer.deal(length))
