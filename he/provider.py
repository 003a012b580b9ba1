"""The ``gmpy2`` provider of paillier-2048/3072/4096 for the agile registry.

Registered through the entry point ``agile.providers: gmpy2`` so that generic
keyset code can generate, store, seal and load Paillier keys like any other.
Key bytes are the compact encodings of :mod:`he.keys`: the public key is n
(bits/8 bytes), the private key p || q (bits/16 bytes each), each optionally
followed by the Damgard-Jurik-Nielsen part.  The private key form is ``raw``.
The registry key objects carry the parsed :class:`~he.keys.PaillierPublicKey`
or :class:`~he.keys.PaillierPrivateKey` as their ``handle``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agile.errors import InvalidArgument, InvalidKey
from agile.registry.interfaces import HomomorphicScheme, KeyForm, PrivateKey, PublicKey

from .keys import (
    PARAMETERS,
    KeyParameters,
    PaillierPrivateKey,
    PaillierPublicKey,
    _integer,
    generate_keypair,
)

# HomomorphicScheme is defined in agile.registry.interfaces and stays importable from here.
__all__ = ["HomomorphicScheme", "GmpyPaillier", "implementations", "PROVIDER"]

PROVIDER = "gmpy2"


class GmpyPaillier(HomomorphicScheme):
    """Paillier on gmpy2 for one key size (subclassed per row of :data:`he.keys.PARAMETERS`)."""

    parameters: ClassVar[KeyParameters]
    provider = PROVIDER
    private_forms = frozenset({KeyForm.RAW})

    def _public(self, key: PaillierPublicKey) -> PublicKey:
        return PublicKey(self.algorithm, self.provider, key.to_bytes(), key)

    def _private(self, key: PaillierPrivateKey) -> PrivateKey:
        return PrivateKey(
            self.algorithm,
            self.provider,
            KeyForm.RAW,
            key.to_bytes(),
            self._public(key.public_key),
            key,
        )

    def generate(self) -> PrivateKey:
        """Generate a key pair whose n has exactly the algorithm's bit length."""
        _, private = generate_keypair(self.parameters.bits)
        return self._private(private)

    def load_private(self, data: bytes, form: KeyForm | str | None = None) -> PrivateKey:
        """Parse p || q (optionally || x); the primes are checked again."""
        if form is not None and form not in (KeyForm.RAW, KeyForm.RAW.value):
            # Compared by value, because KeyForm(form) would raise ValueError for an unknown name.
            name = form.value if isinstance(form, KeyForm) else form
            raise InvalidKey(
                f"{self.algorithm} private keys are stored in raw form, not {name!r}",
                fix="pass form='raw' or leave form unset",
            )
        return self._private(PaillierPrivateKey.from_bytes(_bytes(data), self.parameters.bits))

    def load_public(self, data: bytes) -> PublicKey:
        """Parse n (optionally || h_s)."""
        return self._public(PaillierPublicKey.from_bytes(_bytes(data), self.parameters.bits))

    def encrypt(self, public_key: PublicKey, value: Any, precision: int | None = None) -> Any:
        """Encrypt one number under ``public_key``; returns an :class:`he.EncryptedNumber`."""
        self._check_key(public_key, PublicKey)
        return public_key.handle.encrypt(value, precision)

    def decrypt(self, private_key: PrivateKey, ciphertext: Any) -> Any:
        """Decrypt an :class:`he.EncryptedNumber` (or a mean) with ``private_key``."""
        self._check_key(private_key, PrivateKey)
        return private_key.handle.decrypt(ciphertext)

    def raw_encrypt(self, public_key: PublicKey, plaintext: int, r: int | None = None) -> int:
        """Return (1 + n)^m * r^n mod n^2, with a fresh r from the CSPRNG unless r is given."""
        key: PaillierPublicKey = self._public_handle(public_key)
        m = _integer(plaintext, "Paillier plaintext", InvalidArgument)

        # mask() checks a caller-given r (1 < r < n - 1, gcd(r, n) = 1) before using it,
        # and raw_encrypt() checks 0 <= m < n.
        return int(key.raw_encrypt(m, key.mask(r)))

    def raw_decrypt(self, private_key: PrivateKey, ciphertext: int) -> int:
        """Return the plaintext m, 0 <= m < n, of a ciphertext in Z*_{n^2}."""
        key: PaillierPrivateKey = self._private_handle(private_key)
        return int(key.raw_decrypt(ciphertext, check=True))

    def raw_add(self, public_key: PublicKey, ciphertext1: int, ciphertext2: int) -> int:
        """Return ciphertext1 * ciphertext2 mod n^2, a ciphertext of m1 + m2 mod n."""
        key: PaillierPublicKey = self._public_handle(public_key)

        # Both operands are checked to be in Z*_{n^2}, because a factor of n in either would
        # carry into the sum.
        first = key.check_ciphertext(ciphertext1)
        second = key.check_ciphertext(ciphertext2)
        return int(key.raw_add(first, second))


def _bytes(data: Any) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidKey(
            f"Paillier key bytes must be bytes, got {type(data).__name__}",
            fix="pass the key's bytes, for example from PublicKey.data",
        )
    return bytes(data)


def _implementation_class(row: KeyParameters) -> type[GmpyPaillier]:
    name = "GmpyPaillier" + str(row.bits)
    return type(name, (GmpyPaillier,), {"algorithm": row.algorithm, "parameters": row})


_CLASSES = tuple(_implementation_class(row) for row in PARAMETERS.values())


def implementations() -> list[GmpyPaillier]:
    """Return one implementation per Paillier size (the entry point's callable)."""
    return [cls() for cls in _CLASSES]
