"""The audit log lives in :mod:`agile.keys.audit`, beside the keysets whose changes it records."""

from __future__ import annotations

from ..keys.audit import AUDIT_NAME, AuditLog

__all__ = ["AUDIT_NAME", "AuditLog"]
