"""Fixtures of the he tests: one key pair per session, and a reader for Milagro's vector files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import he
from he.keys import PaillierPrivateKey, PaillierPublicKey
from tests.he.he_helpers import agile


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


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Return a directory with a keystore holding the paillier-2048 keyset 'agg'.

    AGILE_HOME and AGILE_PASSPHRASE point at it for the module's tests, and are
    put back afterwards.
    """
    root = tmp_path_factory.mktemp("he-cli")
    home = root / "keystore"
    home.mkdir(mode=0o700)
    saved = {name: os.environ.get(name) for name in ("AGILE_HOME", "AGILE_PASSPHRASE")}
    os.environ["AGILE_HOME"] = str(home)
    os.environ["AGILE_PASSPHRASE"] = "correct horse battery staple"
    result = agile(
        "keyset", "create", "agg", "--purpose", "homomorphic",
        "--algorithm", "paillier-2048", "--policy", "legacy",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
