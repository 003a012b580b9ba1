"""Policies: which algorithm may generate, encrypt, sign or seal, and which may still open old data.

Policies are TOML profiles (built-in ones under ``profiles/``, combinable as
``base:module``) or Rego modules evaluated in process.  See ``docs/policy.md``.
"""

from .loader import builtin_modules, builtin_profiles, load_policy
from .model import (
    OPERATIONS,
    PURPOSES,
    Decision,
    Finding,
    KeyMeta,
    LegacyEntry,
    Policy,
    PurposeRules,
    check_keys,
)
from .profile import ProfilePolicy
from .store import active_policy, set_active_policy

__all__ = [
    "OPERATIONS",
    "PURPOSES",
    "Decision",
    "Finding",
    "KeyMeta",
    "LegacyEntry",
    "Policy",
    "ProfilePolicy",
    "PurposeRules",
    "active_policy",
    "builtin_modules",
    "builtin_profiles",
    "check_keys",
    "load_policy",
    "set_active_policy",
]
