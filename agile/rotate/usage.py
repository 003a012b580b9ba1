"""Finding what still needs a key: stored objects that name it and unfinished rotations.

Before a key leaves its keyset, :func:`find_key_usage` reads the header of
every object in every store registered with the keystore, as the rotation
planner does, and looks for the key id.  An encrypted envelope names its
recipients' key ids, and a signature envelope names its signers' key ids.
It also reads the rotation journal, because a run that was stopped and
will resume needs the keys it retires and the key it promotes.

A signature envelope that names the key but whose signed message is not in
its store (an orphaned signature) counts as an object that names the key.
Rotation cannot re-sign it, so the error's fix starts with its repair.

What cannot be read counts against removal.  An object whose header does not
parse, and a store that does not open or fails during the scan, might name
the key, so :func:`check_key_unused` rejects the removal for them too.
Destroying a key (erasing its private part) loses access the same way, so
:meth:`agile.keys.Keyset.destroy` runs the same checks.  Disabling a key can be
undone, so :func:`check_key_not_in_run` reads only the journal: a run whose
key is disabled under it fails on every object that still needs the key.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import AgileError, KeyNotFound, KeysetError
from .planner import (
    header_key_ids,
    is_signature_envelope,
    is_signed_message,
    read_object_header,
    signed_message_problem,
)
from .stores import ObjectStore, open_store

if TYPE_CHECKING:
    from ..keys import Keystore

__all__ = [
    "KeyUsage",
    "find_key_usage",
    "check_key_unused",
    "check_key_not_in_run",
    "SAMPLE_SIZE",
]

log = logging.getLogger("agile.rotate")

#: How many object ids (and unreadable objects or stores) a report names; the count is exact.
SAMPLE_SIZE = 5


@dataclass
class KeyUsage:
    """The uses of one key that block its removal, and the places that could not be checked.

    The lists keep the first :data:`SAMPLE_SIZE` entries, and the counts cover all of them.
    """

    key_id: str
    stores: list[str] = field(default_factory=list)
    objects: int = 0
    #: ``(store, object id)`` of objects whose header names the key.
    sample: list[tuple[str, str]] = field(default_factory=list)
    unreadable: int = 0
    #: ``(store, object id or "", reason)``; an empty object id means the whole store.
    unreadable_sample: list[tuple[str, str, str]] = field(default_factory=list)
    #: Ids of unfinished rotation runs that retire or promote the key.
    runs: list[str] = field(default_factory=list)
    #: How many of the objects are signature envelopes that rotation cannot re-sign,
    #: because their signed message cannot be read.
    orphaned: int = 0
    #: ``(store, object id, reason, fix)`` of such signature envelopes.
    orphaned_sample: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def unused(self) -> bool:
        """True when every store was read, no object names the key and no run needs it."""
        return not self.objects and not self.unreadable and not self.runs

    def add_object(self, store: str, object_id: str) -> None:
        self.objects += 1
        if len(self.sample) < SAMPLE_SIZE:
            self.sample.append((store, object_id))

    def add_orphaned(self, store: str, object_id: str, reason: str, fix: str) -> None:
        self.orphaned += 1
        if len(self.orphaned_sample) < SAMPLE_SIZE:
            self.orphaned_sample.append((store, object_id, reason, fix))

    def add_unreadable(self, store: str, object_id: str, reason: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_sample) < SAMPLE_SIZE:
            self.unreadable_sample.append((store, object_id, reason))


def find_key_usage(keystore: Keystore, key_id: str) -> KeyUsage:
    """Scan every registered store and the rotation journal for uses of ``key_id``."""
    usage = KeyUsage(key_id)
    usage.runs = _unfinished_runs_naming(keystore, key_id)

    for name, url in sorted(keystore.stores().items()):
        usage.stores.append(name)
        try:
            with open_store(url) as store:
                _scan_store(name, store, usage)
        except (AgileError, OSError, sqlite3.Error) as error:
            # The objects not yet read may name the key, so the whole store counts as unread.
            log.warning("store %s: cannot scan for key %s: %s", name, key_id, error)
            usage.add_unreadable(name, "", str(error))
    return usage


def _scan_store(name: str, store: ObjectStore, usage: KeyUsage) -> None:
    for object_id, prefix in store.iter_prefixes():
        try:
            header = read_object_header(store, object_id, prefix)
        except KeyNotFound:
            continue  # Removed since the listing.
        except (AgileError, ValueError) as error:
            if is_signed_message(store, object_id):
                continue
            log.warning("store %s: cannot read header of %s: %s", name, object_id, error)
            usage.add_unreadable(name, object_id, str(error))
            continue
        if usage.key_id not in header_key_ids(header):
            continue
        usage.add_object(name, object_id)
        if is_signature_envelope(header):
            problem = signed_message_problem(store, object_id)
            if problem is not None:
                usage.add_orphaned(name, object_id, *problem)


def _unfinished_runs_naming(keystore: Keystore, key_id: str) -> list[str]:
    """Return the ids of unfinished rotation runs whose key changes name ``key_id``.

    A resumed run looks up each key it retires and the key it promotes, and it
    stops with an error when one of them is gone.
    """
    from .journal import JOURNAL_NAME, Journal

    if not (keystore.path / JOURNAL_NAME).exists():
        return []  # No rotation ever ran here, and opening the journal would create it.
    journal = Journal(keystore.path)
    try:
        run = journal.unfinished_run()
        if run is None:
            return []
        for change in journal.key_changes(run.run_id):
            if key_id in change.old_key_ids or key_id == change.new_key_id:
                return [run.run_id]
        return []
    finally:
        journal.close()


#: Per action of :func:`check_key_unused`: its gerund, and what a run that needs the key
#: does when the action is forced.
_ACTIONS = {
    "remove": ("removing", "the run then cannot resume"),
    "destroy": ("destroying", "the run then fails on every object that only this key opens"),
}


def check_key_unused(usage: KeyUsage, keyset: str, action: str = "remove") -> None:
    """Raise :class:`KeysetError` unless ``usage`` shows that nothing needs the key.

    ``action`` is "remove" or "destroy", the change that the messages name.
    """
    gerund, run_result = _ACTIONS[action]
    key_id = usage.key_id
    force = f"or pass --force to {action} the key anyway and lose access to them"
    if usage.runs:
        raise KeysetError(
            f"key {key_id} of keyset {keyset!r} is part of rotation run {usage.runs[0]}, "
            "which has not finished",
            fix=f"finish the run with 'agile rotate --resume' first, or pass --force to {action} "
            f"the key anyway ({run_result})",
        )
    if usage.objects:
        named = ", ".join(f"{store}:{object_id}" for store, object_id in usage.sample)
        more = ""
        if usage.objects > len(usage.sample):
            more = f" and {usage.objects - len(usage.sample)} more"
        count = f"{usage.objects} stored objects name"
        if usage.objects == 1:
            count = "1 stored object names"
        raise KeysetError(
            f"{count} key {key_id} of keyset {keyset!r}, so {gerund} the key would lose "
            f"access to them: {named}{more}",
            fix=f"keep the key, or move the objects to another key first: "
            f"{_orphaned_step(usage)}make the key decrypt-only with 'agile keyset "
            f"decrypt-only {keyset} {key_id}', then run 'agile rotate' if the policy retires "
            f"its algorithm, else decrypt them and encrypt them again; {force}",
        )
    if usage.unreadable:
        store, object_id, reason = usage.unreadable_sample[0]
        where = f"store {store!r}" if not object_id else f"object {object_id!r} of store {store!r}"
        more = f" ({usage.unreadable - 1} more)" if usage.unreadable > 1 else ""
        raise KeysetError(
            f"cannot check that no stored object names key {key_id} of keyset {keyset!r}: "
            f"{where} cannot be read: {reason}{more}",
            fix="repair or remove what cannot be read, which 'agile rotate --dry-run' reports, "
            f"and try again, {force}",
        )


def check_key_not_in_run(keystore: Keystore, key_id: str, keyset: str) -> None:
    """Raise :class:`KeysetError` when an unfinished rotation run retires or promotes the key.

    Only the journal is read, not the stores, because disabling a key can be undone.
    """
    runs = _unfinished_runs_naming(keystore, key_id)
    if runs:
        raise KeysetError(
            f"key {key_id} of keyset {keyset!r} is part of unfinished rotation run {runs[0]}, "
            "which fails on every object that still needs the key if the key is disabled",
            fix="wait for the run to end; if it was stopped, finish it with 'agile rotate "
            "--resume' or end it with 'agile rotate --abandon'; or pass --force to disable the "
            "key anyway",
        )


def _orphaned_step(usage: KeyUsage) -> str:
    """Return the first step of the fix for orphaned signatures, or "" when there are none."""
    if not usage.orphaned:
        return ""
    store, object_id, reason, fix = usage.orphaned_sample[0]
    more = f" and {usage.orphaned - 1} more signatures" if usage.orphaned > 1 else ""
    return (
        f"rotation cannot re-sign {store}:{object_id}{more}, because {reason}, so first "
        f"{fix}; then "
    )
