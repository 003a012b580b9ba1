"""``agile store``: register stores of protected objects and put objects in or get them out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import emit_json, json_option, keystore_path, policy_option


@click.group()
def store() -> None:
    """Register and fill the stores that 'agile rotate' migrates.

    A store is a directory of envelope files, or a column of a SQLite table:
    sqlite:///PATH?table=T&column=C&key=ID (defaults secrets, envelope, id;
    four slashes for an absolute path, as in sqlite:////srv/app.db).  With
    aad=id (dir:PATH?aad=id, or &aad=id for SQLite) each envelope is bound to
    its object id as associated data, so a copy under another id fails to
    decrypt; put, get, import and rotate all use it.

    \b
    Examples:
      agile store add files ./protected
      agile store add db 'sqlite:////srv/app.db?table=secrets&column=envelope&key=id'
      agile store add bound 'dir:./bound?aad=id'    # a directory that no other store uses
      agile store put files reports/q3.pdf --to team q3.pdf
      agile store get files reports/q3.pdf -o q3.pdf
    """


def _keystore(*, create: bool = False):
    """Open the keystore; only 'agile store add' creates a missing one."""
    from agile.keys import Keystore

    return Keystore.open(keystore_path(), create=create)


def _open(name_or_url: str, *, create: bool = False):
    from agile.rotate.executor import resolve_stores
    from agile.rotate.stores import open_store

    [(_name, url)] = resolve_stores(_keystore(), (name_or_url,))
    return open_store(url, create=create)


_force_option = click.option(
    "--force",
    is_flag=True,
    help="Replace objects that exist already (without it, an existing id is an error).",
)


@store.command("add")
@click.argument("name")
@click.argument("url")
@click.option(
    "--replace",
    is_flag=True,
    help="Point an existing store NAME at URL (its objects in the old place are no longer "
    "rotated).",
)
def add(name: str, url: str, replace: bool) -> None:
    """Register the store URL as NAME (a missing directory or table is created).

    What is created is reported on standard error, so that a mistyped path or
    table name shows at once.  A NAME that is registered with another URL is
    refused unless --replace is given; adding the same URL again does nothing.

    \b
    Examples:
      agile store add files ./protected
      agile store add db sqlite:///app.db
      agile store add files ./archive --replace
    """
    from agile.errors import StoreError
    from agile.rotate.stores import check_registrable, parse_store_url

    location = parse_store_url(url)
    keystore = _keystore(create=True)
    registered = keystore.stores()
    previous = registered.get(name)
    if previous == str(location):
        click.echo(f"store {name} is already registered as {location}; nothing changed")
        return
    # Checked before anything is created, so that a mistyped URL leaves no directory behind.
    if previous is not None and not replace:
        raise StoreError(
            f"store {name!r} is already registered as {previous}",
            fix=f"run 'agile store remove {name}' first, or pass --replace to point it at "
            f"{str(location)!r}",
        )
    check_registrable(location, name, registered, keystore.path)
    created = _created_by_add(location)
    previous = keystore.add_store(name, str(location), replace=replace)
    if previous is None:
        click.echo(f"store {name}: {location}")
    else:
        click.echo(f"store {name}: {location} (was {previous})")
    if created:
        click.echo(f"note: created {created}", err=True)


def _created_by_add(location) -> str | None:  # type: ignore[no-untyped-def]
    """Return what registering ``location`` will create, or None when it exists already."""
    import sqlite3
    from contextlib import closing

    if location.scheme != "sqlite":
        return None if location.path.exists() else f"directory {str(location.path)!r}"
    if not location.path.exists():
        return f"SQLite database {str(location.path)!r} with table {location.table!r}"
    try:
        uri = location.path.as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (location.table,),
            ).fetchone()
    except sqlite3.Error:
        # Not a database, or unreadable: opening the store reports it.
        return None
    return None if found else f"table {location.table!r} in {str(location.path)!r}"


@store.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Unregister the store NAME (its objects stay where they are).

    \b
    Example:
      agile store remove files
    """
    url = _keystore().remove_store(name)
    click.echo(f"removed store {name} ({url}); its objects stay where they are")


@store.command("list")
@click.option("--objects", "objects_of", metavar="NAME", help="List the object ids of this store.")
@json_option
def list_stores(objects_of: str | None, as_json: bool) -> None:
    """List registered stores with their object counts, or the objects of one store.

    \b
    Examples:
      agile store list --json
      agile store list --objects files
    """
    from agile.errors import AgileError, StoreError
    from agile.rotate.stores import open_store

    if objects_of is not None:
        with _open(objects_of) as opened:
            ids = [object_id for object_id, _ in opened.iter_prefixes(0)]
        if as_json:
            emit_json(ids)
        else:
            for object_id in ids:
                click.echo(_printable_id(object_id))
        return

    rows: list[dict[str, Any]] = []
    problems = []
    for name, url in sorted(_keystore().stores().items()):
        # One missing or unreadable store must not hide the others, whose
        # names 'agile store remove' needs.
        try:
            with open_store(url) as opened:
                rows.append({"name": name, "url": url, "objects": opened.count()})
        except AgileError as error:
            rows.append({"name": name, "url": url, "objects": None, "error": str(error)})
            problems.append((name, error))
    if as_json:
        emit_json(rows)
    else:
        for row in rows:
            count = "-" if row["objects"] is None else row["objects"]
            click.echo(f"{row['name']:16} {count:>8} objects  {row['url']}")
    if problems:
        first_name, first_error = problems[0]
        remove = f"unregister it with 'agile store remove {first_name}'"
        raise StoreError(
            f"cannot open {len(problems)} of {len(rows)} stores; "
            f"store {first_name!r}: {first_error}",
            fix=f"{first_error.fix}, or {remove}" if first_error.fix else remove,
        )


def _printable_id(object_id: str) -> str:
    """Return ``object_id`` for a line of text output: quoted and escaped if it is ambiguous.

    No new object gets an empty id or one with a control character, but a
    directory store can hold a file with a line break in its name, and another
    program can write such a row.
    """
    from agile.rotate.stores.base import object_id_problem

    return object_id if object_id_problem(object_id) is None else repr(object_id)


@store.command("put")
@click.argument("name")
@click.argument("object_id")
@click.argument("source", type=click.File("rb"), default="-")
@click.option(
    "--to",
    "keysets",
    metavar="KEYSET",
    multiple=True,
    required=True,
    help="Encrypt to this keyset's primary key (repeatable).",
)
@_force_option
@policy_option
def put(
    name: str,
    object_id: str,
    source,
    keysets: tuple[str, ...],
    force: bool,
    policy: str | None,
) -> None:
    """Encrypt SOURCE (a file, or - for stdin) and store it as OBJECT_ID in store NAME.

    An OBJECT_ID that exists in the store already is refused unless --force
    is given. A new OBJECT_ID must be non-empty and free of control
    characters such as line breaks and tabs.

    \b
    Examples:
      agile store put files notes.txt --to team notes.txt
      echo secret | agile store put db api-token --to team -
      agile store put files notes.txt --to team notes-v2.txt --force
    """
    from agile.envelope import encrypt

    # The store's put rejects a new id that is empty or has control characters, and
    # with --force it replaces an existing object whose id another program chose.
    keystore = _keystore()
    recipients = [keystore.keyset(keyset) for keyset in keysets]
    with _open(name, create=True) as opened:
        if not force:
            _reject_existing(opened, name, [object_id])
        envelope = encrypt(
            source.read(),
            recipients,
            policy=keystore.policy(policy),
            aad=opened.associated_data(object_id),
        )
        opened.put(object_id, envelope)


@store.command("import")
@click.argument("name")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--to",
    "keysets",
    metavar="KEYSET",
    multiple=True,
    required=True,
    help="Encrypt to this keyset's primary key (repeatable).",
)
@_force_option
@policy_option
def import_files(
    name: str, directory: Path, keysets: tuple[str, ...], force: bool, policy: str | None
) -> None:
    """Encrypt every file under DIRECTORY into store NAME (object id = relative path).

    Hidden files and directories (names starting with '.') are skipped, so that
    folders such as .git stay out; add a hidden file with 'agile store put'.
    If any object id exists in the store already, nothing is stored unless
    --force is given.

    \b
    Example:
      agile store import files ./plain --to team
    """
    from agile.envelope import encrypt
    from agile.rotate.stores.base import check_new_object_id

    keystore = _keystore()
    active = keystore.policy(policy)
    recipients = [keystore.keyset(keyset) for keyset in keysets]
    files = []
    hidden = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        object_id = path.relative_to(directory).as_posix()
        if any(part.startswith(".") for part in object_id.split("/")):
            hidden += 1
            continue
        # Checked before anything is written, so that a bad name leaves the store as it
        # was.  The store's put would reject it only after writing the files before it.
        files.append((path, check_new_object_id(object_id)))
    if hidden:
        click.echo(f"note: skipped {hidden} hidden file{'' if hidden == 1 else 's'}", err=True)

    count = 0
    with _open(name, create=True) as opened:
        if not force:
            _reject_existing(opened, name, [object_id for _, object_id in files])
        for path, object_id in files:
            sealed = encrypt(
                path.read_bytes(),
                recipients,
                policy=active,
                aad=opened.associated_data(object_id),
            )
            opened.put(object_id, sealed)
            count += 1
    click.echo(f"stored {count} objects in {name}")


def _reject_existing(opened, name: str, object_ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Raise :class:`StoreError` naming the first of ``object_ids`` that exists in the store."""
    from agile.errors import StoreError

    found = opened.read_prefixes(object_ids, 0)
    if not found:
        return
    first = next(object_id for object_id in object_ids if object_id in found)
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise StoreError(
        f"object {first!r}{more} exists in store {name!r} already",
        fix="pass --force to replace it, or choose another object id",
    )


@store.command("get")
@click.argument("name")
@click.argument("object_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plaintext here (atomically) instead of to stdout ('-' is stdout).",
)
@policy_option
def get(name: str, object_id: str, output: Path | None, policy: str | None) -> None:
    """Decrypt OBJECT_ID from store NAME.

    \b
    Example:
      agile store get files notes.txt -o notes.txt
    """
    from agile.envelope import decrypt
    from agile.fsio import atomic_write

    keystore = _keystore()
    with _open(name) as opened:
        envelope = opened.read(object_id)
        aad = opened.associated_data(object_id)
    plaintext = decrypt(envelope, keystore, policy=keystore.policy(policy), aad=aad)
    if output is None or str(output) == "-":
        sys.stdout.buffer.write(plaintext)
    else:
        atomic_write(output, plaintext)
