"""The typed lookup of the homomorphic family: registry.homomorphic."""

from __future__ import annotations

import pytest

from agile import registry
from agile.errors import UnknownProvider, UnsupportedAlgorithm
from agile.registry import Family, HomomorphicScheme
from tests.registry.registry_cases import pairs

HOMOMORPHIC_PAIRS = pairs(Family.HOMOMORPHIC)


def test_every_size_registered() -> None:
    algorithms = sorted({algorithm for algorithm, _provider in HOMOMORPHIC_PAIRS})
    assert algorithms == ["paillier-2048", "paillier-3072", "paillier-4096"]


@pytest.mark.parametrize(("algorithm", "provider"), HOMOMORPHIC_PAIRS)
def test_lookup_returns_interface(algorithm: str, provider: str) -> None:
    assert isinstance(registry.homomorphic(algorithm, provider), HomomorphicScheme)


@pytest.mark.parametrize(("algorithm", "provider"), HOMOMORPHIC_PAIRS)
def test_lookup_matches_get(algorithm: str, provider: str) -> None:
    assert registry.homomorphic(algorithm, provider) is registry.get(algorithm, provider)


def test_preferred_provider() -> None:
    assert registry.homomorphic("paillier-3072").provider == "gmpy2"


def test_unknown_algorithm() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="paillier-1024"):
        registry.homomorphic("paillier-1024")


def test_unknown_provider() -> None:
    with pytest.raises(UnknownProvider, match="nope"):
        registry.homomorphic("paillier-2048", "nope")


def test_provider_without_algorithm() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="does not implement 'paillier-2048'"):
        registry.homomorphic("paillier-2048", "openssl")


def test_wrong_family() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="in the kem family, not in homomorphic"):
        registry.homomorphic("x25519")


def test_kem_lookup_rejects_paillier() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="in the homomorphic family, not in kem"):
        registry.kem("paillier-2048")


def test_interface_is_abstract() -> None:
    with pytest.raises(TypeError):
        HomomorphicScheme()  # type: ignore[abstract]
