"""``agile share split`` under a policy without shamir-gf256 names a fix that exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main

_PRIME_ONLY = 'base = "default"\n[secret-sharing]\nallowed = ["shamir-prime"]\n'


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        main(list(argv))
    except SystemExit as done:
        return int(done.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


@pytest.mark.parametrize("share_format", ["agile", "vault"])
def test_split_denied_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, share_format: str
) -> None:
    policy = tmp_path / "prime.toml"
    policy.write_text(_PRIME_ONLY)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(32)))

    code, error = _run(
        capsys, "share", "split", "--format", share_format, "-t", "2", "-n", "3",
        "--policy", str(policy), str(secret), "-o", str(tmp_path / "s"),
    )  # fmt: skip

    assert code == 1, error
    assert "use 'shamir-prime'" not in error
    assert "no option for a scheme other than shamir-gf256" in error
    assert "allow 'shamir-gf256' in [secret-sharing]" in error
    assert not (tmp_path / "s-1").exists()
