"""Helpers for the registry tests: every (algorithm, provider) pair installed here."""

from __future__ import annotations

from agile import registry
from agile.registry import Family


def pairs(*families: Family) -> list[tuple[str, str]]:
    """Return (algorithm, provider) for every installed implementation of ``families``."""
    found = []
    for family in families:
        for descriptor in registry.descriptors(family):
            for provider in registry.providers_for(descriptor.id):
                found.append((descriptor.id, provider))
    return found


def flip(data: bytes, index: int = 0) -> bytes:
    """Return ``data`` with the lowest bit of byte ``index`` flipped."""
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)
