"""Interoperate with the tpm2 pin of Clevis: open its JWEs and write JWEs it opens.

A Clevis tpm2 JWE is a compact JWE (RFC 7516 §7.1) with ``"alg": "dir"`` and
``"enc": "A256GCM"`` whose protected header carries ``clevis.pin = "tpm2"`` and
``clevis.tpm2 = {hash, key, pcr_bank, pcr_ids, jwk_pub, jwk_priv}``.  The
content-encryption key is a JWK (RFC 7517) sealed in a TPM keyed-hash object;
``jwk_pub`` and ``jwk_priv`` are that object's TPM2B_PUBLIC and TPM2B_PRIVATE in
base64url.  The parent is the storage primary that ``tpm2_createprimary -C o
-g HASH -G KEY`` creates, and with ``pcr_ids`` the object opens only under
TPM2_PolicyPCR over ``pcr_bank:pcr_ids`` (``pcr_bank`` defaults to sha1).
This describes clevis 19 with tpm2-tools 5.

The AAD of A256GCM is the ASCII of the encoded protected header (RFC 7516
§5.2 step 14).  A failed tag check raises AuthenticationFailed and returns no
plaintext (``clevis decrypt`` prints it and exits 1).  The tag can only be
checked with the key that the TPM unseals, and unsealing follows the header's
``hash``, ``pcr_bank`` and ``pcr_ids``.  So an edited header is caught before
the TPM is used where it contradicts the sealed object (its name algorithm,
whether it has a policy).  An edited PCR selection fails the TPM's policy check
just as changed PCRs do, and the error names both causes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AuthenticationFailed, InvalidArgument, SealError
from .tpm2 import (
    _BANK_SIZES,
    _RC_INTEGRITY,
    _RC_POLICY_FAIL,
    DEFAULT_TCTI,
    TCTI_ENV,
    PCRSelection,
    TPMConnection,
    _device_error,
    _rc_base,
    _tpm2,
    within_deadline,
)

__all__ = [
    "encrypt_tpm2",
    "decrypt",
    "parse_config",
    "read_bounded",
    "ClevisConfig",
    "MAX_JWE_SIZE",
    "MAX_PLAINTEXT_SIZE",
]

logger = logging.getLogger("agile.seal.clevis")

#: Clevis ``key`` value -> the template tpm2-tools uses for ``tpm2_createprimary -G KEY``.
_PRIMARY_TEMPLATES = {"ecc": "ecc256:aes128cfb", "rsa": "rsa2048:aes128cfb"}
_CEK_SIZE = 32
_IV_SIZE = 12
_TAG_SIZE = 16
#: Largest JWE accepted, so that a stray input does not fill memory (Clevis secrets are small).
MAX_JWE_SIZE = 64 * 1024 * 1024
#: Largest plaintext that 'agile clevis encrypt' reads.  Its JWE, 4/3 as large in base64url
#: plus a header of a few hundred bytes, stays below MAX_JWE_SIZE, so agile can open it.
MAX_PLAINTEXT_SIZE = 32 * 1024 * 1024


def read_bounded(stream: BinaryIO, limit: int, what: str, *, fix: str) -> bytes:
    """Read ``stream`` to its end, raising InvalidArgument if it has more than ``limit`` bytes.

    At most ``limit + 1`` bytes are read, so an endless input such as /dev/zero gives an
    error instead of filling memory.
    """
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument(f"{what} is larger than {limit} bytes", fix=fix)
    return data


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            f"JWE {what} is not base64url", fix="pass the JWE exactly as clevis wrote it"
        ) from None


class ClevisConfig:
    """The tpm2 pin configuration: ``hash``, ``key``, ``pcr_bank``, ``pcr_ids``, ``pcr_digest``."""

    def __init__(
        self,
        hash: str = "sha256",
        key: str = "ecc",
        pcr_bank: str = "sha1",
        pcr_ids: str | list[int | str] | None = None,
        pcr_digest: str | None = None,
    ) -> None:
        if hash not in _BANK_SIZES:
            raise InvalidArgument(
                f"unknown clevis tpm2 hash {hash!r}", fix=f"use one of: {', '.join(_BANK_SIZES)}"
            )
        if key not in _PRIMARY_TEMPLATES:
            raise InvalidArgument(
                f"unknown clevis tpm2 key type {key!r}",
                fix=f"use one of: {', '.join(_PRIMARY_TEMPLATES)}",
            )
        if pcr_bank not in _BANK_SIZES:
            raise InvalidArgument(
                f"unknown clevis tpm2 pcr_bank {pcr_bank!r}",
                fix=f"use one of: {', '.join(_BANK_SIZES)}",
            )
        self.hash = hash
        self.key = key
        self.pcr_bank = pcr_bank

        if isinstance(pcr_ids, int) and not isinstance(pcr_ids, bool):
            pcr_ids = str(pcr_ids)
        if isinstance(pcr_ids, list):
            pcr_ids = ",".join(str(item) for item in pcr_ids)
        if pcr_ids is not None and not isinstance(pcr_ids, str):
            raise InvalidArgument(
                f"clevis tpm2 pcr_ids {pcr_ids!r} is not a list of PCR numbers",
                fix='write pcr_ids as a string such as "0,7" or a list such as [0, 7]',
            )
        self.pcr_ids = (pcr_ids or "").replace(" ", "") or None
        self.selection = PCRSelection.parse(f"{pcr_bank}:{self.pcr_ids}") if self.pcr_ids else None

        self.pcr_digest = _unb64url(pcr_digest, "pcr_digest") if pcr_digest else None
        if self.pcr_digest is not None:
            # Like clevis, pcr_digest is the concatenated values of the selected PCRs.
            if self.selection is None:
                raise InvalidArgument(
                    "clevis tpm2 pcr_digest is given without pcr_ids",
                    fix="add pcr_ids naming the PCRs whose values pcr_digest contains",
                )
            expected = len(self.selection.indices) * _BANK_SIZES[pcr_bank]
            if len(self.pcr_digest) != expected:
                raise InvalidArgument(
                    f"clevis tpm2 pcr_digest has {len(self.pcr_digest)} bytes, expected {expected} "
                    f"({len(self.selection.indices)} {pcr_bank} PCR values)",
                    fix="give the base64url of the concatenated values of the PCRs in pcr_ids",
                )


def parse_config(text: str) -> ClevisConfig:
    """Parse a clevis tpm2 CONFIG argument (a JSON object)."""
    try:
        data = json.loads(text or "{}")
    except (json.JSONDecodeError, RecursionError) as error:
        raise InvalidArgument(
            f"clevis tpm2 configuration is not JSON: {error}",
            fix='write it as JSON, e.g. \'{"pcr_bank":"sha256","pcr_ids":"7"}\'',
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgument("clevis tpm2 configuration must be a JSON object")
    known = {"hash", "key", "pcr_bank", "pcr_ids", "pcr_digest"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidArgument(
            f"unknown clevis tpm2 configuration keys: {', '.join(unknown)}",
            fix=f"use only: {', '.join(sorted(known))}",
        )
    return ClevisConfig(**data)


def _tcti(tcti: str | None) -> str:
    return tcti or os.environ.get(TCTI_ENV) or DEFAULT_TCTI


@within_deadline("sealing a clevis JWE")
def encrypt_tpm2(plaintext: bytes, config: ClevisConfig, tcti: str | None = None) -> bytes:
    """Return a compact JWE of ``plaintext`` that ``clevis decrypt`` opens with this TPM."""
    tss = _tpm2()
    cek = os.urandom(_CEK_SIZE)
    jwk = {
        "alg": "A256GCM",
        "k": _b64url(cek),
        "key_ops": ["encrypt", "decrypt"],
        "kty": "oct",
    }
    attributes = (
        tss.TPMA_OBJECT.FIXEDTPM
        | tss.TPMA_OBJECT.FIXEDPARENT
        | tss.TPMA_OBJECT.NODA
        | tss.TPMA_OBJECT.ADMINWITHPOLICY
    )

    with TPMConnection(_tcti(tcti)) as tpm:
        try:
            primary = tpm.storage_primary(
                _PRIMARY_TEMPLATES[config.key], no_da=False, name_hash=config.hash
            )
            policy = b""
            if config.selection is not None:
                # tpm2_createpolicy --policy-pcr: the PCR digest is the policy hash
                # over the concatenated PCR values (TPM 2.0 Part 3, TPM2_PolicyPCR).
                if config.pcr_digest is None:
                    values = tpm.read_pcrs(config.selection)
                    concatenated = b"".join(values[i] for i in config.selection.indices)
                else:
                    concatenated = config.pcr_digest
                pcr_digest = hashlib.new(config.hash, concatenated).digest()
                policy = tpm.trial_policy_digest(config.selection, pcr_digest, False, config.hash)
            else:
                attributes |= tss.TPMA_OBJECT.USERWITHAUTH

            template = tss.TPM2B_PUBLIC(
                publicArea=tss.TPMT_PUBLIC(
                    type=tss.TPM2_ALG.KEYEDHASH,
                    nameAlg=getattr(tss.TPM2_ALG, config.hash.upper()),
                    objectAttributes=attributes,
                    authPolicy=policy,
                )
            )
            template.publicArea.parameters.keyedHashDetail.scheme.scheme = tss.TPM2_ALG.NULL
            sensitive = tss.TPM2B_SENSITIVE_CREATE(
                tss.TPMS_SENSITIVE_CREATE(
                    data=tss.TPM2B_SENSITIVE_DATA(json.dumps(jwk, separators=(",", ":")).encode())
                )
            )
            session = tpm.session(primary, "hmac")
            private, public, *_ = tpm.esapi.create(primary, sensitive, template, session1=session)
        except tss.TSS2_Exception as error:
            problem = _device_error(tpm.tcti, error)
            if problem is not None:
                raise problem from None
            raise SealError(
                f"sealing the clevis key to the TPM at {tpm.tcti!r} failed: {error}",
                fix="check that the TPM is reachable and its owner hierarchy has no password",
            ) from None

    pin: dict[str, Any] = {"hash": config.hash, "key": config.key}
    if config.selection is not None:
        pin["pcr_bank"] = config.pcr_bank
        pin["pcr_ids"] = config.pcr_ids
    pin["jwk_pub"] = _b64url(public.marshal())
    pin["jwk_priv"] = _b64url(private.marshal())
    header = {"alg": "dir", "clevis": {"pin": "tpm2", "tpm2": pin}, "enc": "A256GCM"}
    encoded_header = _b64url(json.dumps(header, separators=(",", ":")).encode())

    iv = os.urandom(_IV_SIZE)
    sealed = AESGCM(cek).encrypt(iv, plaintext, encoded_header.encode("ascii"))
    ciphertext, tag = sealed[:-_TAG_SIZE], sealed[-_TAG_SIZE:]
    parts = [encoded_header, "", _b64url(iv), _b64url(ciphertext), _b64url(tag)]
    return ".".join(parts).encode("ascii")


def _parse_jwe(jwe: bytes) -> tuple[str, dict[str, Any], bytes, bytes, bytes]:
    """Split a compact JWE into its encoded header, header, IV, ciphertext and tag."""
    if len(jwe) > MAX_JWE_SIZE:
        raise InvalidArgument(
            f"JWE is {len(jwe)} bytes, more than the {MAX_JWE_SIZE} accepted",
            fix="pass a clevis JWE",
        )
    try:
        text = jwe.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidArgument(
            "input is not a compact JWE (it contains non-ASCII bytes)",
            fix="pass the output of clevis encrypt",
        ) from None
    if text.startswith("{"):
        raise InvalidArgument(
            "the JWE is in JSON serialization; only the compact form is supported",
            fix="pass the output of clevis encrypt (compact form)",
        )
    parts = text.split(".")
    if len(parts) != 5:
        raise InvalidArgument(
            f"input is not a compact JWE: {len(parts)} dot-separated parts instead of 5",
            fix="pass the output of clevis encrypt",
        )
    encoded_header, encrypted_key, iv, ciphertext, tag = parts
    try:
        header = json.loads(_unb64url(encoded_header, "protected header"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        # JSON nested too deeply for Python's parser (RecursionError) is no clevis header either.
        raise InvalidArgument("JWE protected header is not JSON") from None
    if not isinstance(header, dict):
        raise InvalidArgument("JWE protected header is not a JSON object")
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM" or encrypted_key:
        raise InvalidArgument(
            f"JWE uses alg={header.get('alg')!r} enc={header.get('enc')!r} and an encrypted "
            f"key part of {len(encrypted_key)} characters; the clevis tpm2 pin writes alg "
            "'dir' with enc 'A256GCM' and an empty encrypted key part",
            fix="pass a JWE made by clevis encrypt tpm2",
        )
    return (
        encoded_header,
        header,
        _unb64url(iv, "IV"),
        _unb64url(ciphertext, "ciphertext"),
        _unb64url(tag, "tag"),
    )


def _check_header_against_object(config: ClevisConfig, public: Any) -> None:
    """Raise InvalidArgument where the header's settings contradict the sealed object.

    The sealed object's public area is authentic: the TPM refuses to load it with a
    private part that was made for another one.
    """
    area = public.publicArea
    problem = ""
    if str(area.nameAlg) != config.hash:
        problem = (
            f"its hash is {config.hash}, but the sealed object's name algorithm is {area.nameAlg}"
        )
    elif config.selection is None and bytes(area.authPolicy):
        problem = "it names no pcr_ids, but the sealed key opens only under a PCR policy"
    elif config.selection is not None and not bytes(area.authPolicy):
        problem = f"it names pcr_ids {config.pcr_ids}, but the sealed key has no PCR policy"
    if problem:
        raise InvalidArgument(
            f"the JWE's protected header was modified: {problem}",
            fix="obtain an unmodified copy of the JWE",
        )


def _pin_field(pin: dict[str, Any], name: str) -> str:
    value = pin.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidArgument(
            f"clevis tpm2 header has no {name!r}", fix="pass a JWE made by clevis encrypt tpm2"
        )
    return value


@within_deadline("unsealing a clevis JWE")
def _unseal_cek(pin: dict[str, Any], tcti: str | None) -> bytes:
    """Unseal the JWK in ``pin``'s TPM object and return its 32-byte key."""
    tss = _tpm2()
    config = ClevisConfig(
        hash=_pin_field(pin, "hash"),
        key=_pin_field(pin, "key"),
        pcr_bank=pin.get("pcr_bank") or "sha1",
        pcr_ids=pin.get("pcr_ids"),
    )
    try:
        public = tss.TPM2B_PUBLIC.unmarshal(_unb64url(_pin_field(pin, "jwk_pub"), "jwk_pub"))[0]
        private = tss.TPM2B_PRIVATE.unmarshal(_unb64url(_pin_field(pin, "jwk_priv"), "jwk_priv"))[0]
    except tss.TSS2_Exception:
        raise InvalidArgument(
            "clevis tpm2 header contains a malformed jwk_pub or jwk_priv",
            fix="pass the JWE exactly as clevis wrote it",
        ) from None
    _check_header_against_object(config, public)

    with TPMConnection(_tcti(tcti)) as tpm:
        try:
            primary = tpm.storage_primary(
                _PRIMARY_TEMPLATES[config.key], no_da=False, name_hash=config.hash
            )
            sealed = tpm.track(tpm.esapi.load(primary, private, public))
            if config.selection is not None:
                session = tpm.session(primary, "policy", config.hash)
                tpm.esapi.policy_pcr(session, tss.TPM2B_DIGEST(), str(config.selection))
            else:
                session = tpm.session(primary, "hmac")
            data = bytes(tpm.esapi.unseal(sealed, session1=session))
        except tss.TSS2_Exception as error:
            code = _rc_base(error)
            problem = _device_error(tpm.tcti, error)
            if problem is not None:
                raise problem from None
            if code == _RC_POLICY_FAIL:
                # A clevis JWE keeps no PCR values, so the PCR that changed cannot be named.
                # Nor can a changed PCR be distinguished from an edited pcr_bank or pcr_ids, because
                # the header is authenticated only with the key that the policy protects.
                count = len(config.selection.indices) if config.selection else 0
                plural = "s" if count > 1 else ""
                qualifier = "at least one of " if plural else ""
                raise SealError(
                    f"TPM policy check failed: {qualifier}PCR{plural} {config.pcr_ids} in bank "
                    f"{config.pcr_bank} ({config.selection}) changed since clevis encrypted "
                    "this JWE, or its protected header was modified in pcr_bank or pcr_ids",
                    fix="boot into the measured state that was sealed, or re-encrypt the data; "
                    "if the JWE may have been modified, use an unmodified copy",
                ) from None
            if code == _RC_INTEGRITY:
                raise SealError(
                    f"the TPM at {tpm.tcti!r} rejected the sealed clevis key "
                    "(another TPM, a cleared TPM, or a modified JWE)",
                    fix="use the TPM that encrypted this JWE",
                ) from None
            raise SealError(
                f"unsealing the clevis key with the TPM at {tpm.tcti!r} failed: {error}",
                fix="check that the JWE is unmodified and that this is the TPM that encrypted it",
            ) from None

    try:
        jwk = json.loads(data)
        cek = _unb64url(jwk["k"], "JWK key")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise SealError("the TPM object does not contain a JWK with a 'k' member") from None
    if len(cek) != _CEK_SIZE:
        raise SealError(f"the sealed JWK contains a {len(cek)}-byte key; A256GCM needs 32 bytes")
    return cek


def decrypt(jwe: bytes, tcti: str | None = None) -> bytes:
    """Decrypt a clevis tpm2 JWE, raising AuthenticationFailed on a bad tag."""
    encoded_header, header, iv, ciphertext, tag = _parse_jwe(jwe)
    clevis = header.get("clevis")
    if not isinstance(clevis, dict) or clevis.get("pin") != "tpm2":
        pin_name = clevis.get("pin") if isinstance(clevis, dict) else None
        raise InvalidArgument(
            f"JWE is for clevis pin {pin_name!r}; agile opens only the tpm2 pin",
            fix="open it with clevis decrypt",
        )
    pin = clevis.get("tpm2")
    if not isinstance(pin, dict):
        raise InvalidArgument("clevis tpm2 header has no 'tpm2' object")
    if len(iv) != _IV_SIZE or len(tag) != _TAG_SIZE:
        raise InvalidArgument(
            f"JWE IV is {len(iv)} bytes and tag {len(tag)} bytes; A256GCM uses 12 and 16"
        )

    cek = _unseal_cek(pin, tcti)
    try:
        return AESGCM(cek).decrypt(iv, ciphertext + tag, encoded_header.encode("ascii"))
    except InvalidTag:
        raise AuthenticationFailed(
            "JWE authentication tag check failed: the ciphertext or header was modified",
            fix="obtain an unmodified copy of the JWE",
        ) from None
