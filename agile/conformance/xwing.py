"""Reader for the draft-connolly-cfrg-xwing-kem test vectors.

Each vector is one case: key generation from ``seed`` (pk and sk), decapsulation
of ``ct`` (ss), and, where the provider takes caller randomness, encapsulation
from ``eseed`` (ct and ss).
"""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedOperation
from ..registry.interfaces import KeyForm
from .hexfield import decode_hex
from .judge import judge, mismatch
from .report import FileReport
from .targets import Selection

__all__ = ["looks_like", "run_file"]

FORMAT = "x-wing"
ALGORITHM = "x-wing"


def looks_like(document: Any) -> bool:
    return (
        isinstance(document, list)
        and bool(document)
        and isinstance(document[0], dict)
        and {"seed", "eseed", "ss", "pk", "ct"} <= set(document[0])
    )


def _field(vector: dict[str, Any], name: str) -> bytes:
    return decode_hex(vector[name], name)


def run_file(path: str, document: list[dict[str, Any]], selection: Selection) -> FileReport:
    report = FileReport(path=path, format=FORMAT)
    cases = [f"vector {index}" for index in range(len(document))]
    implementations = selection.implementations(ALGORITHM)
    if not implementations:
        selection.skip_unregistered(report, ALGORITHM, cases)
        return report
    for implementation in implementations:
        for case, vector in zip(cases, document, strict=True):

            def action(vector=vector, implementation=implementation) -> str | None:
                key = implementation.load_private(_field(vector, "seed"), KeyForm.SEED)
                problem = mismatch("pk", key.public_key.data, _field(vector, "pk"))
                problem = problem or mismatch("sk", key.data, _field(vector, "sk"))
                shared = implementation.decapsulate(key, _field(vector, "ct"))
                problem = problem or mismatch("ss", shared, _field(vector, "ss"))
                if problem:
                    return problem
                try:
                    ciphertext, shared = implementation.encapsulate_derandomized(
                        key.public_key, _field(vector, "eseed")
                    )
                except UnsupportedOperation:
                    report.tables.setdefault("encapsulation_not_checked", []).append(
                        implementation.provider
                    )
                    return None
                return mismatch("ct", ciphertext, _field(vector, "ct")) or mismatch(
                    "ss (encapsulation)", shared, _field(vector, "ss")
                )

            judge(report, ALGORITHM, implementation.provider, case, "valid", action)
    encaps = report.tables.get("encapsulation_not_checked")
    if encaps:
        report.tables["encapsulation_not_checked"] = sorted(set(encaps))
    return report
