"""`agile keyset import` warns whenever the imported key gets a new id, in every key format.

A key file that carries no id (raw and seed bytes, a PEM file without a Key-Id
line, a JWK without kid) gives the key a new random id, which the key's owner
does not know. A file that carries an id, or --key-id, keeps that id silently.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.cli_helpers import run_agile

KNOWN_ID = "c0ffee0123456789"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pem(key: X25519PrivateKey) -> bytes:
    """Return the key as openssl genpkey writes it: PKCS#8 PEM with no Key-Id line."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _jwk(key: X25519PrivateKey, kid: str | None = None) -> bytes:
    jwk = {
        "kty": "OKP",
        "crv": "X25519",
        "d": _b64url(key.private_bytes_raw()),
        "x": _b64url(key.public_key().public_bytes_raw()),
    }
    if kid is not None:
        jwk["kid"] = kid
    return json.dumps(jwk).encode()


def _key_file(tmp_path: Path, kind: str) -> tuple[Path, list[str]]:
    """Write a fresh key of ``kind`` and return its path and the import options it needs."""
    key = X25519PrivateKey.generate()
    if kind == "raw":
        path, data = tmp_path / "key.raw", key.private_bytes_raw()
        options = ["--format", "raw", "--algorithm", "x25519", "--private"]
    elif kind == "seed":
        path, data = tmp_path / "key.seed", os.urandom(32)
        options = ["--format", "seed", "--algorithm", "x-wing"]
    elif kind == "pem":
        path, data, options = tmp_path / "key.pem", _pem(key), ["--format", "pem"]
    elif kind == "jwk":
        path, data, options = tmp_path / "key.jwk", _jwk(key), ["--format", "jwk"]
    elif kind == "pem-detected":
        path, data, options = tmp_path / "key.pem", _pem(key), []
    else:
        path, data, options = tmp_path / "key.jwk", _jwk(key), []
    path.write_bytes(data)
    return path, options


def _import(home: Path, name: str, path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = run_agile(home, "keyset", "import", name, str(path), *options)
    assert result.returncode == 0, result.stderr
    return result


def _warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("agile: warning:")]


KINDS = ["raw", "seed", "pem", "jwk", "pem-detected", "jwk-detected"]

#: The words of each warning that name what the key file lacks.
MISSING = {
    "raw": "raw key bytes carry no key id",
    "seed": "seed bytes carry no key id",
    "pem": "the PEM file has no 'Key-Id: ID' line",
    "jwk": "the JWK has no kid",
    "pem-detected": "the key file carries no key id",
    "jwk-detected": "the key file carries no key id",
}


@pytest.mark.parametrize("kind", KINDS)
def test_new_keyset_warns(tmp_path: Path, kind: str) -> None:
    path, options = _key_file(tmp_path, kind)

    result = _import(tmp_path / "ks", "partner", path, "--purpose", "kem", *options)

    new_id = result.stdout.strip()
    warnings = _warnings(result)
    assert len(warnings) == 1, result.stderr
    assert MISSING[kind] in warnings[0]
    assert f"the new id {new_id};" in warnings[0]
    assert "--key-id ID" in warnings[0]


@pytest.mark.parametrize("kind", KINDS)
def test_existing_keyset_warns(tmp_path: Path, kind: str) -> None:
    home = tmp_path / "ks"
    created = run_agile(home, "keyset", "create", "partner", "--purpose", "kem")
    assert created.returncode == 0, created.stderr
    path, options = _key_file(tmp_path, kind)

    result = _import(home, "partner", path, *options)

    new_id = result.stdout.strip()
    warnings = _warnings(result)
    assert len(warnings) == 1, result.stderr
    assert MISSING[kind] in warnings[0]
    assert f"the new id {new_id};" in warnings[0]


@pytest.mark.parametrize("existing", [False, True], ids=["new-keyset", "existing-keyset"])
@pytest.mark.parametrize("kind", ["pem", "jwk"])
def test_carried_id_is_silent(tmp_path: Path, kind: str, existing: bool) -> None:
    home = tmp_path / "ks"
    key = X25519PrivateKey.generate()
    if kind == "pem":
        data = f"Key-Id: {KNOWN_ID}\n".encode() + _pem(key)
    else:
        data = _jwk(key, kid=KNOWN_ID)
    path = tmp_path / f"key.{kind}"
    path.write_bytes(data)
    if existing:
        created = run_agile(home, "keyset", "create", "partner", "--purpose", "kem")
        assert created.returncode == 0, created.stderr
        options: list[str] = []
    else:
        options = ["--purpose", "kem"]

    result = _import(home, "partner", path, *options)

    assert result.stdout.strip() == KNOWN_ID
    assert _warnings(result) == []


@pytest.mark.parametrize("kind", ["raw", "pem", "jwk"])
def test_key_id_option_is_silent(tmp_path: Path, kind: str) -> None:
    path, options = _key_file(tmp_path, kind)

    result = _import(
        tmp_path / "ks", "partner", path, "--purpose", "kem", "--key-id", KNOWN_ID, *options
    )

    assert result.stdout.strip() == KNOWN_ID
    assert _warnings(result) == []


def test_homomorphic_import_no_warning(tmp_path: Path) -> None:
    """.he files name a Paillier key by its modulus, so a new key id needs no warning."""
    owner = tmp_path / "owner"
    created = run_agile(
        owner,
        "keyset",
        "create",
        "sales",
        "--purpose",
        "homomorphic",
        "--algorithm",
        "paillier-2048",
    )
    assert created.returncode == 0, created.stderr
    exported = run_agile(
        owner,
        "keyset",
        "export-public",
        "sales",
        "--format",
        "raw",
        "-o",
        str(tmp_path / "sales.pub"),
    )
    assert exported.returncode == 0, exported.stderr

    result = run_agile(
        tmp_path / "shop",
        "keyset",
        "import",
        "sales",
        str(tmp_path / "sales.pub"),
        "--purpose",
        "homomorphic",
        "--algorithm",
        "paillier-2048",
    )

    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
