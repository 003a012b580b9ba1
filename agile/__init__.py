"""agile: a crypto-agility toolkit.

The public API grows as the layers land: ``agile.registry`` (algorithms and
providers), ``agile.policy``, ``agile.keys``, ``agile.envelope`` and
``agile.rotate``.
"""

from . import errors, registry
from ._version import __version__

__all__ = ["__version__", "errors", "registry"]
