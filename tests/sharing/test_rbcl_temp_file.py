"""Importing the ristretto255 scheme leaves no copy of libsodium in the temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys


def test_import_removes_rbcl_library_copy() -> None:
    # rbcl writes its bundled libsodium to a new temporary file on each import.
    code = "import sys, agile.sharing.prime; print(sys.modules['rbcl._sodium'].lib_path)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    path = result.stdout.strip()
    assert path.endswith(".so")
    assert not os.path.exists(path)
