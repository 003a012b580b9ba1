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
from pathlib import Path
from types import TracebackType

from ..errors import AgileError, UnsupportedOperation, VectorFormatError
from .report import FileReport, Outcome

__all__ = ["judge", "mismatch", "EXPECTED_RESULTS"]

Action = Callable[[], str | None]

#: Verdicts a vector may state; Wycheproof writes them in each case's ``result``.
EXPECTED_RESULTS = ("valid", "invalid", "acceptable")

#: Folder of the reader modules. An exception raised in their code means a malformed file.
_READERS = Path(__file__).resolve().parent

#: Bytes a mismatch shows before the first differing byte, and from that byte on.
_SHOWN_BEFORE_DIFFERENCE = 4
_SHOWN_FROM_DIFFERENCE = 12

#: Exceptions that a reader's field lookups and hex decoding raise on a malformed file.
_MALFORMED = (KeyError, IndexError, TypeError, ValueError)


def _raised_by_reader(traceback: TracebackType | None) -> bool:
    """Return whether the innermost Python frame of ``traceback`` is in a reader module.

    A missing field or a bad hex string fails in the reader itself (``test["okm"]``,
    ``bytes.fromhex``), while a provider's own bug fails inside the provider.
    """
    innermost = None
    while traceback is not None:
        innermost = traceback.tb_frame
        traceback = traceback.tb_next
    if innermost is None:
        return False
    return Path(innermost.f_code.co_filename).resolve().parent == _READERS


def _first_difference(got: bytes, expected: bytes) -> int:
    """Return the offset of the first byte where two unequal values differ.

    When one value is a prefix of the other, that is the length of the shorter one.
    """
    shorter = min(len(got), len(expected))
    return next((offset for offset in range(shorter) if got[offset] != expected[offset]), shorter)


def _excerpt(data: bytes, start: int, offset: int) -> str:
    """Return ``data`` in hex around ``offset``, with a bar before the byte at ``offset``."""
    end = offset + _SHOWN_FROM_DIFFERENCE
    before = data[start:offset].hex()
    after = data[offset:end].hex() or "(end)"
    head = "…" if start > 0 else ""
    tail = "…" if end < len(data) else ""
    return f"{head}{before}|{after}{tail}"


def mismatch(name: str, got: bytes, expected: bytes) -> str | None:
    """Return None when ``got == expected``, else one line that shows where they first differ.

    The line names ``name``, the offset of the first differing byte and the lengths, and
    shows both values in hex from a few bytes before that offset, with a bar before it.
    """
    if got == expected:
        return None
    offset = _first_difference(got, expected)
    start = max(0, offset - _SHOWN_BEFORE_DIFFERENCE)
    if len(got) == len(expected):
        lengths = f"both {len(got)} bytes"
    else:
        lengths = f"got {len(got)} bytes, expected {len(expected)}"
    return (
        f"{name} differs from byte {offset} ({lengths}): got {_excerpt(got, start, offset)}, "
        f"expected {_excerpt(expected, start, offset)}"
    )


def judge(
    report: FileReport,
    algorithm: str,
    provider: str,
    case: str,
    expected: str,
    action: Action,
    flags: Iterable[str] = (),
) -> Outcome:
    """Run ``action`` and record the outcome; ``expected`` is valid, invalid or acceptable.

    A case whose expected result is not one of these, or whose fields are missing
    or not hexadecimal, raises :class:`VectorFormatError`, because a damaged file
    must not be counted as passed or blamed on the provider.
    """
    if expected not in EXPECTED_RESULTS:
        raise VectorFormatError(
            f"{report.path}: {case}: unknown expected result {expected!r}",
            fix="a case's result must be one of "
            + ", ".join(EXPECTED_RESULTS)
            + "; restore the file from its source",
        )
    rejected: AgileError | None = None
    problem: str | None = None
    try:
        problem = action()
    except UnsupportedOperation as error:
        report.record(algorithm, provider, case, Outcome.SKIPPED, str(error))
        return Outcome.SKIPPED
    except AgileError as error:
        rejected = error
    except _MALFORMED as error:
        if not _raised_by_reader(error.__traceback__):
            reason = f"raised {type(error).__name__}: {error} instead of an agile error"
            report.record(algorithm, provider, case, Outcome.FAILED, reason)
            return Outcome.FAILED
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise VectorFormatError(
            f"{report.path}: {case}: malformed vector ({type(error).__name__}: {detail})",
            fix="restore the file from its source, or leave it out of the paths",
        ) from None
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
