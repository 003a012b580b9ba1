"""Write the golden vectors of envelope format v1 (run once; they must never change).

Usage: python vectors/golden/make_v1.py [--force]

The keystore under ``v1/keystore`` is sealed with the passphrase in
``v1/manifest.json`` and cheap Argon2id parameters (1 MiB, 1 pass), because
it protects only these public test keys.  ``tests/envelope/test_golden.py``
decrypts and verifies every vector, so a change of the format or of a provider
that breaks old envelopes fails the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "v1"
PASSPHRASE = "agile golden vectors (public test keys)"


def main() -> None:
    if HERE.exists():
        if "--force" not in sys.argv:
            sys.exit(f"{HERE} exists; golden vectors must not change (pass --force to rewrite)")
        shutil.rmtree(HERE)
    os.environ.update(
        AGILE_PASSPHRASE=PASSPHRASE, AGILE_ARGON2_MEMORY_KIB="1024", AGILE_ARGON2_ITERATIONS="1"
    )
    from agile import envelope
    from agile.keys import Keystore

    store = Keystore.open(HERE / "keystore")
    vectors: list[dict[str, object]] = []

    def add(name: str, data: bytes, plaintext: bytes, **facts: object) -> None:
        (HERE / f"{name}.agile").write_bytes(data)
        (HERE / f"{name}.plaintext").write_bytes(plaintext)
        vectors.append(
            {"name": name, "envelope": f"{name}.agile", "plaintext": f"{name}.plaintext", **facts}
        )

    message = b"The quick brown fox jumps over the lazy dog.\n"
    kems = ["x25519", "p256", "p384", "ml-kem-768", "ml-kem-1024", "x-wing", "rsa-oaep-3072"]
    for algorithm in kems:
        keyset = store.create_keyset(f"kem-{algorithm}", "kem", algorithm)
        add(f"to-{algorithm}", envelope.encrypt(message, keyset), message, kind="encrypted")
    legacy = store.create_keyset("kem-rsa-oaep-2048", "kem", "rsa-oaep-2048", policy="legacy")
    add(
        "to-rsa-oaep-2048",
        envelope.encrypt(message, legacy, policy="legacy"),
        message,
        kind="encrypted",
        policy="legacy",
    )
    symmetric = store.create_keyset("aead-aes-256-gcm", "aead", "aes-256-gcm")
    add("to-aead", envelope.encrypt(message, symmetric), message, kind="encrypted")

    several = [store.keyset("kem-x-wing"), store.keyset("kem-x25519"), symmetric]
    add("three-recipients", envelope.encrypt(message, several), message, kind="encrypted")
    for payload in ["aes-128-gcm", "chacha20-poly1305", "xchacha20-poly1305", "aes-256-gcm-siv"]:
        sealed = envelope.encrypt(message, store.keyset("kem-x25519"), payload_algorithm=payload)
        add(f"payload-{payload}", sealed, message, kind="encrypted")

    long = bytes(i * 7 % 256 for i in range(5000))
    sealed = envelope.encrypt(long, store.keyset("kem-x-wing"), chunk_size=1024, aad=b"row 42")
    add("chunks-with-aad", sealed, long, kind="encrypted", aad="row 42")
    add("empty", envelope.encrypt(b"", store.keyset("kem-x25519")), b"", kind="encrypted")
    add(
        "armoured",
        envelope.encrypt(message, store.keyset("kem-x25519"), armor=True),
        message,
        kind="encrypted",
    )

    signers = [
        store.create_keyset("sig-ed25519", "signature", "ed25519"),
        store.create_keyset("sig-ml-dsa-65", "signature", "ml-dsa-65"),
    ]
    add("dual-signature", envelope.sign(message, signers), message, kind="signature")

    manifest = {
        "format_version": 1,
        "passphrase": PASSPHRASE,
        "keystore": "keystore",
        "vectors": vectors,
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (HERE / "keystore" / ".lock").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
