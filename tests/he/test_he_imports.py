"""Dependency rules: the core of he never imports phe, and agile never imports he."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_he_core_without_phe() -> None:
    loaded = _loaded_after("import he, he.serialize, he.provider, he.djn")
    assert "phe" not in loaded


def test_he_core_without_numpy() -> None:
    loaded = _loaded_after("import he, he.serialize, he.provider")
    assert "numpy" not in loaded


def test_agile_without_he() -> None:
    loaded = _loaded_after("import agile, agile.registry")
    assert "he" not in loaded


def test_he_without_mpc_or_cli() -> None:
    loaded = _loaded_after("import he, he.serialize, he.provider, he.phe_interop")
    assert "mpc" not in loaded
    assert "cli" not in loaded
