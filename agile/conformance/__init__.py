"""Conformance runner: every registered provider against public standard test vectors.

Readers: Wycheproof JSON, NIST ACVP prompt/expectedResults pairs, RFC 9180 and
draft-ietf-hpke-pq HPKE vectors, X-Wing vectors, C2SP CCTV files, Apache Milagro's
Paillier known-answer tests, and the project's own golden vectors.  See :func:`run`.
"""

from .report import FileReport, Outcome, Report, Tally
from .runner import default_paths, discover, run

__all__ = ["FileReport", "Outcome", "Report", "Tally", "default_paths", "discover", "run"]
