"""agile: a crypto-agility toolkit.

The public API grows as the layers land: ``agile.registry`` (algorithms and
providers), ``agile.policy``, ``agile.keys``, ``agile.envelope`` and
``agile.rotate``.
"""

from typing import Any

from . import errors, registry
from ._version import __version__

__all__ = [
    "__version__",
    "errors",
    "registry",
    "Keystore",
    "Keyset",
    "Key",
    "KeyStatus",
    "Policy",
    "load_policy",
    "encrypt",
    "decrypt",
    "encrypt_stream",
    "decrypt_stream",
    "sign",
    "verify",
    "inspect",
    "open_keystore",
]

# Keysets and envelopes load on first use, so that `import agile` (and every CLI
# command) does not pay for them.
_LAZY = {
    "Keystore": "agile.keys",
    "Keyset": "agile.keys",
    "Key": "agile.keys",
    "KeyStatus": "agile.keys",
    "Policy": "agile.policy",
    "load_policy": "agile.policy",
    "encrypt": "agile.api",
    "decrypt": "agile.api",
    "encrypt_stream": "agile.api",
    "decrypt_stream": "agile.api",
    "sign": "agile.api",
    "verify": "agile.api",
    "inspect": "agile.api",
    "open_keystore": "agile.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agile' has no attribute {name!r}")
