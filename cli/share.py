"""``agile share``: split a secret into Shamir shares and combine them again."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from agile.errors import InvalidArgument, InvalidShare, PolicyViolation
from agile.fsio import atomic_write
from agile.policy import Policy, active_policy, load_policy
from agile.sharing import gf256, share_format

from .common import check_distinct, check_output_path, keystore_path, policy_option
from .sealing import add_sealer_options, check_restore_options

__all__ = ["share"]

FORMATS = ("agile", "vault")
_format_option = click.option(
    "--format",
    "share_format_name",
    type=click.Choice(FORMATS),
    default="agile",
    show_default=True,
    help="agile: self-describing shares with threshold and integrity check; "
    "vault: HashiCorp Vault / pyshamir layout (hex of y bytes then x byte).",
)
_force_option = click.option(
    "--force",
    is_flag=True,
    help="Replace share files that exist already (never the input files).",
)


@click.group()
def share() -> None:
    """Split a secret into shares, any T of which recover it (Shamir over GF(2^8)).

    \b
    Examples:
      agile share split -t 3 -n 5 key.bin -o backup/key
      agile share combine backup/key-1 backup/key-4 backup/key-5 -o key.bin
      agile share split --format vault -t 2 -n 3 key.bin -o vault/key
    """


def _read_secret(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


@share.command()
@click.option("-t", "--threshold", type=int, required=True, help="Shares needed to recover.")
@click.option("-n", "--shares", "count", type=int, required=True, help="Shares to write (<= 255).")
@_format_option
@click.option(
    "-o",
    "--output",
    "prefix",
    default=None,
    metavar="PREFIX",
    help="Write share i to PREFIX-i (mode 0600), one share per file, in a folder that exists; "
    "with --keyset the default PREFIX is the keyset name.",
)
@click.option(
    "--keyset",
    metavar="NAME",
    default=None,
    help="Split the key-encryption key of this keyset (key escrow) instead of FILE.",
)
@_force_option
@policy_option
@click.argument("secret_file", metavar="[FILE]", required=False)
def split(
    threshold: int,
    count: int,
    share_format_name: str,
    prefix: str | None,
    keyset: str | None,
    force: bool,
    policy: str | None,
    secret_file: str | None,
) -> None:
    """Split the bytes of FILE ('-' for stdin), or a keyset's KEK, into shares.

    Share files that exist already are refused unless --force is given, so
    that a second split does not replace the shares of another secret.

    \b
    Examples:
      agile share split -t 3 -n 5 key.bin -o backup/key
      head -c 32 /dev/urandom | agile share split -t 2 -n 3 - -o /tmp/s --format vault
      agile share split --keyset payments -t 3 -n 5 -o escrow/payments
    """
    if (keyset is None) == (secret_file is None):
        raise click.UsageError("give either FILE or --keyset NAME")
    if prefix is None:
        if keyset is None:
            raise click.UsageError("give the share file prefix with -o PREFIX")
        prefix = keyset
    if prefix == "-":
        # Every share goes to its own file, so '-' would only make files named '--1', '--2'.
        raise click.UsageError(
            "-o - (stdout) does not apply to split, which writes one file per share; "
            "give a file prefix such as -o backup/key"
        )
    paths = [f"{prefix}-{index}" for index in range(1, max(count, 0) + 1)]
    _check_share_outputs(paths, [] if secret_file is None else [secret_file], force)
    if keyset is not None:
        if share_format_name != "agile":
            raise click.UsageError("--keyset writes agile shares only; drop --format vault")
        from agile.keys import Keystore
        from mpc.escrow import split_keyset

        # The KEK is opened with the password KDF of its passphrase seal, if it has one.
        store = Keystore.open(keystore_path(), create=False)
        store.policy(policy).enforce_keyset_open(
            keyset, store.keyset(keyset).seal_blob, "split it into shares"
        )
        _enforce_split(_policy(policy))
        items = split_keyset(keystore_path(), keyset, threshold, count, policy=policy)
        lines = [share_format.encode_text(item) for item in items]
        _write_shares(prefix, lines)
        return
    _enforce_split(_policy(policy))
    if share_format_name == "agile":
        secret = _read_secret(str(secret_file))
        items = share_format.split(secret, threshold, count)
        lines = [share_format.encode_text(item) for item in items]
    else:
        secret = _read_secret(str(secret_file))
        lines = [gf256.to_vault(item).hex() for item in gf256.split(secret, threshold, count)]
    _write_shares(prefix, lines)


def _enforce_split(policy: Policy) -> None:
    """Raise PolicyViolation unless ``policy`` allows new shares of shamir-gf256.

    Both formats, and the shares of a keyset's KEK, use shamir-gf256, and split
    has no option for another scheme, so the fix cannot be to choose one.
    """
    try:
        policy.enforce("encrypt", share_format.ALGORITHM)
    except PolicyViolation as violation:
        raise PolicyViolation(
            f"'agile share split' has no option for a scheme other than "
            f"{share_format.ALGORITHM}, and {violation}",
            fix=f"allow {share_format.ALGORITHM!r} in [secret-sharing] of policy "
            f"{policy.name!r}, or pass --policy with a policy that allows it",
            reasons=violation.reasons,
        ) from None


def _check_share_outputs(paths: list[str], inputs: list[str], force: bool) -> None:
    """Raise InvalidArgument before anything is written when a share file may not be written.

    An input file is never replaced, even with --force, and a missing folder is
    not created: a mistyped prefix would otherwise scatter shares where no one
    looks for them.
    """
    existing = []
    for path in paths:
        check_output_path(path)
        for source in inputs:
            if source != "-":
                check_distinct(source, path)
        if os.path.lexists(path):
            existing.append(path)
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise InvalidArgument(
            f"share file {existing[0]!r}{more} exists already",
            fix="choose another prefix with -o, or pass --force to replace the shares",
        )


def _write_shares(prefix: str, lines: list[str]) -> None:
    for index, line in enumerate(lines, start=1):
        path = f"{prefix}-{index}"
        atomic_write(path, (line + "\n").encode("ascii"))
        click.echo(path)


def _read_shares(paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return (source name, share text) pairs from files, or from stdin lines when no files."""
    items = []
    for path in paths or ("-",):
        if path == "-":
            # Standard input contains one share per line, and may appear once among the files.
            lines = [line.strip() for line in sys.stdin.read().splitlines()]
            items += [(f"stdin line {n}", line) for n, line in enumerate(lines, 1) if line]
            continue
        # utf-8-sig drops the byte order mark that some editors write before the text.
        text = Path(path).read_bytes().decode("utf-8-sig", errors="replace").strip()
        items.append((path, text))
    return items


def _decode_agile(source: str, text: str) -> share_format.AgileShare:
    try:
        return share_format.parse(text)
    except InvalidShare as error:
        raise InvalidShare(f"{source}: {error}", fix=error.fix) from None


def _decode_agile_all(items: list[tuple[str, str]]) -> list[tuple[str, share_format.AgileShare]]:
    """Decode every share; name a share shorter than another one given as truncated.

    A share cut at a length that a share could have fails only its checksum, because
    its header does not record its length.  The shares of one split all have one
    length, so a failing share shorter than a valid one given is named as truncated.
    """
    decoded = []
    failures = []
    lengths = [0]
    for source, text in items:
        try:
            decoded.append((source, _decode_agile(source, text)))
        except InvalidShare as failure:
            failures.append((source, text, failure))
        else:
            lengths.append(share_format.text_body_length(text) or 0)
    if not failures:
        return decoded
    source, text, first_failure = failures[0]
    length = share_format.text_body_length(text)
    longest = max(lengths)
    if length is not None and length < longest:
        raise InvalidShare(
            f"{source} is truncated: its share text has {length} base32 characters, and a "
            f"valid share given has {longest}",
            fix="copy the whole share",
        )
    raise first_failure


def _decode_vault(source: str, text: str) -> gf256.Share:
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise InvalidShare(
            f"{source} is not hex text",
            fix="give Vault shares as hex, one per file or line",
        ) from None
    try:
        return gf256.from_vault(data)
    except InvalidShare as error:
        raise InvalidShare(f"{source}: {error}", fix=error.fix) from None


def _check_sources(shares: Sequence[tuple[str, share_format.AgileShare | gf256.Share]]) -> None:
    """Raise :class:`InvalidShare` naming the files of a repeated index, another split or length.

    The library checks the same, but names shares by index only, and two files
    from different splits often carry the same index.
    """
    if not shares:
        return
    first_source, first = shares[0]
    seen: dict[int, str] = {}
    for source, share in shares:
        if (
            isinstance(share, share_format.AgileShare)
            and isinstance(first, share_format.AgileShare)
            and share.secret_id != first.secret_id
        ):
            raise InvalidShare(
                f"{source} belongs to secret {share.secret_id.hex()}, {first_source} to "
                f"secret {first.secret_id.hex()}",
                fix="combine only shares of one split",
            )
        if share.index in seen:
            raise InvalidShare(
                f"{source} and {seen[share.index]} both hold share {share.index}",
                fix="give each share once; a copy adds no information",
            )
        if len(share.value) != len(first.value):
            raise InvalidShare(
                f"{source} has {len(share.value)} value bytes, {first_source} has "
                f"{len(first.value)}",
                fix="combine only shares of one split; a shorter share may be truncated",
            )
        seen[share.index] = source


def _check_secret_output(output: str, share_files: tuple[str, ...], force: bool) -> None:
    """Raise InvalidArgument when -o of combine would replace a share, or has no folder."""
    check_output_path(output)
    for source in share_files:
        if source != "-":
            check_distinct(source, output)
    held_format = None if force else _held_share_format(output)
    if held_format is not None:
        article = "an agile" if held_format == "agile" else "a Vault"
        raise InvalidArgument(
            f"output {output!r} contains {article} share",
            fix="choose another output path with -o, or pass --force to replace it",
        )


#: Bytes of an existing -o file that combine reads to tell whether it contains a share.
_SHARE_PEEK = 64 * 1024


def _held_share_format(path: str) -> str | None:
    """Return the format ("agile" or "vault") of the one share the file ``path`` contains.

    Every format is checked, whatever --format is, so that combining Vault shares
    does not replace an agile share file, nor the reverse.
    """
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as file:
            data = file.read(_SHARE_PEEK + 1)
    except OSError:
        return None
    text = data.decode("utf-8-sig", errors="replace").strip()
    if share_format.is_share_text(text):
        return "agile"
    # NOTE: a Vault share (hex) or an agile share in hex of a secret over about 32 KiB is
    # longer than the bytes read here, so it is not recognised and may be replaced.
    if len(data) > _SHARE_PEEK or not text:
        return None
    with contextlib.suppress(InvalidShare, ValueError):
        share_format.parse(text)
        return "agile"
    with contextlib.suppress(InvalidShare, ValueError):
        gf256.from_vault(bytes.fromhex(text))
        return "vault"
    return None


def _policy(name: str | None) -> Policy:
    """Return the policy of --policy, else the keystore's active one (``default`` without one)."""
    if name is not None:
        return load_policy(name)
    return active_policy(keystore_path())


@share.command()
@_format_option
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="FILE",
    help="Write the secret here (0600); '-' for stdout.",
)
@click.option(
    "--keyset",
    metavar="NAME",
    default=None,
    help="Restore this keyset's KEK from the shares and seal it again (instead of -o).",
)
@click.option(
    "--seal",
    "sealer",
    metavar="SEALER",
    default=None,
    help="With --keyset: the sealer for the restored KEK (default: the keyset's current one).",
)
@_force_option
@policy_option
@click.argument("share_files", nargs=-1, metavar="SHARE...")
def combine(
    share_format_name: str,
    output: str | None,
    keyset: str | None,
    sealer: str | None,
    force: bool,
    policy: str | None,
    share_files: tuple[str, ...],
) -> None:
    """Recover the secret from share files ('-' or none: stdin, one share per line).

    In agile format fewer shares than the threshold, shares of different
    secrets and altered shares are errors.  Vault shares carry no threshold or
    check: too few of them give a wrong secret without an error.  -o never
    names one of the share files given, and replaces another share file only
    with --force.

    \b
    Examples:
      agile share combine backup/key-1 backup/key-3 backup/key-4 -o key.bin
      cat shares.txt | agile share combine --format vault -o key.bin
      AGILE_PASSPHRASE=new agile share combine --keyset payments escrow/payments-{1,2,5}
    """
    if (keyset is None) == (output is None):
        raise click.UsageError("give either -o FILE or --keyset NAME")
    if output is not None and output != "-":
        _check_secret_output(output, share_files, force)
    items = _read_shares(share_files)
    if keyset is not None:
        if share_format_name != "agile":
            raise click.UsageError("--keyset reads agile shares only; drop --format vault")
        from mpc.escrow import restore_keyset

        shares = [share for _, share in _decode_agile_all(items)]
        # add_sealer_options exports the sealer options as their variables for this call.
        chosen = restore_keyset(keystore_path(), keyset, shares, sealer, policy=policy)
        click.echo(f"keyset {keyset}: KEK restored and sealed with {chosen}")
        return
    _policy(policy).enforce("decrypt", share_format.ALGORITHM)
    if share_format_name == "agile":
        agile_shares = _decode_agile_all(items)
        _check_sources(agile_shares)
        secret = share_format.combine([share for _, share in agile_shares])
    else:
        vault_shares = [(source, _decode_vault(source, text)) for source, text in items]
        _check_sources(vault_shares)
        secret = gf256.combine([share for _, share in vault_shares])
    if output == "-":
        sys.stdout.buffer.write(secret)
        sys.stdout.buffer.flush()
    else:
        atomic_write(str(output), secret)


# The sealer options (--pcrs, --sss-members, --pkcs11-module, ...) for combine --keyset --seal.
combine = add_sealer_options(combine, check=check_restore_options)
