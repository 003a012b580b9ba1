"""Reader for RFC 9180 HPKE and draft-ietf-hpke-pq test-vector files.

Both files are a JSON list of suites.  Every encryption entry and every export
entry is one case.  The recipient side (DeriveKeyPair from ``ikmR``,
decapsulation of ``enc``, key schedule, opening ``ct``, exports) runs with every
provider of the suite's KEM.  The sender side (encapsulation from ``ikmE``,
sealing) is also checked where the provider can encapsulate with given
randomness.  For the other providers it is left out of the case, and the reason
is counted in the file's ``tables``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import hpke
from ..errors import AgileError, UnsupportedAlgorithm, UnsupportedOperation
from .judge import judge, mismatch
from .report import FileReport, Outcome
from .targets import NOT_REGISTERED, Selection

__all__ = ["looks_like", "run_file"]

FORMAT = "hpke"


def looks_like(document: Any) -> bool:
    return (
        isinstance(document, list)
        and bool(document)
        and isinstance(document[0], dict)
        and {"kem_id", "kdf_id", "aead_id", "mode"} <= set(document[0])
    )


def _hex(value: str | None) -> bytes:
    return bytes.fromhex(value or "")


def _label(entry: dict[str, Any]) -> str:
    return f"hpke-0x{entry['kem_id']:04x}-0x{entry['kdf_id']:04x}-0x{entry['aead_id']:04x}"


def _cases(index: int, entry: dict[str, Any]) -> list[str]:
    prefix = f"suite {index} mode {entry['mode']}"
    encryptions = [f"{prefix} encryption {i}" for i in range(len(entry.get("encryptions") or []))]
    exports = [f"{prefix} export {i}" for i in range(len(entry.get("exports") or []))]
    return encryptions + exports


def run_file(path: str, document: list[dict[str, Any]], selection: Selection) -> FileReport:
    report = FileReport(path=path, format=FORMAT)
    sender_skips: Counter[str] = Counter()
    for index, entry in enumerate(document):
        label = _label(entry)
        cases = _cases(index, entry)
        try:
            suite = hpke.Suite.from_codepoints(entry["kem_id"], entry["kdf_id"], entry["aead_id"])
        except UnsupportedAlgorithm as error:
            if selection.algorithms is not None:
                continue  # a suite outside the registry matches no --algorithm filter
            for case in cases:
                report.record(label, NOT_REGISTERED, case, Outcome.SKIPPED, str(error))
            continue
        kem_id = suite.kem_impl.algorithm
        if not selection.wants(kem_id):
            continue
        implementations = selection.implementations(kem_id)
        if not implementations:
            selection.skip_unregistered(report, label, cases)
            continue
        for implementation in implementations:
            _run_suite(report, label, index, entry, implementation.provider, sender_skips)
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


def _run_suite(
    report: FileReport,
    label: str,
    index: int,
    entry: dict[str, Any],
    provider: str,
    sender_skips: Counter[str],
) -> None:
    cases = _cases(index, entry)
    mode = hpke.Mode(entry["mode"])
    info = _hex(entry["info"])
    options = {"psk": _hex(entry.get("psk")), "psk_id": _hex(entry.get("psk_id"))}

    # Set both sides up once per suite; a failure there fails every case of the suite.
    try:
        suite = hpke.Suite.from_codepoints(
            entry["kem_id"], entry["kdf_id"], entry["aead_id"], provider=provider
        )
        kem = suite.kem_impl
        recipient_key = hpke.derive_key_pair(suite, _hex(entry["ikmR"]))
        problem = mismatch("pkR", recipient_key.public_key.data, _hex(entry["pkRm"]))
        sender_public = None
        sender_key = None
        if mode in (hpke.Mode.AUTH, hpke.Mode.AUTH_PSK):
            sender_key = hpke.derive_key_pair(suite, _hex(entry["ikmS"]))
            sender_public = sender_key.public_key
        receiver = hpke.setup_recipient(
            suite,
            _hex(entry["enc"]),
            recipient_key,
            info=info,
            mode=mode,
            sender_public=sender_public,
            **options,
        )
    except UnsupportedOperation as error:
        for case in cases:
            report.record(label, provider, case, Outcome.SKIPPED, str(error))
        return
    except AgileError as error:
        problem = f"recipient setup failed: {error}"
        receiver = None

    sender = None
    sender_problem = None
    try:
        public = kem.load_public(_hex(entry["pkRm"]))
        enc, sender = hpke.setup_sender(
            suite,
            public,
            info=info,
            mode=mode,
            sender_key=sender_key,
            seed=_hex(entry["ikmE"]),
            **options,
        )
        sender_problem = mismatch("enc", enc, _hex(entry["enc"]))
    except UnsupportedOperation as error:
        sender_skips[str(error)] += 1
    except AgileError as error:
        sender_problem = f"sender setup failed: {error}"

    encryptions = entry.get("encryptions") or []
    for number, encryption in enumerate(encryptions):

        def action(encryption=encryption, number=number) -> str | None:
            if problem:
                return problem
            if sender_problem:
                return sender_problem
            assert receiver is not None
            aad, plaintext, ciphertext = (
                _hex(encryption["aad"]),
                _hex(encryption["pt"]),
                _hex(encryption["ct"]),
            )
            # Both sides run for every entry, so that one wrong value fails one case
            # and does not shift the sequence numbers of the entries after it.
            found = None
            if sender is not None:
                found = mismatch("ct", _seal(sender, number, plaintext, aad), ciphertext)
            try:
                opened = _open(receiver, number, ciphertext, aad)
            except AgileError:
                if found:
                    return found  # the sender's mismatch names the wrong value
                raise
            return found or mismatch("pt", opened, plaintext)

        judge(report, label, provider, cases[number], "valid", action)

    for number, export in enumerate(entry.get("exports") or []):

        def export_action(export=export) -> str | None:
            if problem:
                return problem
            assert receiver is not None
            value = receiver.export(_hex(export["exporter_context"]), int(export["L"]))
            return mismatch("exported value", value, _hex(export["exported_value"]))

        judge(report, label, provider, cases[len(encryptions) + number], "valid", export_action)
