"""Known-answer tests from Apache Milagro crypto-c's Paillier test vectors (2048-bit n)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from he.keys import PaillierPrivateKey, PaillierPublicKey

pytestmark = pytest.mark.shared_vectors

Reader = Callable[[str], list[dict[str, int]]]


def test_encrypt_with_given_r(milagro: Reader) -> None:
    for case in milagro("encrypt.txt"):
        key = PaillierPublicKey(case["N"])
        assert case["G"] == key.g
        ciphertext = key.raw_encrypt(case["PLAINTEXT"], key.mask(case["R"]))
        assert ciphertext == case["CIPHERTEXT"], f"test {case['TEST']}"


def test_decrypt_crt(milagro: Reader) -> None:
    for case in milagro("decrypt.txt"):
        key = PaillierPrivateKey.from_primes(case["P"], case["Q"])
        assert key.raw_decrypt(case["CIPHERTEXT"]) == case["PLAINTEXT"], f"test {case['TEST']}"


def test_add(milagro: Reader) -> None:
    for case in milagro("add.txt"):
        key = PaillierPublicKey(case["N"])
        total = key.raw_add(case["CIPHERTEXT1"], case["CIPHERTEXT2"])
        assert total == case["CIPHERTEXT"], f"test {case['TEST']}"


def test_keygen_from_primes(milagro: Reader) -> None:
    for case in milagro("keygen.txt"):
        key = PaillierPrivateKey.from_primes(case["P"], case["Q"])
        label = f"test {case['TEST']}"
        assert key.public_key.n == case["N"], label
        assert key.public_key.g == case["G"], label
        assert key.hp == case["MP"], label
        assert key.hq == case["MQ"], label
        assert key.p - 1 == case["LP"], label
        assert key.q - 1 == case["LQ"], label


def test_decrypt_of_encrypt(milagro: Reader) -> None:
    keys = {case["N"]: case for case in milagro("keygen.txt")}
    checked = 0
    for case in milagro("encrypt.txt"):
        primes = keys.get(case["N"])
        if primes is None:
            continue
        key = PaillierPrivateKey.from_primes(primes["P"], primes["Q"])
        assert key.raw_decrypt(case["CIPHERTEXT"]) == case["PLAINTEXT"]
        checked += 1
    assert checked > 0
