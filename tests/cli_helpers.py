"""Run the agile CLI in a subprocess, as a user would, against a keystore of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The passphrase of the ``keystore`` fixture in tests/conftest.py.
PASSPHRASE = "correct horse battery staple"

#: Argon2id settings for tests; each sealed blob records them.
CHEAP_ARGON2 = {"AGILE_ARGON2_MEMORY_KIB": "1024", "AGILE_ARGON2_ITERATIONS": "1"}


def run_agile(home: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``agile --keystore HOME ARGUMENTS`` with the test passphrase; ``env`` adds variables."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "--keystore", str(home), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "AGILE_PASSPHRASE": PASSPHRASE, **CHEAP_ARGON2, **env},
    )


def run_cli(
    *arguments: str, data: bytes | None = None, text: bool = False, **env: str
) -> subprocess.CompletedProcess[Any]:
    """Run ``agile ARGUMENTS`` in the caller's environment plus ``env``.

    ``data`` goes to standard input.  The output is bytes, or str with ``text``.
    """
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *arguments],
        input=data,
        capture_output=True,
        text=text,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
