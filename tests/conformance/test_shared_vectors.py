"""The whole public vector set, every provider: zero failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_shared_vectors_pass(shared_vectors: Path, tmp_path: Path) -> None:
    junit = tmp_path / "vectors.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "vectors",
            "run",
            str(shared_vectors),
            "--json",
            "--workers",
            "2",
            "--junit",
            str(junit),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = json.loads(result.stdout)
    failures = [
        (f["path"], r["algorithm"], r["provider"], r["failures"][:2])
        for f in summary["files"]
        for r in f["results"]
        if r["failed"]
    ]

    assert failures == []
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary["passed"] > 20_000
    assert junit.stat().st_size > 0
