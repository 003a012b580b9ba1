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
``paillier-<bits>`` through the registry's key interface, where bits is the
width of the file's n. A modulus shorter than that width (Milagro's test 0 has a
2047-bit n) is outside the parameter set, because ``paillier-2048`` keys have a
modulus of exactly 2048 bits, so the case is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnsupportedOperation, VectorFormatError
from ..registry.interfaces import Implementation, KeyForm
from .judge import judge, mismatch
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

#: Bytes read to detect the format. The first record of a 4096-bit add file would be ~7.2 KB.
_DETECT_BYTES = 64 * 1024

#: Skip reasons per operation. The registry reaches a Paillier provider through key loading
#: and encrypt(public_key, value) / decrypt(private_key, ciphertext), and these two take
#: encoded numbers and the provider's own ciphertext objects instead of raw integers.
# NOTE: no registered interface encrypts with a caller-given r, decrypts a raw ciphertext
# integer, adds two raw ciphertexts, or exposes the CRT constants, so only keygen runs.
_UNSUPPORTED: dict[str, str] = {
    "encrypt": "{provider} takes no caller-given r for {algorithm} encryption",
    "decrypt": "{provider} cannot load a raw {algorithm} ciphertext to decrypt it",
    "add": "{provider} has no addition of raw {algorithm} ciphertexts",
}


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
        base = 10 if name in _DECIMAL_FIELDS else 16
        try:
            int(value, base)
        except ValueError:
            notation = "decimal" if base == 10 else "hexadecimal"
            raise VectorFormatError(
                f"{path}:{number}: field {name!r} is not {notation}",
                fix="restore the file from its source, or leave it out of the paths",
            ) from None
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
    return record


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
            action = _action(kind, implementation, algorithm, record, bits, not_checked)
            judge(report, algorithm, implementation.provider, record.case, expected, action)
    if not_checked:
        report.tables["not_checked"] = not_checked
    return report


def _action(
    kind: str,
    implementation: Implementation,
    algorithm: str,
    record: Record,
    bits: int,
    not_checked: dict[str, int],
) -> Callable[[], str | None]:
    if kind == "keygen":
        return _keygen_action(implementation, record, bits, not_checked)
    reason = _UNSUPPORTED[kind].format(provider=implementation.provider, algorithm=algorithm)

    def unsupported() -> str | None:
        raise UnsupportedOperation(reason)

    return unsupported


def _keygen_action(
    implementation: Implementation, record: Record, bits: int, not_checked: dict[str, int]
) -> Callable[[], str | None]:
    # The registry's raw form of a Paillier private key is p || q, each bits/16 bytes,
    # and a public key starts with n in bits/8 bytes (a Damgard-Jurik-Nielsen base may follow).
    half, size = bits // 16, bits // 8
    primes = record.integer("P").to_bytes(half, "big") + record.integer("Q").to_bytes(half, "big")
    expected_n = record.integer("N").to_bytes(size, "big")
    expected_g = record.integer("G")

    def action() -> str | None:
        key = implementation.load_private(primes, KeyForm.RAW)  # type: ignore[attr-defined]
        problem = mismatch("N", key.public_key.data[:size], expected_n)
        if problem:
            return problem
        public = implementation.load_public(expected_n)  # type: ignore[attr-defined]
        problem = mismatch("N (parsed public key)", public.data[:size], expected_n)
        if problem:
            return problem

        # Paillier with g = n + 1 fixes G once n is known.
        n = int.from_bytes(key.public_key.data[:size], "big")
        if expected_g != n + 1:
            return f"G differs from n + 1 for n = {hex(n)[:18]}…"

        unchecked = (
            f"{implementation.provider}: LP, LQ, MP, MQ "
            "(no registered interface exposes the CRT constants)"
        )
        not_checked[unchecked] = not_checked.get(unchecked, 0) + 1
        return None

    return action
