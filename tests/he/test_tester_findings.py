"""Weak public keys, decryption under another key, and ``agile he decrypt`` output and errors."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import gmpy2
import pytest
from gmpy2 import mpz

import he
from agile.errors import HomomorphicError, InvalidKey
from he import serialize
from he.keys import PaillierPrivateKey, PaillierPublicKey
from tests.he.he_helpers import agile

Keys = tuple[PaillierPublicKey, PaillierPrivateKey]


def _prime_modulus(bits: int) -> mpz:
    """Return a prime of exactly ``bits`` bits, the same on every run."""
    generator = random.Random(bits)
    prime = gmpy2.next_prime(mpz(generator.getrandbits(bits - 2)) | (mpz(1) << (bits - 1)))
    assert prime.bit_length() == bits
    return prime


def _cube_modulus(bits: int) -> mpz:
    """Return p^3 of exactly ``bits`` bits for a prime p: odd, not a square, no small factor."""
    root, _ = gmpy2.iroot(mpz(1) << (bits - 1), 3)
    cube = gmpy2.next_prime(root + 1) ** 3
    assert cube.bit_length() == bits
    return cube


# A prime or a perfect power as n.


def test_prime_modulus_rejected() -> None:
    data = int(_prime_modulus(2048)).to_bytes(256, "big")
    with pytest.raises(InvalidKey, match="is prime"):
        PaillierPublicKey.from_bytes(data, 2048)


def test_cube_modulus_rejected() -> None:
    data = int(_cube_modulus(2048)).to_bytes(256, "big")
    with pytest.raises(InvalidKey, match="perfect power"):
        PaillierPublicKey.from_bytes(data, 2048)


def test_prime_modulus_message() -> None:
    with pytest.raises(InvalidKey) as caught:
        PaillierPublicKey(_prime_modulus(2048)).validate(2048)
    assert "is not an odd product of two primes" in str(caught.value)
    assert caught.value.fix is not None


def test_prime_modulus_in_file(public_key: PaillierPublicKey) -> None:
    document = json.loads(serialize.dumps_json([public_key.encrypt(1)]))
    document["n"] = format(int(_prime_modulus(2048)), "x")
    with pytest.raises(InvalidKey, match="is prime"):
        serialize.loads(json.dumps(document))


def test_prime_modulus_in_registry() -> None:
    from agile import registry

    scheme = registry.homomorphic("paillier-2048")
    with pytest.raises(InvalidKey, match="is prime"):
        scheme.load_public(int(_prime_modulus(2048)).to_bytes(256, "big"))


def test_generated_modulus_accepted(public_key: PaillierPublicKey) -> None:
    PaillierPublicKey.from_bytes(public_key.to_bytes(), 2048)


# The Damgard-Jurik-Nielsen base h_s.


@pytest.fixture(scope="module")
def djn_keypair() -> Keys:
    return he.generate_keypair(2048, djn=True)


_WEAK_BASES = {
    "one": lambda n, p: mpz(1),
    "n^2 - 1": lambda n, p: n * n - 1,
    "n + 1": lambda n, p: n + 1,
    "1 + 5n": lambda n, p: 1 + 5 * n,
    "n - 1": lambda n, p: n - 1,
    "n^2 - 1 - 7n": lambda n, p: n * n - 1 - 7 * n,
    "factor p": lambda n, p: p,
}


@pytest.mark.parametrize("name", list(_WEAK_BASES))
def test_weak_djn_base_rejected(djn_keypair: Keys, name: str) -> None:
    public, private = djn_keypair
    n = public.n
    base = _WEAK_BASES[name](n, private.p)
    data = int(n).to_bytes(256, "big") + int(base).to_bytes(512, "big")
    with pytest.raises(InvalidKey, match="Damgard-Jurik-Nielsen base"):
        PaillierPublicKey.from_bytes(data, 2048)


def test_weak_djn_base_direct(djn_keypair: Keys) -> None:
    # A key built without from_bytes must not reach RandomnessPool(djn=True) either.
    public, _ = djn_keypair
    with pytest.raises(InvalidKey, match="1 or -1 modulo n"):
        PaillierPublicKey(public.n, mpz(1))


def test_djn_base_roundtrip(djn_keypair: Keys) -> None:
    public, private = djn_keypair
    loaded = PaillierPublicKey.from_bytes(public.to_bytes(), 2048)
    vector = he.encrypt_vector(loaded, [7, -3, 11], pool=he.RandomnessPool(loaded, djn=True))
    assert he.decrypt_vector(private, vector) == [7, -3, 11]


# Decryption with the private key of another key pair.


def test_wrong_key_message(keypair: Keys) -> None:
    public, _ = keypair
    _, other = he.generate_keypair(2048)
    with pytest.raises(HomomorphicError) as caught:
        other.decrypt(public.encrypt(5))
    message = str(caught.value)
    assert public.key_id in message
    assert other.public_key.key_id in message
    assert "combined" not in message
    assert public.key_id in str(caught.value.fix)


def test_wrong_key_vector_message(keypair: Keys) -> None:
    public, _ = keypair
    _, other = he.generate_keypair(2048)
    vector = he.encrypt_vector(public, [1, 2])
    with pytest.raises(HomomorphicError, match=f"encrypted under key {public.key_id}"):
        he.decrypt_vector(other, vector)


# The command line.


def _encrypt_file(workspace: Path, name: str) -> Path:
    source = workspace / f"{name}.csv"
    source.write_text("1,2\n3\n")
    output = workspace / f"{name}.he"
    result = agile(
        "he", "encrypt", "--keyset", "agg", "--policy", "legacy", str(source), "-o", str(output)
    )
    assert result.returncode == 0, result.stderr
    return output


def test_cli_import_prime_key(workspace: Path) -> None:
    key_file = workspace / "prime.pub"
    key_file.write_bytes(int(_prime_modulus(2048)).to_bytes(256, "big"))
    result = agile(
        "keyset", "import", "prime", str(key_file), "--public", "--purpose", "homomorphic",
        "--algorithm", "paillier-2048",
    )  # fmt: skip
    assert result.returncode == 2
    assert "is not an odd product of two primes" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_decrypt_json_output(workspace: Path) -> None:
    encrypted = _encrypt_file(workspace, "json-out")
    output = workspace / "json-out.json"
    result = agile(
        "he", "decrypt", "--keyset", "agg", "--policy", "legacy", "--json", str(encrypted),
        "-o", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(output.read_text())["rows"] == [["1", "2"], ["3"]]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_cli_tampered_spare_slot(workspace: Path) -> None:
    encrypted = _encrypt_file(workspace, "spare")
    document = json.loads(encrypted.read_text())
    document["ciphertexts"] = ["1"]
    tampered = workspace / "spare-tampered.he"
    tampered.write_text(json.dumps(document))
    result = agile("he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(tampered))
    assert result.returncode == 2
    assert f"{tampered}: a spare slot" in result.stderr


def test_cli_tampered_slot_value(workspace: Path) -> None:
    encrypted = _encrypt_file(workspace, "slot")
    document = json.loads(encrypted.read_text())
    key = PaillierPublicKey(mpz(int(document["n"], 16)))
    # Slot 0 all ones: more than one 64-bit value can reach.
    slot_bits = document["scheme"]["value_bits"] + document["scheme"]["max_additions"].bit_length()
    document["ciphertexts"] = [format(int(key.raw_encrypt((1 << slot_bits) - 1)), "x")]
    tampered = workspace / "slot-tampered.he"
    tampered.write_text(json.dumps(document))
    result = agile("he", "decrypt", "--keyset", "agg", "--policy", "legacy", str(tampered))
    assert result.returncode == 2
    assert f"{tampered}: slot 0 contains" in result.stderr
