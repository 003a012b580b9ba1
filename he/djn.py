"""Opt-in Damgard-Jurik-Nielsen masks: a short random exponent on a fixed base.

The Damgard-Jurik-Nielsen variant (Damgard and Jurik, PKC 2001, with s = 1;
key and mask form as in secretflow/heu's Damgard-Jurik notes) replaces the
mask r^n mod n^2 by h_s^a mod n^2.  Here h = -x^2 mod n for a secret random x,
h_s = h^n mod n^2 is published with the public key, and a is a fresh random
exponent of ceil(k/2) bits for a k-bit n.  Because the base is fixed, a table
of its powers turns each mask into about k/12 multiplications instead of one
k-bit exponentiation modulo n^2.  Keys for this mode use primes
p = q = 3 (mod 4) with gcd(p-1, q-1) = 2, so that -1 is a non-square modulo
both primes and h generates a large subgroup.

Different hardness assumption: plain Paillier is semantically secure under the
decisional composite residuosity (DCR) assumption alone.  This mode is secure
only if, in addition, h_s^a for a *short* random a is indistinguishable from a
uniformly random n-th residue.  That is a stronger assumption than DCR, so the
mode is off by default; choose it with ``djn=True`` only where that assumption
is acceptable.  Ciphertexts are ordinary Paillier ciphertexts either way, so the
mode changes nothing for decryption or for phe.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from gmpy2 import mpz

from agile.errors import InvalidKey

from .keys import PaillierPublicKey

__all__ = ["FixedBaseTable", "DEFAULT_WINDOW"]

#: Window width in bits: 6 keeps the 2048-bit table near 5.6 MB and a mask near 171 multiplications.
DEFAULT_WINDOW = 6


@dataclass(frozen=True, eq=False, slots=True)
class FixedBaseTable:
    """Powers base^(j * 2^(window*i)) mod modulus, for masks h_s^a with a short random a."""

    base: mpz
    modulus: mpz
    exponent_bits: int
    window: int = DEFAULT_WINDOW
    rows: list[list[mpz]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        modulus = self.modulus
        size = 1 << self.window
        rows: list[list[mpz]] = []
        step = mpz(self.base)
        for _ in range(-(-self.exponent_bits // self.window)):
            row = [mpz(1), step]
            for _ in range(size - 2):
                row.append(row[-1] * step % modulus)
            rows.append(row)
            step = row[-1] * step % modulus
        object.__setattr__(self, "rows", rows)

    @classmethod
    def for_key(cls, public_key: PaillierPublicKey, window: int = DEFAULT_WINDOW) -> FixedBaseTable:
        """Return the key's table, building it on first use (the key caches it)."""
        if public_key.djn_base is None:
            raise InvalidKey(
                f"Paillier key {public_key.key_id} has no Damgard-Jurik-Nielsen base h_s",
                fix="generate the key with generate_keypair(bits, djn=True)",
            )
        cache_key = f"djn-table-{window}"
        table = public_key._cache.get(cache_key)
        if table is None:
            # Exponents of ceil(k/2) bits for a k-bit modulus n, as the module docstring states.
            bits = -(-public_key.bits // 2)
            table = cls(public_key.djn_base, public_key.nsquare, bits, window)
            public_key._cache[cache_key] = table
        return table

    def power(self, exponent: int) -> mpz:
        """Return base^exponent mod modulus for 0 <= exponent < 2^exponent_bits."""
        mask = (1 << self.window) - 1
        result = mpz(1)
        for row in self.rows:
            result = result * row[exponent & mask] % self.modulus
            exponent >>= self.window
        return result

    def mask(self) -> mpz:
        """Return a fresh mask h_s^a with a drawn from the operating system's CSPRNG."""
        return self.power(secrets.randbits(self.exponent_bits))
