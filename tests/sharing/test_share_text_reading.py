"""Reading agile share text as people retype it: separators, case, and cut shares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agile.errors import InvalidShare
from agile.sharing import share_format
from cli.main import main


def _texts(secret: bytes) -> list[str]:
    return [share_format.encode_text(s) for s in share_format.split(secret, 2, 3)]


@pytest.mark.parametrize(
    "retype",
    [
        lambda text: text.replace("-", " "),
        lambda text: text.replace("-", ""),
        lambda text: text.upper().replace("-", "  "),
        lambda text: text.replace(":", " : ", 1),
    ],
    ids=["spaces", "no-dashes", "upper-double-spaces", "spaced-colon"],
)
def test_retyped_text_reads(retype) -> None:  # type: ignore[no-untyped-def]
    secret = os.urandom(32)
    first, second, _ = _texts(secret)
    shares = [share_format.parse(retype(first)), share_format.parse(second)]
    assert share_format.combine(shares) == secret


def test_retyped_prefix_counted_once() -> None:
    first, second, _ = _texts(b"one share per text")
    with pytest.raises(InvalidShare, match="2 shares"):
        share_format.decode_text(first + " " + second.replace("-", " "))


def test_cut_below_shortest_is_truncated() -> None:
    text = _texts(os.urandom(32))[0]
    # 40 base32 characters are 25 bytes, fewer than any share and its checksum.
    cut = share_format.TEXT_PREFIX + text[len(share_format.TEXT_PREFIX) :].replace("-", "")[:40]
    with pytest.raises(InvalidShare, match="fewer than the 32") as caught:
        share_format.parse(cut)
    assert "truncated" in (caught.value.fix or "")


def test_body_length() -> None:
    text = _texts(os.urandom(32))[0]
    # 11 header bytes, 32 + 16 share bytes and 4 checksum bytes: 63 bytes, 101 characters.
    assert share_format.text_body_length(text) == 101
    assert share_format.text_body_length(text.replace("-", " ")) == 101
    assert share_format.text_body_length("00ff") is None


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        main(list(argv))
    except SystemExit as done:
        return int(done.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


@pytest.mark.parametrize("keep", [100, 130])
def test_cli_cut_share_truncated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: int
) -> None:
    first, second, _ = _texts(os.urandom(32))
    assert len(first) == 136
    (tmp_path / "cut").write_text(first[:keep] + "\n")
    (tmp_path / "whole").write_text(second + "\n")

    code, err = _run(
        capsys, "share", "combine", str(tmp_path / "cut"), str(tmp_path / "whole"),
        "-o", str(tmp_path / "out"),
    )  # fmt: skip

    assert code == 2
    assert "is truncated" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_spaced_share_combines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = os.urandom(32)
    first, second, _ = _texts(secret)
    (tmp_path / "spaced").write_text(first.replace("-", " ") + "\n")
    (tmp_path / "plain").write_text(second.replace("-", "") + "\n")

    code, err = _run(
        capsys, "share", "combine", str(tmp_path / "spaced"), str(tmp_path / "plain"),
        "-o", str(tmp_path / "out"),
    )  # fmt: skip

    assert code == 0, err
    assert (tmp_path / "out").read_bytes() == secret
