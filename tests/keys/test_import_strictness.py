"""Import takes one encoding of a key and reports a damaged public key as a public key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, rsa, x25519

from agile import registry
from agile.errors import InvalidKey
from agile.keys.transfer import parse_key
from tests.cli_helpers import run_agile


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _x25519_public() -> bytes:
    return x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()


def _okp_jwk(x: str) -> bytes:
    return json.dumps({"kty": "OKP", "crv": "X25519", "x": x}).encode()


def _import_raw(home: Path, path: Path, algorithm: str) -> tuple[int, str]:
    result = run_agile(
        home, "keyset", "import", "k", str(path), "--purpose", "kem", "--format", "raw",
        "--algorithm", algorithm,
    )  # fmt: skip
    return result.returncode, result.stderr


# JWK base64url: unpadded, from the URL-safe alphabet only (RFC 7515 §2).


def test_jwk_unpadded_accepted() -> None:
    public = _x25519_public()

    imported = parse_key(_okp_jwk(_b64url(public)), "kem")

    assert imported.public == public


def test_jwk_junk_characters_rejected() -> None:
    x = _b64url(_x25519_public())

    with pytest.raises(InvalidKey, match="member 'x' contains '!'") as raised:
        parse_key(_okp_jwk("!@#" + x[:10] + "*" + x[10:] + "==="), "kem")
    assert "unpadded base64url" in str(raised.value.fix)


def test_jwk_padding_rejected() -> None:
    padded = base64.urlsafe_b64encode(_x25519_public()).decode()
    assert padded.endswith("=")

    with pytest.raises(InvalidKey, match="member 'x' ends with '=' padding") as raised:
        parse_key(_okp_jwk(padded), "kem")
    assert "remove the trailing '='" in str(raised.value.fix)


def test_jwk_padding_inside_rejected() -> None:
    x = _b64url(_x25519_public())

    with pytest.raises(InvalidKey, match="member 'x' contains '='"):
        parse_key(_okp_jwk(x[:8] + "==" + x[8:]), "kem")


@pytest.mark.parametrize("character", ["+", "/", " ", "\n", "."])
def test_jwk_foreign_character_rejected(character: str) -> None:
    x = _b64url(_x25519_public())

    with pytest.raises(InvalidKey, match="member 'x' contains"):
        parse_key(_okp_jwk(x[:20] + character + x[20:]), "kem")


def test_jwk_impossible_length_rejected() -> None:
    x = _b64url(_x25519_public())

    with pytest.raises(InvalidKey, match="member 'x' has 45 base64url characters"):
        parse_key(_okp_jwk(x + "AA"), "kem")


def test_jwk_noncanonical_last_character_rejected() -> None:
    x = _b64url(_x25519_public())
    # 32 bytes are 43 characters, and the last one carries 4 bits of data and 2 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(x[-1]) | 1]

    with pytest.raises(InvalidKey, match="member 'x' is not in canonical form"):
        parse_key(_okp_jwk(x[:-1] + last), "kem")


def test_jwk_ec_member_named() -> None:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")) + "=",
    }

    with pytest.raises(InvalidKey, match="member 'y' ends with '=' padding"):
        parse_key(json.dumps(jwk).encode(), "kem")


def test_jwk_rsa_member_named() -> None:
    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "n": "~" + _b64url(numbers.n.to_bytes(256, "big")),
        "e": _b64url(numbers.e.to_bytes(3, "big")),
    }

    with pytest.raises(InvalidKey, match="member 'n' contains '~'"):
        parse_key(json.dumps(jwk).encode(), "kem")


def test_jwk_junk_cli_one_line(tmp_path: Path) -> None:
    path = tmp_path / "key.jwk"
    path.write_bytes(_okp_jwk("!@#" + _b64url(_x25519_public()) + "==="))

    result = run_agile(tmp_path / "home", "keyset", "import", "k", str(path), "--purpose", "kem")

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "the JWK member 'x' contains '!'" in result.stderr
    assert "Traceback" not in result.stderr


# ML-KEM encapsulation keys whose t vector is zero.

#: Public key sizes of the ML-KEM parameter sets: 384 k + 32 bytes.
_MLKEM_SIZES = {"ml-kem-512": 800, "ml-kem-768": 1184, "ml-kem-1024": 1568}


@pytest.mark.parametrize("algorithm", sorted(_MLKEM_SIZES))
def test_mlkem_zero_t_rejected(algorithm: str) -> None:
    public = bytes(_MLKEM_SIZES[algorithm] - 32) + os.urandom(32)

    with pytest.raises(InvalidKey, match="all-zero t vector") as raised:
        parse_key(public, "kem", algorithm=algorithm, format="raw", public=True)
    assert f"the {algorithm} public key" in str(raised.value)


@pytest.mark.parametrize("algorithm", sorted(_MLKEM_SIZES))
def test_mlkem_all_zero_rejected(algorithm: str) -> None:
    with pytest.raises(InvalidKey, match="all-zero t vector"):
        parse_key(bytes(_MLKEM_SIZES[algorithm]), "kem", algorithm=algorithm, format="raw")


@pytest.mark.parametrize("algorithm", sorted(_MLKEM_SIZES))
def test_mlkem_real_key_accepted(algorithm: str) -> None:
    public = registry.get(algorithm).generate().public_key.data

    imported = parse_key(public, "kem", algorithm=algorithm, format="raw", public=True)

    assert imported.public == public


def test_xwing_zero_mlkem_part_rejected() -> None:
    public = bytes(1184 - 32) + os.urandom(32) + _x25519_public()

    with pytest.raises(InvalidKey, match="ML-KEM-768 part of the X-Wing public key"):
        parse_key(public, "kem", algorithm="x-wing", format="raw", public=True)


def test_xwing_real_key_accepted() -> None:
    public = registry.get("x-wing").generate().public_key.data

    imported = parse_key(public, "kem", algorithm="x-wing", format="raw", public=True)

    assert imported.public == public


def test_mlkem_zero_t_pem_rejected() -> None:
    real = mlkem.MLKEM768PrivateKey.generate().public_key().public_bytes_raw()
    zero = mlkem.MLKEM768PublicKey.from_public_bytes(bytes(1184 - 32) + real[-32:])
    pem = zero.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    with pytest.raises(InvalidKey, match="all-zero t vector"):
        parse_key(pem, "kem")


def test_mlkem_zero_t_cli_rejected(tmp_path: Path) -> None:
    path = tmp_path / "zero.bin"
    path.write_bytes(bytes(1184))

    code, stderr = _import_raw(tmp_path / "home", path, "ml-kem-768")

    assert code == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "the ml-kem-768 public key has an all-zero t vector" in stderr


# Raw bytes of a public key's size are checked as a public key.


def test_raw_p256_off_curve_public_error() -> None:
    with pytest.raises(InvalidKey, match="not a point on the curve"):
        parse_key(b"\x04" + b"\x01" * 64, "kem", algorithm="p256", format="raw")


def test_raw_p384_off_curve_public_error() -> None:
    with pytest.raises(InvalidKey, match="not a point on the curve"):
        parse_key(b"\x04" + b"\x01" * 96, "kem", algorithm="p384", format="raw")


def test_raw_p256_compressed_off_curve_error() -> None:
    # x = 1 is not the x-coordinate of a P-256 point: 1 - 3 + b is no square modulo p.
    point = b"\x02" + (1).to_bytes(32, "big")

    with pytest.raises(InvalidKey, match="compressed p256 point that is not on the curve"):
        parse_key(point, "kem", algorithm="p256", format="raw")


def test_raw_mlkem_modulus_error() -> None:
    # One of the 768 random 12-bit coefficients is 3329 or more, with probability
    # 1 - (3329/4096)^768, which is 1 to within 10^-69.
    with pytest.raises(InvalidKey, match="FIPS 203 modulus check"):
        parse_key(os.urandom(1184), "kem", algorithm="ml-kem-768", format="raw")


def test_raw_p256_point_imports_public() -> None:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    imported = parse_key(point, "kem", algorithm="p256", format="raw")

    assert imported.private is None
    assert imported.public == point


def test_raw_p256_scalar_imports_private() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")

    imported = parse_key(scalar, "kem", algorithm="p256", format="raw")

    assert imported.private == scalar


def test_raw_x25519_still_ambiguous() -> None:
    with pytest.raises(InvalidKey, match="parse both as a private and as a public"):
        parse_key(_x25519_public(), "kem", algorithm="x25519", format="raw")


def test_raw_p256_off_curve_cli_error(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.write_bytes(b"\x04" + b"\x01" * 64)

    code, stderr = _import_raw(tmp_path / "home", path, "p256")

    assert code == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "p256 public key is not a point on the curve" in stderr
    assert "private key" not in stderr


def test_raw_mlkem_modulus_cli_error(tmp_path: Path) -> None:
    path = tmp_path / "m"
    path.write_bytes(os.urandom(1184))

    code, stderr = _import_raw(tmp_path / "home", path, "ml-kem-768")

    assert code == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "FIPS 203 modulus check" in stderr
