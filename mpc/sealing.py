"""Sealing of share messages to the receiving party's X-Wing key with HPKE.

TLS between parties uses classical key exchange, so a recording adversary with
a future quantum computer could read traffic.  Every share vector is therefore
also sealed with HPKE (RFC 9180, base mode) under X-Wing (X25519 + ML-KEM-768),
HKDF-SHA256 and AES-256-GCM, to the recipient's X-Wing public key.  The info
string binds the session, and the associated data binds sender, recipient,
round, vector length and operation, so a message cannot be replayed into another
slot.
"""

from __future__ import annotations

from agile import hpke
from agile.errors import AgileError, AuthenticationFailed, MPCError

from .config import PartyConfig

__all__ = ["SUITE", "ShareSealer"]

#: The HPKE suite of share messages: (KEM, KDF, AEAD) registry ids.
SUITE = ("x-wing", "hkdf-sha256", "aes-256-gcm")
_INFO_LABEL = b"agile-mpc-v1 share"


class ShareSealer:
    """Seals messages to peers and opens messages addressed to this party."""

    def __init__(self, config: PartyConfig) -> None:
        kem, kdf, aead = SUITE
        try:
            self.suite = hpke.Suite.from_ids(kem=kem, kdf=kdf, aead=aead)
        except AgileError as error:
            raise MPCError(
                f"the HPKE suite {'/'.join(SUITE)} for share messages is unavailable: {error}",
                fix="install the X-Wing provider (cryptography >= 50); MPC never sends shares "
                "without it",
            ) from error
        kem_impl = self.suite.kem_impl
        self._info = _INFO_LABEL + config.session
        path = config.xwing_private_key
        try:
            self._private_key = kem_impl.load_private(path.read_bytes())
        except AgileError as error:
            raise MPCError(
                f"party {config.party}'s X-Wing key file {str(path)!r} is invalid: {error}",
                fix="give the xwing.key that 'agile mpc init' wrote for this party",
            ) from None
        own = config.by_id.get(config.party)
        if own is not None and self._private_key.public_key.data != own.xwing_public_key:
            # Peers seal to the listed public key, so with another private key every message
            # to this party would fail HPKE authentication, and only after the round timeout.
            raise MPCError(
                f"party {config.party}'s X-Wing key file {str(path)!r} does not match the "
                f"X-Wing public key listed for party {config.party} in the configuration",
                fix=f"give the xwing.key that 'agile mpc init' wrote for party {config.party}, "
                "or the configuration of the party that owns this key",
            )
        self._public_keys = {}
        for info in config.parties:
            try:
                self._public_keys[info.id] = kem_impl.load_public(info.xwing_public_key)
            except AgileError as error:
                raise MPCError(
                    f"the configuration lists an invalid X-Wing public key for party "
                    f"{info.id}: {error}",
                    fix="recreate the configuration with 'agile mpc init'",
                ) from None

    def seal(self, recipient: int, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        """Return ``(enc, ciphertext)`` for ``recipient``."""
        return hpke.seal(
            self.suite, self._public_keys[recipient], plaintext, info=self._info, aad=aad
        )

    def open(self, sender: int, enc: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """Open a message from ``sender``; raise :class:`MPCError` if it does not authenticate."""
        try:
            return hpke.open(
                self.suite, enc, self._private_key, ciphertext, info=self._info, aad=aad
            )
        except (AuthenticationFailed, ValueError) as error:
            raise MPCError(
                f"share message from party {sender} failed HPKE authentication: {error}",
                fix="check that every party uses the configuration from one 'agile mpc init'",
            ) from None
