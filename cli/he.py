"""``agile he``: encrypt numbers under a homomorphic keyset, sum them without a key, decrypt.

Values are packed several per Paillier ciphertext (see :mod:`he.packing`), so a
file of 500 numbers costs about 21 encryptions with a 2048-bit key.  ``he`` and
the keystore are imported inside the commands to keep start-up short.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agile.errors import (
    HomomorphicError,
    InvalidArgument,
    KeyNotFound,
    KeysetError,
    PlaintextOverflow,
)
from agile.fsio import atomic_write

from .common import check_distinct, emit_json, json_option, keystore_path, policy_option

if TYPE_CHECKING:
    from he.keys import PaillierPrivateKey, PaillierPublicKey

__all__ = ["he"]

#: Mode of encrypted-number files: they hold no secret.
PUBLIC_MODE = 0o644


@click.group()
def he() -> None:
    """Sum numbers without decrypting them (Paillier, packed slots).

    \b
    Examples:
      agile keyset create sales --purpose homomorphic --algorithm paillier-3072
      agile he encrypt --keyset sales --precision 3 shop1.csv -o shop1.he
      agile he aggregate shop1.he shop2.he shop3.he -o total.he
      agile he decrypt --keyset sales total.he
    """


def _read_text(path: str) -> str:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")  # without the byte order mark of spreadsheet exports
    except UnicodeDecodeError as error:
        raise InvalidArgument(
            f"{path} is not UTF-8 text (byte {error.start} is {data[error.start]:#04x})",
            fix="give a CSV text file of comma-separated numbers",
        ) from None


def _read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _load(path: str) -> Any:
    """Return serialize.loads() of the file, with its path in any error message."""
    from he import serialize

    try:
        return serialize.loads(_read_bytes(path))
    except (InvalidArgument, HomomorphicError) as error:
        # The same class and fix keep the exit code, and the path names the bad input.
        raise type(error)(f"{path}: {error}", fix=error.fix) from None


#: A CSV field: ASCII digits with an optional sign and decimal point, as ``agile mpc`` reads
#: integers.  Decimal() alone would also accept "1_000", "1e3", "Infinity" and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def parse_csv(
    text: str, source: str, precision: int | None
) -> tuple[list[Decimal], list[int], list[int]]:
    """Return the numbers of a CSV text, its row lengths and the line number of each row.

    Blank lines are skipped, so the line numbers are those of the file.
    """
    values: list[Decimal] = []
    shape: list[int] = []
    lines: list[int] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = []
        for field in line.split(","):
            text_value = field.strip()
            if not _NUMBER.fullmatch(text_value):
                from he.encoding import brief_repr

                raise InvalidArgument(
                    f"{source}:{line_number}: {brief_repr(text_value)} is not a number",
                    fix="write one number per field, comma-separated, in ASCII digits with an "
                    "optional sign and decimal point, like 12 or -3.25",
                )
            value = Decimal(text_value)
            if precision is None and value != value.to_integral_value():
                from he.encoding import brief_repr

                raise InvalidArgument(
                    f"{source}:{line_number}: {brief_repr(text_value)} has decimals but no "
                    "--precision was given",
                    fix="pass --precision with the number of decimal digits to keep",
                )
            row.append(value)
        values.extend(row)
        shape.append(len(row))
        lines.append(line_number)
    if not values:
        raise InvalidArgument(f"{source} contains no numbers", fix="write at least one number")
    return values, shape, lines


def _locate_overflow(
    error: PlaintextOverflow, scheme: Any, values: list[Decimal], shape: list[int],
    lines: list[int], source: str,
) -> PlaintextOverflow:  # fmt: skip
    """Return ``error`` prefixed with the file and line of the first value that overflows."""
    start = 0
    for width, line in zip(shape, lines, strict=True):
        try:
            scheme.encode_values(values[start : start + width])
        except PlaintextOverflow as row_error:
            return PlaintextOverflow(f"{source}:{line}: {row_error}", fix=row_error.fix)
        start += width
    return error


def _keyset(name: str) -> Any:
    from agile.keys import Keystore

    return Keystore.open(keystore_path(), create=False).keyset(name)


def _public_key(name: str, policy: str | None) -> PaillierPublicKey:
    keyset = _keyset(name)
    _check_homomorphic(keyset)
    key = keyset.primary
    keyset.keystore.policy(policy).enforce("encrypt", key.algorithm, key=key.meta())
    return _parse_public(key.public, key.algorithm)


def _parse_public(data: bytes, algorithm: str) -> PaillierPublicKey:
    # Parsed here rather than through the registry, whose first use imports every
    # provider; the bytes are the same compact encoding the gmpy2 provider reads.
    from he.keys import PaillierPublicKey, parameters_for

    return PaillierPublicKey.from_bytes(data, parameters_for(algorithm).bits)


def _private_key(name: str, key_id: str, policy: str | None) -> PaillierPrivateKey:
    keyset = _keyset(name)
    _check_homomorphic(keyset)
    for key in keyset.keys:
        if not key.algorithm.startswith("paillier-"):
            continue
        if _parse_public(key.public, key.algorithm).key_id != key_id:
            continue
        if not key.status.can_open:
            # The same lifecycle rule as envelopes: a disabled or destroyed key decrypts nothing.
            fix = f"let it decrypt again with 'agile keyset decrypt-only {name} {key.id}'"
            if key.status.value == "destroyed":
                fix = (
                    "its private part is erased: restore the keystore from a backup made "
                    "before it was destroyed ('agile keystore restore')"
                )
            raise KeysetError(
                f"key {key.id} of keyset {name!r} (Paillier key {key_id}) is {key.status.value}",
                fix=fix,
            )
        if key.sealed is None:
            raise KeyNotFound(
                f"key {key.id} of keyset {name!r} (Paillier key {key_id}) has no private part",
                fix="decrypt in the keystore that holds the private key",
            )
        active = keyset.keystore.policy(policy)
        active.enforce("decrypt", key.algorithm, key=key.meta())
        # Opening the KEK runs the keyset's password KDF, which the policy must allow.
        active.enforce_keyset_open(name, keyset.seal_blob, "decrypt these values")
        return keyset.private_key(key.id).handle  # type: ignore[no-any-return]
    raise KeyNotFound(
        f"keyset {name!r} has no private key for Paillier key {key_id}",
        fix="decrypt with the keyset the values were encrypted with",
    )


def _check_homomorphic(keyset: Any) -> None:
    if keyset.purpose != "homomorphic":
        raise InvalidArgument(
            f"keyset {keyset.name!r} has purpose {keyset.purpose}, not homomorphic",
            fix="create one with 'agile keyset create NAME --purpose homomorphic'",
        )


_format_option = click.option(
    "--format",
    "file_format",
    type=click.Choice(["json", "binary"]),
    default="json",
    show_default=True,
    help="Output file form: self-describing JSON, or the compact binary form.",
)


@he.command()
@click.option("--keyset", "keyset_name", required=True, metavar="NAME", help="Homomorphic keyset.")
@click.option(
    "--precision",
    type=click.IntRange(0, 30),
    default=None,
    help="Decimal digits kept per value (rounded half to even); without it, integers only.",
)
@click.option(
    "--value-bits",
    type=click.IntRange(2, 512),
    default=64,
    show_default=True,
    help="Signed bit width of one value times 10^precision.",
)
@click.option(
    "--max-additions",
    type=click.IntRange(0, 2**40),
    default=2**20 - 1,
    show_default=True,
    help="How many additions the total may take, so N + 1 files can be summed. It sets each "
    "slot's headroom.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes computing the random masks (default: one per CPU when there are 16 "
    "or more ciphertexts).",
)
@_format_option
@policy_option
@click.option(
    "-o", "--output", required=True, metavar="OUT", help="Encrypted output file ('-' for stdout)."
)
@click.argument("input_file", metavar="IN.csv")
def encrypt(
    keyset_name: str,
    precision: int | None,
    value_bits: int,
    max_additions: int,
    workers: int | None,
    file_format: str,
    policy: str | None,
    output: str,
    input_file: str,
) -> None:
    """Encrypt the numbers of IN.csv ('-' for stdin): one or more per line, comma-separated.

    \b
    Example:
      agile he encrypt --keyset sales --precision 3 shop1.csv -o shop1.he
    """
    from he import serialize
    from he.packing import PackingScheme, encrypt_vector

    check_distinct(input_file, output)
    values, shape, lines = parse_csv(_read_text(input_file), input_file, precision)
    public_key = _public_key(keyset_name, policy)
    scheme = PackingScheme(value_bits, max_additions, precision or 0)
    try:
        vector = encrypt_vector(public_key, values, scheme, workers=workers)
    except PlaintextOverflow as error:
        # Located only on failure, so that the values are encoded once when all fit.
        raise _locate_overflow(error, scheme, values, shape, lines, input_file) from None
    dump = serialize.dumps_binary if file_format == "binary" else serialize.dumps_json
    _write(output, dump(vector, shape), PUBLIC_MODE)


@he.command()
@_format_option
@click.option(
    "-o", "--output", required=True, metavar="OUT", help="Encrypted sum file ('-' for stdout)."
)
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
def aggregate(file_format: str, output: str, inputs: tuple[str, ...]) -> None:
    """Add encrypted files element by element; needs no key.

    \b
    Example:
      agile he aggregate shop1.he shop2.he shop3.he -o total.he
    """
    from he import serialize
    from he.packing import PackedVector, total

    for path in inputs:
        check_distinct(path, output)
    _check_distinct_inputs(inputs)
    vectors = []
    shapes = []
    # Fresh masks make two encryptions differ, so a ciphertext seen twice is one submission
    # given twice, which would be counted twice in the total.
    seen: dict[Any, str] = {}
    for path in inputs:
        item, shape = _load(path)
        if not isinstance(item, PackedVector):
            raise InvalidArgument(
                f"{path} contains single encrypted numbers, not a packed vector",
                fix="aggregate files written by 'agile he encrypt'",
            )
        for ciphertext in item.ciphertexts:
            if ciphertext in seen:
                raise InvalidArgument(
                    f"{path} and {seen[ciphertext]} contain the same ciphertext, so one "
                    "submission would be counted twice",
                    fix="give each encrypted file once; drop the copy",
                )
        seen.update(dict.fromkeys(item.ciphertexts, path))
        vectors.append(item)
        shapes.append(shape)
    for path, shape in zip(inputs, shapes, strict=True):
        if shape != shapes[0]:
            raise HomomorphicError(
                f"{path} has rows {shape}, {inputs[0]} has rows {shapes[0]}",
                fix="aggregate files of the same shape (same number of values per line)",
            )
    dump = serialize.dumps_binary if file_format == "binary" else serialize.dumps_json
    _write(output, dump(total(vectors), shapes[0]), PUBLIC_MODE)


@he.command()
@click.option("--keyset", "keyset_name", required=True, metavar="NAME", help="Homomorphic keyset.")
@policy_option
@click.option(
    "-o", "--output", default=None, metavar="OUT", help="Write the CSV (or JSON) here, not stdout."
)
@json_option
@click.argument("input_file", metavar="IN")
def decrypt(
    keyset_name: str, policy: str | None, output: str | None, as_json: bool, input_file: str
) -> None:
    """Decrypt an encrypted file and print its values as CSV, in the input's rows.

    \b
    Example:
      agile he decrypt --keyset sales total.he
    """
    from he.packing import PackedVector, decrypt_vector

    check_distinct(input_file, output)
    item, shape = _load(input_file)
    public = item.public_key if isinstance(item, PackedVector) else item[0].public_key
    private_key = _private_key(keyset_name, public.key_id, policy)
    try:
        if isinstance(item, PackedVector):
            values: list[Any] = decrypt_vector(private_key, item)
            terms = item.terms
        else:
            values = [private_key.decrypt(number) for number in item]
            terms = 1
    except (InvalidArgument, HomomorphicError) as error:
        # A modified ciphertext shows only at decryption, so the message names the file here too.
        raise type(error)(f"{input_file}: {error}", fix=error.fix) from None
    rows = _rows(values, shape or [len(values)])

    if as_json:
        document = {
            "key_id": public.key_id,
            "files_summed": terms,
            "rows": [[_text(value) for value in row] for row in rows],
        }
        if output is None:
            emit_json(document)
        else:
            # Written like the CSV output, in the layout that emit_json prints.
            _write(output, (json.dumps(document, indent=2) + "\n").encode(), 0o600)
        return
    text = "".join(",".join(_text(value) for value in row) + "\n" for row in rows)
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(output, text.encode(), 0o600)


def _check_distinct_inputs(inputs: tuple[str, ...]) -> None:
    """Raise InvalidArgument when two inputs of aggregate are one file (also through links)."""
    for index, path in enumerate(inputs):
        for earlier in inputs[:index]:
            same = path == earlier
            if not same and "-" not in (path, earlier):
                with contextlib.suppress(OSError):
                    same = os.path.samefile(path, earlier)
            if same:
                named = (
                    f"input {path!r} is given twice"
                    if path == earlier
                    else f"inputs {earlier!r} and {path!r} are one file"
                )
                raise InvalidArgument(
                    f"{named}, so its values would be counted twice",
                    fix="give each encrypted file once",
                )


def _write(output: str, data: bytes, mode: int) -> None:
    """Write ``data`` to the file ``output`` atomically with ``mode``, or to stdout for '-'."""
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write(output, data, mode=mode)


def _text(value: Any) -> str:
    # CPython's str() raises ValueError for an int of more than 4300 digits.
    # A Decimal of the same int prints every digit without that limit.
    if isinstance(value, int):
        return str(Decimal(value))
    # str() writes Decimal("0E-10") and Decimal("1E-10") in exponent notation. The "f"
    # format keeps the fixed-point digits of --precision ("0.0000000000", "0.0000000001").
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _rows(values: list[Any], shape: list[int]) -> list[list[Any]]:
    rows = []
    start = 0
    for width in shape:
        rows.append(values[start : start + width])
        start += width
    return rows
