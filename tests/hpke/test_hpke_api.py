"""HPKE behaviour beyond the vectors: round trips, tampering, mode arguments, limits."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from agile import hpke, registry
from agile.errors import (
    AuthenticationFailed,
    InvalidArgument,
    InvalidCiphertext,
    InvalidKey,
    MessageLimitReached,
    UnsupportedAlgorithm,
    UnsupportedOperation,
)
from agile.registry import Family

HPKE_KEMS = [d.id for d in registry.descriptors(Family.KEM) if d.hpke_kem_id is not None]
DHKEMS = ["x25519", "p256", "p384"]
PSK = bytes(range(32))
PSK_ID = b"psk id 1"
MESSAGE = b"attack at dawn" * 73


def _kem_provider_cases() -> list[Any]:
    cases: list[Any] = []
    for kem in HPKE_KEMS:
        providers = registry.providers_for(kem)
        if not providers:
            reason = f"no provider for {kem} is installed"
            cases.append(pytest.param(kem, None, id=kem, marks=pytest.mark.skip(reason=reason)))
        cases += [pytest.param(kem, provider, id=f"{kem}-{provider}") for provider in providers]
    return cases


@pytest.fixture(scope="module")
def x25519_suite() -> hpke.Suite:
    return hpke.Suite.from_ids("x25519", "hkdf-sha256", "aes-128-gcm")


@pytest.fixture(scope="module")
def recipient(x25519_suite: hpke.Suite) -> registry.PrivateKey:
    return x25519_suite.kem_impl.generate()


@pytest.fixture(scope="module")
def sender(x25519_suite: hpke.Suite) -> registry.PrivateKey:
    return x25519_suite.kem_impl.generate()


@pytest.fixture
def sealed(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> tuple[bytes, bytes]:
    return hpke.seal(x25519_suite, recipient.public_key, MESSAGE, b"info", b"aad")


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# Round trips.


@pytest.mark.parametrize(("kem", "provider"), _kem_provider_cases())
def test_roundtrip_every_kem(kem: str, provider: str) -> None:
    suite = hpke.Suite.from_ids(kem, "hkdf-sha256", "aes-256-gcm", provider)
    private_key = suite.kem_impl.generate()

    enc, ciphertext = hpke.seal(suite, private_key.public_key, MESSAGE, b"info", b"aad")
    plaintext = hpke.open(suite, enc, private_key, ciphertext, b"info", b"aad")

    assert len(enc) == suite.n_enc
    assert len(ciphertext) == len(MESSAGE) + suite.n_t
    assert plaintext == MESSAGE


@pytest.mark.parametrize("aead", ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"])
@pytest.mark.parametrize("kdf", ["hkdf-sha256", "hkdf-sha384", "hkdf-sha512"])
def test_roundtrip_every_kdf_aead(kdf: str, aead: str) -> None:
    suite = hpke.Suite.from_ids("ml-kem-768", kdf, aead)
    private_key = suite.kem_impl.generate()

    enc, ciphertext = hpke.seal(suite, private_key.public_key, MESSAGE)

    assert hpke.open(suite, enc, private_key, ciphertext) == MESSAGE


@pytest.mark.parametrize("mode", list(hpke.Mode))
@pytest.mark.parametrize("kem", DHKEMS)
def test_roundtrip_every_mode(kem: str, mode: hpke.Mode) -> None:
    suite = hpke.Suite.from_ids(kem, "hkdf-sha256", "chacha20-poly1305")
    recipient_key = suite.kem_impl.generate()
    sender_key = suite.kem_impl.generate() if mode.authenticates_sender else None
    psk_args = {"psk": PSK, "psk_id": PSK_ID} if mode.uses_psk else {}

    enc, sender_context = hpke.setup_sender(
        suite, recipient_key.public_key, b"info", mode, sender_key=sender_key, **psk_args
    )
    recipient_context = hpke.setup_recipient(
        suite,
        enc,
        recipient_key,
        b"info",
        mode,
        sender_public=sender_key.public_key if sender_key else None,
        **psk_args,
    )

    for number in range(3):
        ciphertext = sender_context.seal(MESSAGE + bytes([number]), b"aad")
        assert recipient_context.open(ciphertext, b"aad") == MESSAGE + bytes([number])
    assert sender_context.export(b"ctx", 42) == recipient_context.export(b"ctx", 42)


def test_export_roundtrip(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    enc, secret = hpke.send_export(x25519_suite, recipient.public_key, b"label", 64, b"info")

    received = hpke.receive_export(x25519_suite, enc, recipient, b"label", 64, b"info")

    assert len(secret) == 64
    assert received == secret


def test_roundtrip_foreign_public_key() -> None:
    # A key parsed by one provider works in a suite that uses another provider.
    providers = registry.providers_for("ml-kem-768")
    if len(providers) < 2:
        pytest.skip("only one ml-kem-768 provider is installed")
    owner = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm", providers[0])
    other = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm", providers[1])
    private_key = owner.kem_impl.generate()

    enc, ciphertext = hpke.seal(other, private_key.public_key, MESSAGE)

    assert hpke.open(owner, enc, private_key, ciphertext) == MESSAGE


# Tampering and wrong keys.


def test_open_tampered_enc(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    enc, ciphertext = sealed
    with pytest.raises(AuthenticationFailed):
        hpke.open(x25519_suite, _flip(enc, 5), recipient, ciphertext, b"info", b"aad")


def test_open_tampered_enc_mlkem() -> None:
    # ML-KEM's implicit rejection turns a tampered enc into a wrong key, caught by the tag.
    suite = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm")
    private_key = suite.kem_impl.generate()
    enc, ciphertext = hpke.seal(suite, private_key.public_key, MESSAGE)

    with pytest.raises(AuthenticationFailed):
        hpke.open(suite, _flip(enc, 100), private_key, ciphertext)


@pytest.mark.parametrize("index", [0, len(MESSAGE) - 1, len(MESSAGE), len(MESSAGE) + 15])
def test_open_tampered_ciphertext(
    x25519_suite: hpke.Suite,
    recipient: registry.PrivateKey,
    sealed: tuple[bytes, bytes],
    index: int,
) -> None:
    enc, ciphertext = sealed
    with pytest.raises(AuthenticationFailed):
        hpke.open(x25519_suite, enc, recipient, _flip(ciphertext, index), b"info", b"aad")


def test_open_truncated_ciphertext(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    enc, _ = sealed
    with pytest.raises(InvalidCiphertext):
        hpke.open(x25519_suite, enc, recipient, b"short", b"info", b"aad")


def test_open_wrong_aad(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    enc, ciphertext = sealed
    with pytest.raises(AuthenticationFailed):
        hpke.open(x25519_suite, enc, recipient, ciphertext, b"info", b"aaD")


def test_open_wrong_info(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    enc, ciphertext = sealed
    with pytest.raises(AuthenticationFailed):
        hpke.open(x25519_suite, enc, recipient, ciphertext, b"infO", b"aad")


def test_open_wrong_key(x25519_suite: hpke.Suite, sealed: tuple[bytes, bytes]) -> None:
    enc, ciphertext = sealed
    other = x25519_suite.kem_impl.generate()
    with pytest.raises(AuthenticationFailed, match="HPKE open failed for message 0"):
        hpke.open(x25519_suite, enc, other, ciphertext, b"info", b"aad")


def test_open_wrong_key_mlkem() -> None:
    suite = hpke.Suite.from_ids("ml-kem-1024", "hkdf-sha384", "aes-256-gcm")
    private_key = suite.kem_impl.generate()
    enc, ciphertext = hpke.seal(suite, private_key.public_key, MESSAGE)
    with pytest.raises(AuthenticationFailed):
        hpke.open(suite, enc, suite.kem_impl.generate(), ciphertext)


def test_open_wrong_psk(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    enc, ciphertext = hpke.seal(
        x25519_suite, recipient.public_key, MESSAGE, mode=hpke.Mode.PSK, psk=PSK, psk_id=PSK_ID
    )
    with pytest.raises(AuthenticationFailed):
        hpke.open(
            x25519_suite,
            enc,
            recipient,
            ciphertext,
            mode=hpke.Mode.PSK,
            psk=PSK[::-1],
            psk_id=PSK_ID,
        )


def test_open_wrong_psk_id(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    enc, ciphertext = hpke.seal(
        x25519_suite, recipient.public_key, MESSAGE, mode=hpke.Mode.PSK, psk=PSK, psk_id=PSK_ID
    )
    with pytest.raises(AuthenticationFailed):
        hpke.open(
            x25519_suite, enc, recipient, ciphertext, mode=hpke.Mode.PSK, psk=PSK, psk_id=b"other"
        )


def test_open_wrong_sender(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sender: registry.PrivateKey
) -> None:
    enc, ciphertext = hpke.seal(
        x25519_suite, recipient.public_key, MESSAGE, mode=hpke.Mode.AUTH, sender_key=sender
    )
    impostor = x25519_suite.kem_impl.generate().public_key
    with pytest.raises(AuthenticationFailed):
        hpke.open(
            x25519_suite, enc, recipient, ciphertext, mode=hpke.Mode.AUTH, sender_public=impostor
        )


def test_open_wrong_mode(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sender: registry.PrivateKey
) -> None:
    enc, ciphertext = hpke.seal(
        x25519_suite, recipient.public_key, MESSAGE, mode=hpke.Mode.AUTH, sender_key=sender
    )
    with pytest.raises(AuthenticationFailed):
        hpke.open(x25519_suite, enc, recipient, ciphertext)


def test_open_out_of_order(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    enc, sender_context = hpke.setup_sender(x25519_suite, recipient.public_key)
    recipient_context = hpke.setup_recipient(x25519_suite, enc, recipient)
    sender_context.seal(b"first")
    second = sender_context.seal(b"second")

    with pytest.raises(AuthenticationFailed):
        recipient_context.open(second)


def test_open_failure_keeps_sequence(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey
) -> None:
    # RFC 9180 §5.2: a failed open does not advance the sequence number.
    enc, sender_context = hpke.setup_sender(x25519_suite, recipient.public_key)
    recipient_context = hpke.setup_recipient(x25519_suite, enc, recipient)
    ciphertext = sender_context.seal(b"first")
    with pytest.raises(AuthenticationFailed):
        recipient_context.open(_flip(ciphertext, 0))

    assert recipient_context.sequence_number == 0
    assert recipient_context.open(ciphertext) == b"first"


@pytest.mark.parametrize(
    ("kem", "provider"), [c for c in _kem_provider_cases() if c.values[0] in DHKEMS]
)
def test_open_invalid_enc(kem: str, provider: str) -> None:
    # An all-zero enc is a low-order X25519 point or not a P-256/P-384 point at all.
    suite = hpke.Suite.from_ids(kem, "hkdf-sha256", "aes-128-gcm", provider)
    private_key = suite.kem_impl.generate()
    with pytest.raises(InvalidCiphertext):
        hpke.setup_recipient(suite, bytes(suite.n_enc), private_key)


def test_key_schedule_unknown_role(x25519_suite: hpke.Suite) -> None:
    with pytest.raises(InvalidArgument, match="role 'observer'"):
        hpke.key_schedule(x25519_suite, hpke.Mode.BASE, bytes(32), role="observer")


def test_open_wrong_enc_length(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidCiphertext, match="33 bytes"):
        hpke.setup_recipient(x25519_suite, bytes(33), recipient)


# Mode arguments and keys.


def test_base_mode_with_psk(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="takes no PSK"):
        hpke.setup_sender(x25519_suite, recipient.public_key, psk=PSK, psk_id=PSK_ID)


def test_psk_mode_without_psk(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="requires psk"):
        hpke.setup_sender(x25519_suite, recipient.public_key, mode=hpke.Mode.PSK)


def test_psk_without_psk_id(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="psk_id is missing"):
        hpke.setup_sender(x25519_suite, recipient.public_key, mode=hpke.Mode.PSK, psk=PSK)


def test_psk_id_without_psk(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="psk is missing"):
        hpke.setup_sender(x25519_suite, recipient.public_key, mode=hpke.Mode.PSK, psk_id=PSK_ID)


def test_psk_too_short(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="31 bytes"):
        hpke.setup_sender(
            x25519_suite, recipient.public_key, mode=hpke.Mode.PSK, psk=PSK[:31], psk_id=PSK_ID
        )


def test_psk_checked_by_recipient(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    enc, _ = sealed
    with pytest.raises(InvalidArgument, match="requires psk"):
        hpke.setup_recipient(
            x25519_suite,
            enc,
            recipient,
            mode=hpke.Mode.AUTH_PSK,
            sender_public=recipient.public_key,
        )


def test_auth_without_sender_key(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="requires sender_key"):
        hpke.setup_sender(x25519_suite, recipient.public_key, mode=hpke.Mode.AUTH)


def test_base_with_sender_key(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sender: registry.PrivateKey
) -> None:
    with pytest.raises(InvalidArgument, match="does not authenticate"):
        hpke.setup_sender(x25519_suite, recipient.public_key, sender_key=sender)


def test_auth_without_sender_public(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    enc, _ = sealed
    with pytest.raises(InvalidArgument, match="requires sender_public"):
        hpke.setup_recipient(x25519_suite, enc, recipient, mode=hpke.Mode.AUTH)


def test_unknown_mode(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="unknown HPKE mode 7"):
        hpke.setup_sender(x25519_suite, recipient.public_key, mode=7)


def test_auth_mode_mlkem() -> None:
    suite = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm")
    recipient_key = suite.kem_impl.generate()
    sender_key = suite.kem_impl.generate()
    with pytest.raises(UnsupportedOperation):
        hpke.setup_sender(
            suite, recipient_key.public_key, mode=hpke.Mode.AUTH, sender_key=sender_key
        )


def test_key_of_other_kem(x25519_suite: hpke.Suite) -> None:
    other = registry.kem("p256").generate()
    with pytest.raises(InvalidKey, match="p256 key"):
        hpke.setup_sender(x25519_suite, other.public_key)


def test_private_key_as_public(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidKey, match="PublicKey"):
        hpke.setup_sender(x25519_suite, recipient)  # type: ignore[arg-type]


def test_info_not_bytes(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    with pytest.raises(InvalidArgument, match="info must be bytes"):
        hpke.setup_sender(x25519_suite, recipient.public_key, "info")  # type: ignore[arg-type]


def test_seal_plaintext_not_bytes(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    _, context = hpke.setup_sender(x25519_suite, recipient.public_key)
    with pytest.raises(InvalidArgument, match="plaintext must be bytes"):
        context.seal("text")  # type: ignore[arg-type]


def test_open_ciphertext_not_bytes(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    context = hpke.setup_recipient(x25519_suite, sealed[0], recipient, b"info")
    with pytest.raises(InvalidArgument, match="ciphertext must be bytes"):
        context.open(None)  # type: ignore[arg-type]


# Contexts: roles, export-only, export lengths, sequence numbers.


def test_recipient_cannot_seal(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, sealed: tuple[bytes, bytes]
) -> None:
    context = hpke.setup_recipient(x25519_suite, sealed[0], recipient, b"info")
    with pytest.raises(UnsupportedOperation, match="recipient"):
        context.seal(b"reply")


def test_sender_cannot_open(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    _, context = hpke.setup_sender(x25519_suite, recipient.public_key)
    ciphertext = context.seal(b"message")
    with pytest.raises(UnsupportedOperation, match="sender"):
        context.open(ciphertext)


@pytest.fixture(scope="module")
def export_only() -> hpke.Suite:
    return hpke.Suite.from_ids("x25519", "hkdf-sha256", hpke.EXPORT_ONLY)


def test_export_only_ids(export_only: hpke.Suite) -> None:
    assert export_only.aead_id == 0xFFFF
    assert export_only.aead == hpke.EXPORT_ONLY
    assert export_only.suite_id == b"HPKE\x00\x20\x00\x01\xff\xff"


def test_export_only_seal(export_only: hpke.Suite, recipient: registry.PrivateKey) -> None:
    _, context = hpke.setup_sender(export_only, recipient.public_key)
    with pytest.raises(UnsupportedOperation, match="export-only"):
        context.seal(b"message")


def test_export_only_open(export_only: hpke.Suite, recipient: registry.PrivateKey) -> None:
    enc, _ = hpke.setup_sender(export_only, recipient.public_key)
    context = hpke.setup_recipient(export_only, enc, recipient)
    with pytest.raises(UnsupportedOperation, match="export-only"):
        context.open(bytes(32))


def test_export_only_export(export_only: hpke.Suite, recipient: registry.PrivateKey) -> None:
    enc, sender_context = hpke.setup_sender(export_only, recipient.public_key)
    recipient_context = hpke.setup_recipient(export_only, enc, recipient)

    assert sender_context.key == b""
    assert sender_context.export(b"x", 32) == recipient_context.export(b"x", 32)


def test_export_only_from_codepoints() -> None:
    suite = hpke.Suite.from_codepoints(0x0020, 0x0001, 0xFFFF)
    assert suite.aead_impl is None


@pytest.mark.parametrize("length", [0, -1, 255 * 32 + 1])
def test_export_length_out_of_range(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey, length: int
) -> None:
    _, context = hpke.setup_sender(x25519_suite, recipient.public_key)
    with pytest.raises(InvalidArgument, match="export length"):
        context.export(b"", length)


def test_export_max_length(x25519_suite: hpke.Suite, recipient: registry.PrivateKey) -> None:
    _, context = hpke.setup_sender(x25519_suite, recipient.public_key)
    assert len(context.export(b"", 255 * 32)) == 255 * 32


def test_last_nonce_is_base_xor_seq(x25519_suite: hpke.Suite) -> None:
    # Seal at the highest usable sequence number and check the nonce with a direct AEAD call.
    context = hpke.key_schedule(x25519_suite, hpke.Mode.BASE, bytes(32))
    seq = (1 << 96) - 2
    context._seq = seq
    ciphertext = context.seal(b"last", b"aad")

    nonce = bytes(a ^ b for a, b in zip(context.base_nonce, seq.to_bytes(12, "big"), strict=True))
    expected = registry.aead("aes-128-gcm").encrypt(context.key, nonce, b"last", b"aad")
    assert ciphertext == expected


def test_seal_message_limit(x25519_suite: hpke.Suite) -> None:
    context = hpke.key_schedule(x25519_suite, hpke.Mode.BASE, bytes(32))
    context._seq = (1 << 96) - 2
    context.seal(b"last")
    with pytest.raises(MessageLimitReached):
        context.seal(b"one too many")


def test_open_message_limit(x25519_suite: hpke.Suite) -> None:
    sender_context = hpke.key_schedule(x25519_suite, hpke.Mode.BASE, bytes(32))
    recipient_context = hpke.key_schedule(
        x25519_suite, hpke.Mode.BASE, bytes(32), role=hpke.Role.RECIPIENT
    )
    recipient_context._seq = (1 << 96) - 1
    with pytest.raises(MessageLimitReached):
        recipient_context.open(sender_context.seal(b"message"))


def test_message_limit_keeps_sequence(x25519_suite: hpke.Suite) -> None:
    context = hpke.key_schedule(x25519_suite, hpke.Mode.BASE, bytes(32))
    context._seq = (1 << 96) - 1
    with pytest.raises(MessageLimitReached):
        context.seal(b"message")
    assert context.sequence_number == (1 << 96) - 1


def test_concurrent_seal_unique_nonces(
    x25519_suite: hpke.Suite, recipient: registry.PrivateKey
) -> None:
    # A tiny switch interval makes threads interleave inside seal(), where a missing lock
    # would hand one sequence number to two messages.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    _, context = hpke.setup_sender(x25519_suite, recipient.public_key)
    ciphertexts: list[bytes] = []

    def seal_many() -> None:
        for _ in range(500):
            ciphertexts.append(context.seal(MESSAGE))

    threads = [threading.Thread(target=seal_many) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)

    assert context.sequence_number == 2000
    assert len(set(ciphertexts)) == 2000


# Suites.


def test_from_ids_provider() -> None:
    suite = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm", "reference")
    assert suite.kem_impl.provider == "reference"


def test_from_ids_sizes() -> None:
    suite = hpke.Suite.from_ids("p384", "hkdf-sha384", "aes-256-gcm")
    assert (suite.kem_id, suite.kdf_id, suite.aead_id) == (0x0011, 0x0002, 0x0002)
    assert (suite.n_enc, suite.n_pk, suite.n_secret) == (97, 97, 48)
    assert (suite.n_h, suite.n_k, suite.n_n, suite.n_t) == (48, 32, 12, 16)


def test_from_codepoints_equals_from_ids() -> None:
    by_ids = hpke.Suite.from_ids("x-wing", "hkdf-sha256", "chacha20-poly1305")
    assert hpke.Suite.from_codepoints(0x647A, 0x0001, 0x0003) == by_ids


@pytest.mark.parametrize(
    ("codepoints", "named"),
    [
        ((0x0012, 0x0003, 0x0002), "0x0012 (DHKEM(P-521, HKDF-SHA512))"),
        ((0x0021, 0x0003, 0x0002), "0x0021 (DHKEM(X448, HKDF-SHA512))"),
        ((0x0050, 0x0001, 0x0001), "0x0050 (MLKEM768-P256)"),
        ((0x0020, 0x0010, 0x0001), "0x0010 (SHAKE128)"),
        ((0x0020, 0x0013, 0x0001), "0x0013 (TurboSHAKE256)"),
        ((0x0020, 0x0001, 0x0004), "0x0004 (unassigned)"),
    ],
)
def test_from_codepoints_unsupported(codepoints: tuple[int, int, int], named: str) -> None:
    with pytest.raises(UnsupportedAlgorithm, match=named.replace("(", r"\(").replace(")", r"\)")):
        hpke.Suite.from_codepoints(*codepoints)


@pytest.mark.parametrize(
    ("kem", "kdf", "aead"),
    [
        ("rsa-oaep-2048", "hkdf-sha256", "aes-128-gcm"),
        ("x25519", "hkdf-sha256", "xchacha20-poly1305"),
        ("x25519", "hkdf-sha256", "aes-256-gcm-siv"),
        ("x25519", "argon2id", "aes-128-gcm"),
        ("x25519", "hkdf-sha256", "ed25519"),
    ],
)
def test_from_ids_without_codepoint(kem: str, kdf: str, aead: str) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        hpke.Suite.from_ids(kem, kdf, aead)


def test_from_codepoints_not_int() -> None:
    with pytest.raises(InvalidArgument, match="must be an integer"):
        hpke.Suite.from_codepoints("0x0020", 1, 1)  # type: ignore[arg-type]


# DeriveKeyPair.


def test_derive_key_pair_deterministic() -> None:
    suite = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm")
    first = hpke.derive_key_pair(suite, bytes(range(64)))
    second = hpke.derive_key_pair(suite, bytes(range(64)))
    assert first.public_key.data == second.public_key.data


def test_derive_key_pair_short_ikm() -> None:
    suite = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm")
    with pytest.raises(InvalidArgument, match="31 bytes"):
        hpke.derive_key_pair(suite, bytes(31))


def test_derive_key_pair_without_seeds() -> None:
    if "pqcrypto" not in registry.providers_for("ml-kem-768"):
        pytest.skip("pqcrypto is not installed")
    suite = hpke.Suite.from_ids("ml-kem-768", "hkdf-sha256", "aes-128-gcm", "pqcrypto")
    with pytest.raises(UnsupportedOperation, match="seed"):
        hpke.derive_key_pair(suite, bytes(64))
