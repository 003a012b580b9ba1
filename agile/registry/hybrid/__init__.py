"""Hybrid constructions built from registry parts: X-Wing and composite ML-DSA-65 + Ed25519."""


def implementations() -> list:
    return []
