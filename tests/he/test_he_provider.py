"""The gmpy2 provider in the registry, and Paillier keys stored in an agile keyset."""

from __future__ import annotations

from pathlib import Path

import pytest

import he.provider
from agile import registry
from agile.errors import InvalidArgument, InvalidCiphertext, InvalidKey
from agile.registry import HomomorphicScheme, KeyForm, PrivateKey
from he.keys import PaillierPrivateKey


def test_provider_registered() -> None:
    assert "gmpy2" in registry.providers_for("paillier-2048")


@pytest.mark.parametrize("algorithm", ["paillier-2048", "paillier-3072", "paillier-4096"])
def test_provider_per_size(algorithm: str) -> None:
    assert registry.get(algorithm, "gmpy2").algorithm == algorithm


@pytest.fixture(scope="module")
def scheme() -> HomomorphicScheme:
    return registry.homomorphic("paillier-2048", "gmpy2")


@pytest.fixture(scope="module")
def registry_key(scheme: HomomorphicScheme, private_key: PaillierPrivateKey) -> PrivateKey:
    """Return the session's he key pair as a registry private key."""
    return scheme.load_private(private_key.to_bytes(), KeyForm.RAW)


def test_interface_reexported() -> None:
    assert he.provider.HomomorphicScheme is HomomorphicScheme


def test_lookup_is_typed(scheme: HomomorphicScheme) -> None:
    assert isinstance(scheme, HomomorphicScheme)


def test_generate_load_roundtrip(scheme: HomomorphicScheme) -> None:
    private = scheme.generate()
    loaded = scheme.load_private(private.data, KeyForm.RAW)
    public = scheme.load_public(private.public_key.data)
    number = scheme.encrypt(public, 41)
    assert scheme.decrypt(loaded, number + 1) == 42


def test_private_sizes(scheme: HomomorphicScheme) -> None:
    private = scheme.generate()
    assert len(private.data) == 256
    assert len(private.public_key.data) == 256


def test_load_wrong_form(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    with pytest.raises(InvalidKey):
        scheme.load_private(registry_key.data, KeyForm.PKCS8)


def test_load_other_size(registry_key: PrivateKey) -> None:
    with pytest.raises(InvalidKey):
        registry.homomorphic("paillier-3072", "gmpy2").load_private(registry_key.data)


# Raw textbook operations on integers.


def test_raw_roundtrip(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    ciphertext = scheme.raw_encrypt(registry_key.public_key, 12345)
    assert scheme.raw_decrypt(registry_key, ciphertext) == 12345


def test_raw_types_are_int(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    ciphertext = scheme.raw_encrypt(registry_key.public_key, 1)
    assert type(ciphertext) is int
    assert type(scheme.raw_decrypt(registry_key, ciphertext)) is int


def test_raw_encrypt_given_r(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey
) -> None:
    n = int(private_key.public_key.n)
    nsquare = n * n
    r = 0x1234567
    expected = (1 + 7 * n) * pow(r, n, nsquare) % nsquare
    assert scheme.raw_encrypt(registry_key.public_key, 7, r) == expected


def test_raw_encrypt_fresh_r_differs(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    public = registry_key.public_key
    assert scheme.raw_encrypt(public, 9) != scheme.raw_encrypt(public, 9)


def test_raw_encrypt_largest_plaintext(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey
) -> None:
    largest = int(private_key.public_key.n) - 1
    ciphertext = scheme.raw_encrypt(registry_key.public_key, largest)
    assert scheme.raw_decrypt(registry_key, ciphertext) == largest


def test_raw_add_sums_mod_n(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey
) -> None:
    public = registry_key.public_key
    n = int(private_key.public_key.n)
    first = scheme.raw_encrypt(public, n - 2)
    second = scheme.raw_encrypt(public, 5)
    total = scheme.raw_add(public, first, second)
    assert scheme.raw_decrypt(registry_key, total) == 3


def test_raw_add_is_product(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey
) -> None:
    public = registry_key.public_key
    nsquare = int(private_key.public_key.nsquare)
    first = scheme.raw_encrypt(public, 1)
    second = scheme.raw_encrypt(public, 2)
    assert scheme.raw_add(public, first, second) == first * second % nsquare


@pytest.mark.parametrize("name", ["-1", "n", "n+1"])
def test_raw_encrypt_plaintext_range(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey, name: str
) -> None:
    n = int(private_key.public_key.n)
    plaintext = {"-1": -1, "n": n, "n+1": n + 1}[name]
    with pytest.raises(InvalidArgument, match="out of range 0 <= m < n"):
        scheme.raw_encrypt(registry_key.public_key, plaintext)


@pytest.mark.parametrize("plaintext", [1.0, "7", b"\x07", True, None])
def test_raw_encrypt_plaintext_type(
    scheme: HomomorphicScheme, registry_key: PrivateKey, plaintext: object
) -> None:
    with pytest.raises(InvalidArgument, match="must be an integer"):
        scheme.raw_encrypt(registry_key.public_key, plaintext)  # type: ignore[arg-type]


@pytest.mark.parametrize("r", ["0", "1", "n-1", "n", "p", "q"])
def test_raw_encrypt_bad_r(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey, r: str
) -> None:
    n, p, q = int(private_key.public_key.n), int(private_key.p), int(private_key.q)
    value = {"0": 0, "1": 1, "n-1": n - 1, "n": n, "p": p, "q": q}[r]
    with pytest.raises(InvalidArgument, match="Paillier randomness r"):
        scheme.raw_encrypt(registry_key.public_key, 5, value)


def _outside_group(private_key: PaillierPrivateKey) -> dict[str, int]:
    """Return integers that are not in Z*_{n^2}, by name."""
    n = int(private_key.public_key.n)
    return {
        "0": 0,
        "negative": -5,
        "n^2": n * n,
        "above n^2": n * n + 1,
        "multiple of p": int(private_key.p) * 7,
        "multiple of q": int(private_key.q) * 11,
    }


OUTSIDE = ["0", "negative", "n^2", "above n^2", "multiple of p", "multiple of q"]


@pytest.mark.parametrize("name", OUTSIDE)
def test_raw_decrypt_outside_group(
    scheme: HomomorphicScheme, registry_key: PrivateKey, private_key: PaillierPrivateKey, name: str
) -> None:
    ciphertext = _outside_group(private_key)[name]
    with pytest.raises(InvalidCiphertext, match="Paillier ciphertext"):
        scheme.raw_decrypt(registry_key, ciphertext)


@pytest.mark.parametrize("name", OUTSIDE)
@pytest.mark.parametrize("position", [0, 1], ids=["first", "second"])
def test_raw_add_outside_group(
    scheme: HomomorphicScheme,
    registry_key: PrivateKey,
    private_key: PaillierPrivateKey,
    name: str,
    position: int,
) -> None:
    public = registry_key.public_key
    operands = [scheme.raw_encrypt(public, 1)] * 2
    operands[position] = _outside_group(private_key)[name]
    with pytest.raises(InvalidCiphertext, match="Paillier ciphertext"):
        scheme.raw_add(public, *operands)


@pytest.mark.parametrize("ciphertext", [1.0, "12", b"\x0c", None])
def test_raw_decrypt_ciphertext_type(
    scheme: HomomorphicScheme, registry_key: PrivateKey, ciphertext: object
) -> None:
    with pytest.raises(InvalidCiphertext, match="must be an integer"):
        scheme.raw_decrypt(registry_key, ciphertext)  # type: ignore[arg-type]


def test_raw_encrypt_private_key(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    with pytest.raises(InvalidKey, match="expected a PublicKey"):
        scheme.raw_encrypt(registry_key, 1)  # type: ignore[arg-type]


def test_raw_decrypt_public_key(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    ciphertext = scheme.raw_encrypt(registry_key.public_key, 1)
    with pytest.raises(InvalidKey, match="expected a PrivateKey"):
        scheme.raw_decrypt(registry_key.public_key, ciphertext)  # type: ignore[arg-type]


def test_raw_add_key_bytes(scheme: HomomorphicScheme, registry_key: PrivateKey) -> None:
    ciphertext = scheme.raw_encrypt(registry_key.public_key, 1)
    with pytest.raises(InvalidKey, match="got bytes"):
        scheme.raw_add(registry_key.public_key.data, ciphertext, ciphertext)  # type: ignore[arg-type]


def test_raw_encrypt_other_algorithm_key(registry_key: PrivateKey) -> None:
    other = registry.homomorphic("paillier-3072", "gmpy2")
    with pytest.raises(InvalidKey, match="key is for paillier-2048, not paillier-3072"):
        other.raw_encrypt(registry_key.public_key, 1)


def test_raw_encrypt_other_key_kind(scheme: HomomorphicScheme) -> None:
    x25519 = registry.kem("x25519").generate()
    with pytest.raises(InvalidKey, match="key is for x25519"):
        scheme.raw_encrypt(x25519.public_key, 1)


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
