"""``agile rotate``: retire keys the policy no longer allows and re-protect stored objects."""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import emit_json, is_terminal, json_option, keystore_path, plural, policy_option


@click.command()
@policy_option
@click.option(
    "--store",
    "stores",
    metavar="NAME|URL",
    multiple=True,
    help="Rotate only this store (repeatable; default: every registered store). Old keys are "
    "disabled only when the run covers every registered store.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan (counts per action and key) only.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes that migrate objects (forked workers inherit the unsealed keys; "
    "spawned ones unseal them again).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=64,
    show_default=True,
    help="Objects per batch (one SQLite transaction per batch).",
)
@click.option("--resume", is_flag=True, help="Finish an interrupted run (a plain run does too).")
@click.option(
    "--fail-fast", is_flag=True, help="Stop after the first batch in which an object fails."
)
@click.option(
    "--keep-old-keys",
    is_flag=True,
    help="Leave old keys decrypt-only at the end instead of disabling them (undo window).",
)
@click.option(
    "--abandon",
    is_flag=True,
    help="End the unfinished run without finishing it; keys and objects stay as they are.",
)
@json_option
def rotate(
    policy: str | None,
    stores: tuple[str, ...],
    dry_run: bool,
    workers: int,
    batch_size: int,
    resume: bool,
    fail_fast: bool,
    keep_old_keys: bool,
    abandon: bool,
    as_json: bool,
) -> None:
    """Replace keys the policy no longer allows and migrate every object they protect.

    New keys of the policy's preferred algorithm become primary, old keys become
    decrypt-only, objects are rewrapped (payload kept) or re-encrypted (payload
    AEAD no longer allowed), and old keys are disabled once every object is
    migrated and read back.  A killed run resumes where it stopped.  Exit code 1
    when the run is incomplete: objects that failed are listed and left
    untouched, and the old keys stay decrypt-only.  --dry-run exits with code 1
    when it lists unreadable objects, or an unfinished run with failed objects,
    which such a run would leave behind.  Exit code 1 too, before any
    change, when the policy would stop the run half-way: it forbids the sealer
    of a keyset that gets a new key, its preferred algorithm, writing format v1
    envelopes, or decrypting an object to migrate (its old key, payload AEAD or
    stanza's HPKE suite).  Objects whose payload AEAD or stanza HPKE suite the
    policy retires migrate under their keys even when no key is due.

    Rotation never replaces an imported public key, whose owner has the
    private key: objects keep its stanza or signature, and no key is added to
    its keyset.  Such a key that is due is listed with the fix (import the
    owner's new public key and promote it), and the run or dry run exits with
    code 1, as 'agile policy check' does for it, while its objects count as
    migrated, not failed.

    --abandon ends an unfinished run that cannot finish.  Every object stays
    readable, and old keys the run made decrypt-only stay so until the next run
    retires them.

    \b
    Examples:
      agile rotate --policy pq-hybrid --dry-run
      agile rotate --policy pq-hybrid --workers 2 --json
      agile rotate --resume
      agile rotate --abandon
    """
    from agile.rotate import RotateOptions
    from agile.rotate import dry_run as plan_rotation
    from agile.rotate import rotate as run_rotation

    options = RotateOptions(
        policy=policy,
        stores=stores,
        workers=workers,
        batch_size=batch_size,
        fail_fast=fail_fast,
        resume=resume,
        keep_old_keys=keep_old_keys,
    )
    path = str(keystore_path())

    if abandon:
        _abandon(path, policy, stores, dry_run, resume, keep_old_keys, as_json)
        return

    if dry_run:
        summary = plan_rotation(path, options).to_dict()
        if as_json:
            emit_json(summary)
        else:
            _print_plan(summary)
        # A run would fail these objects and keep the old keys decrypt-only. Exit 1, as
        # that incomplete run would, so that a script can stop before starting it. A
        # resume does not retry the objects that the unfinished run failed, either.
        unfinished = summary.get("unfinished_run") or {}
        if summary["unreadable"] or unfinished.get("failed") or summary["awaiting_owner"]:
            sys.exit(1)
        return

    bar = _ProgressBar() if is_terminal() and not as_json else None
    try:
        report = run_rotation(path, options, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()

    if as_json:
        emit_json(report)
    else:
        _print_report(report)
    # An incomplete run keeps the old keys decrypt-only, even when no object failed
    # (objects kept appearing under old keys in every final pass).  Keys awaiting
    # their owner still violate the policy, so the exit code is that of 'agile policy check'.
    if report.get("failed") or report.get("state") == "incomplete" or report.get("awaiting_owner"):
        sys.exit(1)


def _abandon(
    path: str,
    policy: str | None,
    stores: tuple[str, ...],
    dry_run: bool,
    resume: bool,
    keep_old_keys: bool,
    as_json: bool,
) -> None:
    from agile.errors import InvalidArgument
    from agile.rotate.executor import abandon

    conflicting = [
        flag
        for flag, value in (
            ("--policy", policy is not None),
            ("--store", bool(stores)),
            ("--dry-run", dry_run),
            ("--resume", resume),
            ("--keep-old-keys", keep_old_keys),
        )
        if value
    ]
    if conflicting:
        raise InvalidArgument(
            f"--abandon does not combine with {', '.join(conflicting)}",
            fix="run 'agile rotate --abandon' alone; it ends whichever run is unfinished",
        )
    report = abandon(path)
    if as_json:
        emit_json(report)
    elif report["run_id"] is None:
        click.echo("no unfinished rotation run to abandon")
    else:
        click.echo(
            f"run {report['run_id']}: abandoned in state {report['abandoned_in']}, "
            f"policy {report['policy']}"
        )
        for key in report["keys"]:
            new = key["new_key_id"] or "no new key"
            click.echo(f"keyset {key['keyset']}: {', '.join(key['old_key_ids'])} -> {new}")


class _ProgressBar:
    """A progress bar on stderr, created when the first batch reports."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._shown = 0

    def update(self, done: int, total: int) -> None:
        if self._bar is None or done < self._shown:
            self.close()
            self._bar = click.progressbar(length=total, label="migrating", file=sys.stderr)
            self._bar.__enter__()
            self._shown = 0
        self._bar.update(done - self._shown)
        self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _print_plan(summary: dict[str, Any]) -> None:
    run = summary.get("unfinished_run")
    if run is not None:
        click.echo(
            f"unfinished run {run['run_id']} (state {run['state']}, started {run['started']}): "
            "the next 'agile rotate' resumes it with its policy and stores"
        )
    click.echo(f"policy {summary['policy']} ({summary['policy_hash']})")
    if not summary["keys"]:
        click.echo("no key is due for rotation")
    for key_plan in summary["keys"]:
        target = key_plan["target_key_id"] or f"a new {key_plan['new_algorithm']} key"
        for old in key_plan["old_keys"]:
            objects = summary["objects_per_old_key"].get(old["id"], {}).get("objects", 0)
            click.echo(
                f"keyset {key_plan['keyset']}: key {old['id']} ({old['algorithm']}) -> {target}, "
                f"{plural(objects, 'object')}; {'; '.join(old['reasons'])}"
            )
    counts = ", ".join(f"{action} {count}" for action, count in summary["objects"].items())
    click.echo(f"objects: {counts}")
    if summary.get("payload_only"):
        click.echo(
            f"{plural(summary['payload_only'], 'object')} of these keep their keys: the policy "
            "no longer allows their payload AEAD, or the HPKE KDF or AEAD of a stanza, to "
            "encrypt, so they migrate under the same keys"
        )
    for store, count in summary["scanned"].items():
        click.echo(f"store {store}: {plural(count, 'object')} scanned")
    for item in summary["unreadable"]:
        click.echo(f"unreadable: {item['location']}: {item['error']}")
    _print_awaiting(summary["awaiting_owner"])
    if run is not None:
        click.echo(
            f"run so far: migrated {run['migrated']}, already migrated "
            f"{run['already_migrated']}, failed {run['failed']}"
        )
        if run["keep_old_keys"]:
            click.echo("old keys stay decrypt-only at the end (--keep-old-keys)")
    _print_incomplete(summary.get("incomplete_run"))


def _print_incomplete(run: dict[str, Any] | None) -> None:
    if run is None:
        return
    if run.get("not_tried"):
        after = f" after {plural(run['failed'], 'failed object')}" if run["failed"] else ""
        click.echo(
            f"the last run {run['run_id']} under policy {run['policy']} ended incomplete: "
            f"--fail-fast stopped it{after}, leaving {plural(run['not_tried'], 'object')} "
            f"not tried on its old keys; finish the migration with '{run['command']}'"
            + (" (repair or remove the failed objects first, or they fail again)" if after else "")
        )
        return
    if run["failed"]:
        cause = f"with {plural(run['failed'], 'failed object')} left on its old keys"
    else:
        cause = "because objects kept appearing under its old keys"
    click.echo(
        f"the last run {run['run_id']} under policy {run['policy']} ended incomplete "
        f"{cause}; once the cause is fixed, finish it with '{run['command']}'"
    )


def _print_awaiting(keys: list[dict[str, Any]]) -> None:
    for key in keys:
        click.echo(
            f"awaiting owner: keyset {key['keyset']}: key {key['key_id']} ({key['algorithm']}) "
            f"is left as it is; {'; '.join(key['reasons'])}; fix: {key['fix']}"
        )


def _print_report(report: dict[str, Any]) -> None:
    if report.get("run_id") is None:
        click.echo(report["state"].replace("-", " "))
        _print_awaiting(report.get("awaiting_owner", []))
        _print_incomplete(report.get("incomplete_run"))
        return
    resumed = " (resumed)" if report["resumed"] else ""
    click.echo(f"run {report['run_id']}{resumed}: {report['state']}, policy {report['policy']}")
    for key in report["keys"]:
        new = (
            f"{key['new_key_id']} ({key['new_algorithm']})"
            if key["new_algorithm"]
            else key["new_key_id"]
        )
        click.echo(
            f"keyset {key['keyset']}: {', '.join(key['old_key_ids'])} -> {new}; "
            f"old keys {'disabled' if key['state'] == 'disabled' else 'decrypt-only'}"
        )
    counts = ", ".join(f"{action} {count}" for action, count in report["objects"].items())
    click.echo(
        f"objects: {counts}, already migrated {report['already_migrated']}, "
        f"failed {report['failed']}"
    )
    for failure in report["failures"]:
        click.echo(f"failed: {failure['store']} {failure['object']}: {failure['error']}")
    if report.get("stopped_early"):
        click.echo(
            f"stopped early (--fail-fast): {plural(report['not_tried'], 'object')} not tried, "
            "left on the old keys; repair or remove the failed objects, then finish the "
            f"migration with '{report['next_command']}'"
        )
    if report["state"] == "incomplete" and not report["failures"]:
        click.echo(
            "incomplete: objects kept appearing under old keys during the final passes; "
            "run 'agile rotate' again once the writers that use the old keys stopped"
        )
    if report.get("old_keys_kept"):
        click.echo(f"old keys stay decrypt-only: {report['old_keys_kept']}")
    for name in report.get("empty_stores", []):
        click.echo(
            f"warning: store {name} has no objects; if they are on a file system that was "
            "not mounted, mount it, let the old keys decrypt again with 'agile keyset "
            "decrypt-only KEYSET KEY_ID', and run 'agile rotate' again",
            err=True,
        )
    _print_awaiting(report["awaiting_owner"])
    rate = report["objects_per_second"]
    durations = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report["durations"].items())
    click.echo(f"time: {durations}" + (f"; {rate} objects/s" if rate else ""))
