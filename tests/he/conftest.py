"""Fixtures of the he tests: one key pair per session, and a reader for Milagro's vector files."""

from __future__ import annotations

from pathlib import Path

import pytest

import he
from he.keys import PaillierPrivateKey, PaillierPublicKey


@pytest.fixture(scope="session")
def keypair() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Return a 2048-bit key pair shared by the tests that only need some key."""
    return he.generate_keypair(2048)


@pytest.fixture(scope="session")
def public_key(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPublicKey:
    return keypair[0]


@pytest.fixture(scope="session")
def private_key(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPrivateKey:
    return keypair[1]


def _read_milagro(path: Path) -> list[dict[str, int]]:
    cases: list[dict[str, int]] = []
    current: dict[str, int] = {}
    for line in path.read_text().splitlines():
        line = line.strip().rstrip(",")
        if not line:
            if current:
                cases.append(current)
                current = {}
            continue
        name, _, value = line.partition(" = ")
        current[name] = int(value, 16)
    if current:
        cases.append(current)
    return cases


@pytest.fixture(scope="session")
def milagro(shared_vectors: Path):  # type: ignore[no-untyped-def]
    """Return a reader of ``paillier-milagro/NAME``: one dict of integers per case."""

    def read(name: str) -> list[dict[str, int]]:
        cases = _read_milagro(shared_vectors / "paillier-milagro" / name)
        assert cases, f"no cases in {name}"
        return cases

    return read
