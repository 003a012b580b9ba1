"""Key generation, the compact byte encodings and the checks on untrusted inputs."""

from __future__ import annotations

import gmpy2
import pytest

import he
from agile.errors import InvalidArgument, InvalidCiphertext, InvalidKey
from he.keys import PaillierPrivateKey, PaillierPublicKey


def test_keygen_exact_size(private_key: PaillierPrivateKey) -> None:
    assert private_key.public_key.bits == 2048


def test_keygen_prime_sizes(private_key: PaillierPrivateKey) -> None:
    assert private_key.p.bit_length() == 1024
    assert private_key.q.bit_length() == 1024


def test_keygen_distinct_primes(private_key: PaillierPrivateKey) -> None:
    assert private_key.p != private_key.q


def test_keygen_primes_prime(private_key: PaillierPrivateKey) -> None:
    assert gmpy2.is_prime(private_key.p, 40)
    assert gmpy2.is_prime(private_key.q, 40)


def test_keygen_3072_size() -> None:
    public, _ = he.generate_keypair(3072)
    assert public.bits == 3072


def test_keygen_unsupported_size() -> None:
    with pytest.raises(InvalidArgument):
        he.generate_keypair(1024)


def test_public_bytes_roundtrip(public_key: PaillierPublicKey) -> None:
    data = public_key.to_bytes()
    assert len(data) == 256
    assert PaillierPublicKey.from_bytes(data, 2048) == public_key


def test_private_bytes_roundtrip(private_key: PaillierPrivateKey) -> None:
    data = private_key.to_bytes()
    assert len(data) == 256
    loaded = PaillierPrivateKey.from_bytes(data, 2048)
    assert loaded.public_key == private_key.public_key


def test_private_bytes_truncated(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidKey):
        PaillierPrivateKey.from_bytes(private_key.to_bytes()[:-1], 2048)


def test_private_bytes_wrong_size(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidKey):
        PaillierPrivateKey.from_bytes(private_key.to_bytes(), 3072)


def test_public_bytes_even_modulus() -> None:
    data = ((1 << 2047) + 2).to_bytes(256, "big")
    with pytest.raises(InvalidKey):
        PaillierPublicKey.from_bytes(data, 2048)


def test_from_primes_equal(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidKey, match="equal"):
        PaillierPrivateKey.from_primes(private_key.p, private_key.p)


def test_from_primes_composite(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidKey, match="not prime"):
        PaillierPrivateKey.from_primes(private_key.p, private_key.q + 2)


def test_djn_key_bytes_roundtrip() -> None:
    public, private = he.generate_keypair(2048, djn=True)
    loaded = PaillierPrivateKey.from_bytes(private.to_bytes(), 2048)
    assert loaded.public_key.djn_base == public.djn_base
    assert PaillierPublicKey.from_bytes(public.to_bytes(), 2048).djn_base == public.djn_base


def test_ciphertext_zero(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidCiphertext, match="out of range"):
        public_key.check_ciphertext(0)


def test_ciphertext_nsquare(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidCiphertext, match="out of range"):
        public_key.check_ciphertext(public_key.nsquare)


def test_ciphertext_shares_factor(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidCiphertext, match="shares a factor"):
        private_key.raw_decrypt(private_key.p * 12345)


def test_randomness_r_equals_p(private_key: PaillierPrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="shares a factor"):
        private_key.public_key.encrypt(1, r=private_key.p)


def test_randomness_r_zero(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="out of range"):
        public_key.encrypt(1, r=0)


def test_randomness_r_n(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="out of range"):
        public_key.encrypt(1, r=public_key.n)


def test_caller_randomness_decrypts(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(42, r=12345)) == 42


def test_caller_randomness_deterministic(public_key: PaillierPublicKey) -> None:
    first = public_key.encrypt(42, r=12345).ciphertext
    assert public_key.encrypt(42, r=12345).ciphertext == first


def test_crt_mask_matches_public(private_key: PaillierPrivateKey) -> None:
    assert private_key.mask(987654321) == private_key.public_key.mask(987654321)


def test_fresh_masks_differ(public_key: PaillierPublicKey) -> None:
    assert public_key.encrypt(1).ciphertext != public_key.encrypt(1).ciphertext


def test_key_id_stable(private_key: PaillierPrivateKey) -> None:
    again = PaillierPublicKey(private_key.public_key.n)
    assert again.key_id == private_key.public_key.key_id


def test_djn_key_blum_primes() -> None:
    _, private = he.generate_keypair(2048, djn=True)
    assert private.p % 4 == 3
    assert private.q % 4 == 3
    assert gmpy2.gcd(private.p - 1, private.q - 1) == 2
