"""Running a rotation so that it can be killed at any instant and resumed.

The order of steps is what keeps every object readable at every moment:

1. The run and its key replacements are journaled, in one transaction, before
   any key changes.
2. New keys are created and promoted, and old keys become decrypt-only.  The
   keyset file is replaced atomically, so a reader sees either state, and in
   both the old key still decrypts.
3. Objects naming an old key are found by their headers, journaled as pending,
   rewritten with compare-and-swap, read back, and only then journaled done.
4. A final pass scans every store of the run again and migrates any object that
   still names an old key (written during the run, or lost to a crash).
5. Only when that pass finds nothing and no object failed, and the run covered
   every registered store, are old keys disabled.

Before step 1 the plan is checked against the policy (see
:func:`~agile.rotate.planner.check_key_plans`), so that a policy that would stop
the run half-way leaves no run behind.  A run that stops anyway can be ended
with :func:`abandon`.

Each step checks the state it is about to create before it acts, so replaying
it after a crash does nothing twice (see :mod:`agile.rotate.journal`).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import shlex
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import registry
from ..errors import (
    AgileError,
    InvalidArgument,
    KeyNotFound,
    KeystoreLocked,
    PolicyViolation,
    RotationError,
    RotationInProgress,
    StoreError,
)
from ..fsio import exclusive_lock
from ..keys.audit import AuditLog, audit_context, record_key_changes
from .journal import JOURNAL_NAME, Journal, KeyChange, Run
from .migrate import MigrationContext, ObjectResult, migrate_batch, worker_batch, worker_init
from .planner import (
    ACTIONS,
    Finding,
    KeyPlan,
    Plan,
    Unreadable,
    awaiting_owner,
    check_key_plans,
    check_old_keys_open,
    key_openers,
    key_writers,
    keys_named_in,
    plan,
    plan_keys,
    scan_store,
    undecryptable_old_keys,
)
from .stores import open_store, overlap_reason, parse_store_url

__all__ = [
    "RotateOptions",
    "RotationPlan",
    "rotate",
    "dry_run",
    "abandon",
    "resolve_stores",
    "LOCK_NAME",
]

log = logging.getLogger("agile.rotate")

LOCK_NAME = "rotation.lock"

#: Final passes before a run gives up on objects that keep appearing with old keys.
_FINAL_PASSES = 3

#: Pending objects read from the journal at a time.  The batches of one page are
#: all queued at once, so the page bounds memory: a few MiB, at an estimated 300
#: bytes per object (the growth measured before paging, 55 MiB for 180,000 more).
_PAGE_SIZE = 20_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RotateOptions:
    """Options of one ``agile rotate`` invocation.

    Checked when built, with the limits of the CLI options, so that a wrong
    value fails before a rotation changes any key.
    """

    policy: str | None = None
    stores: tuple[str, ...] = ()
    workers: int = 1
    batch_size: int = 64
    fail_fast: bool = False
    resume: bool = False
    keep_old_keys: bool = False

    def __post_init__(self) -> None:
        if self.policy is not None and not isinstance(self.policy, str):
            raise InvalidArgument(
                f"policy must be a str, got {type(self.policy).__name__}",
                fix="pass a profile name such as 'pq-hybrid' or the path of a policy file; "
                "a rotation journals it so that a resume uses the same policy",
            )
        if isinstance(self.stores, str) or not all(isinstance(s, str) for s in self.stores):
            raise InvalidArgument(
                f"stores must be a tuple of store names or URLs, got {self.stores!r}",
                fix="pass stores=('docs',) for one store, or leave it out for every "
                "registered store",
            )
        object.__setattr__(self, "stores", tuple(self.stores))
        for name, value, limit in (
            ("workers", self.workers, 256),
            ("batch_size", self.batch_size, 100_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
                raise InvalidArgument(
                    f"{name} must be an int from 1 to {limit}, got {value!r}",
                    fix=f"pass {name}=1 or more",
                )
        for name in ("fail_fast", "resume", "keep_old_keys"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(
                    f"{name} must be a bool, got {type(getattr(self, name)).__name__}",
                    fix=f"pass {name}=True or {name}=False",
                )


@dataclass
class RotationPlan(Plan):
    """The plan of what the next ``agile rotate`` would do.

    ``unfinished_run`` describes the run that the next ``agile rotate``
    resumes, and then the plan contains that run's keys and the objects it
    still has to migrate.  ``incomplete_run`` describes the last run when it
    ended incomplete under another policy, so that a plan with nothing to do
    does not hide the objects that run left on old keys.
    """

    unfinished_run: dict[str, Any] | None = None
    incomplete_run: dict[str, Any] | None = None
    #: Objects of the unfinished run by journal state ("done", "skipped", "failed").
    journaled: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        result["unfinished_run"] = self.unfinished_run
        result["incomplete_run"] = self.incomplete_run
        return result


def resolve_stores(keystore: Any, selection: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Return ``(name, url)`` of the selected stores (registered names or URLs), or all."""
    registered = keystore.stores()
    if not selection:
        stores = sorted(registered.items())
        _check_registered_apart(stores)
        return stores
    chosen: list[tuple[str, str]] = []
    for item in selection:
        if item in registered:
            url = registered[item]
        elif "://" in item or "/" in item or item.startswith("dir:") or Path(item).is_dir():
            url = str(parse_store_url(item))
        else:
            raise KeyNotFound(
                f"no store named {item!r}",
                fix="run 'agile store list' for the names, or give a directory or sqlite:/// URL",
            )
        if _overlaps(item, url, chosen):
            continue
        chosen.append((item, url))
    return chosen


def _overlaps(item: str, url: str, chosen: list[tuple[str, str]]) -> bool:
    """Return True when ``url`` repeats a chosen store; raise if it only overlaps one.

    A store named twice (by name, or by name and path) would be scanned twice
    and its objects counted twice.
    """
    location = parse_store_url(url)
    for other_item, other_url in chosen:
        other = parse_store_url(other_url)
        if location == other:
            return True
        reason = overlap_reason(location, other)
        if reason is not None:
            raise StoreError(
                f"stores {other_item!r} and {item!r} overlap: {reason}",
                fix="give --store each directory tree, table or database once",
            )
    return False


def _check_registered_apart(stores: list[tuple[str, str]]) -> None:
    """Raise :class:`StoreError` when two registered stores overlap.

    'agile store add' rejects such a pair, but a keystore may hold one that
    was registered before that check covered its case.
    """
    locations = [(name, parse_store_url(url)) for name, url in stores]
    for index, (name, location) in enumerate(locations):
        for other_name, other in locations[:index]:
            reason = overlap_reason(location, other)
            if reason is not None:
                raise StoreError(
                    f"registered stores {other_name!r} and {name!r} overlap: {reason}",
                    fix=f"unregister one of them with 'agile store remove {other_name}' or "
                    f"'agile store remove {name}', then rotate again",
                )


def _start_method(store_urls: list[str] | tuple[str, ...] = ()) -> Any:
    """Return the multiprocessing context that starts rotation workers.

    ``fork`` where :func:`_fork_is_safe` holds, else ``spawn``.  A forked
    worker starts in milliseconds and inherits the imported modules and the
    per-process caches of unsealed keyset KEKs and parsed keys.  It therefore
    neither imports agile nor unseals a KEK again (no Argon2id run, no call to
    a sealing device).  The keys reach it through the copy-on-write memory of
    ``fork``, never through a file or a pipe.

    ``spawn`` starts a fresh interpreter that imports agile and unseals each
    keyset KEK on its own: an estimated 0.2 s of imports plus one unsealing
    per worker.
    """
    if "fork" in multiprocessing.get_all_start_methods() and _fork_is_safe(store_urls):
        # Collect garbage now, so that no unreachable connection is finalized
        # later in a worker.
        gc.collect()
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _fork_is_safe(store_urls: list[str] | tuple[str, ...]) -> bool:
    """Return whether workers forked from this process now can run safely.

    * No other thread runs, so none can hold a lock at the moment of the fork.
    * No file of a SQLite store database (the database, ``-wal``, ``-shm``) is
      open in this process, as ``/proc/self/fd`` shows.  "How To Corrupt An
      SQLite Database File" (sqlite.org, section 2.6) warns against carrying
      an open connection across ``fork()``.  SQLite's unix VFS also keeps the
      POSIX lock state of each open file once per process, so a worker that
      opened a database still open in its parent would start from lock state
      that belongs to the parent.  The rotation parent closes its store
      connections before it forks.  Its journal connection stays open, but no
      worker opens, uses or closes the journal: pool workers leave through
      ``os._exit``, which finalizes nothing.
    * OpenSSL 3 (bundled with pyca/cryptography) reseeds its random generator
      in a forked child (``test_forked_workers_fresh_randomness`` checks it),
      and ``os.urandom`` reads from the kernel on every call, so the data keys,
      salts and KEM encapsulations of parent and workers differ.

    The worker also inherits the ``rotation.lock`` descriptor, so the lock
    stays held while a worker is still writing, even after the parent died.
    """
    if threading.active_count() != 1:
        return False
    guarded = set()
    for url in store_urls:
        location = parse_store_url(url)
        if location.scheme == "sqlite":
            database = str(Path(location.path).resolve())
            guarded.update({database, database + "-wal", database + "-shm"})
    if not guarded:
        return True
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/self/fd/{descriptor}") in guarded:
                return False
        except OSError:
            continue  # closed since the listing (the listing's own descriptor)
    return True


@contextmanager
def _rotation_lock(keystore: Any) -> Iterator[None]:
    try:
        with exclusive_lock(keystore.path / LOCK_NAME, wait=False, what="rotation"):
            yield
    except KeystoreLocked:
        raise RotationInProgress(
            f"another 'agile rotate' is running on keystore {str(keystore.path)!r}",
            fix="wait for it to finish; if it was killed, run 'agile rotate --resume'",
        ) from None


def dry_run(
    keystore_path: str, options: RotateOptions, now: datetime | None = None
) -> RotationPlan:
    """Return what :func:`rotate` would do, changing nothing.

    With an unfinished run, that is resuming it: the plan is the run's key
    changes under its policy, and the objects that still name its old keys.
    Raise :class:`PolicyViolation` where :func:`rotate` would reject the plan,
    and :class:`RotationError` where it would refuse to resume.
    """
    from ..keys import Keystore

    _check_options(options)

    keystore = Keystore.open(keystore_path, create=False)
    journal = Journal(keystore.path) if (keystore.path / JOURNAL_NAME).exists() else None
    try:
        run = journal.unfinished_run() if journal is not None else None
        if run is not None:
            assert journal is not None
            return _resume_plan(keystore, journal, run, options, now)

        policy = keystore.policy(options.policy)
        stores = [(name, open_store(url)) for name, url in resolve_stores(keystore, options.stores)]
        try:
            result = plan(keystore, policy, stores, now)
        finally:
            for _, store in stores:
                store.close()
        if journal is not None:
            incomplete = _incomplete_run(keystore, journal, policy.hash)
        else:
            incomplete = None
    finally:
        if journal is not None:
            journal.close()

    check_key_plans(keystore, policy, result.keys)
    if result.keys or result.findings:
        _check_writable(policy, result.keys)
    named = {key_id for finding in result.findings for key_id in finding.old_key_ids}
    check_old_keys_open(policy, result.keys, undecryptable_old_keys(policy, result.keys), named)
    return RotationPlan(
        result.policy_name,
        result.policy_hash,
        result.keys,
        result.findings,
        result.unreadable,
        result.scanned,
        result.awaiting_owner,
        incomplete_run=incomplete,
    )


def _resume_plan(
    keystore: Any, journal: Journal, run: Run, options: RotateOptions, now: datetime | None
) -> RotationPlan:
    """Return what resuming ``run`` would do: its keys, and the objects still to migrate.

    The stores of the run are scanned for objects that name its old keys, as
    the resume's final pass does.  Objects the journal marks failed are left
    out of the counts, because a resume does not retry them.
    """
    _check_resume(keystore, run, options)
    policy = _run_policy(keystore, run)
    changes = journal.key_changes(run.run_id)
    if changes:
        key_plans = [_key_plan(keystore, change) for change in changes]
    else:
        # A run journaled without key changes plans them when it resumes.
        key_plans = plan_keys(keystore, policy, now)
    if run.state == "planned":
        check_key_plans(keystore, policy, key_plans)

    result = RotationPlan(policy.name, policy.hash, key_plans)
    result.awaiting_owner = awaiting_owner(keystore, policy, now)
    targets = {
        key_id: key_plan.target_key_id or f"new:{key_plan.keyset}"
        for key_plan in key_plans
        for key_id in key_plan.old_key_ids
    }
    failed = {(store, object_id) for store, object_id, _ in journal.failures(run.run_id)}
    known = key_openers(keystore, policy)
    writers = key_writers(keystore, policy)
    for name, url in run.options["stores"]:
        result.scanned[name] += 0
        with open_store(url) as store:
            for item in scan_store(name, store, targets, policy, result.scanned, known, writers):
                if (item.store, item.object_id) in failed:
                    continue
                if isinstance(item, Unreadable):
                    result.unreadable.append(item)
                else:
                    result.findings.append(item)

    counts = journal.object_counts(run.run_id)
    for state in ("done", "skipped", "failed"):
        result.journaled[state] = sum(n for (_, s), n in counts.items() if s == state)
    result.unfinished_run = {
        "run_id": run.run_id,
        "state": run.state,
        "started": run.started,
        "policy": run.policy,
        "stores": [name for name, _ in run.options["stores"]],
        "keep_old_keys": bool(run.options.get("keep_old_keys") or options.keep_old_keys),
        "migrated": result.journaled["done"],
        "already_migrated": result.journaled["skipped"],
        "failed": result.journaled["failed"],
    }
    return result


def _key_plan(keystore: Any, change: KeyChange) -> KeyPlan:
    """Return the plan of a journaled key change, for a dry run of its resume."""
    keyset = keystore.keyset(change.keyset)
    return KeyPlan(
        keyset=change.keyset,
        purpose=keyset.purpose,
        old_key_ids=change.old_key_ids,
        old_algorithms={key_id: keyset.key(key_id).algorithm for key_id in change.old_key_ids},
        reasons={key_id: change.reasons.get(key_id, []) for key_id in change.old_key_ids},
        known_key_ids=change.known_key_ids,
        new_algorithm=change.new_algorithm,
        target_key_id=change.new_key_id,
    )


def _check_resume(keystore: Any, run: Run, options: RotateOptions) -> None:
    """Raise :class:`RotationError` when ``options`` name other stores or another policy.

    An unfinished run resumes with the stores and the policy it started with.
    ``--workers``, ``--batch-size`` and ``--fail-fast`` apply to the invocation
    that gives them, and ``--keep-old-keys`` is kept for the rest of the run.
    """
    if options.stores:
        chosen = resolve_stores(keystore, options.stores)
        journaled = [tuple(item) for item in run.options["stores"]]
        if {parse_store_url(url) for _, url in chosen} != {
            parse_store_url(url) for _, url in journaled
        }:
            names = ", ".join(name for name, _ in journaled) or "none"
            raise RotationError(
                f"an unfinished rotation run {run.run_id} covers the stores {names}, "
                "not the ones given with --store",
                fix="finish it first with 'agile rotate --resume' without --store, or end "
                "it with 'agile rotate --abandon'",
            )
    if options.policy is None:
        return
    requested = keystore.policy(options.policy)
    if requested.hash != run.policy_hash:
        raise RotationError(
            f"an unfinished rotation run {run.run_id} with policy {run.policy!r} exists, "
            f"and it differs from {requested.name!r}",
            fix="finish it first with 'agile rotate --resume', or end it with 'agile "
            "rotate --abandon', then rotate to the new policy",
        )


def _run_policy(keystore: Any, run: Run) -> Any:
    """Return the policy of ``run``, or raise :class:`RotationError` if it changed since."""
    policy = keystore.policy(run.options["policy"])
    if policy.hash != run.policy_hash:
        raise RotationError(
            f"policy {policy.name!r} of unfinished run {run.run_id} changed since the "
            f"run started ({policy.hash} is not {run.policy_hash})",
            fix="restore the policy the run started with, then run 'agile rotate --resume'",
        )
    return policy


def _incomplete_run(keystore: Any, journal: Journal, policy_hash: str) -> dict[str, Any] | None:
    """Describe the last run when it ended incomplete under a policy other than ``policy_hash``.

    Its objects that failed still name old keys, and a run under another policy
    may find nothing due, so the note names the command that retries them.
    """
    run = journal.last_finished_run()
    if run is None or run.state != "incomplete" or run.policy_hash == policy_hash:
        return None
    return {
        "run_id": run.run_id,
        "policy": run.policy,
        "policy_hash": run.policy_hash,
        "failed": len(journal.failures(run.run_id)),
        "stopped_early": bool((run.report or {}).get("stopped_early")),
        "not_tried": journal.pending_count(run.run_id),
        "command": _retry_command(run),
    }


def _retry_command(run: Run) -> str:
    """Return the command that starts a new run under the policy of ``run``.

    A finished run is never resumed, so the objects that an incomplete run left
    on its old keys are migrated by a new run, which plans those keys again.
    """
    spec = run.options.get("policy") or run.policy
    return f"agile rotate --policy {shlex.quote(spec)}"


def _check_plan(
    keystore: Any, policy: Any, key_plans: list[KeyPlan], stores: list[tuple[str, str]]
) -> None:
    """Raise :class:`PolicyViolation` when the policy would stop the planned run half-way.

    The stores are scanned only when the policy forbids decrypting with a
    retiring key, to learn whether any object still needs that key, or when it
    forbids decrypting with some AEAD or KDF, to learn whether an object to
    migrate uses one (see :func:`agile.rotate.planner.migration_block`).
    """
    check_key_plans(keystore, policy, key_plans)
    _check_writable(policy, key_plans)
    denied = undecryptable_old_keys(policy, key_plans)
    if denied:
        opened = [(name, open_store(url)) for name, url in stores]
        try:
            named = keys_named_in(opened, denied, policy)
        finally:
            for _, store in opened:
                store.close()
        check_old_keys_open(policy, key_plans, denied, named)
    # A key that the policy stops rotation from opening or writing to blocks its objects.
    problems = [*key_openers(keystore, policy).values(), *key_writers(keystore, policy).values()]
    denied_key = any(problem is not None and problem[1] for problem in problems)
    if denied_key or _denies_some_decrypt(policy):
        blocked = [item for item in _scan_plan(keystore, policy, key_plans, stores) if item[1]]
        if blocked:
            first = blocked[0][0]
            assert isinstance(first, Unreadable)
            count = f"{len(blocked)} objects" if len(blocked) > 1 else "1 object"
            raise PolicyViolation(
                f"rotation would fail on {count}, so nothing was changed; the first is "
                f"{first.location}: {first.error}",
                fix="rotate under a policy that still lets rotation open these objects and "
                "write their stanzas ('agile rotate --dry-run' lists them with the reason), "
                "then tighten the policy",
            )


def _check_writable(policy: Any, key_plans: list[KeyPlan]) -> None:
    """Raise :class:`PolicyViolation` when the policy does not let rotation write envelopes.

    Every new envelope derives its message keys with format v1's HKDF-SHA256,
    and a stanza for a new HPKE key needs an HPKE KDF and AEAD that the policy
    allows.  Found only at the first object, either denial would fail every
    object after the keys changed.
    """
    from ..envelope.encrypted import enforce_schedule_kdf
    from ..envelope.recipients import Target, choose_hpke_suite

    # A run without key plans re-encrypts payloads; signature keys write no envelope.
    if key_plans and all(key_plan.purpose == "signature" for key_plan in key_plans):
        return
    try:
        enforce_schedule_kdf(policy, "encrypt")
        for key_plan in key_plans:
            algorithm = key_plan.new_algorithm
            if algorithm is not None and registry.descriptor(algorithm).hpke_kem_id is not None:
                choose_hpke_suite(policy, Target(f"new {algorithm} key", algorithm))
    except PolicyViolation as error:
        raise PolicyViolation(
            f"rotation could not write the new envelopes, so nothing was changed: {error}",
            fix=error.fix,
            reasons=error.reasons,
        ) from None


#: Families whose decrypt decisions decide whether rotation can open a stored envelope.
_OPENING_FAMILIES = ("aead", "kdf")


def _denies_some_decrypt(policy: Any) -> bool:
    """Return whether ``policy`` denies decrypt with a registered AEAD or KDF."""
    return any(
        not policy.decide("decrypt", descriptor.id).allowed
        for family in _OPENING_FAMILIES
        for descriptor in registry.descriptors(family)
    )


def _scan_plan(
    keystore: Any, policy: Any, key_plans: list[KeyPlan], stores: list[tuple[str, str]]
) -> Iterator[tuple[Finding | Unreadable, bool]]:
    """Yield each object a run of ``key_plans`` would migrate, and whether the policy blocks it.

    Unreadable objects that the policy does not block are left out: the run
    reports them and migrates the others.
    """
    targets = {
        key_id: key_plan.target_key_id or f"new:{key_plan.keyset}"
        for key_plan in key_plans
        for key_id in key_plan.old_key_ids
    }
    known = key_openers(keystore, policy)
    writers = key_writers(keystore, policy)
    for name, url in stores:
        with open_store(url) as store:
            for item in scan_store(name, store, targets, policy, None, known, writers):
                if isinstance(item, Finding):
                    yield item, False
                elif item.blocked:
                    yield item, True


def _payloads_due(keystore: Any, policy: Any, stores: list[tuple[str, str]]) -> bool:
    """Return whether an object must migrate although no key is due.

    Such an object names keys that stay, but the policy no longer lets its
    payload AEAD, or the HPKE KDF or AEAD of one of its stanzas, encrypt.  It
    is re-encrypted with the preferred AEAD, or the stanza is written again.
    The stores are scanned only when the policy denies encrypt with some AEAD
    or KDF.
    """
    if all(
        policy.decide("encrypt", descriptor.id).allowed
        for family in _OPENING_FAMILIES
        for descriptor in registry.descriptors(family)
    ):
        return False
    return any(True for _ in _scan_plan(keystore, policy, [], stores))


def abandon(keystore_path: str) -> dict[str, Any]:
    """End the unfinished rotation run, if any, without changing a key or an object.

    Every object stays readable, because a run disables old keys only after
    every object was migrated and read back.  Keys the run made decrypt-only
    stay decrypt-only, and the next run under a policy that no longer lets
    their algorithm start new work retires them again.  Use it for a run that
    cannot finish, such as one whose policy denies the keys it planned.
    """
    from ..keys import Keystore

    keystore = Keystore.open(keystore_path, create=False)
    with _rotation_lock(keystore):
        journal = Journal(keystore.path)
        try:
            run = journal.unfinished_run()
            if run is None:
                return {"state": "nothing-to-abandon", "run_id": None}
            keys = [
                {
                    "keyset": change.keyset,
                    "old_key_ids": list(change.old_key_ids),
                    "new_key_id": change.new_key_id,
                    "new_algorithm": change.new_algorithm,
                    "state": change.state,
                }
                for change in journal.key_changes(run.run_id)
            ]
            report = {
                "run_id": run.run_id,
                "state": "abandoned",
                "abandoned_in": run.state,
                "policy": run.policy,
                "policy_hash": run.policy_hash,
                "keys": keys,
            }
            journal.set_run_state(run.run_id, "abandoned", report)
            AuditLog(keystore.path).record(
                "run-abandoned",
                run_id=run.run_id,
                policy=run.policy,
                policy_hash=run.policy_hash,
                state=run.state,
            )
            log.warning("rotation %s abandoned in state %s", run.run_id, run.state)
            return report
        finally:
            journal.close()


def rotate(
    keystore_path: str,
    options: RotateOptions,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run (or resume) a rotation and return its report."""
    from ..keys import Keystore

    _check_options(options)

    keystore = Keystore.open(keystore_path, create=False)
    with _rotation_lock(keystore):
        journal = Journal(keystore.path)
        try:
            return _Rotation(keystore, journal, options, progress, now).run()
        finally:
            journal.close()


class _Rotation:
    def __init__(
        self,
        keystore: Any,
        journal: Journal,
        options: RotateOptions,
        progress: Progress | None,
        now: datetime | None,
    ) -> None:
        self.keystore = keystore
        self.journal = journal
        self.audit = AuditLog(keystore.path)
        self.options = options
        self.progress = progress
        self.now = now
        self.durations: dict[str, float] = {}
        self.migrated_now = 0
        #: Status of each key's last audit record, by (keyset, key id); read lazily.
        self._last_status: dict[tuple[str, str], str] | None = None
        #: Why old keys stayed decrypt-only at the end of a clean run, or None.
        self.kept_reason: str | None = None
        #: Objects per store found by the last scan of this process.
        self.scanned: Counter[str] = Counter()
        #: Whether --fail-fast stopped the migration before every object was tried.
        self.stopped_early = False

    # The run.

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        run = self.journal.unfinished_run()
        resumed = run is not None

        if run is not None:
            _check_resume(self.keystore, run, self.options)
            run = self._resume(run)
        else:
            if self.options.resume:
                return self._nothing("nothing-to-resume", None)
            run = self._start()
            if run is None:
                return self._nothing("nothing-to-do", self.keystore.policy(self.options.policy))

        self.policy = _run_policy(self.keystore, run)
        self.run_id = run.run_id
        self.stores = [tuple(item) for item in run.options["stores"]]
        # Key changes made by the keysets during the run carry its id in the audit log.
        with audit_context(self.run_id, self.policy.hash):
            if run.state == "planned" and not self.journal.key_changes(self.run_id):
                if not self._replan():
                    return {"state": "nothing-to-do", "run_id": None}
            return self._execute(run, started, resumed)

    def _execute(self, run: Run, started: float, resumed: bool) -> dict[str, Any]:
        phase = time.monotonic()
        if run.state == "planned":
            keys_before: list[list[Any]] | None = None
            try:
                keys_before = self._run_keys()
                self._apply_keys()
            except PolicyViolation as error:
                if self._close_unchanged(resumed, keys_before, error):
                    raise
                # The run was journaled under the same policy, so resuming would stop here
                # again (a run journaled before the plan was checked, for example).
                way_out = (
                    "end the run with 'agile rotate --abandon' (no object becomes unreadable) "
                    "and rotate under a policy that allows its keys"
                )
                raise PolicyViolation(
                    f"rotation run {self.run_id}: {error}",
                    fix=f"{error.fix}; or {way_out}" if error.fix else way_out,
                    reasons=error.reasons,
                ) from None
            except Exception as error:
                self._close_unchanged(resumed, keys_before, error)
                raise
            self.journal.set_run_state(self.run_id, "keys-ready")
        self.durations["keys"] = time.monotonic() - phase
        self.targets = self._targets()

        run = self.journal.run(self.run_id)
        phase = time.monotonic()
        if run.state == "keys-ready":
            self._initial_scan()
        self.durations["scan"] = time.monotonic() - phase

        phase = time.monotonic()
        stopped = self._migrate_pending()
        self.stopped_early = stopped
        self.durations["migrate"] = time.monotonic() - phase

        phase = time.monotonic()
        clean = not stopped and self._final_passes()
        self.durations["verify"] = time.monotonic() - phase

        failures = self.journal.failures(self.run_id)
        if clean and not failures:
            self.journal.set_run_state(self.run_id, "verified")
            disabled = self._retire_old_keys(run)
            state = "done"
        else:
            disabled = []
            state = "incomplete"

        self.durations["total"] = time.monotonic() - started
        report = self._report(state, resumed, disabled)
        self.journal.set_run_state(self.run_id, state, report)
        self.audit.record(
            "run-finished",
            run_id=self.run_id,
            policy=self.policy.name,
            policy_hash=self.policy.hash,
            state=state,
            objects=report["objects"],
            failed=report["failed"],
        )
        return report

    def _run_keys(self) -> list[list[Any]]:
        """Return the keys of each keyset that the run changes, to compare after a failure."""
        return [
            self.keystore.keyset(change.keyset).keys
            for change in self.journal.key_changes(self.run_id)
        ]

    def _close_unchanged(
        self, resumed: bool, keys_before: list[list[Any]] | None, error: Exception
    ) -> bool:
        """Mark the run abandoned when it failed before changing a key; return whether it did.

        Applied only to a run that this invocation started: one that resumes may
        have changed a key before it was killed.  No object changes before the
        keys are ready, so a run whose keys and journaled key changes are as
        planned has changed nothing, and the next run starts cleanly instead of
        having to resume or abandon this one.  ``keys_before`` is None when
        reading the keys failed, before any change.
        """
        if resumed:
            return False
        try:
            unchanged = keys_before is None or (
                self.journal.run(self.run_id).state == "planned"
                and all(
                    change.state == "planned" for change in self.journal.key_changes(self.run_id)
                )
                and self._run_keys() == keys_before
            )
        except (AgileError, OSError, sqlite3.Error) as check_error:
            # Without knowing, the run stays for 'agile rotate --resume' or '--abandon'.
            log.warning(
                "rotation %s: cannot check its keys after a failure: %s", self.run_id, check_error
            )
            return False
        if not unchanged:
            return False
        report = {
            "run_id": self.run_id,
            "state": "abandoned",
            "abandoned_in": "planned",
            "error": str(error),
        }
        self.journal.set_run_state(self.run_id, "abandoned", report)
        self.audit.record(
            "run-abandoned",
            run_id=self.run_id,
            policy=self.policy.name,
            policy_hash=self.policy.hash,
            state="planned",
            error=str(error),
        )
        log.info("rotation %s ended before changing a key: %s", self.run_id, error)
        return True

    def _resume(self, run: Run) -> Run:
        """Record the resume, journaling ``--keep-old-keys`` when this invocation adds it.

        Keeping old keys is the safe direction, so once any invocation of a run
        requests it, the run keeps them, and a later resume without the flag
        keeps them too.
        """
        fields: dict[str, Any] = {"run_id": run.run_id, "policy_hash": run.policy_hash}
        if self.options.keep_old_keys and not run.options.get("keep_old_keys"):
            self.journal.update_run_options(run.run_id, {**run.options, "keep_old_keys": True})
            run = self.journal.run(run.run_id)
            fields["keep_old_keys"] = True
            log.info("rotation %s: old keys will stay decrypt-only (--keep-old-keys)", run.run_id)
        self.audit.record("run-resumed", **fields)
        return run

    def _nothing(self, state: str, policy: Any) -> dict[str, Any]:
        """Return the report of an invocation that found no run to start or resume."""
        report: dict[str, Any] = {"state": state, "run_id": None}
        # After --resume, any incomplete last run is worth naming; otherwise only one
        # under another policy, because this policy would have retried its objects.
        policy_hash = policy.hash if policy is not None else ""
        incomplete = _incomplete_run(self.keystore, self.journal, policy_hash)
        if incomplete is not None:
            report["incomplete_run"] = incomplete
        if policy is not None:
            report["awaiting_owner"] = self._awaiting_owner(policy)
        return report

    def _start(self) -> Run | None:
        policy = self.keystore.policy(self.options.policy)
        stores = resolve_stores(self.keystore, self.options.stores)
        _check_stores(stores)
        key_plans = plan_keys(self.keystore, policy, self.now)
        if not key_plans and not _payloads_due(self.keystore, policy, stores):
            self.audit.record("run-nothing-to-do", policy=policy.name, policy_hash=policy.hash)
            return None
        _check_plan(self.keystore, policy, key_plans, stores)

        options = {
            "policy": self.options.policy,
            "stores": [list(item) for item in stores],
            "all_stores": self._covers_registered(url for _, url in stores),
            "keep_old_keys": self.options.keep_old_keys,
            "fail_fast": self.options.fail_fast,
        }
        # One transaction: a kill leaves the run with its key changes, or no run.
        run = self.journal.create_run(
            policy.name, policy.hash, options, [_planned_change(p) for p in key_plans]
        )
        self._record_started(run.run_id, policy, stores, key_plans)
        return run

    def _replan(self) -> bool:
        """Plan the keys of a run journaled without any; return False when none is due.

        Earlier versions committed a run and its key changes separately, and a
        kill between the two commits left such a run.  Resumed as it was, it
        would change no key and end ``done``.  It has changed nothing yet,
        because keys are created only for journaled key changes and objects are
        journaled only after the keys changed.  So planning now, under the
        policy and stores the run was started with, yields the plan the killed
        process was about to write.  The run keeps its id and its options, so
        ``agile rotate --resume`` without ``--policy`` goes on with the policy
        of the run, as for any other unfinished run.
        """
        _check_stores(self.stores)
        key_plans = plan_keys(self.keystore, self.policy, self.now)
        if not key_plans and _payloads_due(self.keystore, self.policy, self.stores):
            # A run that only re-encrypts payloads journals no key change.
            _check_plan(self.keystore, self.policy, [], self.stores)
            return True
        if not key_plans:
            log.info("rotation %s: no key is due any more, so the run ends", self.run_id)
            self.journal.set_run_state(
                self.run_id, "done", {"run_id": self.run_id, "state": "nothing-to-do"}
            )
            self.audit.record(
                "run-nothing-to-do",
                run_id=self.run_id,
                policy=self.policy.name,
                policy_hash=self.policy.hash,
            )
            return False
        _check_plan(self.keystore, self.policy, key_plans, self.stores)

        log.warning(
            "rotation %s has no journaled key changes, because the process that started "
            "it was killed; planning its keys again",
            self.run_id,
        )
        self.journal.add_key_changes(self.run_id, [_planned_change(p) for p in key_plans])
        self._record_started(self.run_id, self.policy, self.stores, key_plans)
        return True

    def _record_started(
        self, run_id: str, policy: Any, stores: list[Any], key_plans: list[KeyPlan]
    ) -> None:
        self.audit.record(
            "run-started",
            run_id=run_id,
            policy=policy.name,
            policy_hash=policy.hash,
            stores=[name for name, _ in stores],
            keys=[key_plan.to_dict() for key_plan in key_plans],
        )
        log.info("rotation %s started under policy %s", run_id, policy.name)

    # Keys.

    def _apply_keys(self) -> None:
        for change in self.journal.key_changes(self.run_id):
            keyset = self.keystore.keyset(change.keyset)
            new_key_id = change.new_key_id

            if new_key_id is None:
                new_key_id = self._adopt_or_create(keyset, change)
            keyset = self.keystore.keyset(change.keyset)
            if keyset.key(new_key_id).status.value != "primary":
                keyset.promote(new_key_id, policy=self.policy)
            self._audit_key(change.keyset, new_key_id, "primary")

            for old_id in change.old_key_ids:
                if keyset.key(old_id).status.value in ("primary", "enabled"):
                    keyset.set_status(old_id, "decrypt-only")
                self._audit_key(change.keyset, old_id, "decrypt-only")
            self.journal.update_key_change(self.run_id, change.keyset, state="old-decrypt-only")

    def _adopt_or_create(self, keyset: Any, change: KeyChange) -> str:
        # A key this run created before a crash is not among the ids journaled
        # at planning time.  Adopting it keeps a resumed run from adding another.
        orphans = [
            key
            for key in keyset.keys
            if key.id not in change.known_key_ids
            and key.algorithm == change.new_algorithm
            and key.status.value in ("primary", "enabled")
        ]
        if orphans:
            key = max(orphans, key=lambda k: (k.status.value == "primary", k.created))
            log.info("keyset %s: adopting key %s created before a restart", keyset.name, key.id)
            event = "key-adopted"
        else:
            key = keyset.add_key(algorithm=change.new_algorithm, promote=True, policy=self.policy)
            event = "key-created"
        recorded = {
            record.get("key_id")
            for record in self._run_records()
            if record.get("event") in ("key-created", "key-adopted")
        }
        if key.id not in recorded:
            self.audit.record(
                event,
                run_id=self.run_id,
                keyset=keyset.name,
                key_id=key.id,
                algorithm=key.algorithm,
                status=key.status.value,
                replaces=list(change.old_key_ids),
                policy_hash=self.policy.hash,
            )
        self.journal.update_key_change(
            self.run_id, change.keyset, state="created", new_key_id=key.id
        )
        return str(key.id)

    def _audit_key(self, keyset: str, key_id: str, status: str) -> None:
        """Record a key state unless the audit log's last record of that key has it already.

        Called whether or not this process made the change, so that a change
        saved just before a crash gets its record when the run resumes.  A key
        already in ``status`` when the run began (made decrypt-only by an
        abandoned run, for example) has that record already and gets no other.
        The record written here has the fields of every ``key-status`` record,
        with the last recorded status as ``previous``.
        """
        key = (keyset, key_id)
        if self._last_status is None or self._last_status.get(key) != status:
            # The keyset records the changes it saves, so read the log again.
            self._last_status = self._recorded_statuses()
        previous = self._last_status.get(key)
        if previous == status:
            return
        algorithm = self.keystore.keyset(keyset).key(key_id).algorithm
        record_key_changes(
            self.audit,
            keyset,
            {key_id: previous} if previous else {},
            {key_id: (algorithm, status)},
            lambda: self.policy.hash,
        )
        self._last_status[key] = status

    def _recorded_statuses(self) -> dict[tuple[str, str], str]:
        """Return the status of each key's last ``key-status`` record, by (keyset, key id)."""
        statuses: dict[tuple[str, str], str] = {}
        for record in self.audit.records():
            if record.get("event") == "key-status":
                statuses[(str(record.get("keyset")), str(record.get("key_id")))] = str(
                    record.get("status")
                )
        return statuses

    def _run_records(self) -> list[dict[str, Any]]:
        return [record for record in self.audit.records() if record.get("run_id") == self.run_id]

    def _targets(self) -> dict[str, str]:
        targets = {}
        for change in self.journal.key_changes(self.run_id):
            if change.new_key_id is None:
                raise RotationError(f"run {self.run_id}: keyset {change.keyset} has no new key")
            for old_id in change.old_key_ids:
                targets[old_id] = change.new_key_id
        return targets

    def _retire_old_keys(self, run: Run) -> list[str]:
        self.kept_reason = self._reason_to_keep(run)
        if self.kept_reason is not None:
            log.warning(
                "rotation %s: old keys stay decrypt-only: %s", self.run_id, self.kept_reason
            )
            return self._disabled_before()

        disabled = []
        for change in self.journal.key_changes(self.run_id):
            keyset = self.keystore.keyset(change.keyset)
            for old_id in change.old_key_ids:
                if keyset.key(old_id).status.value == "decrypt-only":
                    # This run retires the key itself, after every object was migrated,
                    # so the check for unfinished runs that need the key does not apply.
                    keyset.disable(old_id, force=True)
                self._audit_key(change.keyset, old_id, "disabled")
                disabled.append(old_id)
            self.journal.update_key_change(self.run_id, change.keyset, state="disabled")
        return disabled

    def _disabled_before(self) -> list[str]:
        """Return the old keys that an earlier invocation of this run already disabled.

        A run killed while it disabled old keys, and resumed with
        ``--keep-old-keys``, keeps the others.  The ones already disabled are
        reported as such, and ``agile keyset`` can enable them again.
        """
        disabled = []
        for change in self.journal.key_changes(self.run_id):
            keyset = self.keystore.keyset(change.keyset)
            for old_id in change.old_key_ids:
                if keyset.key(old_id).status.value == "disabled":
                    self._audit_key(change.keyset, old_id, "disabled")
                    disabled.append(old_id)
        if disabled:
            self.kept_reason = (
                f"{self.kept_reason}; keys disabled before the run was interrupted stay "
                f"disabled: {', '.join(disabled)}"
            )
        return disabled

    def _reason_to_keep(self, run: Run) -> str | None:
        """Return why the old keys must stay decrypt-only after a clean run, or None."""
        if run.options.get("keep_old_keys"):
            return "--keep-old-keys was given"
        if not self.stores and not self.keystore.stores():
            # Without a store, nothing shows which objects still need the old keys:
            # envelopes kept elsewhere would become unreadable.
            return (
                "no store is registered, so no object was checked; register the places that "
                "hold envelopes with 'agile store add' and rotate again, or disable the old "
                "keys with 'agile keyset disable' once nothing needs them"
            )
        # A store registered while the run migrated objects was never scanned.
        if not run.options.get("all_stores") or not self._covers_registered(
            url for _, url in self.stores
        ):
            return (
                "the run covered only some registered stores; run 'agile rotate' without "
                "--store to cover them all"
            )
        return None

    def _covers_registered(self, urls: Iterable[str]) -> bool:
        """Return whether ``urls`` include every store registered with the keystore now.

        URLs are compared in their parsed form, so that a URL given on the command
        line matches the registration of the same location.
        """
        covered = {parse_store_url(url) for url in urls}
        registered = self.keystore.stores().values()
        return all(parse_store_url(url) in covered for url in registered)

    # Objects.

    def _scan(self) -> tuple[list[tuple[str, str, str]], list[Unreadable]]:
        found: list[tuple[str, str, str]] = []
        unreadable: list[Unreadable] = []
        found.extend(self._scan_found(unreadable))
        return found, unreadable

    def _scan_found(self, unreadable: list[Unreadable]) -> Iterator[tuple[str, str, str]]:
        """Yield ``(store, object_id, action)`` of each object to migrate, one store after another.

        Unreadable objects are appended to ``unreadable`` instead; a store is
        read as the caller consumes the objects, so none is held in memory.
        """
        known = key_openers(self.keystore, self.policy)
        writers = key_writers(self.keystore, self.policy)
        self.scanned = Counter({name: 0 for name, _ in self.stores})
        for name, url in self.stores:
            with open_store(url) as store:
                for item in scan_store(
                    name, store, self.targets, self.policy, self.scanned, known, writers
                ):
                    if isinstance(item, Unreadable):
                        unreadable.append(item)
                    else:
                        yield name, item.object_id, item.action
                for path in store.remove_leftovers():
                    log.info("removed %s, left by a writer that was killed", path)

    def _initial_scan(self) -> None:
        """Scan the stores and journal the objects and the state "migrating" at once.

        The objects go into the journal as the scan finds them, in one
        transaction, so that memory stays flat however many objects the stores
        hold.  A kill during the scan rolls the transaction back: the run stays
        "keys-ready" with no object journaled, and the resume scans again.
        """
        unreadable: list[Unreadable] = []
        # record_scan consumes the objects before the rows of the unreadable ones,
        # and _failure_rows reads the list only then, once the scan has filled it.
        added = self.journal.record_scan(
            self.run_id, self._scan_found(unreadable), _failure_rows(unreadable), "migrating"
        )
        log.info("rotation %s: %d objects to migrate", self.run_id, added)

    def _final_passes(self) -> bool:
        for _ in range(_FINAL_PASSES):
            found, unreadable = self._scan()
            failed = {
                (store, object_id) for store, object_id, _ in self.journal.failures(self.run_id)
            }
            found = [item for item in found if (item[0], item[1]) not in failed]
            fresh = [u for u in unreadable if (u.store, u.object_id) not in failed]
            self.journal.record_unreadable(self.run_id, _failures(fresh))
            if not found:
                return True
            log.info("rotation %s: final pass found %d objects", self.run_id, len(found))
            self.journal.reopen_objects(self.run_id, found)
            if self._migrate_pending():
                return False
        return False

    def _batches(
        self, rows: list[tuple[str, str, str]]
    ) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """Split journal rows ``(store, object_id, action)`` into the batches workers migrate."""
        urls = dict(self.stores)
        by_store: dict[str, list[tuple[str, str]]] = {}
        for store, object_id, action in rows:
            by_store.setdefault(store, []).append((object_id, action))
        workers = max(1, self.options.workers)
        tasks = []
        for store, items in by_store.items():
            size = max(1, self.options.batch_size)
            if workers > 1:
                # At least four batches per worker, so that workers finish close
                # together instead of one idling while another runs a last full batch.
                size = max(1, min(size, -(-len(items) // (4 * workers))))
            for start in range(0, len(items), size):
                tasks.append((store, urls[store], items[start : start + size]))
        return tasks

    def _migrate_pending(self) -> bool:
        """Migrate every pending object; return True when --fail-fast stopped the run.

        The journal is read one page of objects at a time, so that memory
        stays flat however many objects the run holds.
        """
        total = self.journal.pending_count(self.run_id)
        if not total:
            return False
        done = 0
        after: tuple[str, str] | None = None
        stop = threading.Event()
        with self._runner() as run_batches:
            while not stop.is_set() and (
                page := self.journal.pending_page(self.run_id, after, _PAGE_SIZE)
            ):
                after = (page[-1][0], page[-1][1])
                for store, results in run_batches(self._batches(page), stop):
                    self.journal.finish_objects(
                        self.run_id,
                        [(store, r.object_id, r.action, r.state, r.error) for r in results],
                    )
                    done += len(results)
                    self.migrated_now += sum(1 for r in results if r.state == "done")
                    if self.progress is not None:
                        self.progress(done, total)
                    if self.options.fail_fast and any(r.state == "failed" for r in results):
                        # Batches already running still finish and are journaled, so
                        # that the objects left pending are exactly those not tried.
                        stop.set()
        return stop.is_set()

    @contextmanager
    def _runner(
        self,
    ) -> Iterator[
        Callable[
            [list[tuple[str, str, list[tuple[str, str]]]], threading.Event],
            Iterator[tuple[str, list[ObjectResult]]],
        ]
    ]:
        """Yield a function that migrates batches and yields ``(store, results)`` per batch.

        With one worker the batches run in this process.  With more they run
        in a pool that lives until the block ends, and every page reuses it.
        Once the event passed with the batches is set, no other batch starts.
        """
        workers = max(1, self.options.workers)
        if workers == 1:
            migration = MigrationContext(
                str(self.keystore.path), self._policy_spec(), self.targets, self.policy.hash
            )

            def run_here(
                tasks: list[tuple[str, str, list[tuple[str, str]]]], stop: threading.Event
            ) -> Iterator[tuple[str, list[ObjectResult]]]:
                for store, url, items in tasks:
                    if stop.is_set():
                        return
                    yield store, migrate_batch(migration, url, items)

            try:
                yield run_here
            finally:
                migration.close()
            return

        context = _start_method([url for _, url in self.stores])
        log.info(
            "rotation %s: starting %d workers with %s",
            self.run_id,
            workers,
            context.get_start_method(),
        )
        # A ProcessPoolExecutor, not a multiprocessing.Pool: a Pool replaces a worker
        # that was killed (by the out-of-memory killer, say) and waits forever for the
        # batch it held, while the executor fails every pending batch with
        # BrokenProcessPool.
        others = set(multiprocessing.active_children())
        pool = ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_init_pool_worker,
            initargs=(str(self.keystore.path), self._policy_spec(), self.targets, self.policy.hash),
        )

        def run_in_pool(
            tasks: list[tuple[str, str, list[tuple[str, str]]]], stop: threading.Event
        ) -> Iterator[tuple[str, list[ObjectResult]]]:
            futures: list[Future[tuple[str, list[ObjectResult]]]] = []
            broken = False
            try:
                for task in tasks:
                    futures.append(pool.submit(_pool_batch, task))
                remaining = set(futures)
                while remaining:
                    if stop.is_set():
                        # A batch handed to a worker cannot be cancelled; it is waited for.
                        remaining = {future for future in remaining if not future.cancel()}
                        if not remaining:
                            break
                    completed, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                    for future in completed:
                        try:
                            result = future.result()
                        except BrokenProcessPool:
                            # Other batches may have finished first: journal their results.
                            broken = True
                            continue
                        yield result
            except BrokenProcessPool:
                broken = True  # raised by submit once the pool is broken
            finally:
                for future in futures:
                    future.cancel()
            if broken:
                raise self._worker_lost()

        finished = False
        try:
            yield run_in_pool
            finished = True
        finally:
            if not finished:
                # Stop batches that are still running, as a kill would, rather than
                # wait for them: an interrupted or failed run resumes from the journal.
                for process in set(multiprocessing.active_children()) - others:
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)

    def _worker_lost(self) -> RotationError:
        """Return the error for a worker process that ended in the middle of a batch."""
        return RotationError(
            f"rotation run {self.run_id} stopped: a worker process ended unexpectedly "
            "(killed by a signal, for example by the out-of-memory killer, or it failed to "
            "start); the objects it was migrating stay pending in the journal",
            fix="run 'agile rotate --resume' to finish the run; if memory ran out, resume "
            "with fewer --workers or a smaller --batch-size",
        )

    def _policy_spec(self) -> str | None:
        return self.journal.run(self.run_id).options["policy"]

    # Report.

    def _report(self, state: str, resumed: bool, disabled: list[str]) -> dict[str, Any]:
        counts = self.journal.object_counts(self.run_id)
        per_action = {action: counts.get((action, "done"), 0) for action in ACTIONS}
        skipped = sum(n for (_, s), n in counts.items() if s == "skipped")
        failed = sum(n for (_, s), n in counts.items() if s == "failed")
        migrate_seconds = self.durations.get("migrate", 0.0)
        urls = dict(self.stores)
        failures = []
        for store, object_id, error in self.journal.failures(self.run_id):
            failures.append(
                {"store": store, "object": object_id, "error": error, "url": urls.get(store)}
            )
        keys = [
            {
                "keyset": change.keyset,
                "old_key_ids": list(change.old_key_ids),
                "new_key_id": change.new_key_id,
                "new_algorithm": change.new_algorithm,
                "state": change.state if state == "done" else "old-decrypt-only",
            }
            for change in self.journal.key_changes(self.run_id)
        ]
        return {
            "run_id": self.run_id,
            "state": state,
            "resumed": resumed,
            "policy": self.policy.name,
            "policy_hash": self.policy.hash,
            "stores": [name for name, _ in self.stores],
            "keys": keys,
            "disabled_key_ids": disabled,
            "old_keys_kept": self.kept_reason,
            "objects": per_action,
            "already_migrated": skipped,
            "failed": failed,
            "failures": failures,
            "stopped_early": self.stopped_early,
            # Objects still pending: those that --fail-fast left untried.
            "not_tried": self.journal.pending_count(self.run_id),
            "next_command": (
                None if state == "done" else _retry_command(self.journal.run(self.run_id))
            ),
            "awaiting_owner": self._awaiting_owner(self.policy),
            # An empty store may be a file system that was not mounted: its objects
            # still name the old keys, which this run may have disabled.
            "empty_stores": sorted(name for name, count in self.scanned.items() if count == 0),
            "durations": {name: round(value, 3) for name, value in self.durations.items()},
            "objects_per_second": (
                round(self.migrated_now / migrate_seconds, 1) if migrate_seconds > 0 else None
            ),
        }

    def _awaiting_owner(self, policy: Any) -> list[dict[str, Any]]:
        """Return the due keys that rotation leaves to their owners, as report entries."""
        return [item.to_dict() for item in awaiting_owner(self.keystore, policy, self.now)]


#: The error that :func:`worker_init` raised in this pool worker, if any.
_init_error: AgileError | None = None

#: Set in a pool worker while it migrates a batch.
_batch_running = threading.Event()

#: Seconds between two checks of an idle pool worker for a parent that has died.
_ORPHAN_CHECK_SECONDS = 0.5


def _init_pool_worker(
    keystore_path: str, policy_spec: str | None, targets: dict[str, str], policy_hash: str
) -> None:
    """Start the check of :func:`_exit_when_orphaned`, then run :func:`worker_init`.

    The error of :func:`worker_init` is kept for :func:`_pool_batch` to raise,
    because a ProcessPoolExecutor whose initializer raises only reports a broken
    pool, which would hide the reason (a policy file changed since the run
    started, for example).
    """
    global _init_error
    threading.Thread(
        target=_exit_when_orphaned, args=(os.getppid(),), name="orphan-check", daemon=True
    ).start()
    try:
        worker_init(keystore_path, policy_spec, targets, policy_hash)
    except AgileError as error:
        _init_error = error


def _exit_when_orphaned(parent_pid: int) -> None:
    """End this pool worker once its parent has died, unless it is migrating a batch.

    A ProcessPoolExecutor worker waits for work on a pipe whose write end it
    inherited too, so it never sees the pipe close when the parent is killed.
    Without this check, an idle worker of a killed parent would wait forever,
    holding the inherited ``rotation.lock``, and every resume would be rejected.
    A worker in a batch finishes the batch first (see :func:`worker_batch`).
    """
    while True:
        time.sleep(_ORPHAN_CHECK_SECONDS)
        if os.getppid() != parent_pid and not _batch_running.is_set():
            log.info("rotation worker %d: parent exited, leaving", os.getpid())
            os._exit(0)


def _pool_batch(
    task: tuple[str, str, list[tuple[str, str]]],
) -> tuple[str, list[ObjectResult]]:
    """Run :func:`worker_batch`, or raise the error that stopped this worker's set-up."""
    if _init_error is not None:
        raise _init_error
    _batch_running.set()
    try:
        return worker_batch(task)
    finally:
        _batch_running.clear()


def _check_options(options: object) -> None:
    if not isinstance(options, RotateOptions):
        raise InvalidArgument(
            f"options must be a RotateOptions, got {type(options).__name__}",
            fix="pass RotateOptions(policy='pq-hybrid', ...) from agile.rotate",
        )


def _check_stores(stores: Iterable[tuple[str, str]]) -> None:
    """Open and close each store.

    A store that cannot be opened would stop the run after the keys changed,
    and every resume would stop there too.  So each is opened before any change.
    """
    for _, url in stores:
        open_store(url).close()


def _planned_change(key_plan: KeyPlan) -> KeyChange:
    return KeyChange(
        keyset=key_plan.keyset,
        old_key_ids=key_plan.old_key_ids,
        known_key_ids=key_plan.known_key_ids,
        new_algorithm=key_plan.new_algorithm,
        new_key_id=key_plan.target_key_id,
        state="planned",
        reasons=key_plan.reasons,
    )


def _failures(unreadable: Iterable[Unreadable]) -> list[tuple[str, str, str]]:
    """Return the ``(store, object_id, error)`` journal rows of unreadable objects."""
    return [(u.store, u.object_id, f"{u.location}: {u.error}") for u in unreadable]


def _failure_rows(unreadable: list[Unreadable]) -> Iterator[tuple[str, str, str]]:
    """Yield the journal rows of ``unreadable`` when iterated, not when called."""
    yield from _failures(unreadable)
