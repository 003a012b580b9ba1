"""Seal a keyset's KEK with a wrapping key that never leaves a PKCS#11 token.

Each seal generates a fresh AES-256 key on the token, stored, sensitive and
non-extractable, and encrypts the KEK with it on the token.  The mechanism is
the first one the token offers of:

* ``CKM_AES_GCM`` (NIST SP 800-38D) with a random 96-bit IV and the keyset's
  associated data as AAD, so a blob moved to another keyset fails its tag;
* ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649), which has no AAD, so the blob also keeps
  an HMAC of the KEK over the associated data, checked after unwrapping.

Module path, token label and PIN come from options or ``$AGILE_PKCS11_MODULE``,
``$AGILE_PKCS11_TOKEN`` and ``$AGILE_PKCS11_PIN``.  The PIN is never stored.

The blob stores the label of the token that stores its wrapping key, and
unsealing uses that token.  ``$AGILE_PKCS11_TOKEN`` chooses the token for new
seals only: the variable is shared by every keyset, while each blob names its
own token.  A ``pkcs11_token`` argument given to :meth:`PKCS11Sealer.from_blob`
or to the constructor does replace the blob's label, for a token that was
restored under another label.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from typing import Any, ClassVar

from ..errors import InvalidArgument, SealError, SealerUnavailable, WrongPassphrase
from .base import KEK_SIZE, SealedBlob, Sealer

__all__ = [
    "PKCS11Sealer",
    "UnwrapFailed",
    "MECHANISMS",
    "MODULE_ENV",
    "TOKEN_ENV",
    "PIN_ENV",
]

logger = logging.getLogger("agile.seal.pkcs11")

MODULE_ENV = "AGILE_PKCS11_MODULE"
TOKEN_ENV = "AGILE_PKCS11_TOKEN"
PIN_ENV = "AGILE_PKCS11_PIN"

#: Wrapping mechanisms in order of preference, by the name stored in blobs.
MECHANISMS = ("aes-gcm", "aes-key-wrap-pad")

_FORMAT_VERSION = 1
_GCM_IV_SIZE = 12
_GCM_TAG_BITS = 128
_CHECK_LABEL = b"agile pkcs11 kek check v1\x00"
_KEY_LABEL_PREFIX = "agile-kek-wrap-"


class UnwrapFailed(SealError):
    """The token rejected the wrapped KEK: the blob was tampered with or belongs elsewhere."""


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as error:
        raise SealerUnavailable(
            f"the pkcs11 sealer needs python-pkcs11, which failed to import: {error}",
            fix="run scripts/devices/install.sh or pip install 'agile-crypto[hsm]'",
        ) from None
    return pkcs11


def _kek_check(secret: bytes, associated_data: bytes) -> bytes:
    return hmac.new(secret, _CHECK_LABEL + associated_data, hashlib.sha256).digest()


def _setting_fix(variable: str, value: str, option: str, sealing: bool) -> str:
    """Return how to give a setting: every command reads ``variable``, some have ``option``.

    Only commands that seal (agile keyset create, import and reseal) have the options.
    """
    if sealing:
        return f"set {variable} to {value}, or pass {option} where the command has it"
    return f"set {variable} to {value}"


def _label_of(key: Any) -> str | None:
    """Return the CKA_LABEL of a token key, or None when the token does not return it."""
    pkcs11 = _pkcs11()
    try:
        label = key[pkcs11.Attribute.LABEL]
    except pkcs11.exceptions.PKCS11Error:
        return None
    return label if isinstance(label, str) else None


def _unwrap_failed(
    label: str, mechanism: str, key_id: str, blob: SealedBlob, replaced: bool
) -> UnwrapFailed:
    """Return the error for a wrapped KEK that the token's key rejected."""
    rejected = (
        f"PKCS#11 token {label!r} rejected the wrapped KEK ({mechanism} integrity check failed)"
    )
    if replaced:
        return UnwrapFailed(
            f"{rejected}: the token key with id {key_id} is not labelled "
            f"{blob.get('key_label')!r} as the key that sealed it was, so that key was deleted "
            "and replaced by another key with the same id",
            fix=f"restore the token key {blob.get('key_label')!r} from a backup of the token; "
            "the keyset file is intact",
        )
    return UnwrapFailed(
        f"{rejected}: the token key with id {key_id} is not the key that sealed it (it was "
        "replaced on the token), or the blob was tampered with or belongs to another keyset",
        fix=f"check the token key with id {key_id} with pkcs11-tool --list-objects --login and "
        "restore it from a backup of the token if it was replaced; otherwise restore the "
        "keyset file from a backup",
    )


def _field(blob: SealedBlob, name: str) -> bytes:
    value = blob.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise SealError(
            f"pkcs11 sealed blob is malformed: field {name!r} is missing or not base64",
            fix="restore the keyset file from a backup",
        ) from None


class PKCS11Sealer(Sealer):
    """Seals the KEK under a non-extractable AES key generated on a PKCS#11 token."""

    name: ClassVar[str] = "pkcs11"

    def __init__(
        self,
        *,
        pkcs11_module: str | None = None,
        pkcs11_token: str | None = None,
        pkcs11_pin: str | None = None,
        pkcs11_mechanism: str | None = None,
        **_other_sealers_options: Any,
    ) -> None:
        self.module = pkcs11_module or os.environ.get(MODULE_ENV)
        # Only a label given as an argument replaces the one stored in a blob to unseal.
        self._token_argument = pkcs11_token
        self.token_label = pkcs11_token or os.environ.get(TOKEN_ENV)
        self.pin = pkcs11_pin if pkcs11_pin is not None else os.environ.get(PIN_ENV)
        if pkcs11_mechanism is not None and pkcs11_mechanism not in MECHANISMS:
            raise InvalidArgument(
                f"unknown PKCS#11 wrapping mechanism {pkcs11_mechanism!r}",
                fix=f"use one of: {', '.join(MECHANISMS)}",
            )
        self.mechanism = pkcs11_mechanism

    @classmethod
    def from_blob(cls, blob: SealedBlob, **options: Any) -> PKCS11Sealer:
        """Build a sealer on the blob's token, or on the one ``pkcs11_token`` names.

        The sealer reseals to the same token, and ``$AGILE_PKCS11_TOKEN`` does not move it.
        """
        options = dict(options)
        if not options.get("pkcs11_token") and isinstance(blob.get("token"), str):
            options["pkcs11_token"] = blob["token"]
        return cls(**options)

    @classmethod
    def from_cli_options(cls, **options: Any) -> PKCS11Sealer:
        """Build a sealer from ``pkcs11_module``, ``pkcs11_token`` and ``pkcs11_pin``."""
        return cls(**options)

    # Token access.

    def _open(self, label: str | None, *, sealing: bool, override: str = "") -> Any:
        """Return the token labelled ``label`` and a session logged in as the user.

        Sessions for sealing are read-write.  ``override`` is appended to the errors about
        the token, to say that an argument replaced the blob's label.
        """
        pkcs11 = _pkcs11()
        if not self.module:
            raise SealerUnavailable(
                "no PKCS#11 module given",
                fix=_setting_fix(
                    MODULE_ENV,
                    "the module's path, e.g. /usr/lib/softhsm/libsofthsm2.so",
                    "--pkcs11-module",
                    sealing,
                ),
            )
        if not label:
            raise SealerUnavailable(
                "no PKCS#11 token label given",
                fix=_setting_fix(TOKEN_ENV, "the token's label", "--pkcs11-token", True),
            )
        if not self.pin:
            raise WrongPassphrase(
                f"no PIN given for PKCS#11 token {label!r}",
                fix=_setting_fix(PIN_ENV, "the token's user PIN", "--pkcs11-pin", sealing),
            )
        try:
            library = pkcs11.lib(self.module)
        except (RuntimeError, OSError, pkcs11.exceptions.PKCS11Error) as error:
            # python-pkcs11 reports a module that does not load as a plain PKCS11Error, and a
            # failed C_Initialize (SoftHSM2 without its configuration file) as a subclass.
            if type(error) not in (pkcs11.exceptions.PKCS11Error, RuntimeError, OSError):
                raise SealerUnavailable(
                    f"PKCS#11 module {self.module!r} failed to initialize: "
                    f"{type(error).__name__} {error}".rstrip(),
                    fix="check the module's configuration (for SoftHSM2: the file named by "
                    "SOFTHSM2_CONF and its token directory)",
                ) from None
            raise SealerUnavailable(
                f"PKCS#11 module {self.module!r} failed to load: {error}",
                fix=_setting_fix(
                    MODULE_ENV, "the path of an installed module", "--pkcs11-module", sealing
                ),
            ) from None
        try:
            token = library.get_token(token_label=label)
        except pkcs11.exceptions.NoSuchToken:
            if sealing:
                fix = "insert or initialize the token, or " + _setting_fix(
                    TOKEN_ENV, "the label of another token", "--pkcs11-token", True
                )
            else:
                fix = "insert the token that sealed this keyset"
            raise SealerUnavailable(
                f"no PKCS#11 token labelled {label!r} in module {self.module!r}{override}", fix=fix
            ) from None
        except pkcs11.exceptions.MultipleTokensReturned:
            raise SealerUnavailable(
                f"more than one PKCS#11 token is labelled {label!r}",
                fix="give each token a unique label",
            ) from None
        try:
            return token, token.open(user_pin=self.pin, rw=sealing)
        except (
            pkcs11.exceptions.PinIncorrect,
            pkcs11.exceptions.PinInvalid,
            pkcs11.exceptions.PinLenRange,
        ):
            raise WrongPassphrase(
                f"wrong PIN for PKCS#11 token {label!r}",
                fix=_setting_fix(PIN_ENV, "the token's user PIN", "--pkcs11-pin", sealing)
                + "; the token locks the PIN after repeated failures",
            ) from None
        except pkcs11.exceptions.PinLocked:
            raise WrongPassphrase(
                f"the user PIN of PKCS#11 token {label!r} is locked",
                fix="have the security officer unlock or reset the user PIN",
            ) from None
        except pkcs11.exceptions.PKCS11Error as error:
            raise SealError(
                f"logging in to PKCS#11 token {label!r} failed: {type(error).__name__} {error}",
                fix="check the token with pkcs11-tool --list-slots and its PIN",
            ) from None

    def _choose_mechanism(self, token: Any) -> str:
        pkcs11 = _pkcs11()
        offered = set(token.slot.get_mechanisms())
        available = {
            "aes-gcm": pkcs11.Mechanism.AES_GCM in offered,
            "aes-key-wrap-pad": pkcs11.Mechanism.AES_KEY_WRAP_PAD in offered,
        }
        if self.mechanism is not None:
            if not available[self.mechanism]:
                raise SealerUnavailable(
                    f"PKCS#11 token {self.token_label!r} does not offer {self.mechanism}",
                    fix=f"choose another mechanism from: {', '.join(MECHANISMS)}",
                )
            return self.mechanism
        for name in MECHANISMS:
            if available[name]:
                return name
        raise SealerUnavailable(
            f"PKCS#11 token {self.token_label!r} offers neither CKM_AES_GCM "
            "nor CKM_AES_KEY_WRAP_PAD",
            fix="use a token with AES-GCM or AES key wrap with padding",
        )

    # Sealing.

    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        """Generate a wrapping key on the token and return the KEK encrypted under it."""
        if len(secret) != KEK_SIZE:
            raise InvalidArgument(f"a KEK is {KEK_SIZE} bytes, got {len(secret)}")
        pkcs11 = _pkcs11()
        Attribute = pkcs11.Attribute
        token, session = self._open(self.token_label, sealing=True)
        key_id = secrets.token_bytes(16)
        label = _KEY_LABEL_PREFIX + key_id.hex()

        with session:
            mechanism = self._choose_mechanism(token)
            try:
                wrapping_key = session.generate_key(
                    pkcs11.KeyType.AES,
                    256,
                    id=key_id,
                    label=label,
                    store=True,
                    template={
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.PRIVATE: True,
                        Attribute.ENCRYPT: True,
                        Attribute.DECRYPT: True,
                        Attribute.WRAP: True,
                        Attribute.UNWRAP: True,
                    },
                )
                blob: SealedBlob = {
                    "sealer": self.name,
                    "version": _FORMAT_VERSION,
                    "token": self.token_label,
                    "key_id": key_id.hex(),
                    "key_label": label,
                    "mechanism": mechanism,
                }
                if mechanism == "aes-gcm":
                    iv = secrets.token_bytes(_GCM_IV_SIZE)
                    wrapped = wrapping_key.encrypt(
                        secret,
                        mechanism=pkcs11.Mechanism.AES_GCM,
                        mechanism_param=pkcs11.GCMParams(iv, associated_data, _GCM_TAG_BITS),
                    )
                    blob["iv"] = base64.b64encode(iv).decode("ascii")
                else:
                    wrapped = self._key_wrap_pad(session, wrapping_key, secret)
                    blob["check"] = _kek_check(secret, associated_data).hex()
            except pkcs11.exceptions.PKCS11Error as error:
                raise SealError(
                    f"sealing with PKCS#11 token {self.token_label!r} failed: "
                    f"{type(error).__name__} {error}",
                    fix="check that the token is writable and has room for one more key",
                ) from None

        blob["wrapped"] = base64.b64encode(bytes(wrapped)).decode("ascii")
        logger.info("sealed a KEK with %s under token key %s", mechanism, label)
        return blob

    def _key_wrap_pad(self, session: Any, wrapping_key: Any, secret: bytes) -> bytes:
        """Wrap ``secret`` with CKM_AES_KEY_WRAP_PAD through a short-lived session object."""
        pkcs11 = _pkcs11()
        Attribute = pkcs11.Attribute
        kek_object = session.create_object(
            {
                Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: pkcs11.KeyType.GENERIC_SECRET,
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
                Attribute.VALUE: secret,
            }
        )
        try:
            return bytes(
                wrapping_key.wrap_key(kek_object, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
            )
        finally:
            kek_object.destroy()

    # Unsealing.

    def unseal(self, blob: SealedBlob, associated_data: bytes) -> bytes:
        """Decrypt the KEK on the token, raising UnwrapFailed for a tampered or foreign blob."""
        pkcs11 = _pkcs11()
        if blob.get("sealer") != self.name or blob.get("version") != _FORMAT_VERSION:
            raise SealError(
                f"not a pkcs11 sealed blob of version {_FORMAT_VERSION}: "
                f"sealer={blob.get('sealer')!r}, version={blob.get('version')!r}",
                fix="upgrade agile or restore the keyset file from a backup",
            )
        mechanism = blob.get("mechanism")
        if mechanism not in MECHANISMS:
            raise SealError(
                f"pkcs11 sealed blob names an unknown mechanism {mechanism!r}",
                fix="restore the keyset file from a backup",
            )
        wrapped = _field(blob, "wrapped")
        token = blob.get("token")
        key_id_text = blob.get("key_id")
        try:
            if not isinstance(token, str) or not token or not isinstance(key_id_text, str):
                raise ValueError("token and key_id must be strings")
            bytes.fromhex(key_id_text)
        except ValueError:
            raise SealError(
                f"pkcs11 sealed blob is malformed: token {token!r} or key_id {key_id_text!r} is "
                "not valid",
                fix="restore the keyset file from a backup",
            ) from None
        label = self._token_argument or token
        override = ""
        if label != token:
            override = (
                f" (the blob names token {token!r}, and the pkcs11_token argument replaced it)"
            )
        _, session = self._open(label, sealing=False, override=override)

        with session:
            wrapping_key = self._wrapping_key(session, label, blob, override)
            # The label of the key found, when it differs from the one sealed with, shows
            # that the key was replaced by another one with the same id.
            replaced = _label_of(wrapping_key) not in (None, blob.get("key_label"))
            try:
                if mechanism == "aes-gcm":
                    secret = bytes(
                        wrapping_key.decrypt(
                            wrapped,
                            mechanism=pkcs11.Mechanism.AES_GCM,
                            mechanism_param=pkcs11.GCMParams(
                                _field(blob, "iv"), associated_data, _GCM_TAG_BITS
                            ),
                        )
                    )
                else:
                    secret = self._key_unwrap_pad(session, wrapping_key, wrapped)
            except (
                # SoftHSM2 2.6 reports a failed GCM tag or RFC 5649 integrity check
                # as CKR_GENERAL_ERROR, while other tokens use the specific codes.
                pkcs11.exceptions.GeneralError,
                pkcs11.exceptions.EncryptedDataInvalid,
                pkcs11.exceptions.EncryptedDataLenRange,
                pkcs11.exceptions.WrappedKeyInvalid,
                pkcs11.exceptions.WrappedKeyLenRange,
            ):
                raise _unwrap_failed(label, mechanism, key_id_text, blob, replaced) from None
            except pkcs11.exceptions.PKCS11Error as error:
                raise SealError(
                    f"unsealing with PKCS#11 token {label!r} failed: "
                    f"{type(error).__name__} {error}",
                    fix=f"check that the token supports the blob's mechanism {mechanism!r}",
                ) from None

        if len(secret) != KEK_SIZE:
            raise UnwrapFailed(f"the unwrapped KEK is {len(secret)} bytes, expected {KEK_SIZE}")
        if mechanism == "aes-key-wrap-pad":
            expected = _kek_check(secret, associated_data).hex()
            if not hmac.compare_digest(expected, str(blob.get("check", ""))):
                raise UnwrapFailed(
                    "the unwrapped KEK does not match the check value in the blob: "
                    "the blob belongs to another keyset",
                    fix="use this keyset's own sealed blob; do not use a copied one",
                )
        return secret

    def _wrapping_key(self, session: Any, label: str, blob: SealedBlob, override: str) -> Any:
        """Return the one AES key with the blob's id, raising SealError for none or several."""
        pkcs11 = _pkcs11()
        key_id_text = str(blob["key_id"])
        Attribute = pkcs11.Attribute
        template = {
            Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: pkcs11.KeyType.AES,
            Attribute.ID: bytes.fromhex(key_id_text),
        }
        try:
            # list() ends the search (C_FindObjectsFinal) before the session closes.
            found = list(session.get_objects(template))
        except pkcs11.exceptions.PKCS11Error as error:
            raise SealError(
                f"searching PKCS#11 token {label!r} for wrapping key {key_id_text} failed: "
                f"{type(error).__name__} {error}",
                fix="check the token with pkcs11-tool --list-objects --login",
            ) from None
        if not found:
            raise SealError(
                f"wrapping key with id {key_id_text} not found on PKCS#11 token {label!r}"
                f"{override}",
                fix=f"use the token labelled {blob['token']!r} that sealed this keyset",
            )
        if len(found) > 1:
            labels = ", ".join(repr(_label_of(key)) for key in found)
            raise SealError(
                f"PKCS#11 token {label!r} has {len(found)} AES keys with id {key_id_text} "
                f"(labels {labels}), so the wrapping key of this blob is ambiguous",
                fix=f"delete the key with id {key_id_text} that was added later and keep the one "
                f"labelled {blob.get('key_label')!r}, for example with pkcs11-tool --login "
                "--delete-object --type secrkey --label LABEL",
            )
        return found[0]

    def _key_unwrap_pad(self, session: Any, wrapping_key: Any, wrapped: bytes) -> bytes:
        pkcs11 = _pkcs11()
        Attribute = pkcs11.Attribute
        kek_object = wrapping_key.unwrap_key(
            pkcs11.ObjectClass.SECRET_KEY,
            pkcs11.KeyType.GENERIC_SECRET,
            wrapped,
            mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD,
            store=False,
            template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
        )
        try:
            return bytes(kek_object[Attribute.VALUE])
        finally:
            kek_object.destroy()

    def reseal(
        self, blob: SealedBlob, associated_data: bytes, secret: bytes | None = None
    ) -> SealedBlob:
        """Seal the KEK under a new wrapping key, unsealing ``blob`` first if no ``secret``."""
        if secret is None:
            secret = self.unseal(blob, associated_data)
        return self.seal(secret, associated_data)

    @classmethod
    def describe(cls, blob: SealedBlob) -> dict[str, Any]:
        return {
            "sealer": cls.name,
            "token": blob.get("token"),
            "key_label": blob.get("key_label"),
            "mechanism": blob.get("mechanism"),
        }
