"""Import rejects unusable or duplicate public keys and keys limited to another use."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed448,
    ed25519,
    mlkem,
    padding,
    rsa,
    x25519,
)
from cryptography.x509.oid import NameOID

from agile.errors import InvalidKey
from agile.keys import Keystore
from agile.keys.check import check_keystore
from agile.keys.transfer import parse_key


def _agile(*arguments: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run the agile command in a new process, with cheap Argon2id parameters."""
    environment = {**os.environ, "AGILE_ARGON2_MEMORY_KIB": "1024", "AGILE_ARGON2_ITERATIONS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *arguments],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        env=environment,
        check=False,
    )


PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _okp_jwk(public: bytes, **members: object) -> bytes:
    return json.dumps({"kty": "OKP", "crv": "X25519", "x": _b64url(public), **members}).encode()


def _ec_jwk(key: ec.EllipticCurvePrivateKey, **members: object) -> dict[str, object]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
        **members,
    }


# X25519: one key, one encoding; no low-order points.


def test_x25519_top_bit_rejected(store: Keystore) -> None:
    private = x25519.X25519PrivateKey.generate()
    jwk = {"kty": "OKP", "crv": "X25519", "d": _b64url(private.private_bytes_raw())}
    store.create_keyset("mine", "kem", first_key=parse_key(json.dumps(jwk).encode(), "kem"))
    twin = bytearray(private.public_key().public_bytes_raw())
    twin[31] |= 0x80

    with pytest.raises(InvalidKey, match="not in canonical form"):
        parse_key(_okp_jwk(bytes(twin)), "kem")


def test_x25519_value_above_prime_rejected() -> None:
    above = (2**255 - 19 + 1).to_bytes(32, "little")

    with pytest.raises(InvalidKey, match="not in canonical form"):
        parse_key(above, "kem", algorithm="x25519", public=True)


@pytest.mark.parametrize("public", [bytes(32), b"\x01" + bytes(31)], ids=["zero", "one"])
def test_x25519_low_order_rejected(public: bytes) -> None:
    with pytest.raises(InvalidKey, match="low-order point"):
        parse_key(_okp_jwk(public), "kem")
    with pytest.raises(InvalidKey, match="low-order point"):
        parse_key(public, "kem", algorithm="x25519", public=True)
    with pytest.raises(InvalidKey, match="parse both as a private and as a public"):
        parse_key(public, "kem", algorithm="x25519")


def test_xwing_low_order_part_rejected() -> None:
    mlkem_part = mlkem.MLKEM768PrivateKey.generate().public_key().public_bytes_raw()

    with pytest.raises(InvalidKey, match="X25519 part of the X-Wing"):
        parse_key(mlkem_part + bytes(32), "kem", algorithm="x-wing", format="raw", public=True)


# RSA.


def test_rsa_even_modulus_rejected() -> None:
    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    broken = rsa.RSAPublicNumbers(numbers.e, numbers.n + 1).public_key()

    with pytest.raises(InvalidKey, match="small prime factor"):
        parse_key(broken.public_bytes(PEM, SPKI), "kem")


def test_rsa_even_modulus_cli_exit_2(keystore: Path) -> None:
    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    broken = rsa.RSAPublicNumbers(numbers.e, numbers.n + 1).public_key()
    file = keystore.parent / "broken.pem"
    file.write_bytes(broken.public_bytes(PEM, SPKI))

    result = _agile("keyset", "import", "peer", str(file), "--purpose", "kem")

    assert result.returncode == 2, result.stderr
    assert "small prime factor" in result.stderr
    assert "Traceback" not in result.stderr


def _rsa_pss_key(tmp_path: Path) -> Path:
    file = tmp_path / "pss.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"]
        + ["-out", str(file)],
        check=True,
        capture_output=True,
    )
    return file


def test_rsa_pss_key_rejected_for_kem(tmp_path: Path) -> None:
    private = _rsa_pss_key(tmp_path).read_bytes()
    public = subprocess.run(
        ["openssl", "pkey", "-pubout"], input=private, check=True, capture_output=True
    ).stdout

    with pytest.raises(InvalidKey, match="limited to RSA-PSS signatures.*kem keyset"):
        parse_key(private, "kem")
    with pytest.raises(InvalidKey, match="limited to RSA-PSS signatures"):
        parse_key(public, "kem")
    assert parse_key(public, "signature").algorithm == "rsa-pss-2048-sha256"


_PSS_OPTIONS = {
    "sha512": [
        "rsa_pss_keygen_md:sha512",
        "rsa_pss_keygen_mgf1_md:sha512",
        "rsa_pss_keygen_saltlen:64",
    ],
    "sha256-salt48": [
        "rsa_pss_keygen_md:sha256",
        "rsa_pss_keygen_mgf1_md:sha256",
        "rsa_pss_keygen_saltlen:48",
    ],
    "mgf1-sha1": ["rsa_pss_keygen_md:sha256", "rsa_pss_keygen_mgf1_md:sha1"],
    "sha256-salt32": [
        "rsa_pss_keygen_md:sha256",
        "rsa_pss_keygen_mgf1_md:sha256",
        "rsa_pss_keygen_saltlen:32",
    ],
}


def _openssl_pss(tmp_path: Path, options: list[str]) -> bytes:
    options = [item for option in options for item in ("-pkeyopt", option)]
    file = tmp_path / "limited.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"]
        + options
        + ["-out", str(file)],
        check=True,
        capture_output=True,
    )
    return file.read_bytes()


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("sha512", "limited to SHA-512, MGF1 with SHA-512, salts of at least 64 bytes"),
        ("sha256-salt48", "limited to SHA-256, MGF1 with SHA-256, salts of at least 48 bytes"),
        ("mgf1-sha1", "limited to SHA-256, MGF1 with SHA-1"),
    ],
)
def test_rsa_pss_parameters_agile_cannot_honour_rejected(
    tmp_path: Path, limit: str, message: str
) -> None:
    private = _openssl_pss(tmp_path, _PSS_OPTIONS[limit])
    public = subprocess.run(
        ["openssl", "pkey", "-pubout", "-outform", "DER"],
        input=private,
        check=True,
        capture_output=True,
    ).stdout

    for encoded in (private, public):
        with pytest.raises(InvalidKey, match=message) as raised:
            parse_key(encoded, "signature")
        assert "minimum salt of 32 bytes or less" in (raised.value.fix or "")


def test_rsa_pss_parameters_agile_honours_accepted(tmp_path: Path) -> None:
    private = _openssl_pss(tmp_path, _PSS_OPTIONS["sha256-salt32"])

    assert parse_key(private, "signature").algorithm == "rsa-pss-2048-sha256"


def _self_signed(key: object, subject_key: object, padding_: object = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pss test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(subject_key)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
    )
    return builder.sign(key, hashes.SHA256(), rsa_padding=padding_)  # type: ignore[arg-type]


def test_certificate_signed_with_rsa_pss_gives_kem_key() -> None:
    # The issuer's RSA-PSS signature identifier comes early in a certificate with a
    # short serial number, and it does not describe the subject's key.
    issuer = rsa.generate_private_key(65537, 2048)
    subject = _p256()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

    certificate = _self_signed(issuer, subject.public_key(), pss)

    for encoding in (PEM, DER):
        assert parse_key(certificate.public_bytes(encoding), "kem").algorithm == "p256"


def test_certificate_rsa_pss_key_parameters_checked(tmp_path: Path) -> None:
    _openssl_pss(tmp_path, _PSS_OPTIONS["sha512"])  # writes limited.pem
    key_file = tmp_path / "limited.pem"
    certificate = tmp_path / "limited.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-new", "-key", str(key_file), "-subj", "/CN=pss test"]
        + ["-days", "1", "-out", str(certificate)],
        check=True,
        capture_output=True,
    )

    with pytest.raises(InvalidKey, match="limited to SHA-512"):
        parse_key(certificate.read_bytes(), "signature")
    with pytest.raises(InvalidKey, match="limited to RSA-PSS signatures"):
        parse_key(certificate.read_bytes(), "kem")


# Edwards public keys: canonical, on the curve, not of small order.

_P25519 = 2**255 - 19
_D25519 = -121665 * pow(121666, -1, _P25519) % _P25519
_L25519 = 2**252 + 27742317777372353535851937790883648493


def _ed25519_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Add two points of -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 §5.1.4, affine)."""
    p, t = _P25519, _D25519 * a[0] * b[0] * a[1] * b[1]
    x = (a[0] * b[1] + b[0] * a[1]) * pow(1 + t, -1, p) % p
    y = (a[1] * b[1] + a[0] * b[0]) * pow(1 - t, -1, p) % p
    return x, y


def _ed25519_torsion() -> set[bytes]:
    """Return the encodings of the 8 points of small order, found as L times random points."""
    found: set[bytes] = set()
    while len(found) < 8:
        y = int.from_bytes(os.urandom(32), "little") % _P25519
        x2 = (y * y - 1) * pow(_D25519 * y * y + 1, -1, _P25519) % _P25519
        x = pow(x2, (_P25519 + 3) // 8, _P25519)
        if x * x % _P25519 != x2:
            x = x * pow(2, (_P25519 - 1) // 4, _P25519) % _P25519
        if x * x % _P25519 != x2:
            continue  # no point has this y
        point, result, k = (x, y), (0, 1), _L25519
        while k:
            if k & 1:
                result = _ed25519_add(result, point)
            point, k = _ed25519_add(point, point), k >> 1
        found.add((result[1] | (result[0] & 1) << 255).to_bytes(32, "little"))
    return found


@pytest.mark.parametrize("encoded", sorted(_ed25519_torsion()), ids=lambda b: b.hex()[:8])
def test_ed25519_small_order_rejected(encoded: bytes) -> None:
    with pytest.raises(InvalidKey, match="small order"):
        parse_key(encoded, "signature", format="raw", algorithm="ed25519", public=True)


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ((_P25519 + 1).to_bytes(32, "little"), "not in canonical form"),
        ((1 | 1 << 255).to_bytes(32, "little"), "not a point on Ed25519"),
        ((2).to_bytes(32, "little"), "not a point on Ed25519"),
    ],
    ids=["y-above-prime", "negative-zero-x", "off-curve"],
)
def test_ed25519_bad_encoding_rejected(encoded: bytes, message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        parse_key(encoded, "signature", format="raw", algorithm="ed25519", public=True)


def test_ed448_small_order_rejected() -> None:
    identity = (1).to_bytes(57, "little")

    with pytest.raises(InvalidKey, match="Ed448 public key is a point of small order"):
        parse_key(identity, "signature", format="raw", algorithm="ed448", public=True)


def test_composite_ed25519_part_checked() -> None:
    mldsa_public = os.urandom(1952)

    with pytest.raises(InvalidKey, match="Ed25519 part of the composite public key"):
        parse_key(
            mldsa_public + (1).to_bytes(32, "little"),
            "signature",
            format="raw",
            algorithm="ml-dsa-65-ed25519",
            public=True,
        )


def test_edwards_keys_of_key_pairs_accepted() -> None:
    for _ in range(20):
        public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert (
            parse_key(public, "signature", format="raw", algorithm="ed25519", public=True).public
            == public
        )
        public = ed448.Ed448PrivateKey.generate().public_key().public_bytes_raw()
        assert (
            parse_key(public, "signature", format="raw", algorithm="ed448", public=True).public
            == public
        )


def test_ed25519_small_order_cli_exit_2(keystore: Path) -> None:
    result = _agile(
        "--keystore",
        str(keystore),
        "keyset",
        "import",
        "peer",
        "-",
        "--purpose",
        "signature",
        "--format",
        "raw",
        "--algorithm",
        "ed25519",
        "--public",
        stdin=(1).to_bytes(32, "little"),
    )

    assert result.returncode == 2, result.stderr
    assert "small order" in result.stderr
    assert "Traceback" not in result.stderr


# JWK use limits and messages.


@pytest.mark.parametrize(
    ("member", "value"),
    [("use", "sig"), ("key_ops", ["sign"]), ("alg", "ES256")],
)
def test_jwk_signature_limit_rejected_for_kem(member: str, value: object) -> None:
    jwk = _ec_jwk(ec.generate_private_key(ec.SECP256R1()), **{member: value})

    with pytest.raises(InvalidKey, match=f'member "{member}".*kem keyset'):
        parse_key(json.dumps(jwk).encode(), "kem")


def test_jwk_encryption_limit_rejected_for_signature() -> None:
    jwk = _ec_jwk(ec.generate_private_key(ec.SECP256R1()), use="enc")

    with pytest.raises(InvalidKey, match='member "use".*signature keyset'):
        parse_key(json.dumps(jwk).encode(), "signature")


def test_jwk_matching_limits_accepted() -> None:
    jwk = _ec_jwk(ec.generate_private_key(ec.SECP256R1()), use="enc", alg="ECDH-ES")

    assert parse_key(json.dumps(jwk).encode(), "kem").algorithm == "p256"


def _rsa_jwk(**members: object) -> bytes:
    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    return json.dumps(
        {
            "kty": "RSA",
            "n": _b64url(numbers.n.to_bytes(256, "big")),
            "e": _b64url(numbers.e.to_bytes(3, "big")),
            **members,
        }
    ).encode()


@pytest.mark.parametrize(
    ("jwk", "purpose", "message"),
    [
        (lambda: _rsa_jwk(alg="RS256"), "signature", "'RS256'.*rsa-pss-2048-sha256.*'PS256'"),
        (lambda: _rsa_jwk(alg="PS512"), "signature", "'PS512'"),
        (lambda: _rsa_jwk(alg="RSA-OAEP"), "kem", "'RSA-OAEP'.*rsa-oaep-2048.*'RSA-OAEP-256'"),
        (
            lambda: json.dumps(_ec_jwk(_p256(), alg="ES384")).encode(),
            "signature",
            "'ES384'.*ecdsa-p256-sha256",
        ),
    ],
    ids=["rs256", "ps512", "oaep-sha1", "es384-on-p256"],
)
def test_jwk_alg_of_another_algorithm_rejected(
    jwk: Callable[[], bytes], purpose: str, message: str
) -> None:
    with pytest.raises(InvalidKey, match=message):
        parse_key(jwk(), purpose)


@pytest.mark.parametrize(
    ("jwk", "purpose", "algorithm"),
    [
        (lambda: _rsa_jwk(alg="PS256"), "signature", "rsa-pss-2048-sha256"),
        (lambda: _rsa_jwk(alg="RSA-OAEP-256"), "kem", "rsa-oaep-2048"),
        (
            lambda: json.dumps(_ec_jwk(_p256(), alg="ES256")).encode(),
            "signature",
            "ecdsa-p256-sha256",
        ),
    ],
    ids=["ps256", "oaep-256", "es256"],
)
def test_jwk_alg_of_the_same_algorithm_accepted(
    jwk: Callable[[], bytes], purpose: str, algorithm: str
) -> None:
    assert parse_key(jwk(), purpose).algorithm == algorithm


_X25519_PUBLIC = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        ({"kty": "OKP", "crv": "X25519", "x": _b64url(_X25519_PUBLIC), "kid": 5}, "'kid' must"),
        ({"kty": "EC", "x": "AA", "y": "AA"}, "no member 'crv'"),
        ({"keys": [{"kty": "OKP"}]}, "is a JWK set"),
        ({"kty": "OKP", "crv": "X25519", "d": None}, "'d' must be a string, got a JSON null"),
        ({"kty": "OKP", "crv": "X25519", "d": "AAAA"}, "'d' is 3 bytes; X25519 private keys"),
    ],
)
def test_jwk_messages(jwk: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        parse_key(json.dumps(jwk).encode(), "kem")


def test_jwk_ec_mismatch_named() -> None:
    jwk = _ec_jwk(ec.generate_private_key(ec.SECP256R1()))
    other = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    jwk["d"] = _b64url(other.to_bytes(32, "big"))

    with pytest.raises(InvalidKey, match="'x', 'y' does not match its private key 'd'"):
        parse_key(json.dumps(jwk).encode(), "kem")


# PEM with text before it, certificates, DER.


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("prefix", "key_id"),
    [
        (b"from mail\nsee below\n\n", None),
        (b"Key-Id: abc\n\n", "abc"),
        (b"Key-Id: abc\nComment: from Alice\n", "abc"),
        (b"\xef\xbb\xbf", None),
    ],
    ids=["text", "key-id-blank", "key-id-comment", "bom"],
)
def test_pem_with_preamble(prefix: bytes, key_id: str | None) -> None:
    key = _p256()

    imported = parse_key(prefix + key.public_key().public_bytes(PEM, SPKI), "kem")

    assert imported.algorithm == "p256"
    assert imported.key_id == key_id


def _certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peer")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize("encoding", [PEM, DER], ids=["pem", "der"])
def test_certificate_gives_public_key(encoding: serialization.Encoding) -> None:
    key = _p256()

    imported = parse_key(_certificate(key).public_bytes(encoding), "kem")

    assert imported.private is None
    assert imported.public == key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_der_keys_detected() -> None:
    key = _p256()
    private_der = key.private_bytes(
        DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    assert parse_key(private_der, "kem").private is not None
    assert parse_key(key.public_key().public_bytes(DER, SPKI), "kem").private is None


def test_other_pem_label_named() -> None:
    with pytest.raises(InvalidKey, match="'CERTIFICATE REQUEST', not a key"):
        parse_key(
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "kem"
        )


# Raw sizes.


def test_raw_mlkem_public_detected() -> None:
    public = mlkem.MLKEM768PrivateKey.generate().public_key().public_bytes_raw()

    imported = parse_key(public, "kem", algorithm="ml-kem-768")

    assert imported.private is None
    assert imported.public == public


def test_raw_compressed_point_accepted() -> None:
    key = _p256().public_key()
    compressed = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )

    imported = parse_key(compressed, "kem", algorithm="p256", format="raw")

    assert imported.public == key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_raw_wrong_size_names_sizes() -> None:
    with pytest.raises(InvalidKey, match="private keys are 32 bytes and p256 public keys are 65"):
        parse_key(bytes(40), "kem", algorithm="p256", format="raw")
    with pytest.raises(InvalidKey, match="ml-kem-768 seeds are 64 bytes"):
        parse_key(bytes(40), "kem", algorithm="ml-kem-768", format="seed")


# Encrypted private keys: the fix pipes the decrypted key into the import.


def test_encrypted_pem_fix_pipes(keystore: Path) -> None:
    key = x25519.X25519PrivateKey.generate()
    encrypted = key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidKey) as raised:
        parse_key(encrypted, "kem")
    assert "openssl pkey -in KEY.pem | agile keyset import NAME -" in (raised.value.fix or "")

    plain = subprocess.run(
        ["openssl", "pkey", "-passin", "pass:pw"], input=encrypted, check=True, capture_output=True
    ).stdout
    result = _agile("keyset", "import", "peer", "-", "--purpose", "kem", stdin=plain)

    assert result.returncode == 0, result.stderr
    assert (
        Keystore.open(keystore).keyset("peer").primary.public == key.public_key().public_bytes_raw()
    )


# Keys imported before these checks: keystore check finds them.


def test_keystore_check_flags_stored_low_order(store: Keystore) -> None:
    public = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    store.create_keyset("peer", "kem", first_key=parse_key(_okp_jwk(public), "kem"))
    file = store.path / "keysets" / "peer.json"
    data = json.loads(file.read_text())
    data["keys"][0]["public"] = base64.b64encode(bytes(32)).decode()
    file.write_text(json.dumps(data))

    results = check_keystore(Keystore.open(store.path))

    assert [r.result for r in results] == ["failed"]
    assert "low-order point" in results[0].detail


def test_der_ending_in_whitespace_byte() -> None:
    """DER is binary: a last byte such as 0x20 or 0x0c belongs to the key, not to whitespace."""
    from cryptography.hazmat.primitives.asymmetric import x25519

    for _ in range(10_000):
        public = x25519.X25519PrivateKey.generate().public_key()
        der = public.public_bytes(DER, SPKI)
        if der[-1:] in (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c"):
            break
    else:
        pytest.fail("no X25519 key whose encoding ends in a whitespace byte")

    imported = parse_key(der, "kem")

    assert imported.public == public.public_bytes_raw()
