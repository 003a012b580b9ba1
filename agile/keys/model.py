"""Key metadata: a key's id, algorithm, creation time and status inside a keyset."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..policy import KeyMeta

__all__ = [
    "KeyStatus",
    "Key",
    "new_key_id",
    "valid_key_id",
    "check_key_id",
    "utc_now",
    "format_time",
    "parse_time",
]

#: Bytes of randomness in a key id (rendered as 16 hex digits).
KEY_ID_BYTES = 8


class KeyStatus(str, enum.Enum):  # noqa: UP042 - str() stays the plain value
    """Lifecycle state of a key in a keyset."""

    PRIMARY = "primary"  # encrypts or signs new data; exactly one per keyset
    ENABLED = "enabled"  # may encrypt or sign when named explicitly, and decrypts or verifies
    DECRYPT_ONLY = "decrypt-only"  # only decrypts or verifies existing data
    DISABLED = "disabled"  # kept but unusable until enabled again
    DESTROYED = "destroyed"  # private part erased; id, algorithm and public part remain

    @property
    def can_protect(self) -> bool:
        """True when the key may encrypt or sign new data."""
        return self in (KeyStatus.PRIMARY, KeyStatus.ENABLED)

    @property
    def can_open(self) -> bool:
        """True when the key may decrypt or verify existing data."""
        return self in (KeyStatus.PRIMARY, KeyStatus.ENABLED, KeyStatus.DECRYPT_ONLY)


def valid_key_id(key_id: object) -> bool:
    """Return whether ``key_id`` is a well-formed key id: 1 to 64 of ``A-Za-z0-9._-``.

    The whole string must match, so an id with a trailing newline is invalid too.
    """
    # Imported here: the pattern lives in keystore.py, which imports this module.
    from .keystore import _KEY_ID

    return isinstance(key_id, str) and _KEY_ID.fullmatch(key_id) is not None


def check_key_id(key_id: str) -> None:
    """Raise InvalidArgument for a key id that :func:`valid_key_id` rejects."""
    if not valid_key_id(key_id):
        from ..errors import InvalidArgument

        raise InvalidArgument(
            f"invalid key id {key_id!r}",
            fix="use 1 to 64 letters, digits, '.', '_' or '-' (on import, give another id "
            "with --key-id)",
        )


def new_key_id() -> str:
    return os.urandom(KEY_ID_BYTES).hex()


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Key:
    """One versioned key of a keyset.

    ``public`` is the algorithm's portable public-key encoding (empty for AEAD
    keys).  ``sealed`` is the private part encrypted under the keyset's KEK, or
    ``None`` when the key is destroyed or was imported without a private part.
    """

    id: str
    algorithm: str
    created: datetime
    status: KeyStatus
    public: bytes = field(repr=False)
    sealed: dict[str, Any] | None = field(default=None, repr=False)
    keyset: str = ""
    purpose: str = ""

    @property
    def has_private(self) -> bool:
        return self.sealed is not None

    def meta(self) -> KeyMeta:
        """Return the policy's view of this key."""
        from ..policy import KeyMeta

        return KeyMeta(
            key_id=self.id,
            algorithm=self.algorithm,
            created=self.created,
            status=self.status.value,
            purpose=self.purpose,
            keyset=self.keyset,
        )

    def to_public_dict(self) -> dict[str, Any]:
        """Return the JSON facts about the key that hold no secret."""
        return {
            "id": self.id,
            "algorithm": self.algorithm,
            "created": format_time(self.created),
            "status": self.status.value,
            "has_private": self.has_private,
            "public_key_size": len(self.public),
        }
