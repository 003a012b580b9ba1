"""``agile keyset``: create keysets and manage their keys' lifecycle."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, BinaryIO

import click

from agile.errors import InvalidArgument, KeystoreError
from agile.fsio import atomic_write
from agile.keys import PURPOSES, Keyset, KeyStatus, Keystore
from agile.keys.transfer import FORMATS
from agile.seal.base import SEALERS

from .common import (
    check_output_path,
    echo_error,
    emit_json,
    json_option,
    keystore_option,
    keystore_path,
    policy_option,
    resolve_output,
)

# Sealer-specific options (--pcrs, --tpm-pin, --pkcs11-token, ...) and `agile keyset
# reseal` live in cli/sealing.py beside the hardware sealers.
from .sealing import add_sealer_options, reseal

#: Largest key file `agile keyset import` reads, far above any supported key's encoding.
_MAX_KEY_FILE = 1024 * 1024


def _open(*, create: bool = False) -> Keystore:
    """Open the keystore; only commands that add keysets create a missing one."""
    return Keystore.open(keystore_path(), create=create)


def _fact(value: object) -> str:
    """Return a sealer fact on one line: nested tables as k=v, members by sealer name.

    A passphrase member also names its password KDF, as a passphrase keyset does.
    """
    if isinstance(value, dict):
        return ",".join(f"{name}={item}" for name, item in value.items())
    if isinstance(value, list):
        return ",".join(_member_fact(item) for item in value)
    return str(value)


def _member_fact(member: object) -> str:
    if not isinstance(member, dict):
        return str(member)
    name = str(member.get("sealer"))
    kdf = member.get("kdf")
    return f"{name}(kdf={kdf})" if kdf is not None else name


def _print_keyset(keyset: Keyset) -> None:
    info = keyset.describe()
    click.echo(f"{info['name']}  purpose={info['purpose']}  sealer={info['sealer']}")
    facts = [
        f"{name}={_fact(value)}"
        for name, value in info["seal"].items()
        if name != "sealer" and value is not None
    ]
    if facts:
        click.echo(f"  sealed with {info['sealer']}: {'  '.join(facts)}")
    for key in info["keys"]:
        private = "" if key["has_private"] else "  (no private part)"
        click.echo(
            f"  {key['id']}  {key['algorithm']:20} {key['status']:13} {key['created']}{private}"
        )


def _change_status(name: str, key_id: str, status: KeyStatus, *, force: bool = False) -> None:
    """Set the status of a key and print one line: the change, or that nothing changed."""
    before, key = _open().keyset(name).change_status(key_id, status, force=force)
    if before == key.status:
        click.echo(f"key {key.id} of keyset {name}: already {key.status.value}")
    else:
        click.echo(f"key {key.id} of keyset {name}: {before.value} -> {key.status.value}")


@click.group()
def keyset() -> None:
    """Create keysets and manage the lifecycle of their keys.

    \b
    Examples:
      agile keyset create files --purpose kem --algorithm x-wing
      agile keyset add-key files --promote
      agile keyset show files --json
      agile keyset export-public files --format raw -o files.pub
    """


@keyset.command()
@click.argument("name")
@click.option("--purpose", required=True, type=click.Choice(PURPOSES), help="What the keys do.")
@click.option("--algorithm", metavar="ID", help="Algorithm id (default: the policy's preferred).")
@click.option(
    "--seal",
    "sealer",
    default="passphrase",
    show_default=True,
    type=click.Choice(list(SEALERS)),
    help="Sealer that protects the keyset's key-encryption key.",
)
@policy_option
@json_option
@keystore_option
def create(
    name: str, purpose: str, algorithm: str | None, sealer: str, policy: str | None, as_json: bool
) -> None:
    """Create keyset NAME with one primary key.

    \b
    Examples:
      agile keyset create mail --purpose kem --algorithm x-wing
      agile keyset create releases --purpose signature --algorithm ml-dsa-65
    """
    created = _open(create=True).create_keyset(
        name, purpose, algorithm, sealer=sealer, policy=policy
    )
    if as_json:
        emit_json(created.describe())
    else:
        _print_keyset(created)


create = add_sealer_options(create)


@keyset.command("list")
@json_option
@keystore_option
def list_keysets(as_json: bool) -> None:
    """List the keysets of the keystore.

    Each keyset file that cannot be read gets one error line on standard error
    after the readable keysets, and the command then exits with code 1. With
    --json, the output is an object: "keysets" lists the readable keysets, and
    "unreadable" lists the files that could not be read, with reason and fix;
    each error line is then a JSON object, as for any error.

    \b
    Examples:
      agile keyset list
      agile --keystore ./ks keyset list --json
    """
    scan = _open().scan()
    if as_json:
        emit_json(
            {
                "keysets": [k.describe() for k in scan.keysets],
                "unreadable": [
                    {"name": u.name, "file": str(u.file), "reason": u.reason, "fix": u.fix}
                    for u in scan.unreadable
                ],
            }
        )
    else:
        if not scan.keysets and not scan.unreadable:
            click.echo("no keysets")
        for item in scan.keysets:
            # A keyset without a primary key is listed too, so that it can be repaired.
            primary = next((k for k in item.keys if k.status == KeyStatus.PRIMARY), None)
            algorithm = primary.algorithm if primary is not None else "-"
            primary_id = primary.id if primary is not None else "none"
            click.echo(
                f"{item.name:24} {item.purpose:12} {algorithm:20} "
                f"primary={primary_id} keys={len(item.keys)}"
            )
    if scan.unreadable:
        for unreadable in scan.unreadable:
            kind = type(unreadable.error).__name__
            echo_error(as_json, kind, unreadable.reason, unreadable.fix, exit_code=1)
        sys.exit(1)


@keyset.command()
@click.argument("name")
@json_option
@keystore_option
def show(name: str, as_json: bool) -> None:
    """Show keyset NAME: its keys, their algorithms and statuses (no key material).

    \b
    Examples:
      agile keyset show files
      agile keyset show files --json
    """
    item = _open().keyset(name)
    if as_json:
        emit_json(item.describe())
    else:
        _print_keyset(item)


@keyset.command("add-key")
@click.argument("name")
@click.option(
    "--algorithm",
    metavar="ID",
    help="Algorithm id (default: the primary key's, if the policy still allows it for new "
    "keys, else the policy's preferred).",
)
@click.option("--promote", is_flag=True, help="Make the new key the primary key.")
@policy_option
@keystore_option
def add_key(name: str, algorithm: str | None, promote: bool, policy: str | None) -> None:
    """Generate a new key in keyset NAME and print its id.

    Without --algorithm the new key keeps the primary key's algorithm while the
    policy allows it, so that a post-quantum keyset does not turn classical
    because the policy prefers a classical algorithm.

    \b
    Examples:
      agile keyset add-key files
      agile keyset add-key files --algorithm x-wing --promote
    """
    key = _open().keyset(name).add_key(algorithm, promote=promote, policy=policy)
    click.echo(key.id)


@keyset.command()
@click.argument("name")
@click.argument("key_id")
@policy_option
@keystore_option
def promote(name: str, key_id: str, policy: str | None) -> None:
    """Make KEY_ID the primary key of keyset NAME.

    The previous primary key becomes enabled, even if it was decrypt-only before
    it was promoted. Set it to decrypt-only afterwards if it should no longer
    encrypt or sign. Prints one line per key whose status changed, such as
    "key ID of keyset NAME: enabled -> primary" and "key OLD of keyset NAME:
    primary -> enabled". A key that is primary already is left as it is
    ("already primary", exit code 0).

    \b
    Example:
      agile keyset promote files 6037a6ce79f21772
    """
    target = _open().keyset(name)
    before = {key.id: key.status for key in target.keys}
    promoted = target.promote(key_id, policy=policy)
    if before.get(promoted.id) == KeyStatus.PRIMARY:
        click.echo(f"key {promoted.id} of keyset {name}: already primary")
        return

    # The promoted key first, then the previous primary that it replaced.
    changed = sorted(
        (key for key in target.keys if before.get(key.id, key.status) != key.status),
        key=lambda key: key.id != promoted.id,
    )
    for key in changed:
        click.echo(f"key {key.id} of keyset {name}: {before[key.id].value} -> {key.status.value}")


@keyset.command("decrypt-only")
@click.argument("name")
@click.argument("key_id")
@keystore_option
def decrypt_only(name: str, key_id: str) -> None:
    """Let KEY_ID only decrypt or verify existing data.

    Prints one line, such as "key ID of keyset NAME: enabled -> decrypt-only". A key
    that has that status already is left as it is ("already STATUS", exit code 0).

    \b
    Example:
      agile keyset decrypt-only files 53926bf71eeaa636
    """
    _change_status(name, key_id, KeyStatus.DECRYPT_ONLY)


@keyset.command()
@click.argument("name")
@click.argument("key_id")
@keystore_option
def enable(name: str, key_id: str) -> None:
    """Set KEY_ID to enabled (usable, but not the primary key).

    Prints one line, such as "key ID of keyset NAME: disabled -> enabled". A key
    that has that status already is left as it is ("already STATUS", exit code 0).

    \b
    Example:
      agile keyset enable files 53926bf71eeaa636
    """
    _change_status(name, key_id, KeyStatus.ENABLED)


@keyset.command()
@click.argument("name")
@click.argument("key_id")
@click.option(
    "--force",
    is_flag=True,
    help="Disable the key even if an unfinished rotation run retires or promotes it; that run "
    "then fails on every object that still needs the key.",
)
@keystore_option
def disable(name: str, key_id: str, force: bool) -> None:
    """Disable KEY_ID: it can no longer decrypt, verify, encrypt or sign.

    Without --force, a key that an unfinished rotation run retires or promotes
    is not disabled: finish that run with 'agile rotate --resume', or end it
    with 'agile rotate --abandon', first. Only the rotation journal is read,
    because 'agile keyset decrypt-only' or 'enable' undoes the change. Prints one
    line, such as "key ID of keyset NAME: enabled -> disabled". A key that has
    that status already is left as it is ("already STATUS", exit code 0).

    \b
    Example:
      agile keyset disable files 53926bf71eeaa636
    """
    _change_status(name, key_id, KeyStatus.DISABLED, force=force)


@keyset.command()
@click.argument("name")
@click.argument("key_id")
@click.option(
    "--force",
    is_flag=True,
    help="Destroy the key even if it is not disabled, stored objects or an unfinished rotation "
    "need it, or a store cannot be read; those objects can then never be opened. Never "
    "destroys the primary key.",
)
@keystore_option
def destroy(name: str, key_id: str, force: bool) -> None:
    """Erase the private part of KEY_ID (its id, algorithm and public part remain).

    The primary key is never destroyed. Without --force the key must be
    disabled, every store registered with the keystore must be readable and
    none of its objects may name the key (as a recipient or a signer), and no
    unfinished rotation may need it, as for 'agile keyset remove-key'. The
    command reads the header of every stored object, and other changes to the
    keystore wait until it finishes.
    Prints one line, such as "key ID of keyset NAME: disabled -> destroyed". A key
    that has that status already is left as it is ("already STATUS", exit code 0).

    \b
    Examples:
      agile keyset disable files 53926bf71eeaa636
      agile keyset destroy files 53926bf71eeaa636
    """
    _change_status(name, key_id, KeyStatus.DESTROYED, force=force)


@keyset.command("remove-key")
@click.argument("name")
@click.argument("key_id")
@click.option(
    "--force",
    is_flag=True,
    help="Remove the key even if it is not disabled or destroyed, stored objects or an "
    "unfinished rotation need it, or a store cannot be read; those objects can then never be "
    "opened. Never removes the primary key.",
)
@keystore_option
def remove_key(name: str, key_id: str, force: bool) -> None:
    """Delete KEY_ID from keyset NAME, with its private part, so that it can be imported again.

    The primary key is never removed. Without --force the key must be disabled
    or destroyed, every store registered with the keystore must be readable and
    none of its objects may name the key (as a recipient or a signer), and no
    unfinished rotation may need it. The command reads the header of every
    stored object, and other changes to the keystore wait until it finishes.
    Prints one line, such as "key ID of keyset NAME: disabled -> removed".

    \b
    Examples:
      agile keyset disable files 53926bf71eeaa636
      agile keyset remove-key files 53926bf71eeaa636
    """
    removed = _open().keyset(name).remove_key(key_id, force=force)
    click.echo(f"key {removed.id} of keyset {name}: {removed.status.value} -> removed")


@keyset.command("import")
@click.argument("name")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--purpose",
    type=click.Choice(PURPOSES),
    help="Purpose of a new keyset (needed only when NAME does not exist yet).",
)
@click.option(
    "--format", "key_format", type=click.Choice(FORMATS), help="Key format (default: detect)."
)
@click.option("--algorithm", metavar="ID", help="Algorithm id (needed for raw and seed keys).")
@click.option(
    "--public/--private",
    "public_only",
    default=None,
    help="Raw bytes are a public or a private key (default: what they parse as; "
    "needed where both parse, as for x25519 and ed25519). With a PEM, DER or JWK "
    "private key, --public imports only its public part.",
)
@click.option("--promote", is_flag=True, help="Make the imported key the primary key.")
@click.option(
    "--key-id",
    metavar="ID",
    help="Key id to keep (default: a JWK's kid or a PEM Key-Id line, else a new id). Raw and "
    "seed bytes carry no id: pass the id the key has in its owner's keystore.",
)
@click.option(
    "--seal",
    "sealer",
    default="passphrase",
    show_default=True,
    type=click.Choice(list(SEALERS)),
    help="Sealer of a new keyset.",
)
@policy_option
@keystore_option
def import_key(
    name: str,
    file: BinaryIO,
    purpose: str | None,
    key_format: str | None,
    algorithm: str | None,
    public_only: bool | None,
    promote: bool,
    key_id: str | None,
    sealer: str,
    policy: str | None,
) -> None:
    """Import a key from FILE (PEM, DER, JWK, raw or seed) into keyset NAME and print its id.

    FILE - reads standard input. PEM and DER may also be an X.509 certificate,
    whose public key is imported. When NAME does not exist it is created with
    --purpose, and the imported key becomes its primary key.

    \b
    Examples:
      agile keyset import alice alice.pem --purpose kem
      agile keyset import partner partner.jwk --purpose signature
      openssl pkey -in encrypted.pem | agile keyset import mine - --purpose kem
      agile keyset import mine seed.bin --purpose kem --algorithm x-wing --format seed
      agile keyset import bob bob.pub --purpose kem --format raw --algorithm x-wing \\
          --public --key-id 6037a6ce79f21772
    """
    from agile.keys.transfer import parse_key

    # Key files are a few KiB. A cap stops a wrong FILE (a disk image, /dev/zero) from
    # being read into memory whole.
    data = file.read(_MAX_KEY_FILE + 1)
    if len(data) > _MAX_KEY_FILE:
        raise InvalidArgument(
            f"key file {file.name!r} is larger than {_MAX_KEY_FILE // 1024} KiB",
            fix="pass a PEM, DER, JWK, raw or seed key file",
        )
    store = _open(create=True)
    if name in store.keyset_names():
        existing = store.keyset(name)
        if purpose is not None and purpose != existing.purpose:
            # --purpose only matters when creating a keyset, so a different one means a wrong NAME.
            raise InvalidArgument(
                f"keyset {name!r} exists with purpose {existing.purpose}, not {purpose}",
                fix=f"leave out --purpose to add the key to {name!r}, or name a new keyset",
            )
        # Parsed here rather than by Keyset.import_key, to learn whether the file carries an id.
        parsed = parse_key(
            data, existing.purpose, format=key_format, algorithm=algorithm, public=public_only
        )
        key = existing.add_imported(
            parsed.algorithm,
            parsed.form,
            parsed.private,
            parsed.public,
            promote=promote,
            policy=policy,
            key_id=parsed.key_id if key_id is None else key_id,
        )
        click.echo(key.id)
        if key_id is None and parsed.key_id is None:
            _warn_new_key_id(key.id, key_format, existing.purpose)
        return
    if purpose is None:
        raise InvalidArgument(
            f"keyset {name!r} does not exist", fix="pass --purpose to create it from the key"
        )
    imported = parse_key(data, purpose, format=key_format, algorithm=algorithm, public=public_only)
    new_id = key_id is None and imported.key_id is None
    if key_id is not None:
        imported = replace(imported, key_id=key_id)
    created = store.create_keyset(name, purpose, sealer=sealer, policy=policy, first_key=imported)
    click.echo(created.primary.id)
    if new_id:
        _warn_new_key_id(created.primary.id, key_format, purpose)


def _warn_new_key_id(key_id: str, key_format: str | None, purpose: str) -> None:
    """Warn that an imported key got a new id, which the owner's keystore does not know.

    ``key_format`` is the --format option, None when the format was detected.
    Homomorphic keys get no warning: ``.he`` files name a key by a digest of
    its modulus, not by a keystore's key id.
    """
    if purpose == "homomorphic":
        return
    missing = {
        "raw": "raw key bytes carry no key id",
        "seed": "seed bytes carry no key id",
        "pem": "the PEM file has no 'Key-Id: ID' line",
        "der": "DER bytes carry no key id",
        "jwk": "the JWK has no kid",
    }.get(
        key_format or "",
        "the key file carries no key id (raw and seed bytes never do, a PEM file needs a "
        "'Key-Id: ID' line and a JWK a kid)",
    )
    click.echo(
        f"agile: warning: {missing}, so the key got the new id {key_id}; envelopes encrypted "
        f"to it and signatures made with it name {key_id}, which another keystore holding the "
        "same key does not find (fix: when the key comes from another keystore, import it with "
        "--key-id ID, the id it has there; 'agile keyset export-public' writes that id into "
        "PEM and JWK files and prints it for --format raw)",
        err=True,
    )


def _existing_seal(name: str) -> dict[str, Any] | None:
    """Return the sealed KEK of keyset NAME, or None when the keystore has no such keyset."""
    try:
        store = _open()
    except KeystoreError:
        # No keystore yet: the import creates it with the keyset.
        return None
    if name not in store.keyset_names():
        return None
    return store.keyset(name).seal_blob


import_key = add_sealer_options(import_key, existing_seal=_existing_seal)
keyset.add_command(reseal)


@keyset.command("export-public")
@click.argument("name")
@click.option("--key", "key_id", metavar="KEY_ID", help="Key to export (default: the primary).")
@click.option(
    "--format",
    "key_format",
    type=click.Choice(["pem", "der", "jwk", "raw"]),
    default="pem",
    show_default=True,
    help="Output encoding: pem or der (SubjectPublicKeyInfo), jwk, or raw key bytes.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Output file (default: stdout)."
)
@keystore_option
def export_public(name: str, key_id: str | None, key_format: str, output: str | None) -> None:
    """Write the public key of keyset NAME (the primary key unless --key).

    Some algorithms have no JWK encoding (X-Wing, ML-KEM, ML-DSA) or no PEM
    encoding (Paillier), so export those with --format pem or raw. X-Wing PEM
    uses the X-Wing draft's object identifier 1.3.6.1.4.1.62253.25722. An
    RSA-PSS key is exported as id-RSASSA-PSS with its SHA-256 parameters (PEM,
    DER) or with "alg": "PS256" (JWK), so that it can only be imported for
    signatures. PEM and JWK carry the key id (a Key-Id line, a kid); DER and
    raw bytes cannot, so --format der and raw print the id on standard error,
    for the importer's --key-id.

    \b
    Examples:
      agile keyset export-public releases -o releases.pem
      agile keyset export-public files --format raw -o files.pub
      agile keyset export-public releases --format der -o releases.der
    """
    if output is not None:
        check_output_path(output)
    item = _open().keyset(name)
    data = item.export_public(key_id, key_format)
    if key_format in ("raw", "der"):
        # Raw bytes and DER have no room for the key id, and an importer that does not keep
        # it encrypts to an id that this keystore does not hold.
        exported = item.primary if key_id is None else item.key(key_id)
        options = (
            f"--format raw --algorithm {exported.algorithm} --public"
            if key_format == "raw"
            else "--format der"
        )
        click.echo(
            f"agile: note: key id {exported.id} ({exported.algorithm}); {key_format} bytes do "
            f"not carry it, so import them with 'agile keyset import NAME FILE {options} "
            f"--key-id {exported.id}'",
            err=True,
        )
    if output is None and sys.stdout is None:
        raise InvalidArgument(
            "standard output is closed", fix="pass -o OUT, or connect standard output"
        )
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        target = resolve_output(output)
        check_output_path(str(target))
        atomic_write(target, data, mode=0o644)
