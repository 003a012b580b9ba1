"""Migrating objects: the per-object work that rotation workers run.

Each worker process opens the keystore and its own connection to each store.
A forked worker finds the unsealed keyset KEKs in the memory it inherited.  A
spawned one unseals them from ``AGILE_PASSPHRASE`` or the sealer's device and
caches them in memory only.  A batch of objects is read, and each object is
transformed and checked in memory.  The batch is written back with
compare-and-swap on the bytes that were read.  A swap that fails because
someone changed the object in between is retried from a fresh read.  Finally
the written objects are read back and compared.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import AgileError, KeyNotFound, RotationError
from .planner import SIGNATURE_SUFFIX, known_key_ids, needs_migration
from .reprotect import Reprotector
from .stores import HEADER_PREFIX_SIZE, Joined, ObjectStore, Swap, open_store, prefix_of

__all__ = ["MigrationContext", "ObjectResult", "migrate_batch", "worker_init", "worker_batch"]

log = logging.getLogger("agile.rotate")

#: Attempts per object when concurrent writers keep changing it.
_SWAP_ATTEMPTS = 3

#: Bytes read per group from a store without transactions (see migrate_batch).
_GROUP_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """The outcome for one object: state is "done", "skipped" or "failed"."""

    object_id: str
    action: str
    state: str
    error: str | None = None


class MigrationContext:
    """The state a process migrates objects with: keystore, policy, old-to-new key map, stores."""

    def __init__(
        self,
        keystore_path: str,
        policy_spec: str | None,
        targets: dict[str, str],
        policy_hash: str | None = None,
    ) -> None:
        from ..keys import Keystore

        self.keystore = Keystore.open(keystore_path)
        self.policy = self.keystore.policy(policy_spec)
        if policy_hash is not None and self.policy.hash != policy_hash:
            raise RotationError(
                f"policy {self.policy.name!r} changed since the rotation run started "
                f"({self.policy.hash} is not {policy_hash})",
                fix="restore the policy the run started with, or finish the run with it",
            )
        self.targets = dict(targets)
        self.old_ids = set(targets)
        self._keys: dict[str, Any] = {}
        self._stores: dict[str, ObjectStore] = {}
        self.reprotector = Reprotector(
            self.keystore, self.policy, self.recipient, self.old_ids, set(targets.values())
        )
        # The policy's decisions are the same for every object of a run, and computing
        # one costs about 9 us per object.
        self._decisions: dict[Any, Any] = {}
        self._known: set[str] | None = None

    def recipient(self, key_id: str) -> Any:
        """Return what the envelope API accepts as the recipient ``key_id``.

        That is the Key for a KEM key, and the Keyset for a symmetric key, whose
        primary key then wraps the data key (the envelope API takes symmetric
        keys only through their keyset).
        """
        if key_id not in self._keys:
            keyset, key = self.keystore.find_key(key_id)
            if keyset.purpose == "aead":
                if keyset.primary.id != key_id:
                    raise RotationError(
                        f"symmetric key {key_id} is not the primary of keyset {keyset.name!r}",
                        fix=f"promote it with 'agile keyset promote {keyset.name} {key_id}'",
                    )
                self._keys[key_id] = keyset
            else:
                self._keys[key_id] = key
        return self._keys[key_id]

    def _known_key_ids(self) -> set[str]:
        """Return the id of every key of the keystore, read once per process."""
        if self._known is None:
            self._known = known_key_ids(self.keystore)
        return self._known

    def store(self, url: str) -> ObjectStore:
        if url not in self._stores:
            self._stores[url] = open_store(url)
        return self._stores[url]

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def transform(
        self, envelope: bytes, message: Callable[[], bytes] | None = None, aad: bytes = b""
    ) -> tuple[str, bytes | Joined] | None:
        """Return ``(action, new envelope)``, or None when the object needs no migration.

        ``message`` returns the signed message, for signature envelopes, and
        ``aad`` is the associated data of an encrypted envelope.  A new
        encrypted envelope has been opened with the new keys before it is
        returned (see :class:`agile.rotate.reprotect.Reprotector`).
        """
        from ..envelope import armour, dearmour, is_armoured
        from ..envelope.format import parse_header

        armoured = is_armoured(envelope)
        data = dearmour(envelope) if armoured else envelope
        header = parse_header(data)
        needed = needs_migration(
            header, self.targets, self.policy, self._decisions, self._known_key_ids()
        )
        if needed is None:
            return None

        action = needed.action
        # A stanza renewed for its HPKE suite goes to the same key.
        stale = needed.old_key_ids | needed.refresh
        new_ids = list(dict.fromkeys(self.targets.get(key_id, key_id) for key_id in sorted(stale)))
        result: bytes | Joined
        if action == "resign":
            result = self._resign(data, header, stale, message)
        elif action == "rewrap":
            result = self.reprotector.rewrap(data, header, stale, new_ids, aad)
        else:
            result = self.reprotector.reencrypt(data, header, stale, new_ids, aad)
        return action, armour(bytes(result)) if armoured else result

    def _resign(
        self,
        envelope: bytes,
        header: Any,
        stale: set[str],
        message: Callable[[], bytes] | None,
    ) -> bytes:
        from ..envelope import add_signatures, read_header, remove_signatures, verify
        from ..envelope.signatures import check_signatures

        if message is None:
            raise RotationError(
                "no signed message found for this signature envelope",
                fix=f"store the message beside its signature as NAME and NAME{SIGNATURE_SUFFIX}",
            )
        try:
            signed = message()
        except KeyNotFound:
            raise RotationError(
                "this signature envelope has no signed message beside it "
                f"(a NAME{SIGNATURE_SUFFIX} whose NAME is missing from the store)",
                fix=f"put the signed message back as NAME beside NAME{SIGNATURE_SUFFIX}, or remove "
                "the orphaned signature",
            ) from None
        except OSError as error:
            # A directory or an unreadable file named NAME fails this object only, not the run.
            raise RotationError(
                f"cannot read the signed message {error.filename!r} beside this signature "
                f"envelope: {error.strerror or error}",
                fix=f"make NAME a readable file that holds the signed message of "
                f"NAME{SIGNATURE_SUFFIX}, or remove the signature",
            ) from None
        # Authenticate the message with the signatures already there before signing it
        # with the new key: an old signature that is dropped below would otherwise never
        # be checked, and a message changed in the store would leave with a valid signature.
        check_signatures(envelope, signed, self.keystore)
        keysets: list[Any] = []
        for key_id in sorted(stale):
            keyset, _key = self.keystore.find_key(self.targets[key_id])
            if keyset.name not in {k.name for k in keysets}:
                keysets.append(keyset)
        result = add_signatures(envelope, signed, keysets, policy=self.policy)

        # Drop old signatures whose algorithm the policy no longer accepts for verify.
        dropped = [
            entry.key_id
            for entry in read_header(result).signatures
            if entry.key_id in self.old_ids
            and not self.policy.decide("verify", entry.algorithm).allowed
        ]
        if dropped:
            result = remove_signatures(result, dropped)
        verify(result, signed, self.keystore, policy=self.policy)
        return result


def migrate_batch(
    context: MigrationContext, store_url: str, items: list[tuple[str, str]]
) -> list[ObjectResult]:
    """Migrate ``(object_id, planned action)`` items of one store; one result per item."""
    store = context.store(store_url)
    planned = dict(items)
    results: dict[str, ObjectResult] = {}
    remaining = [object_id for object_id, _ in items]

    for _attempt in range(_SWAP_ATTEMPTS):
        if not remaining:
            break
        actions: dict[str, str] = {}
        # object id -> (first bytes, length) of the envelope written, for the read-back.
        written: dict[str, tuple[bytes, int]] = {}
        conflicts: list[str] = []

        # A store that writes a batch in one transaction gets the batch in one
        # call.  The directory store writes file by file, so it gets groups of
        # about _GROUP_BYTES.  The old and new bytes of a group are freed before
        # the next group is read, so the allocator reuses that memory.  Fresh
        # pages would cost a page fault each, more than the copies.
        position = 0
        group_size = len(remaining) if store.transactional else 1
        while position < len(remaining):
            group = remaining[position : position + group_size]
            position += len(group)
            swaps, size = _transform_group(context, store, group, planned, actions, results)
            if not store.transactional:
                group_size = max(1, _GROUP_BYTES * len(group) // max(1, size))
            if not swaps:
                continue
            for swap, swapped in zip(swaps, store.swap_many(swaps, durable=False), strict=True):
                if swapped:
                    written[swap.object_id] = (
                        prefix_of(swap.data, HEADER_PREFIX_SIZE),
                        len(swap.data),
                    )
                elif swap.object_id in store.swap_errors:
                    error = store.swap_errors[swap.object_id]
                    log.warning("object %s: %s", store.describe(swap.object_id), error)
                    # The store's text names what refused the write (the file, its
                    # folder, a full disk), so the fix here names none of them.
                    results[swap.object_id] = ObjectResult(
                        swap.object_id,
                        actions[swap.object_id],
                        "failed",
                        f"{error} (fix the cause named here, then rotate again)",
                    )
                else:
                    conflicts.append(swap.object_id)
        # No write above counts as done before it is durable.
        store.sync()
        remaining = conflicts

        # Read back the header and length of what was written; the old key
        # retires only after this check.  The new envelope was decrypted in
        # memory before the write, and a header carries a random salt, so a
        # matching header and length identify the envelope this run wrote.
        reread = store.read_prefixes(written, HEADER_PREFIX_SIZE)
        for object_id, expected in written.items():
            if reread.get(object_id) == expected:
                log.info("object %s: %s done", store.describe(object_id), actions[object_id])
                results[object_id] = ObjectResult(object_id, actions[object_id], "done")
            elif object_id not in reread:
                results[object_id] = ObjectResult(
                    object_id, actions[object_id], "skipped", "object removed after migration"
                )
            else:
                # Someone wrote it again right after us; the final pass looks at it again.
                results[object_id] = ObjectResult(object_id, actions[object_id], "done")

    for object_id in remaining:
        results[object_id] = ObjectResult(
            object_id,
            planned[object_id],
            "failed",
            f"object changed concurrently {_SWAP_ATTEMPTS} times while it was migrated",
        )
    return [results[object_id] for object_id, _ in items]


def _transform_group(
    context: MigrationContext,
    store: ObjectStore,
    group: list[str],
    planned: dict[str, str],
    actions: dict[str, str],
    results: dict[str, ObjectResult],
) -> tuple[list[Swap], int]:
    """Read and transform the objects of ``group``; return the swaps and the bytes read.

    Objects that are gone, need nothing or fail get their result in ``results``.
    """
    current = store.read_many(group)
    size = sum(len(data) for data in current.values())
    swaps: list[Swap] = []
    for object_id in group:
        if object_id in store.read_errors:
            # It exists but cannot be read (a directory or FIFO in its place):
            # failed, so that its old key stays available to decrypt it.
            log.warning("object %s: %s", store.describe(object_id), store.read_errors[object_id])
            results[object_id] = ObjectResult(
                object_id, planned[object_id], "failed", store.read_errors[object_id]
            )
            continue
        if object_id not in current:
            results[object_id] = ObjectResult(
                object_id, planned[object_id], "skipped", "object no longer exists"
            )
            continue
        try:
            change = context.transform(
                current[object_id],
                _message_loader(store, object_id),
                store.associated_data(object_id),
            )
        except AgileError as error:
            log.warning("object %s: %s", store.describe(object_id), error)
            results[object_id] = ObjectResult(
                object_id, planned[object_id], "failed", error.diagnostics()
            )
            continue
        except ValueError as error:
            # A malformed object can trip a check below the envelope layer;
            # it is reported like any other failure, not allowed to stop the run.
            log.warning("object %s: %r", store.describe(object_id), error)
            results[object_id] = ObjectResult(
                object_id, planned[object_id], "failed", f"invalid object: {error}"
            )
            continue
        if change is None:
            results[object_id] = ObjectResult(object_id, planned[object_id], "skipped")
            continue
        actions[object_id] = change[0]
        swaps.append(Swap(object_id, current[object_id], change[1]))
    return swaps, size


def _message_loader(store: ObjectStore, object_id: str) -> Callable[[], bytes] | None:
    if not object_id.endswith(SIGNATURE_SUFFIX):
        return None
    return lambda: store.read(object_id[: -len(SIGNATURE_SUFFIX)])


# Worker processes (multiprocessing, fork or spawn start method; see executor._start_method).

_worker: MigrationContext | None = None

#: Process id of the rotation process that started this worker.
_parent_pid: int | None = None


def worker_init(
    keystore_path: str, policy_spec: str | None, targets: dict[str, str], policy_hash: str
) -> None:
    """Open the keystore, policy and key map once per worker process.

    The worker ignores SIGINT: Ctrl-C reaches the whole process group, and the
    parent, which handles it, stops the workers itself.  A worker that took it
    would print a KeyboardInterrupt traceback of its own.
    """
    global _worker, _parent_pid
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = MigrationContext(keystore_path, policy_spec, targets, policy_hash)
    _parent_pid = os.getppid()
    log.debug("rotation worker %d ready", os.getpid())


def worker_batch(
    task: tuple[str, str, list[tuple[str, str]]],
) -> tuple[str, list[ObjectResult]]:
    """Run :func:`migrate_batch` in a worker; return the store name with the results."""
    store_name, store_url, items = task
    if _worker is None:
        raise RotationError("rotation worker used before worker_init")
    try:
        results = migrate_batch(_worker, store_url, items)
    except KeyNotFound as error:
        results = [ObjectResult(i, a, "failed", error.diagnostics()) for i, a in items]
    if os.getppid() != _parent_pid:
        # The rotation process was killed while this batch ran.  Its writes
        # are durable and the resumed run finds them, so exit quietly instead
        # of letting multiprocessing print a BrokenPipeError traceback for a
        # result that no process reads.  NOTE: a kill between this check and
        # the send can still print that traceback.
        log.info("rotation worker %d: parent exited, leaving after the batch", os.getpid())
        os._exit(0)
    return store_name, results
