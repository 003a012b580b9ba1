"""Keysets and the keystore: versioned keys for one purpose, sealed at rest.

``Keystore.open(path)`` opens (or creates) a keystore directory.  Each keyset
is a JSON file whose private keys are encrypted under a KEK, and a sealer
protects the KEK (see :mod:`agile.keys.kek` and :mod:`agile.seal`).
"""

from ..errors import DuplicateKey
from .keyset import PURPOSES, Keyset
from .keystore import Keystore, KeystoreScan, UnreadableKeyset, default_keystore_path
from .model import Key, KeyStatus

__all__ = [
    "Keystore",
    "KeystoreScan",
    "UnreadableKeyset",
    "Keyset",
    "Key",
    "KeyStatus",
    "DuplicateKey",
    "PURPOSES",
    "default_keystore_path",
]
