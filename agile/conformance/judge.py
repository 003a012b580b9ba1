"""Turning one test case into one outcome.

An action is a callable that performs the operation and returns ``None`` when
the output matches the vector, or a short text describing the mismatch.  It
rejects input by raising an :class:`agile.errors.AgileError`.  An
:class:`~agile.errors.UnsupportedOperation` means the provider cannot express the
case, which is a skip with that reason, never a pass.  Any other exception is a
failure, because bad input must surface as a specific agile error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import AgileError, UnsupportedOperation
from .report import FileReport, Outcome

__all__ = ["judge", "mismatch"]

Action = Callable[[], str | None]


def mismatch(name: str, got: bytes, expected: bytes) -> str | None:
    """Return None when ``got == expected``, else a short description naming ``name``."""
    if got == expected:
        return None
    return f"{name} differs: got {got[:16].hex()}…, expected {expected[:16].hex()}…"


def judge(
    report: FileReport,
    algorithm: str,
    provider: str,
    case: str,
    expected: str,
    action: Action,
    flags: Iterable[str] = (),
) -> Outcome:
    """Run ``action`` and record the outcome; ``expected`` is valid, invalid or acceptable."""
    rejected: AgileError | None = None
    problem: str | None = None
    try:
        problem = action()
    except UnsupportedOperation as error:
        report.record(algorithm, provider, case, Outcome.SKIPPED, str(error))
        return Outcome.SKIPPED
    except AgileError as error:
        rejected = error
    except Exception as error:  # noqa: BLE001 - any other exception is the finding itself
        reason = f"raised {type(error).__name__}: {error} instead of an agile error"
        report.record(algorithm, provider, case, Outcome.FAILED, reason)
        return Outcome.FAILED

    if expected == "valid":
        if rejected is not None:
            outcome, reason = Outcome.FAILED, f"rejected a valid case: {rejected}"
        elif problem is not None:
            outcome, reason = Outcome.FAILED, problem
        else:
            outcome, reason = Outcome.PASSED, ""
    elif expected == "invalid":
        if rejected is not None:
            outcome, reason = Outcome.PASSED, ""
        else:
            outcome = Outcome.FAILED
            reason = "accepted an invalid case" + (f" ({problem})" if problem else "")
    else:
        # Wycheproof "acceptable": rejecting and accepting are both fine, a wrong result is not.
        if rejected is None and problem is not None:
            outcome, reason = Outcome.FAILED, problem
        else:
            outcome, reason = Outcome.ACCEPTABLE, ""
    report.record(algorithm, provider, case, outcome, reason, list(flags))
    return outcome
