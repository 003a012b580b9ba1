"""``agile keystore``: back up and restore the keystore in its sealed form."""

from __future__ import annotations

from pathlib import Path

import click

from .common import check_output_path, keystore_path


@click.group()
def keystore() -> None:
    """Back up or restore the keystore (sealed keysets, stores, policy, audit log).

    \b
    Examples:
      agile keystore backup agile-keystore.json
      agile --keystore ./restored keystore restore agile-keystore.json
    """


@keystore.command()
@click.argument("file", type=click.Path(path_type=Path))
def backup(file: Path) -> None:
    """Write the keystore's files in sealed form to FILE (atomic, mode 0600)."""
    from agile.rotate.backup import backup_keystore

    check_output_path(str(file), option="FILE")
    count = backup_keystore(keystore_path(), file)
    click.echo(f"backed up {count} files to {file}")


@keystore.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the files of a keystore that has keysets.")
def restore(file: Path, force: bool) -> None:
    """Restore the keystore from a backup FILE made by 'agile keystore backup'."""
    from agile.rotate.backup import restore_keystore

    count = restore_keystore(keystore_path(), file, force=force)
    click.echo(f"restored {count} files from {file}")
