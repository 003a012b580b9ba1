"""Hybrid constructions built from registry parts: X-Wing and composite ML-DSA-65 + Ed25519.

Each hybrid is registered under the name of the provider of its post-quantum
component (``openssl`` and ``reference``).  The classical half always comes from
``openssl``.  pqcrypto is left out because it cannot expand the seeds that both
hybrids use as private keys.
"""

from __future__ import annotations

import logging

from ..interfaces import Implementation
from ..providers import openssl
from ..providers._binding import bind
from .composite import CompositeMLDSA65Ed25519
from .xwing import XWing

__all__ = ["implementations", "XWing", "CompositeMLDSA65Ed25519"]

log = logging.getLogger("agile.registry")


def implementations() -> list[Implementation]:
    """Return the hybrids for every provider of ML-KEM-768 / ML-DSA-65 that is installed."""
    components: dict[str, dict[str, Implementation]] = {
        "openssl": {i.algorithm: i for i in openssl.implementations()}
    }
    try:
        from ..providers import reference
    except ImportError as error:
        log.debug("reference hybrids unavailable: %s", error)
    else:
        components["reference"] = {i.algorithm: i for i in reference.implementations()}

    ed25519 = components["openssl"]["ed25519"]
    found: list[Implementation] = []
    for provider, table in components.items():
        found.append(bind(XWing, "x-wing", provider=provider, mlkem=table["ml-kem-768"]))
        found.append(
            bind(
                CompositeMLDSA65Ed25519,
                "ml-dsa-65-ed25519",
                provider=provider,
                mldsa=table["ml-dsa-65"],
                ed25519=ed25519,
            )
        )
    return found
