"""Reader for the Paillier known-answer files of Apache Milagro crypto-c (``testVectors/paillier``).

A file is a list of records separated by blank lines, one ``NAME = VALUE,`` line
per field. ``TEST`` and ``RESULT`` are decimal, every other value is hexadecimal
and zero-padded to the width of its parameter (512 digits for a 2048-bit n).
The scheme is Paillier with g = n + 1, which is what the registry's
``paillier-*`` algorithms implement. The field names tell the operation:

- ``keygen``: P, Q -> N, G, LP (= P - 1), LQ (= Q - 1) and the CRT decryption
  constants MP, MQ; test 0 also carries Milagro's CSPRNG SEED, which is ignored.
- ``encrypt``: N, G, R, PLAINTEXT -> CIPHERTEXT = G^m * R^N mod N^2.
- ``decrypt``: P, Q (and LP, LQ, MP, MQ) and CIPHERTEXT -> PLAINTEXT.
- ``add``: N, CIPHERTEXT1, CIPHERTEXT2 -> CIPHERTEXT = CIPHERTEXT1 * CIPHERTEXT2 mod N^2.

Encrypt and add records carry Milagro's return code in RESULT: 0 makes the case
``valid``, any other value ``invalid``.

Each record is one case, run against every registered provider of
``paillier-<bits>`` through ``registry.homomorphic``, where bits is the width of
the file's n: keys load from N or P || Q, and encryption with the record's R,
decryption and addition use the provider's ``raw_`` operations on integers. A
modulus one bit shorter than that width (Milagro's test 0 has a 2047-bit n) is
outside the parameter set, because ``paillier-2048`` keys have a modulus of
exactly 2048 bits, so the case is skipped with that reason. A prime shorter than
its field, or an input N more than one bit shorter, makes the file damaged. No
interface exposes the CRT constants LP, LQ, MP and MQ, so they are counted
under ``not_checked`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import registry
from ..errors import UnsupportedAlgorithm, UnsupportedOperation, VectorFormatError
from ..registry.interfaces import HomomorphicScheme, KeyForm
from .hexfield import hex_problem
from .judge import judge
from .report import FileReport
from .targets import Selection

__all__ = ["detect", "run_file", "KINDS"]

FORMAT = "milagro-paillier"

#: Fields of one record for each operation. A keygen record may also carry SEED.
KINDS: dict[str, frozenset[str]] = {
    "keygen": frozenset({"TEST", "P", "Q", "N", "G", "LP", "LQ", "MP", "MQ"}),
    "encrypt": frozenset({"TEST", "N", "G", "R", "PLAINTEXT", "CIPHERTEXT", "RESULT"}),
    "decrypt": frozenset({"TEST", "P", "Q", "LP", "LQ", "MP", "MQ", "CIPHERTEXT", "PLAINTEXT"}),
    "add": frozenset({"TEST", "N", "CIPHERTEXT1", "CIPHERTEXT2", "CIPHERTEXT", "RESULT"}),
}
_OPTIONAL = frozenset({"SEED"})
_DECIMAL_FIELDS = frozenset({"TEST", "RESULT"})
#: A decimal field's text. int() alone would also take a sign and underscores.
_DECIMAL = re.compile(r"[0-9]+")

#: Bytes read to detect the format. The first record of a 4096-bit add file would be ~7.2 KB.
_DETECT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One test record: its fields as text, and the line where it starts."""

    fields: dict[str, str]
    line: int

    @property
    def case(self) -> str:
        return f"test {self.fields['TEST']}"

    def integer(self, name: str) -> int:
        base = 10 if name in _DECIMAL_FIELDS else 16
        return int(self.fields[name], base)

    def width(self, name: str) -> int:
        """Return the bit width of a zero-padded hexadecimal field."""
        return 4 * len(self.fields[name])


def _split(line: str) -> tuple[str, str] | None:
    name, separator, value = line.strip().partition(" = ")
    if not separator:
        return None
    return name.strip(), value.strip().rstrip(",").strip()


def detect(path: Path) -> str | None:
    """Return the operation of a Milagro Paillier file (keygen, encrypt, ...) or None."""
    if path.suffix != ".txt":
        return None
    try:
        with path.open(encoding="ascii") as stream:
            head = stream.read(_DETECT_BYTES)
    except (OSError, UnicodeDecodeError):
        return None

    # The field names of the first record identify the operation.
    names: set[str] = set()
    for line in head.splitlines():
        if not line.strip():
            if names:
                break
            continue
        field = _split(line)
        if field is None:
            return None
        names.add(field[0])
    for kind, expected in KINDS.items():
        if names - _OPTIONAL == expected:
            return kind
    return None


def _records(path: Path, kind: str) -> list[Record]:
    records: list[Record] = []
    fields: dict[str, str] = {}
    start = 0
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    for number, line in enumerate([*lines, ""], start=1):
        if not line.strip():
            if fields:
                records.append(_checked(path, kind, Record(fields, start)))
                fields = {}
            continue
        field = _split(line)
        if field is None:
            raise VectorFormatError(
                f"{path}:{number}: expected a 'NAME = VALUE,' line, got {line.strip()[:40]!r}",
                fix="restore the file from its source, or leave it out of the paths",
            )
        name, value = field
        if name in _DECIMAL_FIELDS:
            notation = "decimal"
            problem = None if _DECIMAL.fullmatch(value) else "it must be digits 0-9 only"
        else:
            notation = "hexadecimal"
            found = hex_problem(value) if value else "is empty"
            problem = None if found is None else f"it {found}"
        if problem is not None:
            raise VectorFormatError(
                f"{path}:{number}: field {name!r} is not {notation}: {problem}",
                fix="restore the file from its source, or leave it out of the paths",
            )
        if not fields:
            start = number
        fields[name] = value
    return records


def _checked(path: Path, kind: str, record: Record) -> Record:
    missing = sorted(KINDS[kind] - set(record.fields))
    if missing:
        raise VectorFormatError(
            f"{path}:{record.line}: {record.case}: missing field {missing[0]!r}",
            fix="restore the file from its source, or leave it out of the paths",
        )

    # The widths set the parameter size, so P and Q must be whole bytes of equal width
    # and N twice as wide.
    if "P" in record.fields:
        prime_width = record.width("P")
        consistent = prime_width % 8 == 0 and record.width("Q") == prime_width
        if "N" in record.fields:
            consistent = consistent and record.width("N") == 2 * prime_width
        if not consistent:
            raise VectorFormatError(
                f"{path}:{record.line}: {record.case}: P and Q must have equal widths in "
                "whole bytes and N twice their width",
                fix="restore the file from its source, or leave it out of the paths",
            )
    _check_sizes(path, kind, record)
    return record


def _check_sizes(path: Path, kind: str, record: Record) -> None:
    """Raise VectorFormatError when a prime or an input modulus is shorter than its field implies.

    Milagro's primes fill their field, with the top bit set, so a product of two of
    them has the width of N's field or one bit less (record 0's n has 2047 bits). A
    shorter value contradicts the declared size. Unchecked, it would be skipped as a
    modulus outside the parameter set, and the damage would go unnoticed. N is
    checked only where it is an input, because a wrong N in a key-generation record
    is a wrong expected output and fails its case.
    """
    names = ["P", "Q"] if "P" in record.fields else []
    if kind in ("encrypt", "add"):
        names.append("N")
    for name in names:
        width = record.width(name)
        bits = record.integer(name).bit_length()
        if name == "N" and bits < width - 1:
            problem = (
                f"N has {bits} bits, expected {width - 1} or {width} for a product of "
                f"two {width // 2}-bit primes"
            )
        elif name != "N" and bits != width:
            problem = f"{name} has {bits} bits, expected a prime that fills its {width}-bit field"
        else:
            continue
        raise VectorFormatError(
            f"{path}:{record.line}: {record.case}: {problem}",
            fix="restore the file from its source, or leave it out of the paths",
        )


def _modulus(kind: str, record: Record) -> tuple[int, int]:
    """Return (n, its declared bit width) from the record's inputs.

    Keygen and decrypt records give the primes, so n = P * Q is computed here and a
    changed expected N cannot move a case out of its parameter set.
    """
    if kind in ("keygen", "decrypt"):
        return record.integer("P") * record.integer("Q"), 2 * record.width("P")
    return record.integer("N"), record.width("N")


def run_file(path: Path, kind: str, selection: Selection) -> FileReport:
    report = FileReport(path=str(path), format=f"{FORMAT}-{kind}")
    records = _records(path, kind)
    not_checked: dict[str, int] = {}
    for record in records:
        n, bits = _modulus(kind, record)
        algorithm = f"paillier-{bits}"
        implementations = selection.implementations(algorithm)
        if not implementations:
            selection.skip_unregistered(report, algorithm, [record.case])
            continue
        if n.bit_length() != bits:
            reason = (
                f"n has {n.bit_length()} bits, and {algorithm} takes a modulus of "
                f"exactly {bits} bits"
            )
            selection.skip_unregistered(report, algorithm, [record.case], reason)
            continue
        expected = "valid"
        if "RESULT" in record.fields and record.integer("RESULT") != 0:
            expected = "invalid"
        for implementation in implementations:
            action = _action(kind, implementation.provider, algorithm, record, bits, not_checked)
            judge(report, algorithm, implementation.provider, record.case, expected, action)
    if not_checked:
        report.tables["not_checked"] = not_checked
    return report


def _action(
    kind: str,
    provider: str,
    algorithm: str,
    record: Record,
    bits: int,
    not_checked: dict[str, int],
) -> Callable[[], str | None]:
    try:
        scheme = registry.homomorphic(algorithm, provider)
    except UnsupportedAlgorithm as error:
        # A plug-in may register paillier-* without the homomorphic interface. It cannot
        # run these cases, so they are skips, not failures.
        reason = str(error)

        def unsupported() -> str | None:
            raise UnsupportedOperation(reason)

        return unsupported

    if kind == "keygen":
        return _keygen_action(scheme, record, bits, not_checked)
    if kind == "encrypt":
        return _encrypt_action(scheme, record, bits)
    if kind == "decrypt":
        return _decrypt_action(scheme, record, bits, not_checked)
    return _add_action(scheme, record, bits)


def _differs(name: str, got: int, expected: int, digits: int) -> str | None:
    """Return None when ``got == expected``, else where the two hexadecimal values first differ.

    ``digits`` is the zero-padded width of the field in the file.
    """
    if got == expected:
        return None
    got_hex = format(got, f"0{digits}x")
    expected_hex = format(expected, f"0{digits}x")
    first = 0
    shorter = min(len(got_hex), len(expected_hex))
    while first < shorter and got_hex[first] == expected_hex[first]:
        first += 1
    return (
        f"{name} differs from hex digit {first}: got {got_hex[first : first + 16]}…, "
        f"expected {expected_hex[first : first + 16]}…"
    )


def _count_constants(not_checked: dict[str, int], provider: str, reason: str) -> None:
    key = f"{provider}: LP, LQ, MP, MQ ({reason})"
    not_checked[key] = not_checked.get(key, 0) + 1


def _private_key_bytes(record: Record, bits: int) -> bytes:
    # The registry's raw form of a Paillier private key is p || q, each bits/16 bytes.
    half = bits // 16
    return record.integer("P").to_bytes(half, "big") + record.integer("Q").to_bytes(half, "big")


def _keygen_action(
    scheme: HomomorphicScheme, record: Record, bits: int, not_checked: dict[str, int]
) -> Callable[[], str | None]:
    primes = _private_key_bytes(record, bits)
    # A public key starts with n in bits/8 bytes (a Damgard-Jurik-Nielsen base may follow).
    size = bits // 8
    expected_n = record.integer("N")
    expected_g = record.integer("G")

    def action() -> str | None:
        key = scheme.load_private(primes, KeyForm.RAW)
        n = int.from_bytes(key.public_key.data[:size], "big")
        problem = _differs("N", n, expected_n, size * 2)
        if problem:
            return problem
        public = scheme.load_public(expected_n.to_bytes(size, "big"))
        parsed_n = int.from_bytes(public.data[:size], "big")
        problem = _differs("N (parsed public key)", parsed_n, expected_n, size * 2)
        if problem:
            return problem

        # Paillier with g = n + 1 fixes G once n is known.
        if expected_g != n + 1:
            return f"G differs from n + 1 for n = {hex(n)[:18]}…"

        _count_constants(not_checked, scheme.provider, "no registered interface exposes them")
        return None

    return action


def _encrypt_action(
    scheme: HomomorphicScheme, record: Record, bits: int
) -> Callable[[], str | None]:
    size = bits // 8
    n = record.integer("N")
    expected_g = record.integer("G")

    def action() -> str | None:
        public = scheme.load_public(n.to_bytes(size, "big"))
        if expected_g != n + 1:
            return f"G differs from n + 1 for n = {hex(n)[:18]}…"

        ciphertext = scheme.raw_encrypt(public, record.integer("PLAINTEXT"), record.integer("R"))
        return _differs("CIPHERTEXT", ciphertext, record.integer("CIPHERTEXT"), size * 4)

    return action


def _decrypt_action(
    scheme: HomomorphicScheme, record: Record, bits: int, not_checked: dict[str, int]
) -> Callable[[], str | None]:
    primes = _private_key_bytes(record, bits)

    def action() -> str | None:
        key = scheme.load_private(primes, KeyForm.RAW)
        plaintext = scheme.raw_decrypt(key, record.integer("CIPHERTEXT"))
        problem = _differs("PLAINTEXT", plaintext, record.integer("PLAINTEXT"), bits // 4)
        if problem:
            return problem

        # Milagro's decryption takes the CRT constants as inputs, and the registry's
        # providers derive them from P and Q, so the record's values are not used.
        _count_constants(not_checked, scheme.provider, "decryption derives them from P and Q")
        return None

    return action


def _add_action(scheme: HomomorphicScheme, record: Record, bits: int) -> Callable[[], str | None]:
    size = bits // 8
    n = record.integer("N")

    def action() -> str | None:
        public = scheme.load_public(n.to_bytes(size, "big"))
        total = scheme.raw_add(public, record.integer("CIPHERTEXT1"), record.integer("CIPHERTEXT2"))
        return _differs("CIPHERTEXT", total, record.integer("CIPHERTEXT"), size * 4)

    return action
