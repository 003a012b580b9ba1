"""Failure messages show where an output first differs from the vector, on one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from agile import conformance
from agile.conformance.judge import mismatch

# DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
X25519_BASE = (0x0020, 0x0001, 0x0001, 0)


def test_equal_values_no_message() -> None:
    assert mismatch("ct", b"same", b"same") is None


def test_late_difference_shows_offset() -> None:
    expected = bytes(range(40))
    got = expected[:20] + b"\xff" + expected[21:]

    message = mismatch("ct", got, expected)

    assert message == (
        "ct differs from byte 20 (both 40 bytes): "
        "got …10111213|ff15161718191a1b1c1d1e1f…, expected …10111213|1415161718191a1b1c1d1e1f…"
    )


def test_first_byte_difference_no_leading_ellipsis() -> None:
    message = mismatch("tag", b"\x01\x02", b"\x00\x02")

    assert message == "tag differs from byte 0 (both 2 bytes): got |0102, expected |0002"


def test_shorter_output_shows_lengths() -> None:
    message = mismatch("okm", bytes(8), bytes(10))

    assert message == (
        "okm differs from byte 8 (got 8 bytes, expected 10): "
        "got …00000000|(end), expected …00000000|0000"
    )


def test_long_values_one_line() -> None:
    message = mismatch("plaintext", bytes(100_000), bytes(99_999) + b"\x01")

    assert message is not None
    assert "\n" not in message
    assert len(message) < 200


def test_hpke_aad_change_shows_tag_bytes(shared_vectors: Path, tmp_path: Path) -> None:
    entries = json.loads((shared_vectors / "hpke-rfc9180" / "test-vectors.json").read_text())
    entry = next(
        item
        for item in entries
        if (item["kem_id"], item["kdf_id"], item["aead_id"], item["mode"]) == X25519_BASE
    )
    message = entry["encryptions"][0]
    message["aad"] = ("0" if message["aad"][0] != "0" else "1") + message["aad"][1:]
    path = tmp_path / "test-vectors.json"
    path.write_text(json.dumps([entry]))

    failures = conformance.run(path, providers=["openssl"]).totals().failures

    # Only the GCM tag, the last 16 bytes of ct, depends on the aad.
    plaintext_bytes = len(message["pt"]) // 2
    found = re.search(
        r"ct differs from byte (\d+) .*: got (\S+), expected (\S+)$", failures[0].reason
    )
    assert found is not None
    assert plaintext_bytes <= int(found.group(1)) < plaintext_bytes + 16
    assert found.group(2) != found.group(3)
