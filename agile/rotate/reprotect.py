"""Re-protecting one encrypted envelope for rotation, and checking the result with the new key.

This is the per-object work of ``rewrap`` and ``reencrypt`` in one process.  It
does what :func:`agile.envelope.rewrap` and :func:`agile.envelope.reencrypt`
do, built from the same envelope functions, with three differences that matter
when thousands of objects go to the same few keys:

* each replacement key is resolved and checked against the policy once per
  process instead of once per object;
* each header is parsed once, and the old header is opened once;
* the check of the new envelope unwraps the new key's stanza with the new
  private key and authenticates the header with it, instead of a full
  decrypt that may open any other stanza first.

The check that the new envelope opens is the rotation's safety rule: an old
key retires only after every object opens with the new one.  For a rewrap the
payload chunks are authenticated once more (into a scratch buffer whose
plaintext is dropped), so a payload that was already corrupted fails here and
the object is reported and left as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..envelope.encrypted import (
    _assemble,
    _enforce_targets,
    _new_header,
    _open,
    _opener,
    _schedule,
)
from ..envelope.format import MAGIC, Header, parse_header
from ..envelope.recipients import Target, resolve_targets, unwrap, wrap
from ..envelope.schedule import Schedule, payload_associated_data
from ..envelope.stream import PayloadOpener, PayloadSealer, opened_size
from ..errors import KeyNotFound, RotationError
from .planner import is_public_only
from .stores import Joined

__all__ = ["Reprotector"]


class Reprotector:
    """Rewrap or re-encrypt envelopes of one keystore under one policy, and check the result.

    ``recipient`` returns what the envelope API takes for a key id: the Key of
    a KEM key, or the Keyset whose primary is a symmetric key.
    """

    def __init__(
        self,
        keystore: Any,
        policy: Any,
        recipient: Any,
        old_ids: set[str],
        new_keys: set[str] | None = None,
    ) -> None:
        self.keystore = keystore
        self.policy = policy
        self.recipient = recipient
        self.old_ids = frozenset(old_ids)
        #: Keys that replace old ones: each must open the new envelope.
        self.new_keys = frozenset(new_keys or ())
        self._targets: dict[str, Target] = {}
        self._openers: dict[str, tuple[Any, Any]] = {}
        self._payload_algorithms: set[str] = set()
        self._scratch = bytearray()
        # Reused for the plaintext of re-encrypted objects: a fresh buffer per
        # object costs a page fault per 4 KiB page, more than the copy itself.
        # It keeps the last plaintext until the next object overwrites it, as
        # a freed bytes object leaves its contents in the heap.
        self._plaintext = bytearray()

    # Keys, resolved once per process.

    def target(self, key_id: str) -> Target:
        """Return the resolved recipient of ``key_id``, checked against the policy once."""
        target = self._targets.get(key_id)
        if target is None:
            (target,) = resolve_targets(self.recipient(key_id))
            # The checked target carries the HPKE KDF and AEAD that the policy allows.
            (target,) = _enforce_targets(self.policy, [target])
            self._targets[key_id] = target
        return target

    def _new_key_opener(self, key_id: str) -> tuple[Any, Any]:
        """Return ``(private key, None)`` or ``(None, secret key)`` of a new key."""
        found = self._openers.get(key_id)
        if found is None:
            keyset, key = self.keystore.find_key(key_id)
            if not key.status.can_open:
                raise RotationError(
                    f"new key {key_id} of keyset {keyset.name!r} is {key.status.value}",
                    fix=f"let it decrypt again with 'agile keyset promote {keyset.name} {key_id}'",
                )
            if keyset.purpose == "aead":
                found = (None, keyset.secret_key(key_id))
            else:
                found = (keyset.private_key(key_id), None)
            self._openers[key_id] = found
        return found

    def _check_payload_algorithm(self, algorithm: str) -> None:
        if algorithm not in self._payload_algorithms:
            self.policy.enforce("encrypt", algorithm)
            self._payload_algorithms.add(algorithm)

    # Actions.

    def rewrap(
        self, data: bytes, header: Header, stale: set[str], new_ids: list[str], aad: bytes = b""
    ) -> Joined:
        """Replace the stanzas of the ``stale`` keys by stanzas for ``new_ids``; keep the payload.

        ``data`` is a binary envelope, ``header`` its parsed header and ``aad``
        the associated data its payload is bound to.  The
        result is the new header joined with a view of the payload of ``data``,
        and it has been checked with :meth:`check_rewrapped` before it is returned.
        """
        opened = _open(header, self.keystore, self.policy)
        assert header.payload_algorithm is not None
        self._check_payload_algorithm(header.payload_algorithm)

        kept_stanzas = [stanza for stanza in header.recipients if stanza.key_id not in stale]
        present = {stanza.key_id for stanza in kept_stanzas}
        added = [
            wrap(self.target(key_id), opened.data_key, header.payload_context)
            for key_id in new_ids
            if key_id not in present
        ]
        section = header.payload_context[len(MAGIC) + 2 :]
        new_header = _assemble(section, kept_stanzas + added, opened.schedule)
        result = Joined(new_header, memoryview(data)[header.length :])

        recipients = [stanza.key_id for stanza in kept_stanzas] + new_ids
        self.check_rewrapped(data, header, result, self._check_ids(new_ids, recipients), aad)
        return result

    def reencrypt(
        self, data: bytes, header: Header, stale: set[str], new_ids: list[str], aad: bytes = b""
    ) -> bytes:
        """Encrypt the plaintext again with a new data key and the preferred payload AEAD.

        Recipients that do not retire stay, and the new envelope is bound to the
        same associated data ``aad``.  The result has been checked with
        :meth:`check_reencrypted` before it is returned: with the keys of
        ``new_ids``, or, when no key retires and only the payload AEAD does, with
        every recipient key that this keystore can open.
        """
        opened = _open(header, self.keystore, self.policy)
        original = self._decrypt_payload(
            _opener(opened, aad), memoryview(data)[header.length :], header.chunk_size
        )

        kept_ids = [s.key_id for s in header.recipients if s.key_id not in stale]
        recipients = [key_id for key_id in kept_ids if key_id not in new_ids] + list(new_ids)
        targets = [self.target(key_id) for key_id in dict.fromkeys(recipients)]
        algorithm = self.policy.preferred("aead")
        self._check_payload_algorithm(algorithm)
        head, schedule, context = _new_header(targets, algorithm, header.chunk_size)
        sealer = PayloadSealer(
            algorithm,
            schedule.payload_key,
            schedule.nonce_prefix,
            payload_associated_data(context, aad),
        )
        result = sealer.seal_all(head, original, header.chunk_size)

        check_ids = self._check_ids(new_ids, list(dict.fromkeys(recipients)))
        self.check_reencrypted(result, original, check_ids, aad)
        return result

    def _check_ids(self, new_ids: list[str], recipients: list[str]) -> list[str]:
        """Return the keys whose stanzas the check of a new envelope opens.

        Those are the keys that replace old ones, which must open it, and the
        renewed stanzas of keys that stay and that this keystore can open.  A
        replacement that is another party's public key cannot open it here.  When
        no key was replaced or renewed with a private key here (only the payload
        AEAD retires, or the replacement is another party's key), every recipient
        this keystore can open is checked.
        """
        renewed = [k for k in new_ids if k not in self.new_keys]
        # Another party's public key (the owner's new key, imported and promoted)
        # cannot open its stanza here, so the keys of ours that the envelope names
        # check it instead.  Any other replacement that cannot open still fails.
        replacing = [k for k in new_ids if k in self.new_keys and not self._public_only(k)]
        ids = replacing + self._openable(renewed)
        return ids or self._openable(recipients)

    def _public_only(self, key_id: str) -> bool:
        """Return whether ``key_id`` is a public key whose private part another party has."""
        return is_public_only(self.keystore.find_key(key_id)[1])

    def _openable(self, key_ids: list[str]) -> list[str]:
        """Return the ids among ``key_ids`` whose keys this keystore has and may open with."""
        openable = []
        for key_id in key_ids:
            try:
                _keyset, key = self.keystore.find_key(key_id)
            except KeyNotFound:
                continue
            if key.status.can_open and key.has_private:
                openable.append(key_id)
        return openable

    def _decrypt_payload(
        self, opener: PayloadOpener, payload: memoryview, chunk_size: int
    ) -> memoryview:
        """Decrypt every chunk into the reused plaintext buffer; return a view of the plaintext.

        The view is valid until the next call.  Nothing is returned unless every
        chunk verified.
        """
        size = opened_size(len(payload), chunk_size, opener.tag_size)
        if size < 0:
            # The last chunk is shorter than a tag: raise the error a reader gets.
            opener.open_all(payload, chunk_size)
            raise RotationError("the payload's last chunk is shorter than its tag")
        if len(self._plaintext) < size:
            self._plaintext = bytearray(size)
        out = memoryview(self._plaintext)
        for sealed, last, position, length in _chunks(payload, chunk_size, opener.tag_size):
            opener.open_into(sealed, last, out[position : position + length])
        return out[:size]

    # Checks of the new envelope, before it replaces the old one.

    def _open_with_new_keys(self, result: bytes, new_ids: list[str]) -> tuple[Header, Schedule]:
        """Parse the header of ``result`` and open it with each new key's own stanza.

        Returns the header and the message keys.

        The header must name no old key.  Each new key's stanza is unwrapped
        with that key's private (or symmetric) key, then the key commitment and
        the header MAC are checked with the data key it gives.  Any failure raises.
        """
        header = parse_header(result)
        by_id = {stanza.key_id: stanza for stanza in header.recipients}
        if self.old_ids.intersection(by_id):
            raise RotationError("the rewritten envelope still names an old key")
        assert header.payload_algorithm is not None
        schedule = None
        for key_id in new_ids:
            stanza = by_id.get(key_id)
            if stanza is None:
                raise RotationError(f"the new envelope has no stanza for the new key {key_id}")
            private_key, secret_key = self._new_key_opener(key_id)
            data_key = unwrap(
                stanza, header.payload_context, private_key=private_key, secret_key=secret_key
            )
            schedule = _schedule(data_key, header.salt, header.payload_algorithm)
            schedule.check_commitment(header.commitment)
            schedule.check_header_mac(header.authenticated, header.mac)
        if schedule is None:
            raise RotationError("the new envelope names no new key")
        return header, schedule

    def check_rewrapped(
        self,
        original: bytes,
        old_header: Header,
        result: bytes | Joined,
        new_ids: list[str],
        aad: bytes = b"",
    ) -> None:
        """Check a rewrapped envelope: the payload bytes are unchanged and it opens with new keys.

        The payload chunks are authenticated with the data key unwrapped from
        the new stanza; their plaintext goes to a scratch buffer and is dropped.
        """
        if isinstance(result, Joined):
            new_header, payload = result.parts
            header, schedule = self._open_with_new_keys(bytes(new_header), new_ids)
            if len(new_header) != header.length:
                raise RotationError("the rewrapped envelope's header part has extra bytes")
        else:
            header, schedule = self._open_with_new_keys(result, new_ids)
            payload = memoryview(result)[header.length :]

        old_payload_size = len(original) - old_header.length
        if len(payload) != old_payload_size or not original.endswith(payload):
            raise RotationError("the rewrapped envelope's payload differs from the original")
        self._authenticate_payload(header, schedule, memoryview(payload), aad)

    def check_reencrypted(
        self, result: bytes, original: bytes | memoryview, new_ids: list[str], aad: bytes = b""
    ) -> None:
        """Check that a re-encrypted envelope opens with the new keys and contains ``original``."""
        header, schedule = self._open_with_new_keys(result, new_ids)
        self._authenticate_payload(
            header, schedule, memoryview(result)[header.length :], aad, memoryview(original)
        )

    def _payload_opener(self, header: Header, schedule: Schedule, aad: bytes) -> PayloadOpener:
        assert header.payload_algorithm is not None
        return PayloadOpener(
            header.payload_algorithm,
            schedule.payload_key,
            schedule.nonce_prefix,
            payload_associated_data(header.payload_context, aad),
        )

    def _authenticate_payload(
        self,
        header: Header,
        schedule: Schedule,
        payload: memoryview,
        aad: bytes,
        expected: memoryview | None = None,
    ) -> None:
        """Open every payload chunk into the scratch buffer; raise if any tag fails.

        With ``expected``, each chunk's plaintext must also equal the matching
        bytes of ``expected`` and the lengths must match.  The scratch buffer
        is reused, because a fresh buffer per object costs a page fault per
        4 KiB page.
        """
        opener = self._payload_opener(header, schedule, aad)
        chunk_size = header.chunk_size
        if len(self._scratch) < chunk_size:
            self._scratch = bytearray(chunk_size)
        scratch = memoryview(self._scratch)
        end = 0
        for sealed, last, position, length in _chunks(payload, chunk_size, opener.tag_size):
            if length < 0:
                opener.open(sealed, True)  # raises the truncation error a reader gets
            opener.open_into(sealed, last, scratch[:length])
            self._compare(expected, position, length)
            end = position + length
        if expected is not None and end != len(expected):
            raise RotationError("the re-encrypted envelope decrypts to different bytes")

    def _compare(self, expected: memoryview | None, position: int, size: int) -> None:
        # startswith runs memcmp; comparing two memoryviews goes item by item.
        if expected is not None and not self._scratch.startswith(
            expected[position : position + size]
        ):
            raise RotationError("the re-encrypted envelope decrypts to different bytes")


def _chunks(
    payload: memoryview, chunk_size: int, tag_size: int
) -> Iterator[tuple[memoryview, bool, int, int]]:
    """Yield ``(sealed chunk, is last, plaintext offset, plaintext length)`` of a payload.

    Every chunk is full except the last, which carries the final flag in its
    nonce.  A last chunk shorter than a tag gets a negative length.
    """
    step = chunk_size + tag_size
    offset = 0
    position = 0
    while len(payload) - offset > step:
        yield payload[offset : offset + step], False, position, chunk_size
        offset += step
        position += chunk_size
    last = payload[offset:]
    yield last, True, position, len(last) - tag_size
