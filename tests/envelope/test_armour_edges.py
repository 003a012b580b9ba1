"""Armour edge cases: a byte order mark, spaces on the BEGIN line, and damaged END lines."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from agile import envelope
from agile.errors import InvalidEnvelope
from agile.keys import Keystore

AGILE = [sys.executable, "-m", "cli.main"]
BOM = b"\xef\xbb\xbf"
END = b"-----END AGILE ENCRYPTED MESSAGE-----\n"


@pytest.fixture
def armoured(store: Keystore) -> bytes:
    keyset = store.create_keyset("r", "aead", "aes-256-gcm")
    return envelope.encrypt(b"hello", keyset, armor=True)


def _decrypt_stream(data: bytes, store: Keystore) -> bytes:
    output = io.BytesIO()
    envelope.decrypt_stream(io.BytesIO(data), output, store)
    return output.getvalue()


def test_bom_accepted(store: Keystore, armoured: bytes) -> None:
    marked = BOM + armoured
    assert envelope.decrypt(marked, store) == b"hello"
    assert envelope.decrypt(marked.decode("utf-8"), store) == b"hello"
    assert _decrypt_stream(marked, store) == b"hello"
    assert _decrypt_stream(BOM + b"\n  " + armoured, store) == b"hello"


def test_bom_before_binary_rejected(store: Keystore) -> None:
    keyset = store.create_keyset("r", "aead", "aes-256-gcm")
    binary = envelope.encrypt(b"hello", keyset)
    with pytest.raises(InvalidEnvelope, match="byte order mark"):
        _decrypt_stream(BOM + binary, store)
    with pytest.raises(InvalidEnvelope):
        envelope.decrypt(BOM + binary, store)


@pytest.mark.parametrize("trailing", [b" ", b"   ", b"\t", b" \r"])
def test_begin_line_trailing_space(store: Keystore, armoured: bytes, trailing: bytes) -> None:
    first, rest = armoured.split(b"\n", 1)
    spaced = first + trailing + b"\n" + rest
    assert envelope.decrypt(spaced, store) == b"hello"
    assert _decrypt_stream(spaced, store) == b"hello"


def test_bad_begin_line_named(store: Keystore, armoured: bytes) -> None:
    damaged = armoured.replace(b"MESSAGE-----\n", b"MESSAGE----\n", 1)
    with pytest.raises(InvalidEnvelope, match="is not a BEGIN line") as caught:
        _decrypt_stream(damaged, store)
    assert "MESSAGE----'" in str(caught.value)


def test_missing_end_line_named(store: Keystore, armoured: bytes) -> None:
    with pytest.raises(InvalidEnvelope, match="no END line"):
        _decrypt_stream(armoured.replace(END, b""), store)


def test_wrong_end_line_named(store: Keystore, armoured: bytes) -> None:
    damaged = armoured.replace(END, b"-----END AGILE SIGNATURE-----\n")
    with pytest.raises(InvalidEnvelope, match="does not match the BEGIN line") as caught:
        _decrypt_stream(damaged, store)
    assert "END AGILE SIGNATURE" in str(caught.value)


def test_read_header_checks_armour(armoured: bytes) -> None:
    cut = armoured.replace(END, b"")
    # Without check_armour only the header is read, as rotation's scans need.
    assert envelope.read_header(io.BytesIO(cut)).kind == "encrypted"
    with pytest.raises(InvalidEnvelope, match="no END line"):
        envelope.read_header(io.BytesIO(cut), check_armour=True)
    assert envelope.read_header(io.BytesIO(armoured), check_armour=True).kind == "encrypted"


def test_cli_inspect_missing_end_line(store: Keystore, armoured: bytes, tmp_path: Path) -> None:
    (tmp_path / "good.asc").write_bytes(armoured)
    (tmp_path / "cut.asc").write_bytes(armoured.replace(END, b""))

    def inspect(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGILE, "inspect", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert inspect("good.asc").returncode == 0
    cut = inspect("cut.asc")
    assert cut.returncode == 2
    assert "no END line" in cut.stderr
    assert len(cut.stderr.strip().splitlines()) == 1
