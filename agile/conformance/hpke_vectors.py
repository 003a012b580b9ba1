"""Reader for RFC 9180 HPKE and draft-ietf-hpke-pq test-vector files.

Both files are a JSON list of entries, one per suite and mode.  Every encryption
and every export of an entry is one case.  Each provider of the entry's KEM
recomputes every value the entry gives:

* the key pairs from ``ikmR``, ``ikmE`` and (in the auth modes) ``ikmS`` with
  DeriveKeyPair, against ``skRm``/``pkRm``, ``skEm``/``pkEm`` and ``skSm``/``pkSm``;
* the recipient side: the shared secret by decapsulating ``enc``, then
  ``key_schedule_context``, ``secret``, ``key``, ``base_nonce`` and
  ``exporter_secret``, then each message's ``nonce`` and ``pt``, and each export;
* the sender side, where the provider takes caller randomness: ``enc`` and the
  shared secret from the encapsulation with ``ikmE``, the same key schedule values,
  and each message's ``ct``.  For the other providers the sender side is left out
  of the case, and the reason is counted in the file's ``tables``.

A value that differs fails every case of its entry (or the one case, for a
message's or an export's values), and the failure names the field.  An entry
that is not well formed (a missing or non-hexadecimal field, no ``encryptions``
list, no exports) is damage: :class:`~agile.errors.VectorFormatError` names the
entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .. import hpke
from ..errors import AgileError, UnsupportedAlgorithm, UnsupportedOperation, VectorFormatError
from ..registry.interfaces import PrivateKey
from .hexfield import hex_problem
from .judge import judge, mismatch
from .report import FileReport, Outcome
from .targets import NOT_REGISTERED, Selection

__all__ = ["looks_like", "run_file"]

FORMAT = "hpke"

#: Values of an entry that depend on the suite and mode only, compared where the entry gives
#: them.  ``skEm`` and ``pkEm`` appear only for the DHKEMs, whose encapsulation draws a key pair.
ENTRY_VALUES = (
    "suite_id",
    "skRm",
    "pkRm",
    "skSm",
    "pkSm",
    "skEm",
    "pkEm",
    "enc",
    "shared_secret",
    "key_schedule_context",
    "secret",
    "key",
    "base_nonce",
    "exporter_secret",
)

_FIX = "restore the file from its source, or leave it out of the paths"


def looks_like(document: Any) -> bool:
    return (
        isinstance(document, list)
        and bool(document)
        and isinstance(document[0], dict)
        and {"kem_id", "kdf_id", "aead_id", "mode"} <= set(document[0])
    )


@dataclass(frozen=True)
class Message:
    """One ``encryptions`` item: inputs and expected outputs of one seal and open."""

    aad: bytes
    plaintext: bytes
    ciphertext: bytes
    nonce: bytes | None


@dataclass(frozen=True)
class Export:
    """One ``exports`` item."""

    exporter_context: bytes
    length: int
    value: bytes


@dataclass(frozen=True)
class Entry:
    """One entry of the file, decoded and checked for form (not for its values)."""

    index: int
    kem_id: int
    kdf_id: int
    aead_id: int
    mode: hpke.Mode
    info: bytes
    ikm_r: bytes
    ikm_e: bytes
    ikm_s: bytes | None
    psk: bytes
    psk_id: bytes
    enc: bytes
    pk_rm: bytes
    #: The :data:`ENTRY_VALUES` the entry gives, by field name.
    expected: dict[str, bytes]
    messages: list[Message] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"hpke-0x{self.kem_id:04x}-0x{self.kdf_id:04x}-0x{self.aead_id:04x}"

    @property
    def cases(self) -> list[str]:
        prefix = f"suite {self.index} mode {int(self.mode)}"
        return [f"{prefix} encryption {i}" for i in range(len(self.messages))] + [
            f"{prefix} export {i}" for i in range(len(self.exports))
        ]

    @property
    def options(self) -> dict[str, bytes]:
        return {"psk": self.psk, "psk_id": self.psk_id}


class _Decoder:
    """Field access to one JSON object of the file, with errors that name the entry."""

    def __init__(self, path: str, where: str, item: Any) -> None:
        self.path = path
        self.where = where
        if not isinstance(item, dict):
            raise self.damage(f"must be an object, not {type(item).__name__}")
        self.item: dict[str, Any] = item

    def damage(self, problem: str) -> VectorFormatError:
        return VectorFormatError(f"{self.path}: {self.where}: {problem}", fix=_FIX)

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.required(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise self.damage(
                f"field {name!r} must be an integer from {low} to {high}, not {shown}"
            )
        return value

    def hex(self, name: str) -> bytes:
        value = self.required(name)
        problem = hex_problem(value)
        if problem is not None:
            raise self.damage(f"field {name!r} {problem}")
        return bytes.fromhex(value)

    def optional_hex(self, name: str) -> bytes | None:
        return self.hex(name) if name in self.item else None

    def items(self, name: str) -> list[Any]:
        value = self.required(name)
        if not isinstance(value, list):
            raise self.damage(f"field {name!r} must be a list, not {type(value).__name__}")
        return value

    def required(self, name: str) -> Any:
        if name not in self.item:
            raise self.damage(f"missing field {name!r}")
        return self.item[name]


def decode_entry(path: str, index: int, item: Any) -> Entry:
    """Decode entry ``index`` of the file, or raise VectorFormatError naming it."""
    fields = _Decoder(path, f"suite {index}", item)
    kem_id = fields.integer("kem_id", 0, 0xFFFF)
    kdf_id = fields.integer("kdf_id", 0, 0xFFFF)
    aead_id = fields.integer("aead_id", 0, 0xFFFF)
    mode = hpke.Mode(fields.integer("mode", 0, max(hpke.Mode)))
    fields.where = (
        f"suite {index} (hpke-0x{kem_id:04x}-0x{kdf_id:04x}-0x{aead_id:04x} mode {int(mode)})"
    )

    entry = Entry(
        index=index,
        kem_id=kem_id,
        kdf_id=kdf_id,
        aead_id=aead_id,
        mode=mode,
        info=fields.hex("info"),
        ikm_r=fields.hex("ikmR"),
        ikm_e=fields.hex("ikmE"),
        ikm_s=fields.hex("ikmS") if mode.authenticates_sender else None,
        psk=fields.hex("psk") if mode.uses_psk else b"",
        psk_id=fields.hex("psk_id") if mode.uses_psk else b"",
        enc=fields.hex("enc"),
        pk_rm=fields.hex("pkRm"),
        expected={
            name: fields.hex(name) for name in ENTRY_VALUES if fields.item.get(name) is not None
        },
    )

    # RFC 9180 §5.3: an export-only suite (AEAD 0xFFFF) cannot seal, so it lists no
    # messages.  Every other entry must list some, and every entry lists exports.
    encryptions = fields.items("encryptions")
    if aead_id == hpke.EXPORT_ONLY_AEAD_ID and encryptions:
        raise fields.damage("an export-only suite (AEAD 0xFFFF) cannot list encryptions")
    if aead_id != hpke.EXPORT_ONLY_AEAD_ID and not encryptions:
        raise fields.damage("field 'encryptions' is empty")
    exports = fields.items("exports")
    if not exports:
        raise fields.damage("field 'exports' is empty")

    for number, item in enumerate(encryptions):
        message = _Decoder(path, f"{fields.where} encryption {number}", item)
        entry.messages.append(
            Message(
                aad=message.hex("aad"),
                plaintext=message.hex("pt"),
                ciphertext=message.hex("ct"),
                nonce=message.optional_hex("nonce"),
            )
        )
    for number, item in enumerate(exports):
        export = _Decoder(path, f"{fields.where} export {number}", item)
        entry.exports.append(
            Export(
                exporter_context=export.hex("exporter_context"),
                length=export.integer("L", 1, 0xFFFF),
                value=export.hex("exported_value"),
            )
        )
    return entry


def run_file(
    path: str, document: list[Any], selection: Selection, *, first_index: int = 0
) -> FileReport:
    """Run the entries of ``document``; ``first_index`` is the number of its first entry.

    A job may hold a slice of the file, so the caller passes where the slice starts,
    and the entries keep the numbers they have in the whole file.
    """
    entries = [decode_entry(path, first_index + i, item) for i, item in enumerate(document)]
    report = FileReport(path=path, format=FORMAT)
    sender_skips: Counter[str] = Counter()
    for entry in entries:
        label = entry.label
        try:
            suite = hpke.Suite.from_codepoints(entry.kem_id, entry.kdf_id, entry.aead_id)
        except UnsupportedAlgorithm as error:
            if selection.algorithms is not None:
                continue  # a suite outside the registry matches no --algorithm filter
            for case in entry.cases:
                report.record(label, NOT_REGISTERED, case, Outcome.SKIPPED, str(error))
            continue
        kem_id = suite.kem_impl.algorithm
        if not selection.wants(kem_id):
            continue
        implementations = selection.implementations(kem_id)
        if not implementations:
            selection.skip_unregistered(report, label, entry.cases)
            continue
        for implementation in implementations:
            _run_entry(report, entry, implementation.provider, sender_skips)
    if sender_skips:
        report.tables["sender_side_not_checked"] = dict(sender_skips)
    return report


def _nonce(context: hpke.Context, sequence: int) -> bytes:
    """Return the nonce of message ``sequence``: base_nonce XOR seq (RFC 9180 §5.2)."""
    size = len(context.base_nonce)
    value = int.from_bytes(context.base_nonce, "big") ^ sequence
    return value.to_bytes(size, "big")


def _seal(context: hpke.Context, sequence: int, plaintext: bytes, aad: bytes) -> bytes:
    """Seal message ``sequence`` with the context, or directly if the context fell behind.

    An earlier entry that failed leaves the context at a lower sequence number, and
    its key and base nonce then give this entry's nonce without the context's counter.
    """
    if context.sequence_number == sequence:
        return context.seal(plaintext, aad)
    assert context.suite.aead_impl is not None  # only suites with an AEAD list encryptions
    return context.suite.aead_impl.new(context.key).encrypt(
        _nonce(context, sequence), plaintext, aad
    )


def _open(context: hpke.Context, sequence: int, ciphertext: bytes, aad: bytes) -> bytes:
    """Open message ``sequence`` as :func:`_seal` seals it."""
    if context.sequence_number == sequence:
        return context.open(ciphertext, aad)
    assert context.suite.aead_impl is not None
    return context.suite.aead_impl.new(context.key).decrypt(
        _nonce(context, sequence), ciphertext, aad
    )


@dataclass
class _Sides:
    """The contexts of one entry for one provider, and the values that differed."""

    problems: list[str] = field(default_factory=list)
    receiver: hpke.Context | None = None
    sender: hpke.Context | None = None

    def compare(self, entry: Entry, name: str, got: bytes, shown: str | None = None) -> None:
        """Compare ``got`` with the entry's value ``name``, if the entry gives one."""
        expected = entry.expected.get(name)
        if expected is None:
            return
        problem = mismatch(shown or name, got, expected)
        if problem:
            self.problems.append(problem)

    def compare_context(self, entry: Entry, context: hpke.Context, side: str) -> None:
        self.compare(entry, "key", context.key, f"{side} key")
        self.compare(entry, "base_nonce", context.base_nonce, f"{side} base_nonce")
        self.compare(entry, "exporter_secret", context.exporter_secret, f"{side} exporter_secret")


def _derive_keys(
    suite: hpke.Suite, entry: Entry, sides: _Sides
) -> tuple[PrivateKey, PrivateKey | None]:
    """Derive the recipient's and the sender's key pairs and compare them and skEm, pkEm."""
    sides.compare(entry, "suite_id", suite.suite_id)
    recipient_key = hpke.derive_key_pair(suite, entry.ikm_r)
    sides.compare(entry, "skRm", recipient_key.data)
    sides.compare(entry, "pkRm", recipient_key.public_key.data)

    sender_key = None
    if entry.ikm_s is not None:
        sender_key = hpke.derive_key_pair(suite, entry.ikm_s)
        sides.compare(entry, "skSm", sender_key.data)
        sides.compare(entry, "pkSm", sender_key.public_key.data)

    if "skEm" in entry.expected or "pkEm" in entry.expected:
        ephemeral_key = hpke.derive_key_pair(suite, entry.ikm_e)
        sides.compare(entry, "skEm", ephemeral_key.data)
        sides.compare(entry, "pkEm", ephemeral_key.public_key.data)
    return recipient_key, sender_key


def _recipient_side(
    suite: hpke.Suite,
    entry: Entry,
    recipient_key: PrivateKey,
    sender_key: PrivateKey | None,
    sides: _Sides,
) -> None:
    """Decapsulate ``enc``, run the key schedule and set up the recipient context."""
    kem = suite.kem_impl
    sender_public = sender_key.public_key if sender_key is not None else None
    if sender_public is not None:
        shared_secret = kem.auth_decapsulate(recipient_key, entry.enc, sender_public)
    else:
        shared_secret = kem.decapsulate(recipient_key, entry.enc)
    sides.compare(entry, "shared_secret", shared_secret, "recipient shared_secret")

    schedule_context, secret = hpke.key_schedule_secrets(
        suite, entry.mode, shared_secret, entry.info, **entry.options
    )
    sides.compare(entry, "key_schedule_context", schedule_context)
    sides.compare(entry, "secret", secret)

    sides.receiver = hpke.setup_recipient(
        suite,
        entry.enc,
        recipient_key,
        info=entry.info,
        mode=entry.mode,
        sender_public=sender_public,
        **entry.options,
    )
    sides.compare_context(entry, sides.receiver, "recipient")


def _sender_side(
    suite: hpke.Suite, entry: Entry, sender_key: PrivateKey | None, sides: _Sides
) -> None:
    """Encapsulate to ``pkRm`` with ``ikmE`` as the randomness and set up the sender context.

    A provider that hides its encapsulation randomness raises UnsupportedOperation.
    """
    kem = suite.kem_impl
    public = kem.load_public(entry.pk_rm)
    if sender_key is not None:
        enc, shared_secret = kem.auth_encapsulate(public, sender_key, seed=entry.ikm_e)
    else:
        enc, shared_secret = kem.encapsulate_derandomized(public, entry.ikm_e)
    sides.compare(entry, "shared_secret", shared_secret, "sender shared_secret")

    enc, sides.sender = hpke.setup_sender(
        suite,
        public,
        info=entry.info,
        mode=entry.mode,
        sender_key=sender_key,
        seed=entry.ikm_e,
        **entry.options,
    )
    sides.compare(entry, "enc", enc)
    sides.compare_context(entry, sides.sender, "sender")


def _run_entry(report: FileReport, entry: Entry, provider: str, sender_skips: Counter[str]) -> None:
    label, cases = entry.label, entry.cases

    # Set both sides up once per entry.  A value that differs there fails every case.
    sides = _Sides()
    try:
        suite = hpke.Suite.from_codepoints(
            entry.kem_id, entry.kdf_id, entry.aead_id, provider=provider
        )
        recipient_key, sender_key = _derive_keys(suite, entry, sides)
        _recipient_side(suite, entry, recipient_key, sender_key, sides)
    except UnsupportedOperation as error:
        for case in cases:
            report.record(label, provider, case, Outcome.SKIPPED, str(error))
        return
    except AgileError as error:
        sides.problems.append(f"recipient setup failed: {error}")
    else:
        try:
            _sender_side(suite, entry, sender_key, sides)
        except UnsupportedOperation as error:
            sender_skips[str(error)] += 1
        except AgileError as error:
            sides.problems.append(f"sender setup failed: {error}")
    problem = "; ".join(sides.problems) or None
    receiver, sender = sides.receiver, sides.sender

    for number, message in enumerate(entry.messages):

        def action(message: Message = message, number: int = number) -> str | None:
            if problem:
                return problem
            assert receiver is not None
            found = None
            if message.nonce is not None:
                found = mismatch("nonce", _nonce(receiver, number), message.nonce)
            # Both sides run for every message, so that one wrong value fails one case
            # and does not shift the sequence numbers of the messages after it.
            if sender is not None:
                sealed = _seal(sender, number, message.plaintext, message.aad)
                found = found or mismatch("ct", sealed, message.ciphertext)
            try:
                opened = _open(receiver, number, message.ciphertext, message.aad)
            except AgileError:
                if found:
                    return found  # the mismatch above names the wrong value
                raise
            return found or mismatch("pt", opened, message.plaintext)

        judge(report, label, provider, cases[number], "valid", action)

    for number, export in enumerate(entry.exports):

        def export_action(export: Export = export) -> str | None:
            if problem:
                return problem
            assert receiver is not None
            value = receiver.export(export.exporter_context, export.length)
            return mismatch("exported value", value, export.value)

        judge(report, label, provider, cases[len(entry.messages) + number], "valid", export_action)
