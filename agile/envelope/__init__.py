"""Envelope format v1: self-describing encrypted and signed messages.

An encrypted envelope names its payload AEAD, chunk size and recipients in an
authenticated header, so that a reader needs only a keystore.  The byte layout
is in ``docs/format.md``.
"""

from .armour import armour, dearmour, is_armoured
from .encrypted import decrypt, decrypt_stream, encrypt, encrypt_stream, reencrypt, rewrap
from .format import DEFAULT_CHUNK_SIZE, Header, SignatureEntry, Stanza, read_header
from .signatures import (
    Ignored,
    Verified,
    VerifyReport,
    add_signatures,
    remove_signatures,
    sign,
    verify,
    verify_report,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Header",
    "Ignored",
    "SignatureEntry",
    "Stanza",
    "Verified",
    "VerifyReport",
    "add_signatures",
    "armour",
    "dearmour",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
    "is_armoured",
    "read_header",
    "reencrypt",
    "remove_signatures",
    "rewrap",
    "sign",
    "verify",
    "verify_report",
]
