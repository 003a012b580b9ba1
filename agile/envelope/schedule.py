"""The per-message key schedule: everything derives from the random data key.

HKDF-SHA256 (RFC 5869) with the header's 32-byte random salt extracts a PRK
from the data key.  One expansion, labelled with the payload AEAD id, gives in
order the key commitment, the header MAC key, the payload AEAD key and the
STREAM nonce prefix.  Because the
commitment is a collision-resistant function of the data key, a header names
one data key only, so one ciphertext cannot open to two plaintexts under two
keys (key commitment).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import AuthenticationFailed
from ..hpke import hmac_once
from .format import COMMITMENT_SIZE, MAC_SIZE

__all__ = [
    "DATA_KEY_SIZE",
    "SCHEDULE_KDF",
    "Schedule",
    "derive_schedule",
    "payload_associated_data",
]

DATA_KEY_SIZE = 32

#: The KDF of the key schedule, fixed by format v1, so a policy must allow it to use envelopes.
SCHEDULE_KDF = "hkdf-sha256"

#: Bytes of the STREAM nonce that are not prefix: a 32-bit chunk counter and a final flag.
COUNTER_AND_FLAG = 5

_SCHEDULE = b"agile v1 key schedule\x00"
# Hash objects are immutable parameters, so one serves every derivation.
_SHA256 = SHA256()
_SHA256_BLOCK = 64
_PAYLOAD_AD = b"agile v1 payload\x00"


@dataclass(frozen=True, slots=True)
class Schedule:
    """The keys of one message, all derived from its data key and salt."""

    payload_key: bytes = field(repr=False)
    nonce_prefix: bytes = field(repr=False)
    commitment: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)

    def header_mac(self, authenticated: bytes) -> bytes:
        # HMAC-SHA256 (RFC 2104) on hashlib: the key is used once, and a one-shot
        # hmac.digest spends more on OpenSSL 3's set-up than on a header's few blocks.
        return hmac_once(self.mac_key, authenticated, hashlib.sha256, _SHA256_BLOCK)

    def check_commitment(self, commitment: bytes) -> None:
        if not hmac.compare_digest(self.commitment, commitment):
            raise AuthenticationFailed(
                "key commitment mismatch: the data key does not belong to this envelope",
                fix="the envelope was modified or the recipient stanza is not for this payload",
            )

    def check_header_mac(self, authenticated: bytes, mac: bytes) -> None:
        if not hmac.compare_digest(self.header_mac(authenticated), mac):
            raise AuthenticationFailed(
                "envelope header MAC mismatch: the header was modified",
                fix="restore the envelope from a good copy",
            )


def derive_schedule(
    data_key: bytes, salt: bytes, payload_algorithm: str, key_size: int, nonce_size: int
) -> Schedule:
    """Derive the message keys with one HKDF-Expand, split in order like a TLS 1.2 key block."""
    prefix_size = nonce_size - COUNTER_AND_FLAG
    info = _SCHEDULE + payload_algorithm.encode("ascii")
    length = COMMITMENT_SIZE + MAC_SIZE + key_size + prefix_size
    # HKDF-Extract(salt, DK) then HKDF-Expand (RFC 5869 §2.2, §2.3) in one OpenSSL call.
    block = HKDF(_SHA256, length, salt, info).derive(data_key)
    mac_start = COMMITMENT_SIZE
    key_start = mac_start + MAC_SIZE
    prefix_start = key_start + key_size
    return Schedule(
        commitment=block[:mac_start],
        mac_key=block[mac_start:key_start],
        payload_key=block[key_start:prefix_start],
        nonce_prefix=block[prefix_start:],
    )


def payload_associated_data(payload_context: bytes, aad: bytes) -> bytes:
    """Return the associated data of every chunk: a digest of the payload context and caller AAD."""
    # One concatenation and one hash call: the inputs are a few hundred bytes.
    length = struct.pack(">I", len(payload_context))
    return hashlib.sha256(_PAYLOAD_AD + length + payload_context + aad).digest()
