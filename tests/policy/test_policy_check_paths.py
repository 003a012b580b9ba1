"""``agile policy check`` on a keystore path that is missing or is a file: bad input, not a pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_check_bad_keystore_path(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "keystore"
    if kind == "file":
        path.write_text("")

    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "policy", "check", "--keystore", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "no keysets" not in result.stdout
