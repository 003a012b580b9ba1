"""Finding implementations by algorithm id and provider name.

Built-in providers are modules under :mod:`agile.registry.providers` (and the
hybrid constructions under :mod:`agile.registry.hybrid`) that expose
``implementations()``.  Third-party providers register a callable returning an
iterable of :class:`~agile.registry.interfaces.Implementation` in the entry-point
group ``agile.providers``.  A provider whose library is missing raises
``ImportError`` from ``implementations()`` and is left out.

When no provider is named, the first usable one in :data:`PREFERENCE` wins:
``openssl`` first (fastest here for ML-KEM, ML-DSA and AES), then ``libsodium``,
``pqcrypto``, third parties in name order, and ``reference`` last (slow, for
seeded and deterministic operations only).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from ..errors import InvalidArgument, ProviderUnavailable, UnknownProvider, UnsupportedAlgorithm
from .descriptors import BY_ID, DESCRIPTORS, AlgorithmDescriptor, Family
from .interfaces import (
    AEAD,
    KDF,
    KEM,
    HomomorphicScheme,
    Implementation,
    PasswordKDF,
    SignatureScheme,
)

__all__ = [
    "PREFERENCE",
    "BUILTIN_PROVIDERS",
    "descriptor",
    "descriptors",
    "get",
    "kem",
    "signature",
    "aead",
    "kdf",
    "password_kdf",
    "homomorphic",
    "implementations",
    "providers_for",
    "provider_names",
    "register",
]

log = logging.getLogger("agile.registry")

PREFERENCE: tuple[str, ...] = ("openssl", "libsodium", "pqcrypto", "gmpy2")
LAST: tuple[str, ...] = ("reference",)

#: Modules that hold built-in implementations, and the provider name each serves.
BUILTIN_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("agile.registry.providers.openssl", "openssl"),
    ("agile.registry.providers.libsodium", "libsodium"),
    ("agile.registry.providers.pqcrypto", "pqcrypto"),
    ("agile.registry.providers.reference", "reference"),
    ("agile.registry.hybrid", "hybrid"),
    ("agile.sharing.providers", "python"),
)

# Reentrant, so that a provider calling the registry while it loads gets an error, not a hang.
_lock = threading.RLock()
_loading = False
_table: dict[str, dict[str, Implementation]] | None = None
_missing: dict[str, str] = {}

T = TypeVar("T", bound=Implementation)


def _rank(provider: str) -> tuple[int, str]:
    if provider in PREFERENCE:
        return (PREFERENCE.index(provider), provider)
    if provider in LAST:
        return (len(PREFERENCE) + 2 + LAST.index(provider), provider)
    return (len(PREFERENCE) + 1, provider)


def _add(table: dict[str, dict[str, Implementation]], items: Iterable[Implementation]) -> None:
    for item in items:
        if item.algorithm not in BY_ID:
            log.warning("ignoring %r: unknown algorithm id %r", item, item.algorithm)
            continue
        table.setdefault(item.algorithm, {})[item.provider] = item


def _load() -> dict[str, dict[str, Implementation]]:
    global _loading
    if _table is not None:
        return _table
    with _lock:
        if _table is not None:
            return _table
        if _loading:
            raise ProviderUnavailable(
                "a provider used agile.registry while the registry was loading its providers",
                fix="look up other implementations when they are used, not in implementations()",
            )
        _loading = True
        try:
            return _load_locked()
        finally:
            _loading = False


def _load_locked() -> dict[str, dict[str, Implementation]]:
    global _table
    table: dict[str, dict[str, Implementation]] = {}
    for module_name, provider in BUILTIN_PROVIDERS:
        try:
            module = importlib.import_module(module_name)
            _add(table, module.implementations())
        except ImportError as error:
            _missing[provider] = str(error)
            log.debug("provider %s unavailable: %s", provider, error)
    # A plug-in may add providers but not replace a built-in one, so that the
    # name "openssl" in a policy decision or a conformance report stays true.
    builtin = {name for _module, name in BUILTIN_PROVIDERS}
    builtin |= {provider for row in table.values() for provider in row}
    for entry in entry_points(group="agile.providers"):
        try:
            items = list(entry.load()())
        except ImportError as error:
            _missing[entry.name] = str(error)
            log.warning("provider entry point %s unavailable: %s", entry.name, error)
            continue
        except Exception as error:  # noqa: BLE001 - a broken plug-in must not stop agile
            _missing[entry.name] = f"{type(error).__name__}: {error}"
            log.warning("provider entry point %s failed to load: %r", entry.name, error)
            continue
        for item in items:
            name = getattr(item, "provider", None)
            if not isinstance(name, str) or not isinstance(getattr(item, "algorithm", None), str):
                log.warning(
                    "ignoring %r from entry point %s: not an Implementation", item, entry.name
                )
            elif name in builtin:
                log.warning(
                    "ignoring %r from entry point %s: provider name %r is built in",
                    item,
                    entry.name,
                    name,
                )
            else:
                _add(table, [item])
    _table = table
    return table


def register(implementation: Implementation) -> None:
    """Add or replace one implementation at run time (tests, plug-ins loaded by hand)."""
    table = _load()
    with _lock:
        _add(table, [implementation])


def descriptor(algorithm: str) -> AlgorithmDescriptor:
    """Return the descriptor of ``algorithm``; raise :class:`UnsupportedAlgorithm` if unknown."""
    try:
        return BY_ID[algorithm]
    except (KeyError, TypeError):
        raise UnsupportedAlgorithm(
            f"unknown algorithm id {algorithm!r}",
            fix="run 'agile algorithms' for the list of ids",
        ) from None


def descriptors(family: Family | str | None = None) -> list[AlgorithmDescriptor]:
    if family is None:
        return list(DESCRIPTORS)
    try:
        family = Family(family)
    except ValueError:
        raise InvalidArgument(
            f"unknown algorithm family {family!r}",
            fix="use one of: " + ", ".join(item.value for item in Family),
        ) from None
    return [d for d in DESCRIPTORS if d.family == family]


def provider_names() -> list[str]:
    """Return every provider that registered at least one implementation, best first."""
    names = {provider for row in _load().values() for provider in row}
    return sorted(names, key=_rank)


def providers_for(algorithm: str) -> list[str]:
    """Return the providers usable for ``algorithm`` on this machine, in preference order."""
    descriptor(algorithm)
    return sorted(_load().get(algorithm, {}), key=_rank)


def implementations(algorithm: str) -> list[Implementation]:
    row = _load().get(algorithm, {})
    return [row[name] for name in providers_for(algorithm)]


def get(algorithm: str, provider: str | None = None) -> Implementation:
    """Return the implementation of ``algorithm`` by ``provider`` (or the preferred one)."""
    desc = descriptor(algorithm)
    row = _load().get(algorithm, {})
    if provider is None:
        if not row:
            raise UnsupportedAlgorithm(
                f"no provider for {algorithm!r} is installed",
                fix=_install_hint(desc),
            )
        return row[min(row, key=_rank)]
    if provider in row:
        return row[provider]
    known = provider_names()
    if provider in _missing:
        raise ProviderUnavailable(
            f"provider {provider!r} is not available: {_missing[provider]}",
            fix="install its library "
            "(for the 'reference' provider: pip install 'agile-crypto[reference]')",
        )
    if provider not in known:
        raise UnknownProvider(
            f"unknown provider {provider!r}",
            fix=f"use one of: {', '.join(known)}",
        )
    raise UnsupportedAlgorithm(
        f"provider {provider!r} does not implement {algorithm!r}",
        fix=f"providers for {algorithm}: {', '.join(providers_for(algorithm)) or 'none'}",
    )


def _typed(algorithm: str, provider: str | None, kind: type, family: Family) -> Any:
    """Return ``get(algorithm, provider)`` after checking its family and interface ``kind``."""
    desc = descriptor(algorithm)
    if desc.family != family:
        raise UnsupportedAlgorithm(
            f"{algorithm!r} is in the {desc.family.value} family, not in {family.value}",
            fix=f"run 'agile algorithms --family {family.value}' for the list",
        )
    implementation = get(algorithm, provider)
    if not isinstance(implementation, kind):
        raise UnsupportedAlgorithm(f"{implementation!r} does not implement {kind.__name__}")
    return implementation


def kem(algorithm: str, provider: str | None = None) -> KEM:
    return _typed(algorithm, provider, KEM, Family.KEM)


def signature(algorithm: str, provider: str | None = None) -> SignatureScheme:
    return _typed(algorithm, provider, SignatureScheme, Family.SIGNATURE)


def aead(algorithm: str, provider: str | None = None) -> AEAD:
    return _typed(algorithm, provider, AEAD, Family.AEAD)


def kdf(algorithm: str, provider: str | None = None) -> KDF:
    return _typed(algorithm, provider, KDF, Family.KDF)


def password_kdf(algorithm: str, provider: str | None = None) -> PasswordKDF:
    return _typed(algorithm, provider, PasswordKDF, Family.PASSWORD_KDF)


def homomorphic(algorithm: str, provider: str | None = None) -> HomomorphicScheme:
    return _typed(algorithm, provider, HomomorphicScheme, Family.HOMOMORPHIC)


def _install_hint(desc: AlgorithmDescriptor) -> str:
    if desc.family == Family.HOMOMORPHIC:
        # The he package registers its gmpy2 provider through the agile.providers entry point,
        # which fails to load while gmpy2 is missing.
        return "install gmpy2 (pip install gmpy2), which the he package's Paillier provider needs"
    return "install the provider library it needs; 'agile algorithms' shows what is usable"
