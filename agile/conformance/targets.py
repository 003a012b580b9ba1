"""Choosing which registered implementations run a vector file's cases."""

from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from ..errors import UnsupportedOperation
from ..registry.interfaces import Implementation, KeyForm, PrivateKey
from .report import FileReport, Outcome

__all__ = ["Selection", "NOT_REGISTERED", "load_seed_key"]

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


def load_seed_key(implementation: Implementation, seed: bytes) -> PrivateKey:
    """Load a private key from its FIPS 203/204 seed, expanding it elsewhere if need be.

    pqcrypto cannot derive keys from a seed, so another registered provider produces
    the expanded form.  The case then still tests this provider's own operations.
    """
    try:
        return implementation.load_private(seed, KeyForm.SEED)  # type: ignore[attr-defined]
    except UnsupportedOperation as unsupported:
        for other in registry.implementations(implementation.algorithm):
            if other is implementation:
                continue
            try:
                expanded = other.export_private(  # type: ignore[attr-defined]
                    other.load_private(seed, KeyForm.SEED),  # type: ignore[attr-defined]
                    KeyForm.EXPANDED,  # type: ignore[attr-defined]
                )
            except UnsupportedOperation:
                continue
            return implementation.load_private(expanded, KeyForm.EXPANDED)  # type: ignore[attr-defined]
        raise unsupported
