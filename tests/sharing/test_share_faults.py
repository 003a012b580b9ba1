"""Share files of the other format, cut or doubled share texts, and strided secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agile.errors import InvalidArgument, InvalidShare
from agile.sharing import gf256, prime, share_format

AGILE = [sys.executable, "-m", "cli.main"]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AGILE_HOME=str(tmp_path / "ks"))
    return subprocess.run(
        [*AGILE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )


@pytest.mark.parametrize(
    ("combine", "output", "kind"),
    [
        (["--format", "vault", "v-1", "v-2"], "a-1", "an agile share"),
        (["a-1", "a-2"], "v-1", "a Vault share"),
    ],
    ids=["vault-over-agile", "agile-over-vault"],
)
def test_combine_keeps_other_format_share(
    tmp_path: Path, combine: list[str], output: str, kind: str
) -> None:
    """Without --force, combine never writes over a share file of either format."""
    (tmp_path / "secret").write_bytes(os.urandom(32))
    for options in ([], ["--format", "vault"]):
        prefix = "v" if options else "a"
        split = _run(
            tmp_path, "share", "split", *options, "-t", "2", "-n", "2", "secret", "-o", prefix
        )
        assert split.returncode == 0, split.stderr
    before = (tmp_path / output).read_bytes()

    result = _run(tmp_path, "share", "combine", *combine, "-o", output)

    assert result.returncode == 2
    assert f"output {output!r} contains {kind}" in result.stderr
    assert (tmp_path / output).read_bytes() == before


def test_two_shares_in_one_text() -> None:
    shares = share_format.split(b"secret", 2, 2)
    text = "\n".join(share_format.encode_text(share) for share in shares)
    with pytest.raises(InvalidShare, match="the text contains 2 shares, not one"):
        share_format.parse(text)


def test_two_shares_in_one_file(tmp_path: Path) -> None:
    shares = share_format.split(b"secret", 2, 2)
    (tmp_path / "both").write_text("\n".join(share_format.encode_text(s) for s in shares) + "\n")
    result = _run(tmp_path, "share", "combine", "both", "-o", "out")
    assert result.returncode == 2
    assert "both: the text contains 2 shares, not one" in result.stderr


@pytest.mark.parametrize(
    "split",
    [
        lambda view: gf256.split(view, 2, 3),
        lambda view: share_format.split(view, 2, 3),
        lambda view: prime.split(view, 2, 3),
        lambda view: prime.feldman_split(view, 2, 3),
    ],
    ids=["gf256", "agile-format", "prime", "feldman"],
)
def test_strided_secret_rejected(split) -> None:  # type: ignore[no-untyped-def]
    view = memoryview(bytes(64))[::2]
    with pytest.raises(InvalidArgument, match="not C-contiguous"):
        split(view)


def test_feldman_verify_non_share() -> None:
    shares = prime.feldman_split(prime.encode_scalar(7), 2, 3)
    with pytest.raises(InvalidShare, match="a share has type str, not Share"):
        prime.feldman_verify("x", shares[0].commitments)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.0, "1", None, True])
def test_encode_scalar_non_int(value: object) -> None:
    with pytest.raises(InvalidArgument, match="not int"):
        prime.encode_scalar(value)  # type: ignore[arg-type]
