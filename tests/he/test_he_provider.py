"""The gmpy2 provider in the registry, and Paillier keys stored in an agile keyset."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile import registry
from agile.errors import InvalidKey
from agile.registry import KeyForm


def test_provider_registered() -> None:
    assert "gmpy2" in registry.providers_for("paillier-2048")


@pytest.mark.parametrize("algorithm", ["paillier-2048", "paillier-3072", "paillier-4096"])
def test_provider_per_size(algorithm: str) -> None:
    assert registry.get(algorithm, "gmpy2").algorithm == algorithm


def test_generate_load_roundtrip() -> None:
    implementation = registry.get("paillier-2048", "gmpy2")
    private = implementation.generate()  # type: ignore[attr-defined]
    loaded = implementation.load_private(private.data, KeyForm.RAW)  # type: ignore[attr-defined]
    public = implementation.load_public(private.public_key.data)  # type: ignore[attr-defined]
    number = implementation.encrypt(public, 41)  # type: ignore[attr-defined]
    assert implementation.decrypt(loaded, number + 1) == 42  # type: ignore[attr-defined]


def test_private_sizes() -> None:
    private = registry.get("paillier-2048", "gmpy2").generate()  # type: ignore[attr-defined]
    assert len(private.data) == 256
    assert len(private.public_key.data) == 256


def test_load_wrong_form() -> None:
    implementation = registry.get("paillier-2048", "gmpy2")
    private = implementation.generate()  # type: ignore[attr-defined]
    with pytest.raises(InvalidKey):
        implementation.load_private(private.data, KeyForm.PKCS8)  # type: ignore[attr-defined]


def test_load_other_size() -> None:
    private = registry.get("paillier-2048", "gmpy2").generate()  # type: ignore[attr-defined]
    with pytest.raises(InvalidKey):
        registry.get("paillier-3072", "gmpy2").load_private(private.data)  # type: ignore[attr-defined]


def test_keyset_stores_paillier(keystore: Path) -> None:
    keys = pytest.importorskip("agile.keys", reason="agile.keys is not in this checkout")
    store = keys.Keystore.open(keystore)
    keyset = store.create_keyset(
        "agg", purpose="homomorphic", algorithm="paillier-2048", policy="legacy"
    )
    key_id = keyset.primary.id
    public = keyset.public_key(key_id).handle
    private = store.keyset("agg").private_key(key_id).handle
    assert private.decrypt(public.encrypt(5) + public.encrypt(6)) == 11
