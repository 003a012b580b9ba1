"""The outcome of checking attestation evidence: valid, or invalid with every reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import AttestationError

__all__ = ["Verdict", "EvidenceRejected", "MalformedEvidence"]


class MalformedEvidence(AttestationError):
    """Evidence or a certificate cannot be parsed: bad input rather than a failed check."""

    exit_code = 2


class EvidenceRejected(AttestationError):
    """Evidence was parsed but failed one or more checks; ``reasons`` lists them all."""

    def __init__(self, message: str, *, reasons: list[str], fix: str | None = None) -> None:
        super().__init__(f"{message}: {'; '.join(reasons)}", fix=fix)
        self.reasons = list(reasons)


@dataclass(frozen=True)
class Verdict:
    """Whether evidence verified, each failed check, and the facts read from the evidence."""

    kind: str
    reasons: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.reasons

    def raise_for_reasons(self) -> None:
        """Raise EvidenceRejected naming every reason, unless the evidence is valid."""
        if self.reasons:
            raise EvidenceRejected(
                f"{self.kind} evidence is invalid",
                reasons=list(self.reasons),
                fix="compare the evidence with the attestation policy and the trusted roots",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "valid": self.valid, "reasons": list(self.reasons), **self.facts}
