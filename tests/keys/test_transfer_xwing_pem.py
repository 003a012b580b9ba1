"""X-Wing keys in PEM: SubjectPublicKeyInfo and PKCS#8 under the X-Wing draft's id-XWing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from agile.errors import InvalidKey, UnsupportedAlgorithm
from agile.keys import Keystore
from agile.keys.transfer import XWING_OID, export_public, parse_key

SEED = bytes(range(32))


# A DER encoder written from X.690 for these tests, so that the constants in the
# module are checked against an encoding built from the dotted OID.


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _spki(public: bytes) -> bytes:
    return _der(0x30, _der(0x30, _oid(XWING_OID)) + _der(0x03, b"\x00" + public))


def _pkcs8(seed: bytes, version: int = 0, extra: bytes = b"") -> bytes:
    fields = _der(0x02, bytes([version])) + _der(0x30, _oid(XWING_OID)) + _der(0x04, seed)
    return _der(0x30, fields + extra)


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[start : start + 64] for start in range(0, len(body), 64)]
    text = f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
    return text.encode()


def _public_of(seed: bytes) -> bytes:
    return parse_key(seed, "kem", algorithm="x-wing", format="seed").public


def test_export_is_spki_der() -> None:
    public = _public_of(SEED)
    pem = export_public("x-wing", public, "pem")
    assert pem == _pem("PUBLIC KEY", _spki(public))


def test_export_carries_key_id() -> None:
    pem = export_public("x-wing", _public_of(SEED), "pem", key_id="abc123")
    assert pem.startswith(b"Key-Id: abc123\n-----BEGIN PUBLIC KEY-----\n")


def test_public_pem_round_trip() -> None:
    public = _public_of(SEED)
    imported = parse_key(export_public("x-wing", public, "pem", key_id="abc123"), "kem")
    assert imported.algorithm == "x-wing"
    assert imported.private is None
    assert imported.public == public
    assert imported.key_id == "abc123"


def test_private_pkcs8_imports_seed() -> None:
    imported = parse_key(_pem("PRIVATE KEY", _pkcs8(SEED)), "kem")
    assert imported.algorithm == "x-wing"
    assert imported.private == SEED
    assert imported.public == _public_of(SEED)


def test_private_pkcs8_public_part_only() -> None:
    imported = parse_key(_pem("PRIVATE KEY", _pkcs8(SEED)), "kem", public=True)
    assert imported.private is None
    assert imported.public == _public_of(SEED)


def test_vectors_seed_gives_their_public_key(shared_vectors: Path) -> None:
    vectors = json.loads((shared_vectors / "xwing" / "test-vectors.json").read_text())
    for vector in vectors:
        seed = bytes.fromhex(vector["seed"])
        imported = parse_key(_pem("PRIVATE KEY", _pkcs8(seed)), "kem")
        assert imported.public == bytes.fromhex(vector["pk"])


@pytest.mark.parametrize(
    ("label", "der"),
    [
        ("PUBLIC KEY", _spki(bytes(1215))),
        ("PUBLIC KEY", _spki(bytes(1217))),
        ("PUBLIC KEY", _spki(bytes(1216)) + b"\x00"),
        ("PRIVATE KEY", _pkcs8(bytes(31))),
        ("PRIVATE KEY", _pkcs8(SEED, version=1)),
        ("PRIVATE KEY", _pkcs8(SEED, extra=_der(0x81, b"\x00" + bytes(1216)))),
    ],
    ids=["short-key", "long-key", "trailing-byte", "short-seed", "version-1", "public-key-field"],
)
def test_malformed_der_refused(label: str, der: bytes) -> None:
    with pytest.raises(InvalidKey, match=r"names X-Wing \(1\.3\.6\.1\.4\.1\.62253\.25722\)"):
        parse_key(_pem(label, der), "kem")


def test_wrong_purpose_refused() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="X-Wing keys cannot go into a signature"):
        parse_key(_pem("PRIVATE KEY", _pkcs8(SEED)), "signature")


def test_wrong_algorithm_refused() -> None:
    with pytest.raises(InvalidKey, match="the key is a x-wing key, not ml-kem-768"):
        parse_key(_pem("PUBLIC KEY", _spki(_public_of(SEED))), "kem", algorithm="ml-kem-768")


def test_keyset_export_import_encrypts(store: Keystore, tmp_path: Path) -> None:
    from agile import envelope

    owner = store.create_keyset("files", "kem", "x-wing")
    other = Keystore.open(tmp_path / "other")
    sender = other.create_keyset("partner", "kem", "x25519")
    key = sender.import_key(owner.export_public(format="pem"))
    assert key.id == owner.primary.id
    sender.promote(key.id)

    sealed = envelope.encrypt(b"to the owner", sender)

    assert envelope.decrypt(sealed, store) == b"to the owner"
