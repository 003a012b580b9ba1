"""Policy-driven rotation: retire keys the policy no longer allows and re-protect stored objects.

``rotate(keystore_path, RotateOptions(...))`` runs or resumes a rotation;
``dry_run`` returns the plan.  Stores live in :mod:`agile.rotate.stores`.
"""

from .audit import AuditLog
from .executor import RotateOptions, dry_run, resolve_stores, rotate
from .journal import Journal
from .planner import ACTIONS, Plan
from .stores import DirectoryStore, ObjectStore, SQLiteStore, open_store, parse_store_url

__all__ = [
    "ACTIONS",
    "AuditLog",
    "DirectoryStore",
    "Journal",
    "ObjectStore",
    "Plan",
    "RotateOptions",
    "SQLiteStore",
    "dry_run",
    "open_store",
    "parse_store_url",
    "resolve_stores",
    "rotate",
]
