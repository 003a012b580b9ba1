"""``agile encrypt|decrypt|sign|verify|inspect``: envelopes on files and pipes.

Decrypting to a file (``-o``) writes a temporary file beside it and renames it
only after the last chunk authenticated, so a failure leaves no output file.
Decrypting to standard output writes each chunk once it has authenticated.  If
a later chunk fails, the command exits with code 2 after the earlier chunks
were written.  When standard output is a regular file, a failure truncates it
back to its size or offset at the start, whichever is larger, so the bytes the
file had are kept.  Only pipes, and a file opened read-write before its end
(``1<>FILE``), whose overwritten bytes cannot be restored, can carry partial plaintext.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

from agile import envelope
from agile.envelope.format import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_HEADER, MIN_CHUNK_SIZE
from agile.envelope.recipients import stanza_suite
from agile.errors import InvalidArgument
from agile.fsio import descriptor_of, fsync_directory
from agile.keys import Keystore

from .common import (
    check_distinct,
    check_output_path,
    emit_json,
    is_special_file,
    json_option,
    keystore_option,
    keystore_path,
    policy_option,
    resolve_output,
)


def _open_keystore() -> Keystore:
    # Encrypting, decrypting, signing and verifying all need keysets that exist already.
    return Keystore.open(keystore_path(), create=False)


def _aad_bytes(aad: str) -> bytes:
    """Return the --aad argument as the bytes that were typed, UTF-8 or not.

    Python decodes invalid UTF-8 arguments with surrogate escapes, and os.fsencode reverses that.
    """
    return os.fsencode(aad)


@contextlib.contextmanager
def _input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        if sys.stdin is None:
            raise InvalidArgument(
                "standard input is closed", fix="pass IN as a file, or connect standard input"
            )
        yield sys.stdin.buffer
        return
    if os.path.isdir(path):
        raise InvalidArgument(
            f"input {path!r} is a directory",
            fix="pass a file or - for standard input, and archive a folder with tar first",
        )
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InvalidArgument(
            f"input {path!r} does not exist", fix="check the path, or pass - for standard input"
        ) from None
    with handle:
        yield handle


def _is_stdin(stream: BinaryIO) -> bool:
    """Return whether ``stream`` is standard input, which click's File opens for '-'."""
    return stream is sys.stdin.buffer or getattr(stream, "name", None) == "<stdin>"


@contextlib.contextmanager
def _atomic_output(path: str, mode: int) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``path``; rename it over ``path`` only on success."""
    check_output_path(path)
    target = resolve_output(path)
    if target != Path(path):
        check_output_path(str(target))
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        # The temporary file's name would mean nothing to the user, so name the output.
        raise InvalidArgument(
            f"cannot create output {path!r}: {error.strerror or error}",
            fix=f"choose a folder you can write to, or check the permissions of {str(directory)!r}",
        ) from None
    os.fchmod(fd, mode)
    handle = os.fdopen(fd, "wb")
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temporary, target)
        fsync_directory(directory)
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _stdout_output() -> Iterator[BinaryIO]:
    """Yield stdout; on failure truncate it back when it is a regular file."""
    if sys.stdout is None:
        raise InvalidArgument(
            "standard output is closed", fix="pass -o OUT, or connect standard output"
        )
    with _descriptor_output(sys.stdout.buffer) as out:
        yield out


@contextlib.contextmanager
def _descriptor_output(out: BinaryIO) -> Iterator[BinaryIO]:
    """Yield an open descriptor's stream; on failure truncate it back when it is a regular file."""
    start = None
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        status = os.fstat(out.fileno())
        if stat.S_ISREG(status.st_mode):
            # Never below the file's size: under '>>' the offset stays 0 until the first
            # write, and under '1<>FILE' the bytes after the offset are not this command's.
            start = max(os.lseek(out.fileno(), 0, os.SEEK_CUR), status.st_size)
    try:
        yield out
        out.flush()
    except BaseException:
        if start is not None:
            with contextlib.suppress(OSError, ValueError):
                out.flush()
            with contextlib.suppress(OSError, ValueError):
                if os.fstat(out.fileno()).st_size > start:
                    os.ftruncate(out.fileno(), start)
        raise


@contextlib.contextmanager
def _duplicate_output(descriptor: int) -> Iterator[BinaryIO]:
    """Yield a stream on a copy of an open descriptor, closed (the copy only) at the end."""
    with os.fdopen(os.dup(descriptor), "wb") as out, _descriptor_output(out) as stream:
        yield stream


@contextlib.contextmanager
def _device_output(path: str) -> Iterator[BinaryIO]:
    """Yield a device or named pipe opened for writing, which behaves like standard output."""
    with open(path, "wb") as handle:
        yield handle


#: errno values that only a write raises: a full disk or quota, a file too large, a read-only
#: file system. Errors with these numbers carry no file name, so the output is named for them.
_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


@contextlib.contextmanager
def _output(path: str | None, mode: int) -> Iterator[BinaryIO]:
    manager: contextlib.AbstractContextManager[BinaryIO]
    descriptor = None if path is None or path == "-" else descriptor_of(path)
    if path is None or path == "-" or descriptor == 1:
        manager = _stdout_output()
    elif descriptor is not None:
        # -o /dev/fd/3 or /dev/stderr: write through the descriptor, which the shell
        # opened, and never replace the file behind it.
        manager = _duplicate_output(descriptor)
    elif is_special_file(path):
        # -o /dev/null or a named pipe: there is no file to replace atomically, and a rename
        # would swap the device for a regular file that contains the output.
        manager = _device_output(path)
    else:
        manager = _atomic_output(path, mode)
    try:
        with manager as stream:
            yield stream
    except OSError as error:
        if error.filename is not None or error.errno not in _WRITE_ERRORS:
            raise
        name = "standard output" if path is None or path == "-" else path
        raise OSError(error.errno, error.strerror, name) from None


@click.command()
@click.option(
    "--to",
    "recipients",
    multiple=True,
    required=True,
    metavar="KEYSET",
    help="Recipient keyset (repeat for several).",
)
@click.option("-o", "--output", metavar="OUT", help="Output file (default: stdout).")
@click.option("--armor", is_flag=True, help="Write ASCII armour instead of binary.")
@click.option("--aad", default="", metavar="TEXT", help="Associated data that decrypt must repeat.")
@click.option(
    "--payload-algorithm", metavar="ID", help="Payload AEAD (default: the policy's preferred)."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
    default=DEFAULT_CHUNK_SIZE,
    show_default=True,
    help="Plaintext bytes per authenticated chunk.",
)
@click.argument("source", metavar="[IN|-]", default="-")
@policy_option
@keystore_option
def encrypt(
    recipients: tuple[str, ...],
    output: str | None,
    armor: bool,
    aad: str,
    payload_algorithm: str | None,
    chunk_size: int,
    source: str,
    policy: str | None,
) -> None:
    """Encrypt IN (a file, or - for stdin) to the primary keys of the --to keysets.

    \b
    Examples:
      agile encrypt --to files -o report.pdf.agile report.pdf
      tar c docs | agile encrypt --to files --to backup > docs.tar.agile
    """
    check_distinct(source, output)
    store = _open_keystore()
    keysets = [store.keyset(name) for name in recipients]
    with _input(source) as reader, _output(output, 0o644) as writer:
        envelope.encrypt_stream(
            reader,
            writer,
            keysets,
            policy=policy,
            aad=_aad_bytes(aad),
            chunk_size=chunk_size,
            payload_algorithm=payload_algorithm,
            armor=armor,
        )


@click.command()
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    help="Output file, created only if the whole envelope authenticates (default: stdout).",
)
@click.option("--aad", default="", metavar="TEXT", help="Associated data given to encrypt.")
@click.argument("source", metavar="[IN|-]", default="-")
@policy_option
@keystore_option
def decrypt(output: str | None, aad: str, source: str, policy: str | None) -> None:
    """Decrypt IN (binary or armoured) with a key from the keystore.

    To stdout, each chunk is written once it authenticates; a later failure
    exits with code 2 (a regular file on stdout is truncated back).

    \b
    Examples:
      agile decrypt -o report.pdf report.pdf.agile
      agile decrypt < docs.tar.agile | tar x
    """
    check_distinct(source, output)
    store = _open_keystore()
    with _input(source) as reader, _output(output, 0o600) as writer:
        envelope.decrypt_stream(reader, writer, store, policy=policy, aad=_aad_bytes(aad))


@click.command()
@click.option(
    "--keyset",
    "keysets",
    multiple=True,
    required=True,
    metavar="NAME",
    help="Signing keyset (repeat to dual-sign, e.g. classical and post-quantum).",
)
@click.option("-o", "--output", required=True, metavar="SIG", help="Signature file to write.")
@click.option("--armor", is_flag=True, help="Write ASCII armour instead of binary.")
@click.argument("source", metavar="IN")
@policy_option
@keystore_option
def sign(
    keysets: tuple[str, ...], output: str, armor: bool, source: str, policy: str | None
) -> None:
    """Write a detached signature of IN by the primary key of each --keyset.

    \b
    Example:
      agile sign --keyset release-ed25519 --keyset release-mldsa app.tar -o app.tar.sig
    """
    check_distinct(source, output)
    store = _open_keystore()
    # Each keyset signs once, so naming one twice adds no second signature by the same key.
    signers = [store.keyset(name) for name in dict.fromkeys(keysets)]
    with _input(source) as reader:
        data = envelope.sign(reader, signers, policy=policy, armor=armor)
    with _output(output, 0o644) as writer:
        writer.write(data)


@click.command()
@click.option(
    "--signature",
    "signature_file",
    required=True,
    type=click.File("rb"),
    metavar="SIG",
    help="Signature envelope written by 'agile sign'.",
)
@click.argument("source", metavar="IN")
@policy_option
@json_option
@keystore_option
def verify(
    signature_file: io.BufferedReader, source: str, policy: str | None, as_json: bool
) -> None:
    """Verify IN against a detached signature; exit 1 if a signature is invalid.

    \b
    Example:
      agile verify --signature app.tar.sig app.tar
    """
    if source == "-" and _is_stdin(signature_file):
        raise InvalidArgument(
            "the signature and IN cannot both be standard input",
            fix="pass the signature file with --signature SIG, or IN as a file",
        )
    # A signature envelope is all header, so its armoured form is at most 4/3 of
    # MAX_HEADER plus line breaks. The cap stops a wrong SIG (/dev/zero) from filling memory.
    limit = MAX_HEADER * 3 // 2
    signature = signature_file.read(limit + 1)
    if len(signature) > limit:
        raise InvalidArgument(
            f"signature file {signature_file.name!r} is larger than any signature envelope "
            f"({limit} bytes)",
            fix="pass the file that 'agile sign' wrote",
        )
    store = _open_keystore()
    with _input(source) as reader:
        report = envelope.verify_report(signature, reader, store, policy=policy)
    if as_json:
        emit_json(
            {
                "verified": [
                    {"key_id": v.key_id, "algorithm": v.algorithm, "keyset": v.keyset}
                    for v in report.verified
                ],
                "ignored": [
                    {"key_id": i.key_id, "algorithm": i.algorithm, "reason": i.reason}
                    for i in report.ignored
                ],
            }
        )
        return
    for item in report.verified:
        click.echo(f"good signature by key {item.key_id} ({item.algorithm}, keyset {item.keyset})")
    for ignored in report.ignored:
        click.echo(f"not checked: key {ignored.key_id} ({ignored.algorithm}): {ignored.reason}")


@click.command()
@click.argument("source", metavar="FILE")
@json_option
def inspect(source: str, as_json: bool) -> None:
    """Print an envelope's header: version, payload AEAD and recipients (no key needed).

    Each HPKE or KEM transport recipient shows the KDF and AEAD that protect
    the data key in its stanza. Armoured input is read to its END line, so
    damaged armour fails here too. Only decrypt checks the payload itself.

    \b
    Example:
      agile inspect report.pdf.agile --json
    """
    with _input(source) as reader:
        header = envelope.read_header(reader, check_armour=True)
    info = header.to_dict()
    if as_json:
        emit_json(info)
        return
    click.echo(f"agile envelope v{header.version} ({header.kind})")
    if header.kind == "encrypted":
        click.echo(f"payload: {header.payload_algorithm}, chunks of {header.chunk_size} bytes")
        for stanza in header.recipients:
            suite = stanza_suite(stanza)
            wrapping = f", kdf {suite[0]}, aead {suite[1]}" if suite is not None else ""
            click.echo(f"recipient: {stanza.key_id} ({stanza.algorithm}{wrapping})")
    else:
        for entry in header.signatures:
            click.echo(f"signature: {entry.key_id} ({entry.algorithm})")
