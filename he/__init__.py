"""he: Paillier homomorphic encryption and aggregation on gmpy2.

Quick use::

    import he
    public, private = he.generate_keypair(2048)
    a = public.encrypt(445)
    b = public.encrypt(0.16413409062205825)
    private.decrypt(a + b)                       # 445.16413409062204

Modules: :mod:`he.keys` (key pairs, CRT decryption, byte encodings),
:mod:`he.encoding` (integers, floats, fixed-point decimals),
:mod:`he.ciphertext` (encrypted numbers with an overflow budget),
:mod:`he.aggregate` (sums, means, weighted sums), :mod:`he.packing` (several
values per ciphertext), :mod:`he.engine` (mask pools and worker processes),
:mod:`he.djn` (opt-in short-exponent masks), :mod:`he.serialize` (JSON and
binary files: ``dumps_json``, ``dumps_binary``, ``loads``; loaded by ``import he``),
:mod:`he.phe_interop` (phe keys and numbers) and
:mod:`he.provider` (the registry's ``gmpy2`` provider).
"""

# The file module is loaded here, so that ``import he`` alone gives he.serialize.loads.
from . import serialize as serialize
from .aggregate import elementwise_total, mean, total, weighted_total
from .ciphertext import (
    EncryptedNumber,
    EncryptedQuotient,
    decrypt,
    decrypt_batch,
    decrypt_exact,
    encrypt,
    encrypt_batch,
)
from .encoding import EncodedNumber, encode
from .engine import RandomnessPool
from .keys import PaillierPrivateKey, PaillierPublicKey, generate_keypair
from .packing import PackedVector, PackingScheme, decrypt_vector, encrypt_vector

__all__ = [
    "EncodedNumber",
    "EncryptedNumber",
    "EncryptedQuotient",
    "PackedVector",
    "PackingScheme",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "RandomnessPool",
    "decrypt",
    "decrypt_batch",
    "decrypt_exact",
    "decrypt_vector",
    "elementwise_total",
    "encode",
    "encrypt",
    "encrypt_batch",
    "encrypt_vector",
    "generate_keypair",
    "mean",
    "total",
    "weighted_total",
]
