"""Reader for the ML-KEM and ML-DSA known-answer files of the ``cryptography-vectors`` package.

``kat_MLKEM_<n>.rsp``: per count, key generation from (d, z), encapsulation of
``msg`` where the provider takes caller randomness, decapsulation of ``ct`` and of
the invalid ``ct_n`` (implicit rejection gives ``ss_n``).
``kat_MLDSA_<n>_det_pure.rsp``: per count, key generation from ``xi`` and the
deterministic signature of ``msg`` under ``ctx`` (``sm`` is signature || message).
Where a provider cannot sign deterministically, the expected signature is verified
instead and the file's ``tables`` count those cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import UnsupportedOperation, VectorFormatError
from .hexfield import hex_problem
from .judge import judge, mismatch
from .report import FileReport
from .targets import Selection, load_seed_key

__all__ = ["detect", "run_file", "installed_paths"]

FORMAT = "kat"
_NAME = re.compile(r"kat_(MLKEM|MLDSA)_(\d+)(_det_pure)?\.rsp$")


def detect(path: Path) -> str | None:
    match = _NAME.search(path.name)
    if not match:
        return None
    family, size, deterministic = match.groups()
    if family == "MLKEM":
        return f"ml-kem-{size}"
    return f"ml-dsa-{size}" if deterministic else None


def installed_paths() -> list[Path]:
    """Return the ML-KEM and ML-DSA KAT folders of cryptography-vectors, if installed."""
    try:
        import cryptography_vectors
    except ImportError:
        return []
    root = Path(cryptography_vectors.__file__).parent / "asymmetric"
    return [root / name for name in ("MLKEM", "MLDSA") if (root / name).is_dir()]


#: Fields holding decimal numbers rather than hex strings.
_DECIMAL_FIELDS = frozenset({"count", "mlen", "smlen"})


def _records(path: Path) -> Iterator[dict[str, bytes]]:
    record: dict[str, bytes] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name, separator, value = line.partition(" = ")
        if not separator:
            continue
        name, value = name.strip(), value.strip()
        if name == "count" and record:
            yield record
            record = {}
        if name in _DECIMAL_FIELDS:
            record[name] = value.encode()
            continue
        problem = hex_problem(value)
        if problem is not None:
            raise VectorFormatError(
                f"{path}:{number}: field {name!r} is not hexadecimal: it {problem}",
                fix="restore the file from its source, or leave it out of the paths",
            )
        record[name] = bytes.fromhex(value)
    if record:
        yield record


def run_file(path: Path, algorithm: str, selection: Selection) -> FileReport:
    report = FileReport(path=str(path), format=FORMAT)
    records = list(_records(path))
    cases = [f"count {record['count'].decode()}" for record in records]
    implementations = selection.implementations(algorithm)
    if not implementations:
        selection.skip_unregistered(report, algorithm, cases)
        return report
    not_checked: dict[str, int] = {}
    for implementation in implementations:
        for case, record in zip(cases, records, strict=True):
            if algorithm.startswith("ml-kem"):
                action = _kem_action(implementation, record, not_checked)
            else:
                action = _dsa_action(implementation, record, not_checked)
            judge(report, algorithm, implementation.provider, case, "valid", action)
    if not_checked:
        report.tables["not_checked"] = not_checked
    return report


def _note(not_checked: dict[str, int], implementation, what: str) -> None:
    key = f"{implementation.provider}: {what}"
    not_checked[key] = not_checked.get(key, 0) + 1


def _kem_action(implementation, record: dict[str, bytes], not_checked: dict[str, int]):
    def action() -> str | None:
        key = load_seed_key(implementation, record["d"] + record["z"])
        problem = mismatch("pk", key.public_key.data, record["pk"])
        problem = problem or mismatch(
            "ss", implementation.decapsulate(key, record["ct"]), record["ss"]
        )
        problem = problem or mismatch(
            "ss_n (implicit rejection)",
            implementation.decapsulate(key, record["ct_n"]),
            record["ss_n"],
        )
        if problem:
            return problem
        try:
            ciphertext, shared = implementation.encapsulate_derandomized(
                key.public_key, record["msg"]
            )
        except UnsupportedOperation:
            _note(not_checked, implementation, "encapsulation with given randomness")
            return None
        return mismatch("ct", ciphertext, record["ct"]) or mismatch("ss", shared, record["ss"])

    return action


def _dsa_action(implementation, record: dict[str, bytes], not_checked: dict[str, int]):
    def action() -> str | None:
        key = load_seed_key(implementation, record["xi"])
        problem = mismatch("pk", key.public_key.data, record["pk"])
        if problem:
            return problem
        length = len(record["sm"]) - len(record["msg"])
        expected = record["sm"][:length]
        try:
            signature = implementation.sign_deterministic(key, record["msg"], record["ctx"])
        except UnsupportedOperation:
            _note(not_checked, implementation, "deterministic signing (signature verified instead)")
            implementation.verify(key.public_key, record["msg"], expected, record["ctx"])
            return None
        return mismatch("signature", signature, expected)

    return action
