"""Packing: several fixed-width slots per Paillier plaintext, summed slot by slot.

A 2048-bit plaintext has room for far more than one 64-bit value, and Paillier
addition adds whole plaintexts, so values placed side by side in slots are
summed slot by slot by one ciphertext multiplication.  This cuts encryption,
aggregation and decryption work by the number of slots per plaintext.

Layout: slot i of a plaintext occupies bits [i*w, (i+1)*w), where the slot width
w is ``value_bits + max_additions.bit_length()``.  A signed value v with
-2^(value_bits-1) <= v < 2^(value_bits-1) is stored offset as
u = v + 2^(value_bits-1), so no slot is ever negative.  After k
vectors are summed (k - 1 additions, k <= max_additions + 1), a slot contains
at most k*(2^value_bits - 1) < 2^w, so no carry reaches the next slot.  The
decrypter subtracts k*2^(value_bits-1) from each slot.  Spare slots after the
last value hold an encoded 0 and must decrypt to 0.  Sums of more vectors
than declared raise :class:`agile.errors.PlaintextOverflow` before the
multiplication, and a slot holding more than k*(2^value_bits - 1) at decryption
(overflow, or a ciphertext that did not come from honest additions) raises it too.

Values go through :func:`he.encoding.encode` with the scheme's precision, so
decimals are fixed-point with ``precision`` digits (rounded half to even).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from gmpy2 import mpz

from agile.errors import HomomorphicError, InvalidArgument, PlaintextOverflow

from .ciphertext import _as_list, _fresh_masks
from .encoding import EncodedNumber, brief_repr, check_precision, encode
from .engine import RandomnessPool, product
from .keys import (
    PaillierPrivateKey,
    PaillierPublicKey,
    check_decryption_key,
    check_private_key,
    check_public_key,
    check_same_key,
)

__all__ = [
    "PackingScheme",
    "PackedVector",
    "encrypt_vector",
    "decrypt_vector",
    "fold",
    "total",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class PackingScheme:
    """Slot parameters: signed value width, additions allowed, decimal digits kept."""

    value_bits: int = 64
    max_additions: int = 2**20 - 1
    precision: int = 0

    def __post_init__(self) -> None:
        value_bits, max_additions = self.value_bits, self.max_additions
        if not _is_int(value_bits) or not 2 <= value_bits <= 1024:
            raise InvalidArgument(
                f"value_bits {brief_repr(value_bits)} is not an integer in 2..1024",
                fix="pass the signed bit width of the largest encoded value, for example 64",
            )
        if not _is_int(max_additions) or max_additions < 0:
            raise InvalidArgument(
                f"max_additions {brief_repr(max_additions)} is not a non-negative integer",
                fix="pass how many ciphertext additions the aggregate may take",
            )
        check_precision(self.precision)

    def __str__(self) -> str:
        return (
            f"{self.value_bits}-bit values, up to {self.max_additions} additions, "
            f"precision {self.precision}"
        )

    @property
    def slot_bits(self) -> int:
        """Width of one slot: the value width plus the headroom for the declared additions."""
        return self.value_bits + self.max_additions.bit_length()

    @property
    def offset(self) -> int:
        """The amount added to each signed value, 2^(value_bits-1)."""
        return 1 << (self.value_bits - 1)

    def slots(self, public_key: PaillierPublicKey) -> int:
        """Return how many slots fit below n for this key."""
        # The packed plaintext stays below 2^(bits-1) <= n, so it never wraps.
        count = (public_key.bits - 1) // self.slot_bits
        if count < 1:
            raise InvalidArgument(
                f"a {self.slot_bits}-bit slot does not fit a {public_key.bits}-bit key",
                fix="lower value_bits or max_additions",
            )
        return count

    def to_dict(self) -> dict[str, int]:
        """Return the scheme's JSON form."""
        return {
            "value_bits": self.value_bits,
            "max_additions": self.max_additions,
            "precision": self.precision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PackingScheme:
        """Parse the JSON form; raise InvalidArgument on missing or bad fields."""
        try:
            # The values skip int(), so a file's 64.9 or Infinity raises InvalidArgument here
            # instead of becoming 64 or an OverflowError.
            return cls(data["value_bits"], data["max_additions"], data["precision"])
        except (KeyError, TypeError, InvalidArgument) as error:
            reason = str(error) if isinstance(error, InvalidArgument) else repr(error)
            raise InvalidArgument(
                f"invalid packing scheme {brief_repr(data)}: {reason}",
                fix="pass the scheme that he.serialize.dumps_json or dumps_binary wrote",
            ) from None

    def encode_values(self, values: Iterable[Any]) -> list[int]:
        """Return the offset slot values u = v + 2^(value_bits-1) of ``values``."""
        low, high = -self.offset, self.offset
        result = []
        for value in values:
            mantissa = encode(value, self.precision).mantissa
            if not low <= mantissa < high:
                raise PlaintextOverflow(
                    f"value {brief_repr(value)} with precision {self.precision} does not fit "
                    f"a signed {self.value_bits}-bit slot",
                    fix="raise value_bits (CLI: --value-bits) or lower the precision",
                )
            result.append(mantissa + high)
        return result

    def pack(self, offset_values: Sequence[int], slots: int) -> list[mpz]:
        """Pack offset values into plaintexts of ``slots`` slots each; spare slots hold zeros."""
        width = self.slot_bits
        plaintexts = []
        for start in range(0, len(offset_values), slots):
            chunk = list(offset_values[start : start + slots])
            # Spare slots of the last plaintext hold an encoded 0 (the offset), so that
            # every slot of every ciphertext is a term and fold() stays exact.
            chunk.extend([self.offset] * (slots - len(chunk)))
            plaintext = 0
            for value in reversed(chunk):
                plaintext = (plaintext << width) | value
            plaintexts.append(mpz(plaintext))
        return plaintexts


@dataclass(frozen=True, eq=False, slots=True)
class PackedVector:
    """An encrypted vector of ``length`` packed values: the sum of ``terms`` encrypted vectors."""

    public_key: PaillierPublicKey
    ciphertexts: tuple[mpz, ...]
    length: int
    scheme: PackingScheme
    terms: int = 1

    def __post_init__(self) -> None:
        for name, value, minimum in (("length", self.length, 0), ("terms", self.terms, 1)):
            if not _is_int(value) or value < minimum:
                raise HomomorphicError(
                    f"packed vector {name} {brief_repr(value)} is not an integer >= {minimum}",
                    fix="pass the length and count of terms that he.serialize.loads returned",
                )
        slots = self.scheme.slots(self.public_key)
        expected = -(-self.length // slots)
        if len(self.ciphertexts) != expected:
            raise HomomorphicError(
                f"a packed vector of {self.length} values needs {expected} ciphertexts, "
                f"got {len(self.ciphertexts)}",
                fix="pass the ciphertexts unmodified",
            )
        if not 1 <= self.terms <= self.scheme.max_additions + 1:
            raise PlaintextOverflow(
                f"a sum of {self.terms} packed vectors exceeds the declared "
                f"{self.scheme.max_additions} additions",
                fix="encrypt with a larger max_additions (CLI: --max-additions)",
            )

    def rerandomize(self, pool: RandomnessPool | None = None) -> PackedVector:
        """Return the same values under fresh masks (see EncryptedNumber.rerandomize)."""
        key = self.public_key
        masks = _fresh_masks(key, pool, len(self.ciphertexts))
        ciphertexts = tuple(
            c * r % key.nsquare for c, r in zip(self.ciphertexts, masks, strict=True)
        )
        return replace(self, ciphertexts=ciphertexts)

    def __add__(self, other: PackedVector) -> PackedVector:
        if not isinstance(other, PackedVector):
            return NotImplemented
        return total([self, other])


def encrypt_vector(
    public_key: PaillierPublicKey,
    values: Iterable[Any],
    scheme: PackingScheme | None = None,
    *,
    pool: RandomnessPool | None = None,
    workers: int | None = 1,
) -> PackedVector:
    """Encrypt ``values`` into as few ciphertexts as the slots allow."""
    check_public_key(public_key)
    scheme = PackingScheme() if scheme is None else scheme
    if not isinstance(scheme, PackingScheme):
        raise InvalidArgument(
            f"scheme must be a PackingScheme, not {type(scheme).__name__}",
            fix="pass he.PackingScheme(value_bits=..., max_additions=..., precision=...)",
        )
    offset_values = scheme.encode_values(_as_list(values, "values"))
    plaintexts = scheme.pack(offset_values, scheme.slots(public_key))
    if pool is None:
        pool = RandomnessPool(public_key)
    masks = pool.take_many(len(plaintexts), workers=workers)
    ciphertexts = tuple(
        public_key.raw_encrypt(m, r) for m, r in zip(plaintexts, masks, strict=True)
    )
    return PackedVector(public_key, ciphertexts, len(offset_values), scheme)


def total(vectors: Iterable[PackedVector]) -> PackedVector:
    """Return the slot-wise sum of packed vectors of one key, scheme and length."""
    items = _as_list(vectors, "vectors")
    if not items:
        raise InvalidArgument("cannot sum an empty list of packed vectors", fix="pass at least one")
    for item in items:
        if not isinstance(item, PackedVector):
            raise InvalidArgument(
                f"expected PackedVector items, got {type(item).__name__}",
                fix="sum vectors made by encrypt_vector or loaded by he.serialize.loads",
            )
    first = items[0]
    for item in items[1:]:
        check_same_key(first.public_key, item.public_key)
        if item.scheme != first.scheme or item.length != first.length:
            raise HomomorphicError(
                f"packed vectors differ: {item.length} values ({item.scheme}) and "
                f"{first.length} values ({first.scheme})",
                fix="sum vectors encrypted with the same length, precision and slot layout",
            )
    terms = sum(item.terms for item in items)
    if terms > first.scheme.max_additions + 1:
        raise PlaintextOverflow(
            f"summing {terms} packed vectors exceeds the declared "
            f"{first.scheme.max_additions} additions",
            fix="encrypt with a larger max_additions (CLI: --max-additions)",
        )
    nsquare = first.public_key.nsquare
    ciphertexts = []
    for position in range(len(first.ciphertexts)):
        accumulated = mpz(1)
        for item in items:
            accumulated = accumulated * item.ciphertexts[position] % nsquare
        ciphertexts.append(accumulated)
    return PackedVector(first.public_key, tuple(ciphertexts), first.length, first.scheme, terms)


def decrypt_vector(private_key: PaillierPrivateKey, vector: PackedVector) -> list[int | Decimal]:
    """Decrypt a packed vector to its values (ints, or Decimals with the scheme's precision)."""
    check_private_key(private_key)
    if not isinstance(vector, PackedVector):
        raise InvalidArgument(
            f"expected a PackedVector, got {type(vector).__name__}",
            fix="decrypt numbers with he.decrypt and packed vectors with he.decrypt_vector",
        )
    check_decryption_key(vector.public_key, private_key)
    scheme = vector.scheme
    width = scheme.slot_bits
    slot_mask = (1 << width) - 1
    slots = scheme.slots(vector.public_key)
    ceiling = vector.terms * ((1 << scheme.value_bits) - 1)
    shift = vector.terms * scheme.offset

    mantissas: list[int] = []
    for index, ciphertext in enumerate(vector.ciphertexts):
        plaintext = int(private_key.raw_decrypt(ciphertext))
        if plaintext >> (slots * width):
            raise PlaintextOverflow(
                f"packed ciphertext {index} has bits above its {slots} slots",
                fix="the ciphertext overflowed or was modified; encrypt the inputs again",
            )
        for slot in range(slots):
            stored = (plaintext >> (slot * width)) & slot_mask
            if stored > ceiling:
                raise PlaintextOverflow(
                    f"slot {index * slots + slot} contains {stored}, more than the sum of "
                    f"{vector.terms} values of {scheme.value_bits} bits can reach",
                    fix="the ciphertext overflowed or was modified; encrypt the inputs again",
                )
            mantissas.append(stored - shift)

    if any(mantissas[vector.length :]):
        raise PlaintextOverflow(
            "a spare slot after the last value does not hold 0",
            fix="the ciphertext was modified; encrypt the inputs again",
        )
    return [
        EncodedNumber(mantissa, -scheme.precision).decode()  # type: ignore[misc]
        for mantissa in mantissas[: vector.length]
    ]


def fold(vector: PackedVector) -> PackedVector:
    """Multiply ``vector``'s ciphertexts into one, whose slot j sums slot j of each.

    Summing the decrypted slots then gives the total of all values, at the cost of
    one multiplication per ciphertext instead of one addition per value.  Each
    ciphertext counts as a term against the declared additions.
    """
    if not isinstance(vector, PackedVector):
        raise InvalidArgument(
            f"expected a PackedVector, got {type(vector).__name__}",
            fix="fold a vector made by encrypt_vector or loaded by he.serialize.loads",
        )
    terms = vector.terms * len(vector.ciphertexts)
    if terms > vector.scheme.max_additions + 1:
        raise PlaintextOverflow(
            f"folding {len(vector.ciphertexts)} ciphertexts of {vector.terms} terms each "
            f"exceeds the declared {vector.scheme.max_additions} additions",
            fix="encrypt with a larger max_additions",
        )
    key = vector.public_key
    folded = product(vector.ciphertexts, key.nsquare)
    slots = vector.scheme.slots(key)
    return PackedVector(key, (folded,), slots, vector.scheme, terms)
