"""The HPKE reader compares every intermediate value an entry gives, and rejects damaged entries.

Each test writes one entry of the public RFC 9180 or draft-ietf-hpke-pq file,
with one value changed, to a temporary file and runs it with real providers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agile import conformance, hpke
from agile.errors import VectorFormatError

# DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: every mode, run by openssl.
X25519_SUITE = (0x0020, 0x0001, 0x0001)
# X-Wing, HKDF-SHA256, ChaCha20Poly1305 in draft-ietf-hpke-pq, the only file with suite_id.
XWING_SUITE = (0x647A, 0x0001, 0x0003)


def _agile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def _entry(shared_vectors: Path, folder: str, suite: tuple[int, int, int], mode: int) -> Any:
    entries = json.loads((shared_vectors / folder / "test-vectors.json").read_text())
    return next(
        item
        for item in entries
        if (item["kem_id"], item["kdf_id"], item["aead_id"]) == suite and item["mode"] == mode
    )


def _rfc_entry(shared_vectors: Path, mode: int = 3) -> Any:
    return _entry(shared_vectors, "hpke-rfc9180", X25519_SUITE, mode)


def _flip(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


def _write(tmp_path: Path, entries: list[Any]) -> Path:
    path = tmp_path / "test-vectors.json"
    path.write_text(json.dumps(entries))
    return path


def _run(path: Path) -> conformance.Report:
    return conformance.run([path], providers=["openssl"])


def test_untouched_entry_passes(shared_vectors: Path, tmp_path: Path) -> None:
    report = _run(_write(tmp_path, [_rfc_entry(shared_vectors)]))

    assert report.failed == 0
    assert report.totals().passed == 260


@pytest.mark.parametrize(
    "name",
    [
        "skRm",
        "pkRm",
        "skSm",
        "pkSm",
        "skEm",
        "pkEm",
        "shared_secret",
        "key_schedule_context",
        "secret",
        "key",
        "base_nonce",
        "exporter_secret",
    ],
)
def test_changed_entry_value_fails_every_case(
    shared_vectors: Path, tmp_path: Path, name: str
) -> None:
    entry = _rfc_entry(shared_vectors)
    entry[name] = _flip(entry[name])

    report = _run(_write(tmp_path, [entry]))
    tally = report.totals()

    assert tally.passed == 0
    assert tally.failed == 260
    assert f"{name} differs" in tally.failures[0].reason


def test_changed_enc_fails_every_case(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _rfc_entry(shared_vectors, mode=0)
    entry["enc"] = _flip(entry["enc"])

    tally = _run(_write(tmp_path, [entry])).totals()

    assert tally.passed == 0
    assert "enc differs" in tally.failures[0].reason


def test_changed_nonce_fails_one_case(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _rfc_entry(shared_vectors)
    entry["encryptions"][5]["nonce"] = _flip(entry["encryptions"][5]["nonce"])

    tally = _run(_write(tmp_path, [entry])).totals()

    assert tally.failed == 1
    assert tally.failures[0].case == "suite 0 mode 3 encryption 5"
    assert "nonce differs" in tally.failures[0].reason


def test_changed_export_fails_one_case(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _rfc_entry(shared_vectors)
    entry["exports"][1]["exported_value"] = _flip(entry["exports"][1]["exported_value"])

    tally = _run(_write(tmp_path, [entry])).totals()

    assert tally.failed == 1
    assert tally.failures[0].case == "suite 0 mode 3 export 1"


def test_changed_suite_id_fails(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _entry(shared_vectors, "hpke-pq", XWING_SUITE, 0)
    entry["suite_id"] = _flip(entry["suite_id"])

    tally = _run(_write(tmp_path, [entry])).totals()

    assert tally.passed == 0
    assert tally.failed == 15
    assert "suite_id differs" in tally.failures[0].reason


def test_pq_shared_secret_checked(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _entry(shared_vectors, "hpke-pq", XWING_SUITE, 0)
    entry["shared_secret"] = _flip(entry["shared_secret"])

    tally = _run(_write(tmp_path, [entry])).totals()

    assert tally.passed == 0
    assert "shared_secret differs" in tally.failures[0].reason


def test_export_only_entry_passes(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _entry(shared_vectors, "hpke-rfc9180", (0x0020, 0x0001, 0xFFFF), 0)

    tally = _run(_write(tmp_path, [entry])).totals()

    assert tally.failed == 0
    assert tally.passed == len(entry["exports"])


def test_mismatch_cli_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _rfc_entry(shared_vectors)
    entry["secret"] = _flip(entry["secret"])
    path = _write(tmp_path, [entry])

    result = _agile("vectors", "run", str(path), "--provider", "openssl")

    assert result.returncode == 1, result.stderr
    assert "secret differs" in result.stdout


def _without_encryptions(entry: dict[str, Any]) -> None:
    del entry["encryptions"]


def _empty_encryptions(entry: dict[str, Any]) -> None:
    entry["encryptions"] = []


def _empty_exports(entry: dict[str, Any]) -> None:
    entry["exports"] = []


def _bad_hex_secret(entry: dict[str, Any]) -> None:
    entry["secret"] = "zz" + entry["secret"][2:]


def _export_length_text(entry: dict[str, Any]) -> None:
    entry["exports"][0]["L"] = "32"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_without_encryptions, "missing field 'encryptions'"),
        (_empty_encryptions, "field 'encryptions' is empty"),
        (_empty_exports, "field 'exports' is empty"),
        (_bad_hex_secret, "field 'secret' contains non-hexadecimal text"),
        (_export_length_text, "export 0: field 'L' must be an integer"),
    ],
    ids=["no-encryptions", "empty-encryptions", "empty-exports", "bad-hex", "length-text"],
)
def test_damaged_entry_is_format_error(
    shared_vectors: Path, tmp_path: Path, damage: Any, expected: str
) -> None:
    untouched = _rfc_entry(shared_vectors, mode=0)
    entry = _rfc_entry(shared_vectors)
    damage(entry)
    path = _write(tmp_path, [untouched, entry])

    with pytest.raises(VectorFormatError, match=expected) as raised:
        _run(path)

    assert "suite 1 (hpke-0x0020-0x0001-0x0001 mode 3)" in str(raised.value)


def test_export_only_with_encryptions_is_format_error(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _entry(shared_vectors, "hpke-rfc9180", (0x0020, 0x0001, 0xFFFF), 0)
    entry["encryptions"] = _rfc_entry(shared_vectors, mode=0)["encryptions"]

    with pytest.raises(VectorFormatError, match="export-only suite"):
        _run(_write(tmp_path, [entry]))


def test_damaged_entry_cli_exit_code(shared_vectors: Path, tmp_path: Path) -> None:
    entry = _rfc_entry(shared_vectors)
    del entry["encryptions"]
    path = _write(tmp_path, [entry])

    result = _agile("vectors", "run", str(path))

    assert result.returncode == 2, result.stdout
    assert "suite 0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_key_schedule_secrets_match_vector(shared_vectors: Path) -> None:
    entry = _rfc_entry(shared_vectors, mode=1)
    suite = hpke.Suite.from_codepoints(*X25519_SUITE)

    context, secret = hpke.key_schedule_secrets(
        suite,
        entry["mode"],
        bytes.fromhex(entry["shared_secret"]),
        bytes.fromhex(entry["info"]),
        psk=bytes.fromhex(entry["psk"]),
        psk_id=bytes.fromhex(entry["psk_id"]),
    )

    assert context.hex() == entry["key_schedule_context"]
    assert secret.hex() == entry["secret"]
