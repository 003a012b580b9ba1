"""A full disk on output: the error names the output that could not be written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")


def test_full_output_named(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("keyset", "create", "box", "--purpose", "kem").returncode == 0
    (tmp_path / "msg.txt").write_bytes(b"secret\n")

    result = run("encrypt", "--to", "box", "-o", "/dev/full", "msg.txt")

    assert result.returncode == 2
    assert b"No space left on device '/dev/full'" in result.stderr
