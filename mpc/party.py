"""The party runtime: mutual TLS between configured parties and the two-round protocol.

Security model: semi-honest parties with an honest majority.  Parties follow
the protocol but may pool what they receive.  As long as fewer than
``threshold`` of them collude, they learn nothing beyond the opened outputs.  A malicious
party could send wrong shares and change the result undetected.

Rounds:

1. Input: each party Shamir-shares its vector and sends party j the shares at
   x = j, sealed to j's X-Wing key, over a TLS connection that j authenticates
   by certificate fingerprint.
2. Output: each party adds the shares locally, sends its result shares to every
   peer, and reconstructs from the first ``threshold`` result vectors.  Up to
   ``n - threshold`` parties may therefore drop out after round 1.

Every party listens only on the address in its configuration.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import math
import os
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from agile.errors import InvalidArgument, MPCError

from . import beaver, field, protocols
from .config import DEALER_ID, PartyConfig, PartyInfo
from .sealing import ShareSealer
from .wire import read_frame, write_frame

__all__ = ["PROTOCOL_VERSION", "PartyResult", "Endpoint", "Party", "close_writers", "run_party"]

log = logging.getLogger("agile.mpc")

#: 2: every message names the sender's threshold.  3: and its operation, also bound in the AAD.
PROTOCOL_VERSION = 3
ROUNDS = ("triples", "input", "open", "output")


@dataclass(frozen=True, slots=True)
class PartyResult:
    """The outputs of one run, and its wall-clock and CPU seconds from connection to output."""

    outputs: list[str]
    contributors: list[int]
    elapsed: float
    cpu: float = 0.0


def _load_credentials(context: ssl.SSLContext, config: PartyConfig) -> None:
    """Load the party's certificate, key and CA; raise :class:`MPCError` naming the files."""
    try:
        context.load_cert_chain(config.certificate, config.private_key)
    except (ssl.SSLError, OSError) as error:
        # ssl.SSLError is an OSError whose errno is an OpenSSL code, not a system one.
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        raise MPCError(
            f"party {config.party} could not load its TLS certificate {str(config.certificate)!r} "
            f"with key {str(config.private_key)!r}: {reason}",
            fix="give the cert.pem and key.pem that 'agile mpc init' wrote for this party",
        ) from None
    try:
        context.load_verify_locations(config.ca_certificate)
    except (ssl.SSLError, OSError) as error:
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        raise MPCError(
            f"party {config.party} could not load the CA certificate "
            f"{str(config.ca_certificate)!r}: {reason}",
            fix="give the ca.pem that 'agile mpc init' wrote for the deployment",
        ) from None


def _server_context(config: PartyConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_credentials(context, config)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _client_context(config: PartyConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_credentials(context, config)
    return context


def _fingerprint(writer: asyncio.StreamWriter) -> str | None:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    return hashlib.sha256(der).hexdigest() if der else None


def _aad(
    session: bytes, round_name: str, sender: int, recipient: int, length: int, operation: str
) -> bytes:
    fields = (
        f"agile-mpc-v{PROTOCOL_VERSION}",
        session.hex(),
        round_name,
        sender,
        recipient,
        length,
        operation,
    )
    return "|".join(map(str, fields)).encode()


async def _tcp_connect(peer: PartyInfo) -> socket.socket:
    """Return a TCP socket connected to ``peer``; raise OSError if it connected to itself.

    The default ports (47100 + i) lie in Linux's default ephemeral range (32768-60999).
    Repeated connects to a port with no listener yet can therefore get that port as their
    own source port and connect to themselves (a TCP simultaneous open).  Kept open, such
    a socket would stop the peer from binding its port.
    """
    family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (peer.host, peer.port))
        if sock.getsockname()[:2] == sock.getpeername()[:2]:
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"connected to itself on port {peer.port}"
            )
    except BaseException:
        sock.close()
        raise
    return sock


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise InvalidArgument(
            f"{name} {value!r} is not a positive number of seconds",
            fix=f"pass {name} in seconds, for example 30",
        )


def _listen_fix(code: int | None) -> str:
    """Return what to do about a failed bind, by its errno."""
    if code == errno.EADDRNOTAVAIL:
        return "this machine has no such address: correct this party's host in every config file"
    if code == errno.EACCES:
        return "ports below 1024 need privileges: recreate the deployment with another --base-port"
    return (
        "stop the process that uses this port (see 'ss -ltnp'), or recreate the deployment "
        "with another --base-port"
    )


#: Seconds to wait for a peer to acknowledge the end of a connection (TLS close_notify).
CLOSE_TIMEOUT = 5.0


async def close_writers(writers: Sequence[asyncio.StreamWriter]) -> None:
    """Close ``writers``, waiting at most CLOSE_TIMEOUT for peers to acknowledge, then abort.

    A peer that stopped reading never acknowledges, and asyncio's own TLS shutdown then
    raises TimeoutError only after 30 s.
    """
    for writer in writers:
        writer.close()
    waits = [asyncio.ensure_future(writer.wait_closed()) for writer in writers]
    if not waits:
        return
    await asyncio.wait(waits, timeout=CLOSE_TIMEOUT)
    for writer, wait in zip(writers, waits, strict=True):
        if not wait.done():
            wait.cancel()
            writer.transport.abort()
        elif not wait.cancelled() and wait.exception() is not None:
            # A reset or a TLS error while closing: the connection is gone either way.
            log.debug("closing a connection failed: %s", wait.exception())
    await asyncio.gather(*waits, return_exceptions=True)


class _PeerDeparted(MPCError):
    """A peer refused connections after its input arrived and its own connection closed."""


class Endpoint:
    """A member of a deployment that can open authenticated connections and send sealed vectors."""

    def __init__(
        self, config: PartyConfig, *, connect_timeout: float = 30.0, send_timeout: float = 120.0
    ) -> None:
        if not isinstance(config, PartyConfig):
            raise InvalidArgument(
                f"config must be a PartyConfig, not {type(config).__name__}",
                fix="pass mpc.load_config('deploy/party-1.json')",
            )
        _check_seconds("connect_timeout", connect_timeout)
        _check_seconds("send_timeout", send_timeout)
        self.config = config
        self.connect_timeout = connect_timeout
        self.send_timeout = send_timeout
        self.sealer = ShareSealer(config)
        # Every private key is read here, so that a caller may delete a throwaway
        # deployment's key files once the endpoint exists ('agile mpc local' does).
        self.client_context = _client_context(config)
        #: The operation that messages name; the dealer serves any and names none.
        self.operation: str | None = None

    async def _connect(self, peer: PartyInfo, context: ssl.SSLContext) -> asyncio.StreamWriter:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                sock = await _tcp_connect(peer)
                # Without a bound, asyncio waits 60 s for a peer that accepts but never
                # completes the TLS handshake, whatever the connect timeout.
                _, writer = await asyncio.open_connection(
                    sock=sock,
                    ssl=context,
                    server_hostname=peer.host,
                    ssl_handshake_timeout=max(0.1, deadline - time.monotonic()),
                )
                break
            except ssl.SSLError as error:
                raise MPCError(
                    f"TLS handshake with party {peer.id} at {peer.host}:{peer.port} failed: "
                    f"{error}",
                    fix="check that both parties use certificates from one 'agile mpc init'",
                ) from None
            except OSError as error:
                if self._departed(peer.id):
                    raise _PeerDeparted(
                        f"party {self.config.party} could not reach party {peer.id} at "
                        f"{peer.host}:{peer.port} ({error}); party {peer.id}'s input had "
                        "arrived and its connection had closed, so it is counted as having "
                        "dropped out after sharing"
                    ) from None
                if time.monotonic() > deadline:
                    raise MPCError(
                        f"party {peer.id} at {peer.host}:{peer.port} did not accept a connection "
                        f"within {self.connect_timeout:g} s ({error})",
                        fix=self._unreachable_fix(peer),
                    ) from None
                await asyncio.sleep(0.005)
        if _fingerprint(writer) != peer.certificate_sha256:
            writer.close()
            raise MPCError(
                f"party {peer.id} at {peer.host}:{peer.port} presented a certificate whose "
                "fingerprint is not the configured one",
                fix="check the configuration; another process may be listening on that port",
            )
        return writer

    def _departed(self, peer_id: int) -> bool:
        """Return whether ``peer_id`` may refuse connections because it already sent its input."""
        return False

    def _unreachable_fix(self, peer: PartyInfo) -> str:
        """Return what to do about a peer that accepted no connection."""
        return "start that party, or check its address and port"

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        recipient: int,
        round_name: str,
        vector: list[int],
        encoded: bytes | None = None,
    ) -> None:
        operation = self.operation or ""
        aad = _aad(
            self.config.session, round_name, self.config.party, recipient, len(vector), operation
        )
        plaintext = encoded if encoded is not None else field.encode_vector(vector)
        enc, ciphertext = self.sealer.seal(recipient, plaintext, aad)
        header = {
            "version": PROTOCOL_VERSION,
            "session": self.config.session.hex(),
            "round": round_name,
            "from": self.config.party,
            "to": recipient,
            "length": len(vector),
            "threshold": self.config.threshold,
            "operation": self.operation,
            "enc": enc.hex(),
        }
        try:
            # drain() waits for as long as the peer does not read, so a bound keeps such a
            # peer from stalling this party forever.
            await asyncio.wait_for(write_frame(writer, header, ciphertext), self.send_timeout)
        except TimeoutError:
            writer.transport.abort()
            raise MPCError(
                f"party {self.config.party} timed out after {self.send_timeout:g} s sending "
                f"its {round_name} message to party {recipient}",
                fix="check that party: it is connected but does not read",
            ) from None

    def _log_failures(
        self,
        round_name: str,
        writers: dict[int, asyncio.StreamWriter],
        outcomes: Sequence[BaseException | None],
    ) -> None:
        for pid, outcome in zip(writers, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.warning(
                    "party %d could not send its %s shares to party %d: %s",
                    self.config.party,
                    round_name,
                    pid,
                    outcome,
                )
            elif isinstance(outcome, BaseException):
                raise outcome


class Party(Endpoint):
    """One party of a computation, as configured by ``config``."""

    def __init__(
        self,
        config: PartyConfig,
        *,
        connect_timeout: float = 30.0,
        round_timeout: float = 120.0,
    ) -> None:
        _check_seconds("round_timeout", round_timeout)
        super().__init__(config, connect_timeout=connect_timeout, send_timeout=round_timeout)
        self.round_timeout = round_timeout
        self.server_context = _server_context(config)
        self._by_fingerprint = {info.certificate_sha256: info.id for info in config.parties}
        if config.dealer_sha256:
            self._by_fingerprint[config.dealer_sha256] = DEALER_ID
        #: Opened vectors by round, each with its sender; only messages that opened are queued.
        self._queues: dict[str, asyncio.Queue[tuple[int, list[int]]]] = {}
        #: Parties whose authenticated input arrived on a connection that has closed since:
        #: they shared and left, so they may refuse this party's connection.
        self._departed_peers: set[int] = set()
        #: Open connections per party whose authenticated input arrived on them.
        self._sharing_connections: dict[int, int] = {}
        self.rejected: list[str] = []
        #: Reasons for dropping a peer's connection, by party id (bad frames or headers).
        self.dropped: dict[int, str] = {}
        #: What to do about each dropped connection, by party id.
        self._dropped_fixes: dict[int, str] = {}
        self._inbound: set[asyncio.StreamWriter] = set()

    # Receiving.

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        fingerprint = _fingerprint(writer)
        sender = self._by_fingerprint.get(fingerprint or "")
        if sender is None or sender == self.config.party:
            log.warning(
                "party %d rejected a connection from %s: certificate %s is not a peer's",
                self.config.party,
                address,
                fingerprint,
            )
            self.rejected.append(fingerprint or "")
            writer.close()
            return
        self._inbound.add(writer)
        shared_here = False
        try:
            while True:
                header, body = await read_frame(reader, f"party {sender}")
                round_name, vector = self._accept(sender, header, body)
                if round_name == "input" and not shared_here:
                    shared_here = True
                    self._sharing_connections[sender] = self._sharing_connections.get(sender, 0) + 1
                self._queues[round_name].put_nowait((sender, vector))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            # The run is over and the loop is shutting down; a cancelled handler task would
            # make Python 3.11's stream callback log a spurious error.
            pass
        except MPCError as error:
            # Only this connection is dropped: the genuine peer may still connect and send
            # a message that opens, and the round's timeout names this reason otherwise.
            self.dropped[sender] = str(error)
            if error.fix:
                self._dropped_fixes[sender] = error.fix
            log.error(
                "party %d dropped the connection of party %d: %s", self.config.party, sender, error
            )
        finally:
            self._inbound.discard(writer)
            if shared_here:
                self._sharing_connections[sender] -= 1
                if not self._sharing_connections[sender]:
                    self._departed_peers.add(sender)
            writer.close()

    def _accept(self, sender: int, header: dict[str, Any], body: bytes) -> tuple[str, list[int]]:
        """Check a message's header, open its sealed vector and return (round, vector).

        Raises :class:`MPCError` for a message of another session, round, recipient,
        threshold or operation, and for one that does not open.
        """
        round_name = header.get("round")
        if header.get("version") != PROTOCOL_VERSION:
            raise MPCError(
                f"party {sender} speaks protocol version {header.get('version')!r:.20}, party "
                f"{self.config.party} version {PROTOCOL_VERSION}",
                fix="run the same agile version on every party",
            )
        if (
            header.get("session") != self.config.session.hex()
            or header.get("from") != sender
            or header.get("to") != self.config.party
            or round_name not in ROUNDS
            or (round_name == "triples") != (sender == DEALER_ID)
        ):
            raise MPCError(
                f"party {sender} sent a message for another session, round or recipient: "
                f"{ {k: header.get(k) for k in ('version', 'session', 'round', 'from', 'to')} }",
                fix="give every party the configuration files of one 'agile mpc init'",
            )
        # Shares of a polynomial of another degree would open to a wrong result without an
        # error, so every message names the sender's threshold.
        if header.get("threshold") != self.config.threshold:
            raise MPCError(
                f"party {sender} uses threshold {header.get('threshold')!r:.40}, party "
                f"{self.config.party} uses {self.config.threshold}",
                fix="give every party the configuration files of one 'agile mpc init'",
            )
        # Parties running different operations would share vectors of other layouts and
        # open nonsense, so every message names its operation.  The dealer serves any.
        operation = "" if round_name == "triples" else self.operation or ""
        if round_name != "triples" and header.get("operation") != self.operation:
            raise MPCError(
                f"party {sender} runs operation {header.get('operation')!r:.40}, party "
                f"{self.config.party} runs {self.operation!r}",
                fix="start every party with the same --operation",
            )
        length = header.get("length")
        if not _is_int(length) or not 0 <= length <= 3 * (field.MAX_LENGTH + 1):
            raise MPCError(f"party {sender} sent an invalid vector length {length!r:.40}")
        try:
            enc = bytes.fromhex(str(header.get("enc", "")))
        except ValueError:
            raise MPCError(f"party {sender} sent a non-hex HPKE encapsulation") from None
        aad = _aad(self.config.session, round_name, sender, self.config.party, length, operation)
        plaintext = self.sealer.open(sender, enc, body, aad)
        return round_name, field.decode_vector(
            plaintext, length, f"{round_name} from party {sender}"
        )

    def _departed(self, peer_id: int) -> bool:
        return peer_id in self._departed_peers

    def _unreachable_fix(self, peer: PartyInfo) -> str:
        if self._sharing_connections.get(peer.id):
            # The peer runs and reached this party, so this party's entry for it is wrong.
            return (
                f"party {peer.id} is running and connected to party {self.config.party}: "
                f"correct its host and port in party {self.config.party}'s configuration"
            )
        return super()._unreachable_fix(peer)

    async def _connect_peer(
        self, peer: PartyInfo, context: ssl.SSLContext
    ) -> asyncio.StreamWriter | None:
        """Connect to ``peer``; return ``None`` if it already shared its input and left."""
        try:
            return await self._connect(peer, context)
        except _PeerDeparted as departed:
            # Its input is already queued, and the protocol tolerates n - t such parties.
            log.warning("%s", departed)
            return None

    async def _collect(
        self, round_name: str, senders: set[int], needed: int, *, missing_fix: str | None = None
    ) -> dict[int, list[int]]:
        """Wait for ``needed`` opened vectors of ``round_name`` from distinct ``senders``.

        ``missing_fix`` replaces the default fix of the timeout error.
        """
        received: dict[int, list[int]] = {}
        queue = self._queues[round_name]
        deadline = time.monotonic() + self.round_timeout
        while len(received) < needed:
            remaining = deadline - time.monotonic()
            try:
                sender, vector = await asyncio.wait_for(queue.get(), max(remaining, 0))
            except TimeoutError:
                missing = sorted(senders - set(received))
                dropped = [peer for peer in missing if peer in self.dropped]
                # A peer whose messages were rejected is named with the reason.
                reasons = "".join(
                    f"; {'the dealer' if peer == DEALER_ID else f'party {peer}'}'s connection "
                    f"was dropped: {self.dropped[peer]}"
                    for peer in dropped
                )
                fixes = [
                    self._dropped_fixes[peer] for peer in dropped if peer in self._dropped_fixes
                ]
                # The dealer has id 0 but is no party: name it as the command that starts it.
                waiting = [
                    "the dealer" if peer == DEALER_ID else f"party {peer}" for peer in missing
                ]
                raise MPCError(
                    f"party {self.config.party} timed out after {self.round_timeout:g} s in the "
                    f"{round_name} round: {len(received)} of {needed} messages, none yet from "
                    f"{', '.join(waiting)}{reasons}",
                    fix=fixes[0]
                    if fixes
                    else missing_fix
                    or "start every party, or lower the number of parties that may drop out",
                ) from None
            if sender in senders and sender not in received:
                received[sender] = vector
        return received

    async def _variance_shares(
        self,
        received: list[list[int]],
        writers: dict[int, asyncio.StreamWriter],
        peer_ids: set[int],
    ) -> list[int]:
        """Return shares of n * sum(x^2) - (sum x)^2 per element, using one Beaver triple each."""
        sums, squares = protocols.variance_sums(received)
        # init writes dealer.json next to ca.pem.
        dealer_config = self.config.ca_certificate.parent / "dealer.json"
        dealer_fix = (
            f"start the dealer with 'agile mpc dealer --config {dealer_config} "
            f"--length {len(sums)}'"
        )
        triples = (await self._collect("triples", {DEALER_ID}, 1, missing_fix=dealer_fix))[
            DEALER_ID
        ]
        a, b, c = beaver.split_triples(triples, len(sums))

        masked = beaver.mask(sums, sums, a, b)
        sent = await asyncio.gather(
            *(self._send(writers[pid], pid, "open", masked) for pid in writers),
            return_exceptions=True,
        )
        self._log_failures("open", writers, sent)
        opened = await self._collect("open", peer_ids, self.config.threshold - 1)
        opened[self.config.party] = masked
        products = beaver.product(a, b, c, field.reconstruct_vector(opened))

        count = len(received)
        return [(count * q - z) % field.MODULUS for q, z in zip(squares, products, strict=True)]

    # The protocol.

    async def run(
        self, values: list[int], operation: str, *, drop_after_sharing: bool = False
    ) -> PartyResult | None:
        """Run one computation on this party's ``values``; ``None`` if it drops out on purpose.

        ``drop_after_sharing`` makes the party leave right after round 1, as a
        crashed party would; tests and demonstrations use it.
        """
        protocols.check_operation(operation)
        if self.config.is_dealer:
            raise MPCError(
                "this is the dealer's configuration, which takes no input",
                fix="run 'agile mpc dealer' with it, or give a party-N.json",
            )
        field.check_inputs(values, f"party {self.config.party} input")
        if operation in protocols.BEAVER_OPERATIONS and not self.config.dealer_sha256:
            raise MPCError(
                f"operation {operation!r} needs a Beaver-triple dealer, and the configuration "
                "names none",
                fix="create the deployment with 'agile mpc init --dealer'; run 'agile mpc dealer'",
            )
        if operation in protocols.BEAVER_OPERATIONS and not values:
            raise InvalidArgument(
                f"operation {operation!r} needs at least one integer, and party "
                f"{self.config.party}'s input is empty",
                fix="give every party the same non-empty list of integers",
            )
        prepared = protocols.prepare(operation, values)
        config = self.config
        self.operation = operation
        self._queues = {name: asyncio.Queue() for name in ROUNDS}
        self._departed_peers = set()
        self._sharing_connections = {}
        self.dropped = {}
        self._dropped_fixes = {}
        me = config.me
        try:
            server = await asyncio.start_server(
                self._handle, me.host, me.port, ssl=self.server_context
            )
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise MPCError(
                f"party {config.party} failed to listen on {me.host}:{me.port}: {reason}",
                fix=_listen_fix(error.errno),
            ) from None
        writers: dict[int, asyncio.StreamWriter] = {}
        try:
            peers = config.peers
            connected = await asyncio.gather(
                *(self._connect_peer(peer, self.client_context) for peer in peers)
            )
            writers = {
                peer.id: writer
                for peer, writer in zip(peers, connected, strict=True)
                if writer is not None
            }
            started = time.perf_counter()
            started_cpu = time.process_time()
            log.info("party %d connected to %d peers", config.party, len(peers))

            # Round 1: share the input vector.
            indices = [info.id for info in config.parties]
            shares = field.share_vector(prepared, config.threshold, indices)
            # A peer that already left after sharing needs no inputs: tolerate failed sends.
            sent = await asyncio.gather(
                *(self._send(writers[pid], pid, "input", shares[pid]) for pid in writers),
                return_exceptions=True,
            )
            self._log_failures("input", writers, sent)
            if drop_after_sharing:
                log.info("party %d leaves after sharing its input", config.party)
                return None
            # Every peer's input is needed, including those that already left after sharing.
            peer_ids = {peer.id for peer in peers}
            inputs = await self._collect("input", peer_ids, len(peer_ids))
            inputs[config.party] = shares[config.party]
            lengths = {pid: len(vector) for pid, vector in inputs.items()}
            if len(set(lengths.values())) != 1:
                raise MPCError(
                    f"parties gave vectors of different lengths: {lengths} (including the count)",
                    fix="give every party an input of the same length",
                )

            # Round 2 (multiplications only): open Beaver-masked values.
            received = [inputs[pid] for pid in sorted(inputs)]
            if operation in protocols.BEAVER_OPERATIONS:
                result = await self._variance_shares(received, writers, peer_ids)
            else:
                result = protocols.local_result(operation, received)

            # Last round: exchange result shares and open them.
            encoded = field.encode_vector(result)
            sent = await asyncio.gather(
                *(self._send(writers[pid], pid, "output", result, encoded) for pid in writers),
                return_exceptions=True,
            )
            self._log_failures("output", writers, sent)
            outputs = await self._collect("output", peer_ids, config.threshold - 1)
            outputs[config.party] = result
            opened = field.reconstruct_vector(outputs)
            final = protocols.finalize(operation, opened, parties=len(inputs))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - started_cpu
            return PartyResult(final, sorted(outputs), elapsed, cpu)
        finally:
            await close_writers(list(writers.values()))
            server.close()
            for writer in list(self._inbound):
                writer.close()


def run_party(
    config: PartyConfig,
    values: list[int],
    operation: str,
    *,
    drop_after_sharing: bool = False,
    connect_timeout: float = 30.0,
    round_timeout: float = 120.0,
) -> PartyResult | None:
    """Run :meth:`Party.run` in a fresh event loop."""
    party = Party(config, connect_timeout=connect_timeout, round_timeout=round_timeout)
    return asyncio.run(party.run(values, operation, drop_after_sharing=drop_after_sharing))
