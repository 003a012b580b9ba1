"""Key escrow: split a keyset's key-encryption key (KEK) into agile shares, and restore it.

Every keyset's private keys are encrypted under one random 32-byte KEK that a
sealer (passphrase, TPM, HSM, ...) protects.  Escrow splits that KEK with
Shamir over GF(2^8) in the agile share format, so that any ``threshold``
custodians can recover the keyset when the sealer is lost (a forgotten
passphrase, a dead TPM).  Restoring checks the recovered KEK against the
keyset by decrypting a private key with it, then seals it again with a sealer
of the caller's choice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agile.errors import InvalidShare, KeysetError, KeystoreError, PolicyViolation, WrongPassphrase
from agile.keys import Keyset, Keystore
from agile.keys.kek import kek_associated_data, unseal_kek, unwrap_private
from agile.policy import Policy
from agile.seal.base import KEK_SIZE, sealer_class
from agile.seal.passphrase import choose_password_kdf, enforce_password_kdfs
from agile.seal.sss import accepted_options, enforce_sealers, sealer_from_options
from agile.sharing import share_format
from agile.sharing.share_format import AgileShare

__all__ = ["split_keyset", "restore_keyset"]

log = logging.getLogger("agile.mpc")


def _keyset(keystore: str | Path | None, name: str) -> tuple[Keystore, Keyset]:
    store = Keystore.open(keystore, create=False)
    return store, store.keyset(name)


def split_keyset(
    keystore: str | Path | None,
    name: str,
    threshold: int,
    count: int,
    *,
    policy: Policy | str | None = None,
) -> list[AgileShare]:
    """Unseal the KEK of keyset ``name`` and split it into ``count`` agile shares.

    ``policy`` (default: the keystore's active policy) must allow new use of
    shamir-gf256, the scheme under the agile share format.
    """
    store, keyset = _keyset(keystore, name)
    store.policy(policy).enforce("encrypt", share_format.ALGORITHM)
    try:
        kek = unseal_kek(store.root, keyset.name, keyset.uid, keyset.seal_blob)
    except WrongPassphrase as error:
        # Name the keyset, as every other command that opens one does.
        fix = error.fix
        if keyset.sealer == "passphrase":
            fix = f"set AGILE_PASSPHRASE to the passphrase of keyset {keyset.name!r}"
        raise WrongPassphrase(f"keyset {keyset.name!r}: {error}", fix=fix) from None
    shares = share_format.split(kek, threshold, count)
    log.info("keyset %s: KEK split into %d shares, threshold %d", name, count, threshold)
    return shares


def _check_kek(keyset: Keyset, kek: bytes) -> None:
    if len(kek) != KEK_SIZE:
        raise InvalidShare(
            f"the shares hold {len(kek)} bytes, a keyset KEK has {KEK_SIZE}",
            fix="these shares were not made with 'agile share split --keyset'",
        )
    for key in keyset.keys:
        if key.sealed is None:
            continue
        try:
            unwrap_private(kek, keyset.name, keyset.uid, key.id, key.algorithm, key.sealed)
        except KeystoreError:
            raise InvalidShare(
                f"the shares do not hold the KEK of keyset {keyset.name!r}: key {key.id} "
                "does not decrypt with it",
                fix="combine the shares made for this keyset",
            ) from None
        return
    raise KeysetError(
        f"keyset {keyset.name!r} has no private key to check the recovered KEK against",
        fix="nothing to restore: the keyset holds no private keys",
    )


def restore_keyset(
    keystore: str | Path | None,
    name: str,
    shares: list[AgileShare],
    sealer: str | None = None,
    *,
    policy: Policy | str | None = None,
    options: dict[str, Any] | None = None,
) -> str:
    """Recover the KEK of keyset ``name``, check it, and reseal it; return the sealer's name.

    ``sealer`` defaults to the keyset's current sealer, which then keeps the
    choices recorded in its blob (PCR selection, token, sss members).
    ``options`` are the sealer options of ``agile keyset create`` (``pcrs``,
    ``sss_members``, ...), and ``policy`` defaults to the keystore's active policy,
    which must allow the sealer.
    """
    store, keyset = _keyset(keystore, name)
    options = {key: value for key, value in (options or {}).items() if value is not None}
    chosen = sealer or keyset.sealer
    blob = keyset.seal_blob
    active = store.policy(policy)
    enforce_sealers(active, chosen, blob, options)
    # A passphrase seal, alone or as an sss member, uses the policy's password KDF.
    kdf = _password_kdf(active)
    if kdf is not None:
        options.setdefault("password_kdf", kdf)

    kek = share_format.combine(shares)
    _check_kek(keyset, kek)
    associated_data = kek_associated_data(keyset.name, keyset.uid)
    resealer = None
    if chosen == blob.get("sealer"):
        cls = sealer_class(chosen)
        resealer = getattr(cls.from_blob(blob, **accepted_options(cls, options)), "reseal", None)
    if resealer is not None:
        new_blob = resealer(blob, associated_data, secret=kek)
    else:
        new_blob = sealer_from_options(chosen, **options).seal(kek, associated_data)
    enforce_password_kdfs(active, new_blob, "encrypt", f"keyset {name!r}")
    keyset.replace_seal(new_blob)
    log.info("keyset %s: KEK restored from %d shares and sealed with %s", name, len(shares), chosen)
    return chosen


def _password_kdf(policy: Policy) -> str | None:
    """Return the password KDF that ``policy`` prefers, or None when it allows none.

    None leaves the sealer's default, and the check of the new blob then
    reports the denial if a passphrase seal was made.
    """
    try:
        return choose_password_kdf(policy)
    except PolicyViolation:
        return None
