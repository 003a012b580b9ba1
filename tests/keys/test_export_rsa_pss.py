"""An RSA-PSS key keeps its signing-only limit through export-public (PEM, DER and JWK)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agile.errors import InvalidKey
from agile.keys import Keystore
from agile.keys.transfer import export_public, parse_key

#: DER of AlgorithmIdentifier { id-RSASSA-PSS, RSASSA-PSS-params } naming SHA-256, MGF1
#: with SHA-256 and a 32-byte salt, as RFC 4055 §3.1 spells the parameters.
_PSS_SHA256_IDENTIFIER = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886"
    "f70d010108300d06096086480165030402010500a203020120"
)


@pytest.fixture(scope="module")
def openssl_pss_key(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Return a 2048-bit RSA-PSS private key that OpenSSL made, limited to SHA-256, salt 16."""
    path = tmp_path_factory.mktemp("pss") / "pss.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
         "-pkeyopt", "rsa_pss_keygen_md:sha256", "-pkeyopt", "rsa_pss_keygen_mgf1_md:sha256",
         "-pkeyopt", "rsa_pss_keygen_saltlen:16", "-out", str(path)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return path.read_bytes()


def _spki_identifier(der: bytes) -> bytes:
    """Return the DER AlgorithmIdentifier of a SubjectPublicKeyInfo with a 4-byte header."""
    assert der[:2] == b"\x30\x82"
    length = 2 + der[5]
    return der[4 : 4 + length]


def _generated(store: Keystore) -> Keystore:
    store.create_keyset("signer", "signature", "rsa-pss-3072-sha256")
    return store


def test_pem_names_rsassa_pss(openssl_pss_key: bytes) -> None:
    imported = parse_key(openssl_pss_key, "signature", public=True)

    pem = export_public(imported.algorithm, imported.public, "pem")
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))

    assert _spki_identifier(base64.b64decode(body)) == _PSS_SHA256_IDENTIFIER


def test_der_names_rsassa_pss(store: Keystore) -> None:
    keyset = _generated(store).keyset("signer")

    der = keyset.export_public(format="der")

    assert _spki_identifier(der) == _PSS_SHA256_IDENTIFIER


def test_der_carries_the_same_key(store: Keystore) -> None:
    keyset = _generated(store).keyset("signer")

    der = keyset.export_public(format="der")

    assert parse_key(der, "signature").public == keyset.primary.public


@pytest.mark.parametrize("key_format", ["pem", "der"])
def test_export_rejected_for_kem(store: Keystore, key_format: str) -> None:
    exported = _generated(store).keyset("signer").export_public(format=key_format)

    with pytest.raises(InvalidKey, match="limited to RSA-PSS signatures"):
        parse_key(exported, "kem")


@pytest.mark.parametrize("key_format", ["pem", "der", "jwk"])
def test_export_imports_for_signature(store: Keystore, key_format: str) -> None:
    keyset = _generated(store).keyset("signer")

    imported = parse_key(keyset.export_public(format=key_format), "signature")

    assert imported.algorithm == "rsa-pss-3072-sha256"
    assert imported.public == keyset.primary.public


def test_jwk_carries_ps256(store: Keystore) -> None:
    jwk = json.loads(_generated(store).keyset("signer").export_public(format="jwk"))

    assert jwk["alg"] == "PS256"


def test_jwk_rejected_for_kem(store: Keystore) -> None:
    exported = _generated(store).keyset("signer").export_public(format="jwk")

    with pytest.raises(InvalidKey, match='"alg" is .PS256.*kem keyset'):
        parse_key(exported, "kem")


@pytest.mark.parametrize(
    ("algorithm", "alg"),
    [("rsa-oaep-3072", "RSA-OAEP-256"), ("x25519", "ECDH-ES"), ("ecdsa-p256-sha256", "ES256")],
)
def test_jwk_carries_alg_of_algorithm(store: Keystore, algorithm: str, alg: str) -> None:
    purpose = "signature" if algorithm.startswith("ecdsa") else "kem"
    keyset = store.create_keyset("peer", purpose, algorithm)

    jwk = json.loads(keyset.export_public(format="jwk"))

    assert jwk["alg"] == alg


def test_openssl_reads_the_limit(store: Keystore, tmp_path: Path) -> None:
    path = tmp_path / "signer.pem"
    path.write_bytes(_generated(store).keyset("signer").export_public())

    result = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(path), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Hash Algorithm: SHA2-256" in result.stdout
    assert "Mask Algorithm: MGF1 with SHA2-256" in result.stdout
    assert "Minimum Salt Length: 32" in result.stdout


def test_openssl_verifies_with_the_export(tmp_path: Path) -> None:
    private = rsa.generate_private_key(65537, 2048)
    public = parse_key(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "signature",
    )
    message = tmp_path / "message"
    message.write_bytes(b"signed with agile's RSA-PSS form")
    signature = tmp_path / "signature"
    signature.write_bytes(
        private.sign(
            message.read_bytes(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    )
    key = tmp_path / "key.pem"
    key.write_bytes(export_public(public.algorithm, public.public, "pem"))

    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(key), "-sigopt", "rsa_padding_mode:pss",
         "-sigopt", "rsa_pss_saltlen:32", "-signature", str(signature), str(message)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
