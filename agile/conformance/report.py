"""Results of a conformance run: per file, algorithm and provider.

One case is one test entry (a Wycheproof or ACVP test id, one HPKE encryption or
export, one X-Wing vector, one CCTV line), counted once for each provider that
runs it.  A case ends in exactly one of four outcomes; ``skipped`` always carries
a reason and ``acceptable`` carries the vector's flags.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

__all__ = ["Outcome", "Failure", "Tally", "FileReport", "Report"]

#: Failures kept per (file, algorithm, provider); the counts stay exact.
MAX_FAILURES_KEPT = 20


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ACCEPTABLE = "acceptable"


@dataclass(slots=True)
class Failure:
    case: str
    reason: str


@dataclass(slots=True)
class Tally:
    """Counts of one (algorithm, provider) pair within one file."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    acceptable: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    acceptable_flags: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.acceptable += other.acceptable
        self.skip_reasons.update(other.skip_reasons)
        self.acceptable_flags.update(other.acceptable_flags)
        room = MAX_FAILURES_KEPT - len(self.failures)
        self.failures.extend(other.failures[: max(room, 0)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "acceptable": self.acceptable,
            "skip_reasons": dict(self.skip_reasons),
            "acceptable_flags": dict(self.acceptable_flags),
            "failures": [{"case": f.case, "reason": f.reason} for f in self.failures],
        }


@dataclass(slots=True)
class FileReport:
    """Results of one vector file; ``format`` is None for a file no reader understands."""

    path: str
    format: str | None
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    #: Why the whole file was not run (unknown format, superseded draft), if it was not.
    skipped_reason: str | None = None
    #: Tables without verdicts (for example which provider accepts which Ed25519 edge case).
    tables: dict[str, Any] = field(default_factory=dict)
    #: Time spent running this file's cases, summed over the jobs that split it.
    seconds: float = 0.0

    def tally(self, algorithm: str, provider: str) -> Tally:
        key = (algorithm, provider)
        if key not in self.tallies:
            self.tallies[key] = Tally()
        return self.tallies[key]

    def record(
        self,
        algorithm: str,
        provider: str,
        case: str,
        outcome: Outcome,
        reason: str = "",
        flags: list[str] | None = None,
    ) -> None:
        tally = self.tally(algorithm, provider)
        if outcome is Outcome.PASSED:
            tally.passed += 1
        elif outcome is Outcome.FAILED:
            tally.failed += 1
            if len(tally.failures) < MAX_FAILURES_KEPT:
                tally.failures.append(Failure(case, reason))
        elif outcome is Outcome.SKIPPED:
            tally.skipped += 1
            tally.skip_reasons[reason] += 1
        else:
            tally.acceptable += 1
            tally.acceptable_flags.update(flags or ["(no flags)"])

    def total(self) -> Tally:
        total = Tally()
        for tally in self.tallies.values():
            total.merge(tally)
        return total

    def to_dict(self) -> dict[str, Any]:
        total = self.total()
        return {
            "path": self.path,
            "format": self.format,
            "skipped_reason": self.skipped_reason,
            "seconds": round(self.seconds, 3),
            "passed": total.passed,
            "failed": total.failed,
            "skipped": total.skipped,
            "acceptable": total.acceptable,
            "results": [
                {"algorithm": algorithm, "provider": provider, **tally.to_dict()}
                for (algorithm, provider), tally in sorted(self.tallies.items())
            ],
            "tables": self.tables,
        }


def _checked(tally: Tally) -> bool:
    """Return whether any case of ``tally`` ran to a verdict (passed, failed or acceptable)."""
    return bool(tally.passed or tally.failed or tally.acceptable)


@dataclass(slots=True)
class Report:
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    def totals(self) -> Tally:
        total = Tally()
        for file_report in self.files:
            total.merge(file_report.total())
        return total

    def by_provider(self) -> dict[str, Tally]:
        result: dict[str, Tally] = {}
        for file_report in self.files:
            for (_algorithm, provider), tally in file_report.tallies.items():
                result.setdefault(provider, Tally()).merge(tally)
        return dict(sorted(result.items()))

    def by_algorithm(self) -> dict[tuple[str, str], Tally]:
        result: dict[tuple[str, str], Tally] = {}
        for file_report in self.files:
            for key, tally in file_report.tallies.items():
                result.setdefault(key, Tally()).merge(tally)
        return dict(sorted(result.items()))

    @property
    def failed(self) -> int:
        return self.totals().failed

    def to_dict(self) -> dict[str, Any]:
        total = self.totals()
        return {
            "passed": total.passed,
            "failed": total.failed,
            "skipped": total.skipped,
            "acceptable": total.acceptable,
            "seconds": round(self.seconds, 3),
            "providers": {
                name: {
                    "passed": t.passed,
                    "failed": t.failed,
                    "skipped": t.skipped,
                    "acceptable": t.acceptable,
                }
                for name, t in self.by_provider().items()
            },
            "files": [file_report.to_dict() for file_report in self.files],
        }

    def to_junit(self) -> bytes:
        """Return JUnit XML: one test suite per file, one test case per (algorithm, provider)."""
        suites = ElementTree.Element("testsuites")
        for file_report in self.files:
            suite = ElementTree.SubElement(
                suites,
                "testsuite",
                name=file_report.path,
                tests=str(len(file_report.tallies) or 1),
                failures=str(sum(1 for t in file_report.tallies.values() if t.failed)),
                skipped=str(sum(1 for t in file_report.tallies.values() if not _checked(t))),
            )
            if not file_report.tallies:
                case = ElementTree.SubElement(suite, "testcase", name="file", classname="vectors")
                ElementTree.SubElement(
                    case, "skipped", message=file_report.skipped_reason or "no cases"
                )
                continue
            for (algorithm, provider), tally in sorted(file_report.tallies.items()):
                case = ElementTree.SubElement(
                    suite,
                    "testcase",
                    name=f"{algorithm}[{provider}]",
                    classname=file_report.format or "vectors",
                )
                summary = (
                    f"passed {tally.passed}, failed {tally.failed}, skipped {tally.skipped}, "
                    f"acceptable {tally.acceptable}"
                )
                if tally.failed:
                    failure = ElementTree.SubElement(case, "failure", message=summary)
                    failure.text = "\n".join(f"{f.case}: {f.reason}" for f in tally.failures)
                elif not _checked(tally):
                    reasons = "; ".join(tally.skip_reasons) or summary
                    ElementTree.SubElement(case, "skipped", message=reasons)
                else:
                    ElementTree.SubElement(case, "system-out").text = summary
        return ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
