"""HPKE base mode interoperates with pyca/cryptography's single-shot HPKE in both directions."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519

from agile import hpke
from agile.errors import UnsupportedAlgorithm
from agile.registry import PrivateKey

MESSAGE = b"interop message" * 20
INFO = b"interop info"


def _pyca_private(kem: str, key: PrivateKey) -> Any:
    """Return cryptography's private key object for an agile private key's bytes."""
    if kem == "x25519":
        return x25519.X25519PrivateKey.from_private_bytes(key.data)
    if kem in ("p256", "p384"):
        curve = ec.SECP256R1() if kem == "p256" else ec.SECP384R1()
        return ec.derive_private_key(int.from_bytes(key.data, "big"), curve)
    if kem == "ml-kem-768":
        return mlkem.MLKEM768PrivateKey.from_seed_bytes(key.data)
    if kem == "ml-kem-1024":
        return mlkem.MLKEM1024PrivateKey.from_seed_bytes(key.data)
    # X-Wing (draft-connolly-cfrg-xwing-kem): SHAKE256(seed, 96) contains the ML-KEM-768 seed
    # d || z and then the X25519 private key.
    expanded = hashlib.shake_256(key.data).digest(96)
    return pyca_hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


PYCA_KEMS = {
    "x25519": pyca_hpke.KEM.X25519,
    "p256": pyca_hpke.KEM.P256,
    "p384": pyca_hpke.KEM.P384,
    "ml-kem-768": pyca_hpke.KEM.MLKEM768,
    "ml-kem-1024": pyca_hpke.KEM.MLKEM1024,
    "x-wing": pyca_hpke.KEM.MLKEM768_X25519,
}
SUITES = [
    ("x25519", "hkdf-sha256", "aes-128-gcm", pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_128_GCM),
    ("p256", "hkdf-sha256", "aes-256-gcm", pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM),
    ("p384", "hkdf-sha384", "aes-256-gcm", pyca_hpke.KDF.HKDF_SHA384, pyca_hpke.AEAD.AES_256_GCM),
    (
        "ml-kem-768",
        "hkdf-sha256",
        "chacha20-poly1305",
        pyca_hpke.KDF.HKDF_SHA256,
        pyca_hpke.AEAD.CHACHA20_POLY1305,
    ),
    (
        "ml-kem-1024",
        "hkdf-sha512",
        "aes-256-gcm",
        pyca_hpke.KDF.HKDF_SHA512,
        pyca_hpke.AEAD.AES_256_GCM,
    ),
    ("x-wing", "hkdf-sha256", "aes-256-gcm", pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM),
]


def _suites(row: tuple[Any, ...]) -> tuple[hpke.Suite, Any, Any]:
    kem, kdf, aead, pyca_kdf, pyca_aead = row
    try:
        suite = hpke.Suite.from_ids(kem, kdf, aead)
    except UnsupportedAlgorithm as error:
        pytest.skip(str(error))
    private_key = suite.kem_impl.generate()
    pyca_suite = pyca_hpke.Suite(PYCA_KEMS[kem], pyca_kdf, pyca_aead)
    return suite, private_key, pyca_suite


@pytest.mark.parametrize("row", SUITES, ids=[row[0] for row in SUITES])
def test_pyca_seals_agile_opens(row: tuple[Any, ...]) -> None:
    suite, private_key, pyca_suite = _suites(row)
    pyca_private = _pyca_private(row[0], private_key)

    sealed = pyca_suite.encrypt(MESSAGE, pyca_private.public_key(), info=INFO)
    enc, ciphertext = sealed[: suite.n_enc], sealed[suite.n_enc :]

    assert hpke.open(suite, enc, private_key, ciphertext, INFO) == MESSAGE


@pytest.mark.parametrize("row", SUITES, ids=[row[0] for row in SUITES])
def test_agile_seals_pyca_opens(row: tuple[Any, ...]) -> None:
    suite, private_key, pyca_suite = _suites(row)
    pyca_private = _pyca_private(row[0], private_key)

    enc, ciphertext = hpke.seal(suite, private_key.public_key, MESSAGE, INFO)

    assert pyca_suite.decrypt(enc + ciphertext, pyca_private, info=INFO) == MESSAGE
