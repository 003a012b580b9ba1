"""The ``openssl`` provider: pyca/cryptography and the OpenSSL it bundles.

cryptography 50 wheels bundle OpenSSL 4.0, which brings ML-KEM-768/1024 (not 512),
ML-DSA-44/65/87 from 32-byte seeds, AES-GCM-SIV and Argon2id.  ML-DSA signing there
is always randomized (hedged), so deterministic signing lives in ``reference``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV, ChaCha20Poly1305

from ..interfaces import Implementation
from ._binding import bind
from ._dhkem import P256_PARAMS, P384_PARAMS
from ._openssl_kem import (
    OpenSSLDHKEM,
    OpenSSLECGroup,
    OpenSSLMLKEM,
    OpenSSLRSAOAEP,
    OpenSSLX25519Group,
)
from ._openssl_signature import OpenSSLECDSA, OpenSSLEdDSA, OpenSSLMLDSA, OpenSSLRSAPSS
from ._openssl_symmetric import OpenSSLAEAD, OpenSSLArgon2id, OpenSSLHKDF, OpenSSLScrypt

__all__ = ["implementations"]


def implementations() -> list[Implementation]:
    """Return every algorithm this provider implements."""
    found: list[Implementation] = [
        bind(OpenSSLDHKEM, "x25519", group=OpenSSLX25519Group()),
        bind(OpenSSLDHKEM, "p256", group=OpenSSLECGroup(P256_PARAMS, ec.SECP256R1(), "p256")),
        bind(OpenSSLDHKEM, "p384", group=OpenSSLECGroup(P384_PARAMS, ec.SECP384R1(), "p384")),
    ]
    found += [
        bind(
            OpenSSLMLKEM,
            "ml-kem-768",
            _private_cls=mlkem.MLKEM768PrivateKey,
            _public_cls=mlkem.MLKEM768PublicKey,
        ),
        bind(
            OpenSSLMLKEM,
            "ml-kem-1024",
            _private_cls=mlkem.MLKEM1024PrivateKey,
            _public_cls=mlkem.MLKEM1024PublicKey,
        ),
        bind(OpenSSLRSAOAEP, "rsa-oaep-2048", _bits=2048),
        bind(OpenSSLRSAOAEP, "rsa-oaep-3072", _bits=3072),
    ]
    found += [
        bind(
            OpenSSLEdDSA,
            "ed25519",
            _private_cls=ed25519.Ed25519PrivateKey,
            _public_cls=ed25519.Ed25519PublicKey,
        ),
        bind(
            OpenSSLEdDSA,
            "ed448",
            _private_cls=ed448.Ed448PrivateKey,
            _public_cls=ed448.Ed448PublicKey,
        ),
        bind(OpenSSLECDSA, "ecdsa-p256-sha256", _curve=ec.SECP256R1(), _hash=hashes.SHA256),
        bind(OpenSSLECDSA, "ecdsa-p384-sha384", _curve=ec.SECP384R1(), _hash=hashes.SHA384),
        bind(OpenSSLRSAPSS, "rsa-pss-2048-sha256", _bits=2048),
        bind(OpenSSLRSAPSS, "rsa-pss-3072-sha256", _bits=3072),
    ]
    for level in (44, 65, 87):
        found.append(
            bind(
                OpenSSLMLDSA,
                f"ml-dsa-{level}",
                _private_cls=getattr(mldsa, f"MLDSA{level}PrivateKey"),
                _public_cls=getattr(mldsa, f"MLDSA{level}PublicKey"),
            )
        )
    found += [
        bind(OpenSSLAEAD, "aes-128-gcm", _cipher_cls=AESGCM),
        bind(OpenSSLAEAD, "aes-256-gcm", _cipher_cls=AESGCM),
        bind(OpenSSLAEAD, "chacha20-poly1305", _cipher_cls=ChaCha20Poly1305),
        bind(OpenSSLAEAD, "aes-256-gcm-siv", _cipher_cls=AESGCMSIV),
        bind(OpenSSLHKDF, "hkdf-sha256", _hash_name="sha256"),
        bind(OpenSSLHKDF, "hkdf-sha384", _hash_name="sha384"),
        bind(OpenSSLHKDF, "hkdf-sha512", _hash_name="sha512"),
        OpenSSLArgon2id(),
        OpenSSLScrypt(),
    ]
    return found
