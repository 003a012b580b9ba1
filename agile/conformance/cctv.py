"""Readers for C2SP CCTV files: ML-KEM edge cases and the Ed25519 verification table.

The ML-KEM ``intermediate`` and ``unluckysample`` files were generated for the
FIPS 203 initial public draft, whose key generation differs from the final
standard (rho and sigma come from SHA3-512(d) without the k byte).  Their
key-generation values are therefore reported as skipped (see
:data:`SUPERSEDED`), while their Encaps(ek, m) and Decaps(dk, c) parts, which do
not depend on that change, run.  The Ed25519 file has flags but no verdicts,
since verification strictness is a policy choice: it produces a table of which
provider accepts which case and no pass or fail.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

from .. import registry
from ..errors import AgileError, VectorFormatError
from ..registry.interfaces import KeyForm
from .hexfield import decode_hex, hex_problem
from .judge import judge, mismatch
from .report import FileReport, Outcome
from .targets import Selection

__all__ = ["detect", "run_file", "SUPERSEDED"]

FORMAT = "cctv"

#: Inputs made for a superseded draft, with the reason they are not judged.
SUPERSEDED: dict[str, str] = {
    "intermediate": (
        "key generation follows the FIPS 203 initial public draft "
        "(rho, sigma = SHA3-512(d)), not final FIPS 203"
    ),
    "unluckysample": (
        "key generation follows the FIPS 203 initial public draft "
        "(rho, sigma = SHA3-512(d)), not final FIPS 203"
    ),
}


def detect(path: Path) -> str | None:
    """Return the CCTV kind of ``path`` (strcmp, modulus, intermediate, ...) or None."""
    parts = path.parts
    if path.name == "ed25519vectors.json":
        return "ed25519"
    if "ML-KEM" in parts and path.name.startswith("ML-KEM-"):
        for kind in ("strcmp", "modulus", "intermediate", "unluckysample"):
            if kind in parts:
                return kind
    return None


def _parameter_set(path: Path) -> str:
    return path.name.split(".")[0].lower()


#: Values the runner uses; the intermediate files also hold matrices and vectors it ignores.
_FIELDS = frozenset({"d", "z", "ek", "dk", "m", "K", "c"})
#: Fields each kind of file must have for the cases it runs.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "strcmp": ("dk", "c", "K"),
    "intermediate": ("ek", "dk", "m", "K", "c"),
    "unluckysample": ("ek", "dk", "m", "K", "c"),
}
_DAMAGED_FIX = "restore the file from its source, or leave it out of the paths"


def _sizes(name: str) -> dict[str, int]:
    """Return the byte length of each field for ML-KEM parameter set ``name`` (FIPS 203 §8).

    Empty for a parameter set the registry does not describe, whose cases are skipped.
    """
    descriptor = registry.BY_ID.get(name)
    public_key = descriptor.sizes.public_key if descriptor is not None else None
    if descriptor is None or public_key is None:
        return {}
    sizes = descriptor.sizes
    found = {"d": 32, "z": 32, "m": 32, "ek": public_key}
    # dk = dk_PKE (384k bytes) || ek (384k + 32) || H(ek) (32) || z (32), FIPS 203 Algorithm 16.
    found["dk"] = 2 * public_key + 32
    if sizes.ciphertext is not None:
        found["c"] = sizes.ciphertext
    if sizes.shared_secret is not None:
        found["K"] = sizes.shared_secret
    return found


def _key_values(path: Path, kind: str) -> dict[str, bytes]:
    """Return the first occurrence of each field in :data:`_FIELDS` ("name = hex" lines).

    Raises VectorFormatError when a field the file's kind needs is missing, is not
    hexadecimal or has the wrong length for the parameter set, as in a cut-short file.
    """
    values: dict[str, bytes] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name, separator, value = line.partition(" = ")
        name = name.strip()
        if not separator or name not in _FIELDS or name in values:
            continue
        value = value.strip()
        problem = hex_problem(value)
        if problem is not None:
            raise VectorFormatError(
                f"{path}:{number}: field {name!r} is not hexadecimal: it {problem}",
                fix=_DAMAGED_FIX,
            )
        values[name] = bytes.fromhex(value)
        lines[name] = number

    # Lengths are checked first, because in a cut-short file the field that was cut is the
    # one to name.
    parameter_set = _parameter_set(path)
    for name, size in _sizes(parameter_set).items():
        if name in values and len(values[name]) != size:
            raise VectorFormatError(
                f"{path}:{lines[name]}: field {name!r} is {len(values[name])} bytes, "
                f"expected {size} for {parameter_set}",
                fix=_DAMAGED_FIX,
            )
    for name in _REQUIRED[kind]:
        if name not in values:
            raise VectorFormatError(f"{path}: missing field {name!r}", fix=_DAMAGED_FIX)
    return values


def _encapsulation_keys(path: Path) -> list[bytes]:
    """Return the keys of a ``modulus`` file, one hexadecimal encapsulation key per line.

    A line of another length than the parameter set's encapsulation key is damage, not
    a key to reject. An implementation would reject it for its length, and the case
    would pass without testing the modulus check of FIPS 203 §7.2.
    """
    parameter_set = _parameter_set(path)
    size = _sizes(parameter_set).get("ek")
    opener = gzip.open if path.suffix == ".gz" else open
    keys: list[bytes] = []
    try:
        with opener(path, "rt") as lines:  # type: ignore[operator]
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                problem = hex_problem(line.strip())
                if problem is not None:
                    raise VectorFormatError(
                        f"{path}:{number}: not a hexadecimal encapsulation key: the line {problem}",
                        fix=_DAMAGED_FIX,
                    )
                key = bytes.fromhex(line.strip())
                if size is not None and len(key) != size:
                    raise VectorFormatError(
                        f"{path}:{number}: encapsulation key is {len(key)} bytes, "
                        f"expected {size} for {parameter_set}",
                        fix=_DAMAGED_FIX,
                    )
                keys.append(key)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        # A cut-short gzip file raises EOFError, which click would report as "aborted".
        raise VectorFormatError(
            f"{path}: damaged gzip file ({type(error).__name__}: {error})", fix=_DAMAGED_FIX
        ) from None
    return keys


def run_file(path: Path, kind: str, selection: Selection) -> FileReport:
    report = FileReport(path=str(path), format=f"{FORMAT}-{kind}")
    if kind == "ed25519":
        _run_ed25519(path, report, selection)
        return report
    name = _parameter_set(path)
    if kind == "modulus":
        keys = _encapsulation_keys(path)
        cases = [f"line {number}" for number in range(1, len(keys) + 1)]
        implementations = selection.implementations(name)
        if not implementations:
            selection.skip_unregistered(report, name, cases)
        for implementation in implementations:
            for case, key in zip(cases, keys, strict=True):

                def reject(key=key, implementation=implementation) -> str | None:
                    public = implementation.load_public(key)
                    implementation.encapsulate(public)
                    return None

                judge(report, name, implementation.provider, case, "invalid", reject)
        return report

    values = _key_values(path, kind)
    implementations = selection.implementations(name)
    cases = ["decaps"] if kind == "strcmp" else ["keygen", "encaps", "decaps"]
    if not implementations:
        selection.skip_unregistered(report, name, cases)
        return report
    for implementation in implementations:
        provider = implementation.provider
        if kind in SUPERSEDED:
            report.record(name, provider, "keygen", Outcome.SKIPPED, SUPERSEDED[kind])

            def encaps(implementation=implementation) -> str | None:
                public = implementation.load_public(values["ek"])
                ciphertext, shared = implementation.encapsulate_derandomized(public, values["m"])
                return mismatch("c", ciphertext, values["c"]) or mismatch("K", shared, values["K"])

            judge(report, name, provider, "encaps", "valid", encaps)

        def decaps(implementation=implementation) -> str | None:
            key = implementation.load_private(values["dk"], KeyForm.EXPANDED)
            return mismatch("K", implementation.decapsulate(key, values["c"]), values["K"])

        judge(report, name, provider, "decaps", "valid", decaps)
    return report


def _run_ed25519(path: Path, report: FileReport, selection: Selection) -> None:
    """Build the table of which provider accepts which edge case; no verdicts."""
    vectors: list[dict[str, Any]] = json.loads(path.read_text())
    implementations = selection.implementations("ed25519")
    table: dict[str, dict[str, Any]] = {}
    for implementation in implementations:
        accepted: list[int] = []
        by_flag: dict[str, dict[str, int]] = {}
        for vector in vectors:
            try:
                public = implementation.load_public(  # type: ignore[attr-defined]
                    decode_hex(vector["key"], f"vector {vector['number']} key")
                )
                implementation.verify(  # type: ignore[attr-defined]
                    public,
                    vector["msg"].encode(),
                    decode_hex(vector["sig"], f"vector {vector['number']} sig"),
                )
                verdict = "accepted"
                accepted.append(vector["number"])
            except AgileError:
                verdict = "rejected"
            for flag in vector.get("flags") or ["(none)"]:
                by_flag.setdefault(flag, {"accepted": 0, "rejected": 0})[verdict] += 1
        table[implementation.provider] = {
            "cases": len(vectors),
            "accepted": len(accepted),
            "rejected": len(vectors) - len(accepted),
            "by_flag": by_flag,
            "accepted_numbers": accepted,
        }
    report.tables["ed25519_acceptance"] = table
    report.skipped_reason = "edge cases without verdicts: reported as a table, not counted"
