"""Registry overhead: the same operation through agile.registry and through the raw provider.

Run: python bench/bench_registry.py [--rounds R]

Keys are parsed once before timing.  Each row times batches of calls, alternating
registry and raw batches so that both see the same machine state, and reports the
median time per call, the ratio registry/raw and the absolute overhead.
"""

from __future__ import annotations

import argparse
import hmac
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from agile import registry


def _per_call(function: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def compare(
    registry_call: Callable[[], object], raw_call: Callable[[], object], calls: int, rounds: int
) -> tuple[float, float, float, float]:
    """Time both calls in alternating batches; return medians of time, ratio and difference.

    The result is (registry s/call, raw s/call, registry/raw, registry - raw in s), where
    ratio and difference are medians over rounds of the paired batches, so that load
    from other processes that changes between rounds cancels out.  The batch order
    swaps every round.
    """
    registry_call()
    raw_call()
    registry_times, raw_times = [], []
    for index in range(rounds):
        if index % 2:
            raw_times.append(_per_call(raw_call, calls))
            registry_times.append(_per_call(registry_call, calls))
        else:
            registry_times.append(_per_call(registry_call, calls))
            raw_times.append(_per_call(raw_call, calls))
    ratios = [a / b for a, b in zip(registry_times, raw_times, strict=True)]
    differences = [a - b for a, b in zip(registry_times, raw_times, strict=True)]
    return (
        statistics.median(registry_times),
        statistics.median(raw_times),
        statistics.median(ratios),
        statistics.median(differences),
    )


def _raw_dhkem_x25519_decap(private: x25519.X25519PrivateKey, enc: bytes, pk_rm: bytes) -> bytes:
    """RFC 9180 DHKEM(X25519, HKDF-SHA256) Decap written directly against cryptography."""
    suite = b"HPKE-v1KEM\x00\x20"
    dh = private.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    prk = hmac.digest(b"", suite + b"eae_prk" + dh, "sha256")
    info = b"\x00\x20" + suite + b"shared_secret" + enc + pk_rm
    return HKDFExpand(hashes.SHA256(), 32, info).derive(prk)


def rows(rounds: int) -> list[tuple[str, float, float, float, float]]:
    """Measure every row; return (name, *compare(...)) for each."""
    results = []

    kem = registry.kem("ml-kem-768", "openssl")
    seed = os.urandom(64)
    private_key = kem.load_private(seed)
    public_key = private_key.public_key
    raw_private = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
    raw_public = raw_private.public_key()
    ciphertext, _ = kem.encapsulate(public_key)
    results.append(
        (
            "ML-KEM-768 encaps",
            *compare(lambda: kem.encapsulate(public_key), raw_public.encapsulate, 50, rounds),
        )
    )
    results.append(
        (
            "ML-KEM-768 decaps",
            *compare(
                lambda: kem.decapsulate(private_key, ciphertext),
                lambda: raw_private.decapsulate(ciphertext),
                50,
                rounds,
            ),
        )
    )

    scheme = registry.signature("ml-dsa-65", "openssl")
    dsa_seed = os.urandom(32)
    dsa_key = scheme.load_private(dsa_seed)
    raw_dsa = mldsa.MLDSA65PrivateKey.from_seed_bytes(dsa_seed)
    raw_dsa_public = raw_dsa.public_key()
    message = b"m" * 64
    signature = scheme.sign(dsa_key, message)
    results.append(
        (
            "ML-DSA-65 sign",
            *compare(
                lambda: scheme.sign(dsa_key, message), lambda: raw_dsa.sign(message), 5, rounds
            ),
        )
    )
    results.append(
        (
            "ML-DSA-65 verify",
            *compare(
                lambda: scheme.verify(dsa_key.public_key, message, signature),
                lambda: raw_dsa_public.verify(signature, message),
                20,
                rounds,
            ),
        )
    )

    dhkem = registry.kem("x25519", "openssl")
    x_seed = os.urandom(32)
    x_key = dhkem.load_private(x_seed)
    raw_x = x25519.X25519PrivateKey.from_private_bytes(x_seed)
    enc, shared_secret = dhkem.encapsulate(x_key.public_key)
    assert _raw_dhkem_x25519_decap(raw_x, enc, x_key.public_key.data) == shared_secret
    results.append(
        (
            "X25519 DHKEM decap",
            *compare(
                lambda: dhkem.decapsulate(x_key, enc),
                lambda: _raw_dhkem_x25519_decap(raw_x, enc, x_key.public_key.data),
                50,
                rounds,
            ),
        )
    )

    aead = registry.aead("aes-256-gcm", "openssl")
    key, nonce, plaintext = os.urandom(32), os.urandom(12), os.urandom(1024)
    context = aead.new(key)
    raw_aead = AESGCM(key)
    sealed = context.encrypt(nonce, plaintext, b"")
    results.append(
        (
            "AES-256-GCM encrypt 1 KiB",
            *compare(
                lambda: context.encrypt(nonce, plaintext, b""),
                lambda: raw_aead.encrypt(nonce, plaintext, b""),
                500,
                rounds,
            ),
        )
    )
    results.append(
        (
            "AES-256-GCM decrypt 1 KiB",
            *compare(
                lambda: context.decrypt(nonce, sealed, b""),
                lambda: raw_aead.decrypt(nonce, sealed, b""),
                500,
                rounds,
            ),
        )
    )

    # Key parsing happens once per key; it is listed apart from the per-call rows.
    public_bytes = public_key.data
    results.append(
        (
            "parse ML-KEM-768 public key",
            *compare(
                lambda: kem.load_public(public_bytes),
                lambda: mlkem.MLKEM768PublicKey.from_public_bytes(public_bytes),
                50,
                rounds,
            ),
        )
    )
    results.append(
        (
            "parse ML-KEM-768 seed",
            *compare(
                lambda: kem.load_private(seed),
                lambda: mlkem.MLKEM768PrivateKey.from_seed_bytes(seed),
                20,
                rounds,
            ),
        )
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=101, help="batches per row (default 101)")
    arguments = parser.parse_args(argv)

    print(f"{'operation':30} {'registry µs':>12} {'raw µs':>10} {'ratio':>7} {'overhead µs':>12}")
    for name, through_registry, raw, ratio, difference in rows(arguments.rounds):
        print(
            f"{name:30} {through_registry * 1e6:12.2f} {raw * 1e6:10.2f} "
            f"{ratio:7.3f} {difference * 1e6:12.2f}"
        )


if __name__ == "__main__":
    main()
