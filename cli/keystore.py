"""``agile keystore``: back up and restore the keystore in its sealed form, and check its keys."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agile.errors import InvalidArgument

from .common import (
    check_output_path,
    echo_status,
    emit_json,
    json_option,
    keystore_path,
    plural,
    policy_option,
)


@click.group()
def keystore() -> None:
    """Back up, restore or check the keystore (sealed keysets, stores, policy, audit log).

    \b
    Examples:
      agile keystore backup agile-keystore.json
      agile --keystore ./restored keystore restore agile-keystore.json
      agile --keystore ./restored keystore check
    """


@keystore.command()
@click.argument("file", type=click.Path(path_type=Path))
def backup(file: Path) -> None:
    """Write the keystore's files in sealed form to FILE (atomic, mode 0600).

    FILE - writes the backup to standard output, which has no file mode: the
    receiving end decides who may read it.  The private keys in it stay
    sealed either way.

    \b
    Examples:
      agile keystore backup agile-keystore.json
      agile keystore backup - | ssh backup-host 'cat > agile-keystore.json'
    """
    from agile.rotate.backup import backup_keystore, write_backup

    if str(file) == "-":
        count = write_backup(keystore_path(), sys.stdout.buffer)
        click.echo(f"backed up {plural(count, 'file')} to standard output", err=True)
        return
    check_output_path(str(file), option="FILE")
    count = backup_keystore(keystore_path(), file)
    echo_status(f"backed up {plural(count, 'file')} to {file}", file)


@keystore.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the files of a keystore that has keysets.")
def restore(file: Path, force: bool) -> None:
    """Restore the keystore from a backup FILE made by 'agile keystore backup'.

    FILE - reads the backup from standard input.  The whole backup is read and
    checked before any file of the keystore is written.

    \b
    Examples:
      agile --keystore ./restored keystore restore agile-keystore.json
      ssh backup-host 'cat agile-keystore.json' | agile --keystore ./restored keystore restore -
    """
    from agile.rotate.backup import restore_keystore

    if str(file) == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InvalidArgument(
                "standard input is a terminal or closed, not a backup",
                fix="pipe a backup into it (agile keystore backup - | agile --keystore DIR "
                "keystore restore -), or give the backup file",
            )
        count = restore_keystore(keystore_path(), sys.stdin.buffer, force=force)
        click.echo(f"restored {plural(count, 'file')} from standard input")
    else:
        count = restore_keystore(keystore_path(), file, force=force)
        click.echo(f"restored {plural(count, 'file')} from {file}")
    # The sealing authenticates private keys only; the check covers the public keys.
    click.echo("run 'agile keystore check' to test each key against its public key")


@keystore.command()
@click.argument("names", nargs=-1, metavar="[KEYSET]...")
@policy_option
@json_option
def check(names: tuple[str, ...], policy: str | None, as_json: bool) -> None:
    """Unseal every key and check it against its stored public key (exit 1 on a mismatch).

    Only the private parts in a keyset file are authenticated.  This finds a
    public key that was swapped in the file, for example in a backup before it
    is restored into use.  It needs each keyset's sealer (AGILE_PASSPHRASE, the
    TPM, the token).  The keys of a keyset whose sealer does not open are
    listed as failed with the reason, and the other keysets are still checked.
    A keyset file that cannot be read gets one failed line with the reason and
    the fix (status "unreadable" in --json), and the check goes on.  Keys
    without a private part are listed as skipped.  A keyset whose password KDF
    the policy denies for decrypt is not unsealed: its keys are listed as
    failed, with the command that reseals it.

    For an sss keyset it also tries every member, also those that a quorum
    does not need, and lists each one; a member that fails (a missing device,
    changed PCRs, a damaged blob, a wrong or missing PIN or passphrase) gives
    exit code 1.  Give every member's secret to check them all.

    \b
    Examples:
      agile keystore check
      agile keystore check signing --json
    """
    from agile.keys import Keystore
    from agile.keys.check import UNREADABLE, check_keystore, check_seal_members

    directory = keystore_path()
    store = Keystore.open(directory, create=False)
    active = store.policy(policy)
    results = check_keystore(store, names or None, active)
    members = check_seal_members(store, names or None, active)
    failed = [result for result in results if result.failed]
    failed_members = [member for member in members if member.failed]
    if as_json:
        emit_json(
            {
                "keystore": str(directory),
                "keys": [result.to_dict() for result in results],
                "sss_members": [member.to_dict() for member in members],
                "failed": len(failed) + len(failed_members),
            }
        )
    else:
        for result in results:
            if result.status == UNREADABLE:
                click.echo(f"{result.result:7} {result.keyset} (unreadable file): {result.detail}")
                continue
            line = f"{result.result:7} {result.keyset} {result.key_id} {result.algorithm}"
            click.echo(f"{line} ({result.status}): {result.detail}")
        for member in members:
            line = f"{member.result:7} {member.keyset} sss member {member.member} ({member.sealer})"
            click.echo(f"{line}: {member.detail}" if member.detail else line)
        unreadable = sum(result.status == UNREADABLE for result in results)
        checked = sum(result.result != "skipped" for result in results) - unreadable
        passed = sum(result.result == "ok" for result in results)
        click.echo(f"{passed} of {checked} keys with a private part check out")
        if unreadable:
            its = "its" if unreadable == 1 else "their"
            click.echo(
                f"{plural(unreadable, 'keyset file')} could not be read, "
                f"so {its} keys were not checked"
            )
        if members:
            opened = len(members) - len(failed_members)
            click.echo(f"{opened} of {len(members)} sss members unseal their share")
    if failed or failed_members:
        sys.exit(1)
