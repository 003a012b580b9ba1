"""Interoperability with phe (python-paillier 1.5, GPL-3.0, the optional extra ``phe``).

phe uses the same scheme (g = n + 1, max_int = n // 3 for signed values) and
encodes numbers as mantissa * 16**exponent, so keys and ciphertexts cross
unchanged: a phe ``EncryptedNumber`` is this package's ciphertext with a base-16
exponent.  Fixed-precision numbers (base 10, exponent < 0) have no phe form.

phe is imported inside each function, so that the core of ``he`` never needs it.
"""

from __future__ import annotations

from typing import Any

from agile.errors import HomomorphicError, InvalidArgument, InvalidKey, ProviderUnavailable

from .ciphertext import EncryptedNumber
from .encoding import FLOAT_BASE, MAX_EXPONENT, brief_repr
from .keys import PARAMETERS, PaillierPrivateKey, PaillierPublicKey

__all__ = [
    "to_phe_public_key",
    "to_phe_private_key",
    "from_phe_public_key",
    "from_phe_private_key",
    "to_phe",
    "from_phe",
]


def _phe() -> Any:
    try:
        import phe
    except ImportError:
        raise ProviderUnavailable(
            "phe is not installed",
            fix="pip install 'agile-crypto[phe]' (phe is GPL-3.0, used only for interoperability)",
        ) from None
    return phe


def _check_type(value: Any, expected: type, name: str) -> None:
    if not isinstance(value, expected):
        raise InvalidArgument(
            f"expected {name}, got {type(value).__name__}",
            fix=f"pass {name}",
        )


def to_phe_public_key(public_key: PaillierPublicKey) -> Any:
    """Return a phe.PaillierPublicKey with the same n."""
    return _phe().PaillierPublicKey(int(public_key.n))


def to_phe_private_key(private_key: PaillierPrivateKey) -> Any:
    """Return a phe.PaillierPrivateKey with the same primes."""
    phe = _phe()
    public = phe.PaillierPublicKey(int(private_key.public_key.n))
    return phe.PaillierPrivateKey(public, int(private_key.p), int(private_key.q))


def from_phe_public_key(key: Any) -> PaillierPublicKey:
    """Return the public key of a phe.PaillierPublicKey, after checking that g = n + 1."""
    _check_type(key, _phe().PaillierPublicKey, "a phe.PaillierPublicKey")
    if key.g != key.n + 1:
        raise InvalidKey(
            "the phe public key does not use g = n + 1",
            fix="create the key with phe.generate_paillier_keypair",
        )
    public = PaillierPublicKey(key.n)
    # Only the registered sizes can be stored, serialized and checked against a policy.
    if public.bits not in {row.bits for row in PARAMETERS.values()}:
        raise InvalidKey(
            f"the phe key has a {public.bits}-bit modulus; agile uses 2048, 3072 or 4096 bits",
            fix="generate the key with phe.generate_paillier_keypair(n_length=2048) or larger",
        )
    public.validate()
    return public


def from_phe_private_key(key: Any) -> PaillierPrivateKey:
    """Return the private key of a phe.PaillierPrivateKey (its primes are checked again)."""
    _check_type(key, _phe().PaillierPrivateKey, "a phe.PaillierPrivateKey")
    from_phe_public_key(key.public_key)
    return PaillierPrivateKey.from_primes(key.p, key.q)


def to_phe(number: EncryptedNumber, public_key: Any = None) -> Any:
    """Return a phe.EncryptedNumber; ``public_key`` is the phe key to attach (else a new one)."""
    _check_type(number, EncryptedNumber, "an he.EncryptedNumber")
    if number.exponent != 0 and number.base != FLOAT_BASE:
        raise HomomorphicError(
            f"a base-{number.base} number with exponent {number.exponent} has no phe form "
            "(phe uses base 16)",
            fix="encrypt floats without precision=, or integers, for values meant for phe",
        )
    phe = _phe()
    key = public_key if public_key is not None else to_phe_public_key(number.public_key)
    if key.n != number.public_key.n:
        raise HomomorphicError(
            f"the phe key does not match key {number.public_key.key_id}",
            fix="pass the phe key made from the same n",
        )
    return phe.EncryptedNumber(key, int(number.ciphertext), number.exponent)


def from_phe(
    encrypted: Any, public_key: PaillierPublicKey | None = None, *, bound: int | None = None
) -> EncryptedNumber:
    """Return the EncryptedNumber of a phe.EncryptedNumber, after checking the ciphertext.

    phe does not track how large a value can be; pass ``bound`` (the largest
    possible |mantissa|) to keep the overflow budget, otherwise it is unknown.
    """
    _check_type(encrypted, _phe().EncryptedNumber, "a phe.EncryptedNumber")
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
        raise InvalidArgument(
            f"bound {brief_repr(bound)} is not an integer >= 0",
            fix="pass the largest possible |mantissa|, or None when it is unknown",
        )
    key = public_key or from_phe_public_key(encrypted.public_key)
    if key.n != encrypted.public_key.n:
        raise HomomorphicError(
            f"the phe number is not under key {key.key_id}",
            fix="pass the public key the phe number was encrypted with",
        )
    ciphertext = key.check_ciphertext(encrypted.ciphertext(be_secure=False))
    exponent = int(encrypted.exponent)
    if abs(exponent) > MAX_EXPONENT:
        # Decoding costs 16^|exponent|, so a number deserialized with a huge exponent would hang.
        raise HomomorphicError(
            f"the phe number has exponent {exponent}, outside -{MAX_EXPONENT}..{MAX_EXPONENT}",
            fix="pass a number that phe encoded itself, not one with a modified exponent",
        )
    # phe's results of additions and products are not obfuscated, and ciphertext(be_secure=False)
    # does not obfuscate them, so the number counts as computed rather than fresh.
    return EncryptedNumber(key, ciphertext, exponent, FLOAT_BASE, bound, fresh=False)
