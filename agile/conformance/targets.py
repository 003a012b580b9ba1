"""Choosing which registered implementations run a vector file's cases."""

from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from ..registry.interfaces import Implementation
from .report import FileReport, Outcome

__all__ = ["Selection", "NOT_REGISTERED"]

#: Provider column used for cases of an algorithm that is not registered at all.
NOT_REGISTERED = "-"


@dataclass(frozen=True, slots=True)
class Selection:
    """The providers and algorithms a run is restricted to (None means all)."""

    providers: frozenset[str] | None = None
    algorithms: frozenset[str] | None = None

    def wants(self, algorithm: str) -> bool:
        return self.algorithms is None or algorithm in self.algorithms

    def implementations(self, algorithm: str) -> list[Implementation]:
        """Return the implementations of ``algorithm`` this run uses, best first."""
        if algorithm not in registry.BY_ID or not self.wants(algorithm):
            return []
        found = registry.implementations(algorithm)
        if self.providers is not None:
            found = [item for item in found if item.provider in self.providers]
        return found

    def skip_unregistered(
        self, report: FileReport, algorithm: str, cases: list[str], reason: str | None = None
    ) -> None:
        """Record every case as skipped because nothing here implements ``algorithm``."""
        if not self.wants(algorithm):
            return
        if reason is None:
            if algorithm not in registry.BY_ID:
                reason = f"{algorithm} is not a registered algorithm"
            else:
                reason = f"no selected provider implements {algorithm}"
        for case in cases:
            report.record(algorithm, NOT_REGISTERED, case, Outcome.SKIPPED, reason)
