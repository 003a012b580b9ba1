"""CLI paths that would lose data or confuse: -o naming the input, a folder as input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def keysets(run, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Create a kem keyset 'box' and a signature keyset 'ed'; return a message file."""
    for args in (
        ("box", "--purpose", "kem", "--algorithm", "x25519"),
        ("ed", "--purpose", "signature", "--algorithm", "ed25519"),
    ):
        created = run("keyset", "create", *args)
        assert created.returncode == 0, created.stderr
    message = tmp_path / "msg.txt"
    message.write_bytes(b"secret\n")
    return message


def test_decrypt_onto_input(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("encrypt", "--to", "box", "-o", "msg.agile", "msg.txt").returncode == 0
    sealed = (tmp_path / "msg.agile").read_bytes()

    result = run("decrypt", "-o", "./msg.agile", "msg.agile")

    assert result.returncode == 2
    assert b"output './msg.agile' is the input file 'msg.agile'" in result.stderr
    assert (tmp_path / "msg.agile").read_bytes() == sealed


def test_encrypt_onto_input(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("encrypt", "--to", "box", "-o", "msg.txt", "msg.txt")

    assert result.returncode == 2
    assert keysets.read_bytes() == b"secret\n"


def test_sign_onto_input(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("sign", "--keyset", "ed", "msg.txt", "-o", "msg.txt")

    assert result.returncode == 2
    assert keysets.read_bytes() == b"secret\n"


def test_sign_onto_hard_link(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    os.link(keysets, tmp_path / "link.txt")

    result = run("sign", "--keyset", "ed", "msg.txt", "-o", "link.txt")

    assert result.returncode == 2
    assert b"is the input file" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["encrypt", "--to", "box", "folder"],
        ["decrypt", "folder"],
        ["inspect", "folder"],
        ["sign", "--keyset", "ed", "folder", "-o", "folder.sig"],
    ],
    ids=["encrypt", "decrypt", "inspect", "sign"],
)
def test_folder_input(run, keysets: Path, tmp_path: Path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "folder").mkdir()

    result = run(*args)

    assert result.returncode == 2
    assert b"input 'folder' is a directory (pass a file or - for standard input" in result.stderr


def test_sign_same_keyset_twice(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    signed = run("sign", "--keyset", "ed", "--keyset", "ed", "msg.txt", "-o", "msg.sig")
    listing = run("inspect", "msg.sig")

    assert signed.returncode == 0, signed.stderr
    assert listing.stdout.count(b"signature: ") == 1


def test_missing_input(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("decrypt", "absent.agile")

    assert result.returncode == 2
    assert b"input 'absent.agile' does not exist (check the path" in result.stderr


def test_backup_missing_folder(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("keystore", "backup", "absent/backup.json")

    assert result.returncode == 2
    assert b"the folder of output 'absent/backup.json' does not exist" in result.stderr


def test_backup_to_folder(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "folder").mkdir()

    result = run("keystore", "backup", "folder")

    assert result.returncode == 2
    assert b"output 'folder' is a directory (pass a file path as FILE)" in result.stderr


def test_import_purpose_mismatch(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--purpose on an existing keyset of another purpose is a wrong NAME, not a hint to drop."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    (tmp_path / "ed.pem").write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    result = run("keyset", "import", "ed", "ed.pem", "--purpose", "kem")
    listing = run("keyset", "show", "ed", "--json")

    assert result.returncode == 2
    assert b"keyset 'ed' exists with purpose signature, not kem" in result.stderr
    assert listing.stdout.count(b'"id"') == 1


def test_armour_after_long_whitespace(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sealed = run("encrypt", "--to", "box", "--armor", "-o", "msg.asc", "msg.txt")
    padded = tmp_path / "padded.asc"
    padded.write_bytes(b"\n" * 200 + (tmp_path / "msg.asc").read_bytes())

    opened = run("decrypt", "padded.asc")

    assert sealed.returncode == 0, sealed.stderr
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == b"secret\n"


def test_add_key_keeps_algorithm(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    """'default' prefers x25519, but a new key of an x-wing keyset stays x-wing."""
    created = run("keyset", "create", "pq", "--purpose", "kem", "--algorithm", "x-wing")
    added = run("keyset", "add-key", "pq", "--promote")
    listing = run("keyset", "show", "pq", "--json")

    assert created.returncode == 0, created.stderr
    assert added.returncode == 0, added.stderr
    assert b"x25519" not in listing.stdout


def test_add_key_policy_fallback(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    """When the policy no longer allows new keys of the primary's algorithm, it chooses."""
    added = run("keyset", "add-key", "box", "--policy", "pq-only")
    listing = run("keyset", "show", "box", "--json")

    assert added.returncode == 0, added.stderr
    assert b"ml-kem-1024" in listing.stdout


def test_decrypt_into_symlink(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """-o through a symbolic link writes the file it names and keeps the link."""
    assert run("encrypt", "--to", "box", "-o", "msg.agile", "msg.txt").returncode == 0
    (tmp_path / "real.txt").write_bytes(b"old")
    (tmp_path / "link.txt").symlink_to("real.txt")

    result = run("decrypt", "-o", "link.txt", "msg.agile")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_bytes() == b"secret\n"


def test_decrypt_into_fifo(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A named pipe (like /dev/null, a device) is written to, not replaced by a file."""
    import stat
    import threading

    assert run("encrypt", "--to", "box", "-o", "msg.agile", "msg.txt").returncode == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()

    result = run("decrypt", "-o", "pipe", "msg.agile")
    reader.join(timeout=60)

    assert result.returncode == 0, result.stderr
    assert received == [b"secret\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_export_public_to_fifo(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()

    result = run("keyset", "export-public", "box", "-o", "pipe")
    reader.join(timeout=60)

    assert result.returncode == 0, result.stderr
    assert b"-----BEGIN PUBLIC KEY-----" in received[0]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_import_oversized_file(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "big.key").write_bytes(b"\0" * (1024 * 1024 + 1))

    result = run("keyset", "import", "big", "big.key", "--purpose", "kem")

    assert result.returncode == 2
    assert b"key file 'big.key' is larger than 1024 KiB" in result.stderr


def test_verify_oversized_signature(run, keysets: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "big.sig").write_bytes(b"\0" * (2 * 1024 * 1024))

    result = run("verify", "--signature", "big.sig", "msg.txt")

    assert result.returncode == 2
    assert b"signature file 'big.sig' is larger than any signature envelope" in result.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_output_folder(run, keysets: Path) -> None:  # type: ignore[no-untyped-def]
    """/proc takes no new files, even for root; the error names -o, not the temporary file."""
    assert run("encrypt", "--to", "box", "-o", "msg.agile", "msg.txt").returncode == 0

    result = run("decrypt", "-o", "/proc/agile-out.txt", "msg.agile")

    assert result.returncode == 2
    assert b"cannot create output '/proc/agile-out.txt'" in result.stderr
