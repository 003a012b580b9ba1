"""mpc: secure aggregation among parties over mutual TLS, and key escrow with shares.

Quick use::

    import mpc
    run = mpc.run_local(["a.csv", "b.csv", "c.csv"], "sum")   # 3 party processes
    print(run.outputs)                                         # one string per element

``mpc.run_party(mpc.load_config("deploy/party-1.json"), values, "sum")`` runs
one party of a deployment that ``mpc.create_deployment`` (``agile mpc init``)
made; it returns once its peers, started elsewhere, have joined.

Modules: :mod:`mpc.deployment` (``agile mpc init``), :mod:`mpc.config` (party
configuration files), :mod:`mpc.party` (the party runtime), :mod:`mpc.dealer`
(the Beaver-triple dealer), :mod:`mpc.local` (N party processes on 127.0.0.1),
:mod:`mpc.protocols` and :mod:`mpc.field` (the computations on shares) and
:mod:`mpc.escrow` (a keyset's key-encryption key split into agile shares).
The names below load their module on first use, so that ``agile mpc party``
does not import the keystore code that only escrow needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import PartyConfig, load_config
    from .dealer import run_dealer
    from .deployment import create_deployment
    from .escrow import restore_keyset, split_keyset
    from .local import LocalRun, run_local
    from .party import PartyResult, run_party
    from .protocols import OPERATIONS, read_integers

__all__ = [
    "OPERATIONS",
    "LocalRun",
    "PartyConfig",
    "PartyResult",
    "create_deployment",
    "load_config",
    "read_integers",
    "restore_keyset",
    "run_dealer",
    "run_local",
    "run_party",
    "split_keyset",
]

#: Exported name -> the submodule that defines it.
_MODULES = {
    "OPERATIONS": "protocols",
    "LocalRun": "local",
    "PartyConfig": "config",
    "PartyResult": "party",
    "create_deployment": "deployment",
    "load_config": "config",
    "read_integers": "protocols",
    "restore_keyset": "escrow",
    "run_dealer": "dealer",
    "run_local": "local",
    "run_party": "party",
    "split_keyset": "escrow",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'mpc' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
