from __future__ import annotations

import io

import pytest

from agile import envelope
from agile.errors import (
    InvalidEnvelope,
    InvalidSignature,
    KeyNotFound,
    PolicyViolation,
    UnsupportedAlgorithm,
)
from agile.keys import Keystore


@pytest.fixture
def dual(store: Keystore) -> list:
    return [
        store.create_keyset("classic", "signature", "ed25519"),
        store.create_keyset("pq", "signature", "ml-dsa-65"),
    ]


def test_dual_sign_verify(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"release", dual)
    verified = envelope.verify(signature, b"release", store)
    assert [v.algorithm for v in verified] == ["ed25519", "ml-dsa-65"]


@pytest.mark.parametrize(
    "algorithm", ["ecdsa-p256-sha256", "ml-dsa-44", "ml-dsa-65-ed25519", "rsa-pss-3072-sha256"]
)
def test_sign_algorithms(store: Keystore, algorithm: str) -> None:
    keyset = store.create_keyset("s", "signature", algorithm)
    signature = envelope.sign(b"m", keyset)
    assert envelope.verify(signature, b"m", store)[0].key_id == keyset.primary.id


def test_stream_message(store: Keystore, dual: list) -> None:
    signature = envelope.sign(io.BytesIO(b"x" * 3_000_000), dual)
    assert len(envelope.verify(signature, io.BytesIO(b"x" * 3_000_000), store)) == 2


def test_modified_message(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"release", dual)
    with pytest.raises(InvalidSignature):
        envelope.verify(signature, b"releasE", store)


def test_every_bit_flip_rejected(store: Keystore) -> None:
    keyset = store.create_keyset("classic", "signature", "ed25519")
    signature = envelope.sign(b"m", keyset)
    accepted = []
    for bit in range(len(signature) * 8):
        damaged = bytearray(signature)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            envelope.verify(bytes(damaged), b"m", store)
        except (
            InvalidEnvelope,
            InvalidSignature,
            KeyNotFound,
            PolicyViolation,
            UnsupportedAlgorithm,
        ):
            continue
        except Exception as error:  # noqa: BLE001 - any other error class is a finding
            accepted.append((bit, type(error).__name__))
            continue
        accepted.append((bit, "verified"))
    assert accepted == []


def test_verify_only_counts_under_policy(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"m", dual)
    verified = envelope.verify(signature, b"m", store, policy="pq-hybrid")
    assert [v.algorithm for v in verified] == ["ed25519", "ml-dsa-65"]


def test_policy_rejects_every_signature(store: Keystore) -> None:
    keyset = store.create_keyset("classic", "signature", "ed25519")
    signature = envelope.sign(b"m", keyset)
    with pytest.raises(PolicyViolation):
        envelope.verify(signature, b"m", store, policy="pq-only")


def test_policy_ignores_disallowed_signature(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"m", dual)
    verified = envelope.verify(signature, b"m", store, policy="pq-only")
    assert [v.algorithm for v in verified] == ["ml-dsa-65"]


def test_policy_rejects_sign(store: Keystore) -> None:
    keyset = store.create_keyset("classic", "signature", "ed25519")
    with pytest.raises(PolicyViolation):
        envelope.sign(b"m", keyset, policy="pq-hybrid")


def test_add_and_remove_signature(store: Keystore, dual: list) -> None:
    classic, pq = dual
    signature = envelope.sign(b"m", classic)
    both = envelope.add_signatures(signature, b"m", pq)
    only_pq = envelope.remove_signatures(both, [classic.primary.id])
    assert [v.algorithm for v in envelope.verify(only_pq, b"m", store)] == ["ml-dsa-65"]


def test_unknown_signer(store: Keystore, tmp_path: object) -> None:
    from pathlib import Path

    signature = envelope.sign(b"m", store.create_keyset("s", "signature", "ed25519"))
    other = Keystore.open(Path(str(tmp_path)) / "other")
    with pytest.raises(KeyNotFound):
        envelope.verify(signature, b"m", other)


def test_armoured_signature(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"m", dual, armor=True)
    assert signature.startswith(b"-----BEGIN AGILE SIGNATURE-----")
    assert len(envelope.verify(signature, b"m", store)) == 2


def test_header_lists_signers(store: Keystore, dual: list) -> None:
    header = envelope.read_header(envelope.sign(b"m", dual))
    assert header.kind == "signature"
    assert [s.key_id for s in header.signatures] == [k.primary.id for k in dual]


def test_sign_aead_keyset_named(store: Keystore) -> None:
    from agile.errors import KeysetError

    keyset = store.create_keyset("secrets", "aead", "aes-256-gcm")
    with pytest.raises(KeysetError, match="'secrets' has purpose aead and cannot sign"):
        envelope.sign(b"m", keyset)
