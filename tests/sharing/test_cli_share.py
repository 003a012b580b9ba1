"""``agile share split`` and ``combine`` end to end, including pyshamir interoperability."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pyshamir
import pytest

from cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        main(list(argv))
    except SystemExit as done:
        return int(done.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


def _vault_split(capsys: pytest.CaptureFixture[str], secret: Path, prefix: Path) -> None:
    """Split ``secret`` 2 of 2 in Vault's format into PREFIX-1 and PREFIX-2."""
    code, err = _run(
        capsys, "share", "split", "--format", "vault", "-t", "2", "-n", "2",
        str(secret), "-o", str(prefix),
    )  # fmt: skip
    assert code == 0, err


def _vault_combine(
    capsys: pytest.CaptureFixture[str], *shares: Path, output: Path
) -> tuple[int, str]:
    return _run(
        capsys, "share", "combine", "--format", "vault", *map(str, shares), "-o", str(output)
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.bin"
    path.write_bytes(b"\x00\x00" + os.urandom(30))
    return path


def test_vault_split_combines_in_pyshamir(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "v"
    code, _ = _run(
        capsys,
        "share",
        "split",
        "--format",
        "vault",
        "-t",
        "3",
        "-n",
        "5",
        str(secret_file),
        "-o",
        str(prefix),
    )
    assert code == 0
    parts = [bytearray.fromhex((tmp_path / f"v-{i}").read_text()) for i in (2, 4, 5)]
    assert bytes(pyshamir.combine(parts)) == secret_file.read_bytes()


def test_pyshamir_shares_combine(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for i, part in enumerate(pyshamir.split(secret_file.read_bytes(), 5, 3)[:3]):
        path = tmp_path / f"p{i}"
        path.write_text(part.hex() + "\n")
        paths.append(str(path))
    out = tmp_path / "out.bin"
    code, _ = _run(capsys, "share", "combine", "--format", "vault", *paths, "-o", str(out))
    assert code == 0
    assert out.read_bytes() == secret_file.read_bytes()


def test_agile_roundtrip_mode_0600(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "a"
    _run(capsys, "share", "split", "-t", "3", "-n", "5", str(secret_file), "-o", str(prefix))
    out = tmp_path / "out.bin"
    shares = [str(tmp_path / f"a-{i}") for i in (1, 3, 5)]
    code, _ = _run(capsys, "share", "combine", *shares, "-o", str(out))
    assert code == 0
    assert out.read_bytes() == secret_file.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a-1").stat().st_mode) == 0o600


def test_agile_two_of_three_errors(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "a"
    _run(capsys, "share", "split", "-t", "3", "-n", "5", str(secret_file), "-o", str(prefix))
    out = tmp_path / "out.bin"
    code, err = _run(
        capsys, "share", "combine", str(tmp_path / "a-1"), str(tmp_path / "a-2"), "-o", str(out)
    )
    assert code == 2
    assert "threshold is 3" in err
    assert not out.exists()


def test_tampered_file_names_source(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "a"
    _run(capsys, "share", "split", "-t", "2", "-n", "2", str(secret_file), "-o", str(prefix))
    first = tmp_path / "a-1"
    first.write_text(first.read_text().replace("-", "", 1)[:-3] + "\n")
    code, err = _run(
        capsys, "share", "combine", str(first), str(tmp_path / "a-2"), "-o", str(tmp_path / "out")
    )
    assert code == 2
    assert str(first) in err


def test_bad_threshold_exit_code(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(
        capsys, "share", "split", "-t", "6", "-n", "5", str(secret_file), "-o", str(tmp_path / "x")
    )
    assert code == 2
    assert "threshold 6 exceeds" in err


def test_split_to_stdout_rejected(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, "share", "split", "-t", "2", "-n", "3", str(secret_file), "-o", "-")
    assert code == 2
    assert "one file per share" in err
    assert not list(tmp_path.glob("--*"))


def test_negative_threshold_exit_code(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(
        capsys, "share", "split", "-t", "-1", "-n", "5", str(secret_file), "-o", str(tmp_path / "x")
    )
    assert code == 2
    assert "threshold -1" in err


def test_vault_error_names_file(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "v"
    _vault_split(capsys, secret_file, prefix)
    broken = tmp_path / "v-2"
    broken.write_text("0000\n")
    code, err = _vault_combine(capsys, tmp_path / "v-1", broken, output=tmp_path / "out")
    assert code == 2
    assert str(broken) in err


def test_stdin_among_files(
    tmp_path: Path,
    secret_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = tmp_path / "a"
    _run(capsys, "share", "split", "-t", "3", "-n", "3", str(secret_file), "-o", str(prefix))
    monkeypatch.setattr("sys.stdin", io.StringIO((tmp_path / "a-2").read_text()))
    out = tmp_path / "out.bin"
    code, _ = _run(
        capsys,
        "share",
        "combine",
        str(tmp_path / "a-1"),
        "-",
        str(tmp_path / "a-3"),
        "-o",
        str(out),
    )
    assert code == 0
    assert out.read_bytes() == secret_file.read_bytes()


@pytest.mark.parametrize("command", ["split", "combine"])
def test_policy_denies_shamir(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    _run(
        capsys, "share", "split", "-t", "2", "-n", "2", str(secret_file), "-o", str(tmp_path / "a")
    )
    policy = tmp_path / "prime-only.toml"
    policy.write_text('base = "default"\n[secret-sharing]\nallowed = ["shamir-prime"]\n')
    if command == "split":
        files = [str(secret_file), "-t", "2", "-n", "2"]
    else:
        files = [str(tmp_path / "a-1"), str(tmp_path / "a-2")]
    out = tmp_path / "out"
    code, err = _run(capsys, "share", command, *files, "-o", str(out), "--policy", str(policy))
    assert code == 1
    assert "does not allow" in err
    assert not out.exists()


def test_mixed_splits_name_files(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        _run(
            capsys,
            "share",
            "split",
            "-t",
            "2",
            "-n",
            "2",
            str(secret_file),
            "-o",
            str(tmp_path / name),
        )
    first, other = tmp_path / "a-1", tmp_path / "b-1"
    code, err = _run(
        capsys, "share", "combine", str(first), str(other), "-o", str(tmp_path / "out")
    )
    assert code == 2
    assert f"{other} belongs to secret" in err


def test_repeated_file_named(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(
        capsys, "share", "split", "-t", "2", "-n", "2", str(secret_file), "-o", str(tmp_path / "a")
    )
    share = str(tmp_path / "a-1")
    code, err = _run(capsys, "share", "combine", share, share, "-o", str(tmp_path / "out"))
    assert code == 2
    assert "both hold share 1" in err


def test_byte_order_mark_ignored(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(
        capsys, "share", "split", "-t", "2", "-n", "2", str(secret_file), "-o", str(tmp_path / "a")
    )
    first = tmp_path / "a-1"
    first.write_bytes(b"\xef\xbb\xbf" + first.read_bytes())
    out = tmp_path / "out.bin"
    code, _ = _run(capsys, "share", "combine", str(first), str(tmp_path / "a-2"), "-o", str(out))
    assert code == 0
    assert out.read_bytes() == secret_file.read_bytes()


def test_vault_lengths_name_files(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _vault_split(capsys, secret_file, tmp_path / "v")
    short = tmp_path / "v-2"
    short.write_text(short.read_text().strip()[2:] + "\n")
    code, err = _vault_combine(capsys, tmp_path / "v-1", short, output=tmp_path / "out")
    assert code == 2
    assert f"{short} has 31 value bytes" in err


def test_combine_sealer_option_needs_keyset(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sealer option seals a restored keyset only, so without --keyset it is refused."""
    prefix = tmp_path / "a"
    _run(capsys, "share", "split", "-t", "2", "-n", "2", str(secret_file), "-o", str(prefix))
    out = tmp_path / "out.bin"
    shares = [str(tmp_path / "a-1"), str(tmp_path / "a-2")]

    code, err = _run(capsys, "share", "combine", *shares, "-o", str(out), "--tpm-pin", "4711")

    assert code == 2
    assert "--tpm-pin" in err
    assert "--keyset" in err
    assert not out.exists()
