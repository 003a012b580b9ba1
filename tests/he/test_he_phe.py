"""Interoperability with phe: keys and EncryptedNumbers cross in both directions."""

from __future__ import annotations

import pytest

import he
from agile.errors import HomomorphicError, InvalidArgument, InvalidKey
from he import phe_interop
from he.keys import PaillierPrivateKey, PaillierPublicKey

phe = pytest.importorskip("phe", reason="phe (GPL-3.0, optional extra 'phe') is not installed")

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]


def test_he_to_phe_float(keypair: Keys) -> None:
    public, private = keypair
    phe_private = phe_interop.to_phe_private_key(private)
    number = phe_interop.to_phe(public.encrypt(3.75))
    assert phe_private.decrypt(number) == 3.75


def test_he_to_phe_negative_integer(keypair: Keys) -> None:
    public, private = keypair
    phe_private = phe_interop.to_phe_private_key(private)
    number = phe_interop.to_phe(public.encrypt(-12) + public.encrypt(2))
    assert phe_private.decrypt(number) == -10


def test_phe_to_he_float(keypair: Keys) -> None:
    public, private = keypair
    phe_public = phe_interop.to_phe_public_key(public)
    number = phe_interop.from_phe(phe_public.encrypt(-0.125))
    assert private.decrypt(number) == -0.125


def test_phe_to_he_sum(keypair: Keys) -> None:
    public, private = keypair
    phe_public = phe_interop.to_phe_public_key(public)
    imported = phe_interop.from_phe(phe_public.encrypt(40), public)
    assert private.decrypt(imported + public.encrypt(2)) == 42


def test_phe_keypair_import() -> None:
    phe_public, phe_private = phe.generate_paillier_keypair(n_length=2048)
    private = phe_interop.from_phe_private_key(phe_private)
    number = phe_interop.from_phe(phe_public.encrypt(17))
    assert private.decrypt(number) == 17


def test_phe_public_import(keypair: Keys) -> None:
    public, _ = keypair
    phe_public = phe_interop.to_phe_public_key(public)
    assert phe_interop.from_phe_public_key(phe_public) == public


def test_precision_number_has_no_phe_form(public_key: PaillierPublicKey) -> None:
    with pytest.raises(HomomorphicError, match="no phe form"):
        phe_interop.to_phe(public_key.encrypt(1.5, precision=2))


def test_phe_wrong_key(public_key: PaillierPublicKey) -> None:
    other, _ = he.generate_keypair(2048)
    phe_public = phe_interop.to_phe_public_key(other)
    with pytest.raises(HomomorphicError):
        phe_interop.from_phe(phe_public.encrypt(1), public_key)


def test_phe_huge_exponent_rejected(keypair: Keys) -> None:
    public, _ = keypair
    phe_public = phe_interop.to_phe_public_key(public)
    encrypted = phe_public.encrypt(5)
    forged = phe.EncryptedNumber(phe_public, encrypted.ciphertext(), exponent=10**11)
    with pytest.raises(HomomorphicError, match="exponent 100000000000"):
        phe_interop.from_phe(forged)


def test_from_phe_not_phe_number(public_key: PaillierPublicKey) -> None:
    with pytest.raises(InvalidArgument, match="phe.EncryptedNumber"):
        phe_interop.from_phe(public_key.encrypt(1))


def test_from_phe_public_key_not_phe() -> None:
    with pytest.raises(InvalidArgument, match="phe.PaillierPublicKey"):
        phe_interop.from_phe_public_key("not a key")


def test_from_phe_negative_bound(public_key: PaillierPublicKey) -> None:
    phe_public = phe_interop.to_phe_public_key(public_key)
    with pytest.raises(InvalidArgument, match="bound"):
        phe_interop.from_phe(phe_public.encrypt(1), bound=-1)


@pytest.mark.parametrize("part", ["public", "private"])
def test_small_phe_key_rejected(part: str) -> None:
    public, private = phe.generate_paillier_keypair(n_length=1024)
    with pytest.raises(InvalidKey, match="1024-bit modulus"):
        if part == "public":
            phe_interop.from_phe_public_key(public)
        else:
            phe_interop.from_phe_private_key(private)
