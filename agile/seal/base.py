"""The sealer interface: how a keyset's key-encryption key is protected at rest.

A keyset's private keys are encrypted under a random 32-byte key-encryption
key (KEK); a sealer protects only that KEK.  The sealed form is a JSON object
(:data:`SealedBlob`) with at least ``{"sealer": NAME, "version": 1}`` plus what
the sealer needs to unseal it later (salt and parameters, TPM objects, token
label, ...).  Secrets such as passphrases and PINs are never in the blob.

``associated_data`` binds the sealed KEK to its keyset (name and id), so a
blob copied into another keyset does not unseal.
"""

from __future__ import annotations

import abc
import importlib
from typing import Any, ClassVar

from ..errors import AgileError, SealError

__all__ = [
    "Sealer",
    "SealedBlob",
    "SEALERS",
    "sealer_class",
    "describe_blob",
    "unseal",
    "KEK_SIZE",
]

SealedBlob = dict[str, Any]

#: Size in bytes of the key-encryption key that sealers protect.
KEK_SIZE = 32

#: Sealer name -> "module:class".  Policies name sealers by these names.
SEALERS: dict[str, str] = {
    "passphrase": "agile.seal.passphrase:PassphraseSealer",
    "tpm2": "agile.seal.tpm2:TPM2Sealer",
    "pkcs11": "agile.seal.pkcs11:PKCS11Sealer",
    "sss": "agile.seal.sss:SSSSealer",
    "keep": "agile.seal.keep:KeepSealer",
}


class Sealer(abc.ABC):
    """Protects a short secret (a KEK) with a passphrase, a device or a quorum of sealers."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        """Return the sealed form of ``secret``, bound to ``associated_data``."""

    @abc.abstractmethod
    def unseal(self, blob: SealedBlob, associated_data: bytes) -> bytes:
        """Return the secret; raise a :class:`agile.errors.SealError` subclass on failure."""

    @classmethod
    def from_blob(cls, blob: SealedBlob, **options: Any) -> Sealer:
        """Build a sealer able to unseal ``blob`` (device addresses may come from ``options``)."""
        return cls(**options)

    @classmethod
    def describe(cls, blob: SealedBlob) -> dict[str, Any]:
        """Return public facts about a blob for ``agile keyset show`` (no secrets)."""
        return {"sealer": cls.name}


def describe_blob(blob: SealedBlob) -> dict[str, Any]:
    """Return the public facts of a sealed blob, or its sealer's name alone when unavailable."""
    name = blob.get("sealer") if isinstance(blob, dict) else None
    if not isinstance(name, str):
        return {"sealer": None}
    try:
        return sealer_class(name).describe(blob)
    except (AgileError, AttributeError, TypeError):
        # AttributeError, TypeError: a malformed blob (fields of the wrong JSON type).
        # An unknown sealer, or one whose extra is not installed here.
        return {"sealer": name}


def sealer_class(name: str) -> type[Sealer]:
    """Return the sealer class registered as ``name``."""
    if name not in SEALERS:
        raise SealError(
            f"unknown sealer {name!r}",
            fix=f"use one of: {', '.join(SEALERS)}",
        )
    module_name, attribute = SEALERS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        from ..errors import SealerUnavailable

        raise SealerUnavailable(
            f"sealer {name!r} is not available: {error}",
            fix="install its extra, for example pip install 'agile-crypto[tpm]' or '[hsm]'",
        ) from None
    return getattr(module, attribute)  # type: ignore[no-any-return]


def unseal(blob: SealedBlob, associated_data: bytes, **options: Any) -> bytes:
    """Unseal ``blob`` with the sealer it names."""
    if not isinstance(blob, dict) or not isinstance(blob.get("sealer"), str):
        raise SealError(
            "sealed blob is malformed: no 'sealer' name",
            fix="restore the keyset file from a backup",
        )
    sealer = sealer_class(blob["sealer"]).from_blob(blob, **options)
    return sealer.unseal(blob, associated_data)
