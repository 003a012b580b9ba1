"""The algorithm registry: descriptors (data), family interfaces and provider lookup.

Example::

    from agile import registry

    kem = registry.kem("x-wing")  # the preferred provider, openssl when installed
    private_key = kem.generate()
    ciphertext, shared_secret = kem.encapsulate(private_key.public_key)
    assert kem.decapsulate(private_key, ciphertext) == shared_secret

    signer = registry.signature("ml-dsa-65", "pqcrypto")  # a named provider
    paillier = registry.homomorphic("paillier-2048")  # the gmpy2 provider of the he package
"""

from .descriptors import BY_ID, DESCRIPTORS, AlgorithmDescriptor, Family, Sizes
from .interfaces import (
    AEAD,
    KDF,
    KEM,
    AEADContext,
    HomomorphicScheme,
    Implementation,
    KeyForm,
    PasswordKDF,
    PrivateKey,
    PublicKey,
    SignatureScheme,
)
from .lookup import (
    PREFERENCE,
    aead,
    descriptor,
    descriptors,
    get,
    homomorphic,
    implementations,
    kdf,
    kem,
    password_kdf,
    provider_names,
    providers_for,
    register,
    signature,
)

__all__ = [
    "AEAD",
    "AEADContext",
    "AlgorithmDescriptor",
    "BY_ID",
    "DESCRIPTORS",
    "Family",
    "HomomorphicScheme",
    "Implementation",
    "KDF",
    "KEM",
    "KeyForm",
    "PREFERENCE",
    "PasswordKDF",
    "PrivateKey",
    "PublicKey",
    "SignatureScheme",
    "Sizes",
    "aead",
    "descriptor",
    "descriptors",
    "get",
    "homomorphic",
    "implementations",
    "kdf",
    "kem",
    "password_kdf",
    "provider_names",
    "providers_for",
    "register",
    "signature",
]
