"""Re-signing checks the old signatures before it signs with the new key."""

from __future__ import annotations

from pathlib import Path

from agile.envelope import read_header, sign
from agile.rotate import RotateOptions, open_store, rotate


def _signed_store(keystore, home: Path, message: bytes):
    keyset = keystore.create_keyset("signers", "signature", algorithm="ed25519", policy="default")
    store = open_store(str(home.parent / "signed"), create=True)
    keystore.add_store("signed", store.url)
    store.put("doc", message)
    store.put("doc.sig", sign(message, keyset, policy="default"))
    return store


def test_changed_message_reported(keystore, home: Path) -> None:
    store = _signed_store(keystore, home, b"the message")
    store.put("doc", b"a changed message")
    # pq-only drops the Ed25519 signature, so only the check before signing detects the change.
    report = rotate(str(home), RotateOptions(policy="pq-only"))
    assert [f["object"] for f in report["failures"]] == ["doc.sig"]


def test_changed_message_not_signed(keystore, home: Path) -> None:
    store = _signed_store(keystore, home, b"the message")
    before = store.read("doc.sig")
    store.put("doc", b"a changed message")
    rotate(str(home), RotateOptions(policy="pq-only"))
    assert store.read("doc.sig") == before


def test_pq_only_drops_old_signature(keystore, home: Path) -> None:
    store = _signed_store(keystore, home, b"the message")
    rotate(str(home), RotateOptions(policy="pq-only"))
    algorithms = [s.algorithm for s in read_header(store.read("doc.sig")).signatures]
    assert algorithms == ["ml-dsa-87"]


def test_duplicated_signature_reported(keystore, home: Path) -> None:
    from agile.envelope.format import parse_header
    from agile.envelope.signatures import _encode

    store = _signed_store(keystore, home, b"the message")
    entries = list(parse_header(store.read("doc.sig")).signatures)
    store.put("doc.sig", _encode(entries + entries))
    report = rotate(str(home), RotateOptions(policy="pq-only"))
    assert "more than one signature by key" in report["failures"][0]["error"]


def test_message_directory_reported(keystore, home: Path) -> None:
    store = _signed_store(keystore, home, b"the message")
    (Path(store.url.removeprefix("dir:")) / "other").mkdir()
    store.put("other.sig", store.read("doc.sig"))
    report = rotate(str(home), RotateOptions(policy="pq-only"))
    assert [f["object"] for f in report["failures"]] == ["other.sig"]
