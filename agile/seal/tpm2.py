"""Seal a keyset's KEK to a TPM 2.0 under a PCR policy and an optional PIN.

The KEK is the sensitive data of a keyed-hash object created under a storage
primary key.  The primary comes from a fixed template (ECC P-256, AES-128-CFB,
``noDA``), so the TPM re-derives the same key from its owner seed on every use
and nothing but the sealed object's public and private parts needs storing.

The object has no ``userWithAuth`` attribute, so only its policy opens it:
TPM2_PolicyPCR over the chosen bank and PCRs, followed by TPM2_PolicyAuthValue
when a PIN is set.  PolicyAuthValue is used instead of PolicyPassword because
tpm2-tss 3.2.1 with libtpms 0.9.2 returns wrong unsealed bytes, without an
error, when PolicyPassword meets a session that encrypts its response.  All
sessions are salted with the primary key and encrypt the KEK in transit
(TPM 2.0 Part 1, "Session-based encryption").

The blob keeps the PCR values it was sealed to, so a failed policy names the
PCRs that changed.  It also keeps an HMAC of the KEK, so a wrong unsealed value
(or a blob from another keyset) is rejected before anything uses it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, ParamSpec, TypeVar

from ..errors import InvalidArgument, SealError, SealerUnavailable, WrongPassphrase
from .base import KEK_SIZE, SealedBlob, Sealer

__all__ = [
    "TPM2Sealer",
    "PCRSelection",
    "PCRChanged",
    "TPMLockedOut",
    "TPMConnection",
    "DEFAULT_TCTI",
    "DEFAULT_PCRS",
    "TCTI_ENV",
    "PIN_ENV",
    "MAX_PIN_SIZE",
    "PCRS_ENV",
    "PCR_VALUES_ENV",
    "TIMEOUT_ENV",
    "hash_algorithm",
    "within_deadline",
    "connect",
]

logger = logging.getLogger("agile.seal.tpm2")

#: TCTI used when neither ``--tpm-tcti`` nor ``$AGILE_TPM_TCTI`` is set: the kernel
#: resource manager.
DEFAULT_TCTI = "device:/dev/tpmrm0"
#: PCR policy used when none is given: the Secure Boot state.
DEFAULT_PCRS = "sha256:7"
TCTI_ENV = "AGILE_TPM_TCTI"
PIN_ENV = "AGILE_TPM_PIN"
PCRS_ENV = "AGILE_TPM_PCRS"
PCR_VALUES_ENV = "AGILE_TPM_PCR_VALUES"
#: Seconds one seal or unseal may wait for the TPM (default 60).
TIMEOUT_ENV = "AGILE_TPM_TIMEOUT"
_DEFAULT_TIMEOUT = 60.0

_FORMAT_VERSION = 1
_CHECK_LABEL = b"agile tpm2 kek check v1\x00"

#: Largest TPM PIN in bytes (UTF-8).  A TPM2B_AUTH contains at most 64 bytes, the largest
#: digest (TPM 2.0 Part 2, TPMU_HA).  tpm2-tss 3.2.1 ESAPI replaces an auth value longer than
#: the digest of the object's name algorithm by its hash.  So the TPM receives the SHA-256 of
#: a PIN of 33 to 64 bytes, which opens the object as well as a shorter PIN does.
MAX_PIN_SIZE = 64

#: PCR bank name -> digest size in bytes.
_BANK_SIZES: dict[str, int] = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
#: A TPM 2.0 PC Client platform has 24 PCRs.
_PCR_COUNT = 24


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return _DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise InvalidArgument(
            f"{TIMEOUT_ENV}={text!r} is not a number of seconds greater than 0 and at most 86400",
            fix=f"set {TIMEOUT_ENV} to for example 60, or unset it",
        )
    return value


def within_deadline(activity: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Return a decorator that raises SealerUnavailable when a TPM call times out.

    tpm2-tss 3.2's TCTIs wait for the TPM's response without a timeout, so a stopped
    swtpm or a hung resource manager would block the caller indefinitely.  The work
    runs in a daemon thread.  When it outlives the deadline the caller gets the error,
    and the thread stays blocked on its own TPM connection until the process exits.
    """

    def decorate(work: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(work)
        def bounded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            timeout = _timeout()
            outcome: dict[str, Any] = {}

            def run() -> None:
                try:
                    outcome["value"] = work(*args, **kwargs)
                except BaseException as error:  # noqa: BLE001 - handed to the caller below
                    outcome["error"] = error

            thread = threading.Thread(target=run, name=f"agile-tpm-{activity}", daemon=True)
            thread.start()
            thread.join(timeout)
            if thread.is_alive():
                raise SealerUnavailable(
                    f"the TPM timed out: no response within {timeout:g} s while {activity}",
                    fix="check that the TPM, swtpm or tpm2-abrmd is running and not stopped; "
                    f"{TIMEOUT_ENV} sets the limit in seconds",
                )
            if "error" in outcome:
                raise outcome["error"]
            return outcome["value"]  # type: ignore[no-any-return]

        return bounded

    return decorate


class PCRChanged(SealError):
    """PCR values differ from those the KEK was sealed to, so the TPM policy fails."""

    def __init__(self, message: str, *, fix: str | None = None, changed: list[str]) -> None:
        super().__init__(message, fix=fix)
        self.changed = changed


class TPMLockedOut(SealError):
    """The TPM is in dictionary-attack lockout and rejects every PIN for now."""


def _tpm2() -> Any:
    """Import tpm2-pytss, or raise SealerUnavailable naming the missing extra."""
    # The TSS C library logs every TPM error response to stderr, and agile reports them itself.
    os.environ.setdefault("TSS2_LOG", "all+NONE")
    try:
        import tpm2_pytss
    except ImportError as error:
        raise SealerUnavailable(
            f"the tpm2 sealer needs tpm2-pytss, which failed to import: {error}",
            fix="run scripts/devices/install.sh or pip install 'agile-crypto[tpm]'",
        ) from None
    return tpm2_pytss


@dataclass(frozen=True)
class PCRSelection:
    """A PCR bank and a sorted list of PCR indices, written ``BANK:I,J,...``."""

    bank: str
    indices: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> PCRSelection:
        bank, separator, listing = text.strip().partition(":")
        bank = bank.lower()
        if not separator or bank not in _BANK_SIZES:
            raise InvalidArgument(
                f"invalid PCR selection {text!r}",
                fix=f"write BANK:LIST with BANK one of {', '.join(_BANK_SIZES)}, e.g. sha256:0,7",
            )
        try:
            indices = sorted({int(item) for item in listing.split(",") if item.strip()})
        except ValueError:
            raise InvalidArgument(
                f"invalid PCR list in {text!r}",
                fix="list PCR numbers separated by commas, e.g. sha256:0,2,7",
            ) from None
        if not indices or indices[0] < 0 or indices[-1] >= _PCR_COUNT:
            raise InvalidArgument(
                f"invalid PCR list in {text!r}",
                fix=f"list one or more PCR numbers from 0 to {_PCR_COUNT - 1}",
            )
        return cls(bank, tuple(indices))

    def __str__(self) -> str:
        return f"{self.bank}:{','.join(str(index) for index in self.indices)}"

    def names(self, indices: list[int] | tuple[int, ...] | None = None) -> list[str]:
        return [f"{self.bank}:{index}" for index in (self.indices if indices is None else indices)]


def hash_algorithm(name: str) -> Any:
    """Return the TPM2_ALG constant of a hash named like a PCR bank (sha1, sha256, ...)."""
    tss = _tpm2()
    if name not in _BANK_SIZES:
        raise InvalidArgument(
            f"unknown TPM hash algorithm {name!r}", fix=f"use one of: {', '.join(_BANK_SIZES)}"
        )
    return getattr(tss.TPM2_ALG, name.upper())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(blob: SealedBlob, field: str) -> bytes:
    value = blob.get(field)
    try:
        if not isinstance(value, str):
            raise ValueError(field)
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise SealError(
            f"tpm2 sealed blob is malformed: field {field!r} is missing or not base64",
            fix="restore the keyset file from a backup",
        ) from None


def _kek_check(secret: bytes, associated_data: bytes) -> bytes:
    """Return the keyed hash stored in the blob to verify the unsealed KEK and its keyset."""
    return hmac.new(secret, _CHECK_LABEL + associated_data, hashlib.sha256).digest()


def _malformed(problem: str) -> SealError:
    return SealError(
        f"tpm2 sealed blob is malformed: {problem}", fix="restore the keyset file from a backup"
    )


def _blob_selection(blob: SealedBlob) -> PCRSelection:
    """Return the PCR selection stored in ``blob``, raising SealError when it is invalid."""
    text = blob.get("pcrs")
    if not isinstance(text, str):
        raise _malformed("field 'pcrs' is missing or not a string")
    try:
        return PCRSelection.parse(text)
    except InvalidArgument:
        raise _malformed(
            f"field 'pcrs' is {text!r}, not a PCR selection such as sha256:7"
        ) from None


def _check_pcr_fields(blob: SealedBlob, selection: PCRSelection) -> None:
    """Raise SealError unless the blob stores one value per selected PCR, in the bank's size.

    A missing or edited value would otherwise be reported as a changed PCR.
    """
    values = blob.get("pcr_values")
    if not isinstance(values, dict):
        raise _malformed("field 'pcr_values' is missing or not a dict")
    expected = [str(index) for index in selection.indices]
    extra = sorted(set(values) - set(expected))
    if extra:
        raise _malformed(f"'pcr_values' names PCR {', '.join(extra)}, which is not in {selection}")
    size = _BANK_SIZES[selection.bank]
    for index in expected:
        value = values.get(index)
        if value is None:
            raise _malformed(f"'pcr_values' has no value for PCR {index} of {selection}")
        try:
            valid = isinstance(value, str) and len(bytes.fromhex(value)) == size
        except ValueError:
            valid = False
        if not valid:
            raise _malformed(
                f"'pcr_values' of PCR {index} is {value!r}, not a {size}-byte "
                f"{selection.bank} value in hex"
            )
    predicted = blob.get("predicted", [])
    if not isinstance(predicted, list) or not all(
        type(index) is int and index in selection.indices for index in predicted
    ):
        raise _malformed(f"field 'predicted' is {predicted!r}, not a list of PCRs of {selection}")


def _encode_pin(pin: str) -> bytes:
    # Bytes of a PIN from the environment that are not UTF-8 come back as they were given.
    return pin.encode("utf-8", "surrogateescape")


def _pin_bytes(pin: str | None, *, unsealing: bool) -> bytes:
    """Return ``pin`` in NFC and UTF-8, raising InvalidArgument when a TPM cannot take it.

    NFC makes a PIN typed with combining characters (NFD, as some keyboards and macOS
    produce it) the same PIN as its composed form, as for passphrases.
    """
    encoded = _encode_pin(unicodedata.normalize("NFC", pin or ""))
    if len(encoded) <= MAX_PIN_SIZE:
        return encoded
    if unsealing:
        # Checked before any TPM command, so a PIN that cannot be right costs no attempt.
        raise InvalidArgument(
            f"the TPM PIN is {len(encoded)} bytes in UTF-8, more than the {MAX_PIN_SIZE} bytes "
            "a TPM PIN can have, so it is not this keyset's PIN",
            fix=f"set {PIN_ENV} to the PIN the keyset was sealed with",
        )
    raise InvalidArgument(
        f"the TPM PIN is {len(encoded)} bytes in UTF-8, more than the {MAX_PIN_SIZE} bytes "
        "a TPM PIN can have",
        fix=f"choose a PIN of at most {MAX_PIN_SIZE} bytes, where each character outside "
        "ASCII takes 2 to 4 bytes",
    )


def _pin_candidates(pin: str | None, blob: SealedBlob) -> list[bytes]:
    """Return the PINs to try on ``blob``: the NFC form, then the PIN as typed.

    Blobs sealed before PINs were normalized lack ``pin_nfc`` and may hold the PIN as
    typed.  Only they get the second attempt, because each wrong PIN counts towards
    the TPM's dictionary-attack lockout.
    """
    normalized = _pin_bytes(pin, unsealing=True)
    typed = _encode_pin(pin or "")
    if blob.get("pin_nfc") or typed == normalized or len(typed) > MAX_PIN_SIZE:
        return [normalized]
    return [normalized, typed]


def _keyset_of(associated_data: bytes) -> str | None:
    """Return the name of the keyset whose KEK (or sss member of it) this is, else None."""
    from .sss import _keyset_name

    return _keyset_name(associated_data)


def _keyset_subject(associated_data: bytes) -> str:
    """Return "keyset 'NAME': " to start an error about a keyset's KEK, else ""."""
    name = _keyset_of(associated_data)
    return f"keyset {name!r}: " if name is not None else ""


def _reseal_command(associated_data: bytes) -> str:
    name = _keyset_of(associated_data)
    return f"agile keyset reseal {name if name is not None else 'NAME'}"


def _is_sss_member(associated_data: bytes) -> bool:
    """Return whether ``associated_data`` is that of a member of an sss sealer."""
    from .sss import _MEMBER_LABEL

    # The sss sealer appends its label and the one-byte member index.
    return associated_data[:-1].endswith(_MEMBER_LABEL)


#: The TCTI loader's response when no TCTI library has the name given (tpm2-tss 3.2.1:
#: TSS2_TCTI_RC_NOT_SUPPORTED from Tss2_TctiLdr_Initialize).
_TCTI_NOT_SUPPORTED = (10 << 16) | 21


def _unknown_tcti(tcti: str) -> SealerUnavailable:
    name = tcti.partition(":")[0]
    return SealerUnavailable(
        f"unknown TCTI {name!r} in {tcti!r}: tpm2-tss has no TCTI library libtss2-tcti-{name}.so",
        fix=f"set {TCTI_ENV}, or --tpm-tcti where the command has it, to device:/dev/tpmrm0, "
        "swtpm:host=HOST,port=PORT, mssim:host=HOST,port=PORT or tabrmd, and install the "
        "library of the TCTI you choose if it is missing",
    )


class TPMConnection:
    """An ESAPI context on one TCTI that flushes every transient handle it created on close.

    The swtpm TCP TCTI has no resource manager behind it, so handles left
    loaded would fill the TPM's slots across processes.
    """

    def __init__(self, tcti: str, *, fix: str | None = None) -> None:
        """Connect to the TPM at ``tcti``; ``fix`` replaces the advice given when that fails."""
        tss = _tpm2()
        self.tcti = tcti
        self._handles: list[Any] = []
        try:
            self.esapi = tss.ESAPI(tcti)
        except (tss.TSS2_Exception, RuntimeError, ValueError) as error:
            if isinstance(error, tss.TSS2_Exception) and int(error.rc) == _TCTI_NOT_SUPPORTED:
                raise _unknown_tcti(tcti) from None
            raise SealerUnavailable(
                f"no TPM reachable through TCTI {tcti!r}: {error}",
                fix=fix
                or f"start the TPM or swtpm and set {TCTI_ENV}, or pass --tpm-tcti where the "
                "command has it, e.g. swtpm:host=127.0.0.1,port=2321",
            ) from None

    def __enter__(self) -> TPMConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def track(self, handle: Any) -> Any:
        self._handles.append(handle)
        return handle

    def flush(self, handle: Any) -> None:
        if handle in self._handles:
            self._handles.remove(handle)
        self.esapi.flush_context(handle)

    def close(self) -> None:
        tss = _tpm2()
        for handle in reversed(self._handles):
            try:
                self.esapi.flush_context(handle)
            except tss.TSS2_Exception as error:
                logger.warning("failed to flush TPM handle %s: %s", handle, error)
        self._handles.clear()
        self.esapi.close()

    # Objects and sessions.

    def storage_primary(
        self, template: str = "ecc256:aes128cfb", *, no_da: bool = True, name_hash: str = "sha256"
    ) -> Any:
        """Create the owner-hierarchy storage primary from a fixed template and return its handle.

        Without ``no_da`` the template equals tpm2-tools' ``tpm2_createprimary -C o``.
        """
        tss = _tpm2()
        attributes = tss.TPMA_OBJECT.DEFAULT_TPM2_TOOLS_CREATEPRIMARY_ATTRS
        if no_da:
            attributes |= tss.TPMA_OBJECT.NODA
        public = tss.TPM2B_PUBLIC.parse(template, objectAttributes=attributes, nameAlg=name_hash)
        handle, *_ = self.esapi.create_primary(
            tss.TPM2B_SENSITIVE_CREATE(), public, tss.ESYS_TR.OWNER
        )
        return self.track(handle)

    def name(self, handle: Any) -> bytes:
        return bytes(self.esapi.tr_get_name(handle))

    def session(self, primary: Any, kind: str, hash_name: str = "sha256") -> Any:
        """Start a session salted with ``primary`` that encrypts parameters with AES-128-CFB."""
        tss = _tpm2()
        session_type = {"hmac": tss.TPM2_SE.HMAC, "policy": tss.TPM2_SE.POLICY}[kind]
        symmetric = tss.TPMT_SYM_DEF(
            algorithm=tss.TPM2_ALG.AES,
            keyBits=tss.TPMU_SYM_KEY_BITS(aes=128),
            mode=tss.TPMU_SYM_MODE(aes=tss.TPM2_ALG.CFB),
        )
        handle = self.esapi.start_auth_session(
            tpm_key=primary,
            bind=tss.ESYS_TR.NONE,
            session_type=session_type,
            symmetric=symmetric,
            auth_hash=hash_algorithm(hash_name),
        )
        self.track(handle)
        attributes = tss.TPMA_SESSION.CONTINUESESSION | tss.TPMA_SESSION.ENCRYPT
        if kind == "hmac":
            attributes |= tss.TPMA_SESSION.DECRYPT
        self.esapi.trsess_set_attributes(handle, attributes)
        return handle

    def trial_policy_digest(
        self, selection: PCRSelection, pcr_digest: bytes, pin: bool, hash_name: str = "sha256"
    ) -> bytes:
        """Compute the policy digest for PolicyPCR (+ PolicyAuthValue) in a trial session."""
        tss = _tpm2()
        trial = self.track(
            self.esapi.start_auth_session(
                tpm_key=tss.ESYS_TR.NONE,
                bind=tss.ESYS_TR.NONE,
                session_type=tss.TPM2_SE.TRIAL,
                symmetric=tss.TPMT_SYM_DEF(algorithm=tss.TPM2_ALG.NULL),
                auth_hash=hash_algorithm(hash_name),
            )
        )
        self.esapi.policy_pcr(trial, tss.TPM2B_DIGEST(pcr_digest), str(selection))
        if pin:
            self.esapi.policy_auth_value(trial)
        digest = bytes(self.esapi.policy_get_digest(trial))
        self.flush(trial)
        return digest

    def read_pcrs(self, selection: PCRSelection) -> dict[int, bytes]:
        """Return the current value of each selected PCR."""
        tss = _tpm2()
        values: dict[int, bytes] = {}
        for index in selection.indices:
            try:
                _, _, digests = self.esapi.pcr_read(f"{selection.bank}:{index}")
            except tss.TSS2_Exception as error:
                raise SealError(
                    f"reading PCR {selection.bank}:{index} from the TPM at {self.tcti!r} "
                    f"failed: {error}",
                    fix="check that the TPM is reachable and not in use by another process",
                ) from None
            if len(digests) != 1:
                raise SealError(
                    f"the TPM has no active {selection.bank} PCR bank "
                    f"(reading {selection.bank}:{index} returned nothing)",
                    fix="choose an active bank with --pcrs, e.g. sha256:7",
                )
            values[index] = bytes(digests[0])
        return values

    def lockout_state(self) -> str:
        """Describe the dictionary-attack counters in words, or '' when they cannot be read."""
        tss = _tpm2()
        try:
            _, data = self.esapi.get_capability(
                tss.TPM2_CAP.TPM_PROPERTIES, tss.TPM2_PT.LOCKOUT_COUNTER, 4
            )
        except tss.TSS2_Exception:
            return ""
        values = {int(prop.property): int(prop.value) for prop in data.data.tpmProperties}
        counter = values.get(int(tss.TPM2_PT.LOCKOUT_COUNTER), 0)
        maximum = values.get(int(tss.TPM2_PT.MAX_AUTH_FAIL), 0)
        interval = values.get(int(tss.TPM2_PT.LOCKOUT_INTERVAL), 0)
        return (
            f"{counter} of {maximum} allowed failed authorizations counted; "
            f"one is forgiven every {interval} s"
        )


def _rc_base(error: Any) -> int:
    """Return the TPM response code without its handle, session or parameter number."""
    rc = int(error.rc) & 0xFFFF
    if (
        rc & 0x80
    ):  # Format-one codes also carry the number of the failing handle, session or parameter.
        return rc & 0xBF
    return rc & 0x97F


_RC_POLICY_FAIL = 0x09D
_RC_AUTH_FAIL = 0x08E
_RC_BAD_AUTH = 0x0A2
_RC_INTEGRITY = 0x09F
_RC_LOCKOUT = 0x921
# TPM_RC_OBJECT_MEMORY and TPM_RC_SESSION_MEMORY: the TPM's slots are full, as seen with
# several processes on one swtpm that has no resource manager in front of it.
_RC_OBJECT_MEMORY = 0x902
_RC_SESSION_MEMORY = 0x903


#: Response codes from the TCTI layer (tss2_common.h: TSS2_TCTI_RC_LAYER) mean the
#: connection failed, not the TPM.
_TCTI_LAYER = 10 << 16


def _device_error(tcti: str, error: Any) -> SealError | None:
    """Return the error for a lost connection or a TPM with full slots, else None."""
    if int(error.rc) & 0xFF0000 == _TCTI_LAYER:
        return SealerUnavailable(
            f"the connection to the TPM at {tcti!r} failed in the middle of a command: {error}",
            fix="check that the TPM (or swtpm) still runs, then retry",
        )
    if _rc_base(error) not in (_RC_OBJECT_MEMORY, _RC_SESSION_MEMORY):
        return None
    return SealError(
        f"the TPM at {tcti!r} has no free object or session slot ({error}): other processes "
        "are using it at the same time",
        fix="retry when they have finished, or reach the TPM through a resource manager "
        "(device:/dev/tpmrm0 or tpm2-abrmd) that lets processes share it",
    )


class TPM2Sealer(Sealer):
    """Seals the KEK to a TPM 2.0: PCR policy over a chosen bank and PCRs, optional PIN."""

    name: ClassVar[str] = "tpm2"

    def __init__(
        self,
        *,
        tpm_tcti: str | None = None,
        pcrs: str | PCRSelection | None = None,
        tpm_pin: str | None = None,
        pcr_values: str | dict[int, str] | None = None,
        **_other_sealers_options: Any,
    ) -> None:
        self.tcti = tpm_tcti or os.environ.get(TCTI_ENV) or DEFAULT_TCTI
        if isinstance(pcrs, PCRSelection):
            self.selection = pcrs
        else:
            self.selection = PCRSelection.parse(pcrs or os.environ.get(PCRS_ENV) or DEFAULT_PCRS)
        self.pin = tpm_pin if tpm_pin is not None else os.environ.get(PIN_ENV)
        # Values given here are checked at once.  Those from the variable only when sealing,
        # because a variable left over from a reseal must not stop other keysets from opening.
        self._predicted: dict[int, bytes] | None = None
        self._predicted_text: str | dict[int, str] | None = pcr_values
        if pcr_values is None:
            self._predicted_text = os.environ.get(PCR_VALUES_ENV) or None
        elif pcr_values:
            self._predicted = self._parse_predicted(pcr_values)

    @property
    def predicted(self) -> dict[int, bytes]:
        """PCR index -> predicted value to seal to instead of the current one."""
        if self._predicted is None:
            text = self._predicted_text
            self._predicted = self._parse_predicted(text) if text else {}
        return self._predicted

    def _parse_predicted(self, values: str | dict[int, str]) -> dict[int, bytes]:
        """Parse ``INDEX=HEX,...`` into the PCR values to seal to instead of the current ones."""
        if isinstance(values, str):
            pairs = [item.partition("=")[::2] for item in values.split(",") if item.strip()]
        else:
            pairs = [(str(index), value) for index, value in values.items()]
        size = _BANK_SIZES[self.selection.bank]
        predicted: dict[int, bytes] = {}
        for index_text, value_text in pairs:
            try:
                index = int(index_text)
                value = bytes.fromhex(value_text.strip().removeprefix("0x"))
            except ValueError:
                index, value = -1, b""
            if index not in self.selection.indices or len(value) != size:
                raise InvalidArgument(
                    f"invalid predicted PCR value {index_text}={value_text!r} for {self.selection}",
                    fix=f"write INDEX=HEX for PCRs of the selection, with {size}-byte "
                    f"{self.selection.bank} values",
                )
            if index in predicted:
                raise InvalidArgument(
                    f"PCR {index} has two predicted values in {values!r}",
                    fix="give one INDEX=HEX per PCR",
                )
            predicted[index] = value
        return predicted

    @classmethod
    def from_blob(cls, blob: SealedBlob, **options: Any) -> TPM2Sealer:
        """Build a sealer for ``blob`` that keeps its PCR selection unless ``pcrs`` is given."""
        options = dict(options)
        if not options.get("pcrs"):
            options["pcrs"] = _blob_selection(blob)
        return cls(**options)

    @classmethod
    def from_cli_options(cls, **options: Any) -> TPM2Sealer:
        """Build a sealer from the CLI options ``tpm_tcti``, ``pcrs`` and ``tpm_pin``."""
        return cls(**options)

    # Sealing.

    @within_deadline("sealing")
    def seal(self, secret: bytes, associated_data: bytes) -> SealedBlob:
        """Seal ``secret`` to the current values of the selected PCRs (and the PIN, if set)."""
        if len(secret) != KEK_SIZE:
            raise InvalidArgument(f"a KEK is {KEK_SIZE} bytes, got {len(secret)}")
        tss = _tpm2()
        pin = _pin_bytes(self.pin, unsealing=False)

        with TPMConnection(self.tcti) as tpm:
            try:
                primary = tpm.storage_primary()
                # Predicted values (for a planned firmware or boot change) replace current ones.
                values = {**tpm.read_pcrs(self.selection), **self.predicted}

                # TPM 2.0 Part 3, TPM2_PolicyPCR: pcrDigest is the session hash
                # (SHA-256) over the selected PCR values in selection order.
                pcr_digest = hashlib.sha256(b"".join(values[i] for i in self.selection.indices))
                policy = tpm.trial_policy_digest(self.selection, pcr_digest.digest(), bool(pin))

                template = tss.TPM2B_PUBLIC(
                    publicArea=tss.TPMT_PUBLIC(
                        type=tss.TPM2_ALG.KEYEDHASH,
                        nameAlg=tss.TPM2_ALG.SHA256,
                        objectAttributes=tss.TPMA_OBJECT.FIXEDTPM | tss.TPMA_OBJECT.FIXEDPARENT,
                        authPolicy=policy,
                    )
                )
                template.publicArea.parameters.keyedHashDetail.scheme.scheme = tss.TPM2_ALG.NULL
                sensitive = tss.TPM2B_SENSITIVE_CREATE(
                    tss.TPMS_SENSITIVE_CREATE(
                        userAuth=tss.TPM2B_AUTH(pin), data=tss.TPM2B_SENSITIVE_DATA(secret)
                    )
                )
                session = tpm.session(primary, "hmac")
                private, public, *_ = tpm.esapi.create(
                    primary, sensitive, template, session1=session
                )
                primary_name = tpm.name(primary)
            except tss.TSS2_Exception as error:
                problem = _device_error(self.tcti, error)
                if problem is not None:
                    raise problem from None
                raise SealError(
                    f"sealing to the TPM at {self.tcti!r} failed: {error}",
                    fix="check that the TPM is enabled and its owner hierarchy has no password",
                ) from None

        logger.info("sealed a KEK to the TPM under PCRs %s", self.selection)
        return {
            "sealer": self.name,
            "version": _FORMAT_VERSION,
            "pcrs": str(self.selection),
            "pcr_values": {str(i): values[i].hex() for i in self.selection.indices},
            "predicted": sorted(self.predicted),
            "pin": bool(pin),
            **({"pin_nfc": True} if pin else {}),
            "primary_name": primary_name.hex(),
            "public": _b64(public.marshal()),
            "private": _b64(private.marshal()),
            "check": _kek_check(secret, associated_data).hex(),
        }

    # Unsealing.

    @within_deadline("unsealing")
    def unseal(self, blob: SealedBlob, associated_data: bytes) -> bytes:
        """Unseal the KEK, raising PCRChanged, WrongPassphrase or TPMLockedOut with the reason."""
        tss = _tpm2()
        selection = self._check_blob(blob)
        needs_pin = blob["pin"]
        if needs_pin and not self.pin:
            raise WrongPassphrase(
                "this keyset is sealed to the TPM with a PIN, and no PIN was given",
                fix=f"set {PIN_ENV} to the PIN the keyset was sealed with",
            )
        pins = _pin_candidates(self.pin, blob) if needs_pin else [b""]
        try:
            public = tss.TPM2B_PUBLIC.unmarshal(_unb64(blob, "public"))[0]
            private = tss.TPM2B_PRIVATE.unmarshal(_unb64(blob, "private"))[0]
        except tss.TSS2_Exception:
            raise SealError(
                "tpm2 sealed blob is malformed: 'public' or 'private' is not a TPM2B structure",
                fix="restore the keyset file from a backup",
            ) from None

        unreachable_fix = (
            f"start the TPM or swtpm that sealed this keyset and set {TCTI_ENV} to reach it, "
            "e.g. swtpm:host=127.0.0.1,port=2321"
        )
        with TPMConnection(self.tcti, fix=unreachable_fix) as tpm:
            try:
                primary = tpm.storage_primary()
                if tpm.name(primary).hex() != blob.get("primary_name"):
                    raise self._other_tpm_error(associated_data)
                # After the TPM check: another TPM's PCRs tell nothing about these values.
                self._raise_if_pcrs_changed(tpm, blob, selection, associated_data)
                sealed = tpm.track(tpm.esapi.load(primary, private, public))
                secret = self._unseal_object(tpm, primary, sealed, selection, needs_pin, pins)
            except tss.TSS2_Exception as error:
                raise self._unseal_error(tpm, error, blob, selection, associated_data) from None

        if not hmac.compare_digest(_kek_check(secret, associated_data).hex(), blob["check"]):
            raise SealError(
                "the KEK unsealed by the TPM does not match the check value in the blob: "
                "the blob belongs to another keyset or the TPM returned wrong bytes",
                fix="use this keyset's own sealed blob; do not use a copied one",
            )
        return secret

    def _unseal_object(
        self,
        tpm: TPMConnection,
        primary: Any,
        sealed: Any,
        selection: PCRSelection,
        needs_pin: bool,
        pins: list[bytes],
    ) -> bytes:
        """Unseal the loaded object, trying each of ``pins`` until one is not rejected."""
        tss = _tpm2()
        for attempt, pin in enumerate(pins, start=1):
            session = tpm.session(primary, "policy")
            tpm.esapi.policy_pcr(session, tss.TPM2B_DIGEST(), str(selection))
            if needs_pin:
                tpm.esapi.policy_auth_value(session)
                tpm.esapi.tr_set_auth(sealed, pin)
            try:
                return bytes(tpm.esapi.unseal(sealed, session1=session))
            except tss.TSS2_Exception as error:
                if attempt == len(pins) or _rc_base(error) not in (_RC_AUTH_FAIL, _RC_BAD_AUTH):
                    raise
                logger.info("the NFC form of the TPM PIN failed; trying the PIN as typed")
                with contextlib.suppress(tss.TSS2_Exception):
                    tpm.flush(session)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _other_tpm_error(self, associated_data: bytes) -> SealError:
        name = _keyset_of(associated_data)
        fix = "use the TPM that sealed it; if that TPM was cleared, "
        if _is_sss_member(associated_data):
            fix += (
                "open the keyset through the other members of its sss sealer and run "
                f"{_reseal_command(associated_data)}"
            )
        elif name is not None:
            # A keystore backup contains the same blob, sealed to the same TPM.
            fix += (
                "the KEK sealed to it is lost, and backups of the keyset are sealed to the same "
                f"TPM: restore the KEK from escrow shares with agile share combine --keyset {name} "
                "if it was split"
            )
        else:
            fix += "the secret sealed to it is lost"
        return SealError(
            f"{_keyset_subject(associated_data)}the TPM at {self.tcti!r} is not the one this KEK "
            "was sealed to (its storage primary key differs, so it is another TPM or it was "
            "cleared)",
            fix=fix,
        )

    def reseal(
        self, blob: SealedBlob, associated_data: bytes, secret: bytes | None = None
    ) -> SealedBlob:
        """Seal the KEK again to the current PCR values (and this sealer's PIN).

        Without ``secret`` the KEK is first unsealed from ``blob``, which needs
        the PCRs it was sealed to.  After an intended PCR change the caller
        passes the KEK recovered another way (an sss quorum, a passphrase).
        """
        # Reject a PIN too long to seal with before any TPM work.
        _pin_bytes(self.pin, unsealing=False)
        if secret is None:
            secret = self.unseal(blob, associated_data)
        return self.seal(secret, associated_data)

    @classmethod
    def describe(cls, blob: SealedBlob) -> dict[str, Any]:
        described = {"sealer": cls.name, "pcrs": blob.get("pcrs"), "pin": bool(blob.get("pin"))}
        if blob.get("predicted"):
            described["predicted"] = blob["predicted"]
        return described

    # Helpers.

    def _check_blob(self, blob: SealedBlob) -> PCRSelection:
        """Check the fields of ``blob`` and return its PCR selection."""
        if blob.get("sealer") != self.name or blob.get("version") != _FORMAT_VERSION:
            raise SealError(
                f"not a tpm2 sealed blob of version {_FORMAT_VERSION}: "
                f"sealer={blob.get('sealer')!r}, version={blob.get('version')!r}",
                fix="upgrade agile or restore the keyset file from a backup",
            )
        selection = _blob_selection(blob)
        _check_pcr_fields(blob, selection)
        if not isinstance(blob.get("check"), str):
            raise _malformed("field 'check' is missing or not a str")
        if not isinstance(blob.get("primary_name"), str):
            raise _malformed("field 'primary_name' is missing")
        if not isinstance(blob.get("pin"), bool):
            # A string such as "no" must not count as true, nor a missing field as false.
            raise _malformed(f"field 'pin' is {blob.get('pin')!r}, not true or false")
        if not isinstance(blob.get("pin_nfc", False), bool):
            raise _malformed(f"field 'pin_nfc' is {blob.get('pin_nfc')!r}, not true or false")
        return selection

    def _changed_pcrs(
        self, tpm: TPMConnection, blob: SealedBlob, selection: PCRSelection
    ) -> list[int]:
        current = tpm.read_pcrs(selection)
        stored = blob["pcr_values"]
        return [i for i in selection.indices if stored.get(str(i)) != current[i].hex()]

    def _raise_if_pcrs_changed(
        self, tpm: TPMConnection, blob: SealedBlob, selection: PCRSelection, associated_data: bytes
    ) -> None:
        changed = self._changed_pcrs(tpm, blob, selection)
        if changed:
            raise self._pcr_error(selection, changed, blob, associated_data)

    def _pcr_error(
        self, selection: PCRSelection, changed: list[int], blob: SealedBlob, associated_data: bytes
    ) -> PCRChanged:
        names = selection.names(changed)
        plural = "s" if len(names) > 1 else ""
        numbers = ", ".join(str(index) for index in changed)
        predicted = [index for index in changed if index in (blob.get("predicted") or [])]
        note = ""
        if predicted:
            listed = ", ".join(str(index) for index in predicted)
            note = f" (PCR {listed} was sealed to a predicted value that it does not hold yet)"
        command = _reseal_command(associated_data)
        if _is_sss_member(associated_data):
            recovery = (
                f"open the keyset through the other members of its sss sealer and run {command}, "
                "or next time reseal with --pcr-values before the change"
            )
        else:
            # A keystore backup contains the same blob, sealed to the same PCR values.
            recovery = (
                f"boot into the state the KEK was sealed to and run {command} "
                "--pcr-values INDEX=HEX with the new values"
            )
        return PCRChanged(
            f"{_keyset_subject(associated_data)}TPM policy check failed: PCR{plural} {numbers} "
            f"in bank {selection.bank} changed since the KEK was sealed to {selection}{note}",
            fix=f"if a firmware or boot update changed it on purpose, {recovery}; "
            "otherwise investigate the boot chain",
            changed=names,
        )

    def _unseal_error(
        self,
        tpm: TPMConnection,
        error: Any,
        blob: SealedBlob,
        selection: PCRSelection,
        associated_data: bytes,
    ) -> SealError:
        code = _rc_base(error)
        problem = _device_error(self.tcti, error)
        if problem is not None:
            return problem
        if code == _RC_POLICY_FAIL:
            changed = self._changed_pcrs(tpm, blob, selection)
            if changed:
                return self._pcr_error(selection, changed, blob, associated_data)
            return SealError(
                f"TPM policy check failed although PCRs {selection} still hold the sealed values",
                fix="the sealed object's policy does not match this blob; restore the keyset file",
            )
        if code in (_RC_AUTH_FAIL, _RC_BAD_AUTH):
            state = tpm.lockout_state()
            subject = _keyset_subject(associated_data)
            return WrongPassphrase(
                f"{subject}wrong TPM PIN ({state})" if state else f"{subject}wrong TPM PIN",
                fix=f"set {PIN_ENV} to the PIN the keyset was sealed with; each failure counts "
                "towards the TPM lockout",
            )
        if code == _RC_LOCKOUT:
            state = tpm.lockout_state()
            return TPMLockedOut(
                f"the TPM is in dictionary-attack lockout after too many wrong PINs ({state})",
                fix="wait for the lockout to expire, or clear it with the lockout authorization: "
                "tpm2_dictionarylockout --clear-lockout",
            )
        if code == _RC_INTEGRITY:
            return SealError(
                "the TPM rejected the sealed object: its private part fails the integrity check "
                "(tampered blob, or another TPM)",
                fix="restore the keyset file from a backup",
            )
        return SealError(
            f"unsealing with the TPM at {self.tcti!r} failed: {error}",
            fix="check the sealed blob in the keyset file (restore it from a backup if it was "
            "modified) and that the TPM is the one that sealed it",
        )


@contextlib.contextmanager
def connect(tcti: str | None = None) -> Iterator[TPMConnection]:
    """Open a :class:`TPMConnection` on ``tcti``, by default ``$AGILE_TPM_TCTI`` or DEFAULT_TCTI."""
    with TPMConnection(tcti or os.environ.get(TCTI_ENV) or DEFAULT_TCTI) as tpm:
        yield tpm
