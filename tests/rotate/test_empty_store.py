"""A registered store with no objects: the run report warns about it.

An empty store may be a file system that was not mounted when rotation ran.
Its objects, once back, still name the old keys, which the run disabled.
"""

from __future__ import annotations

import json
from pathlib import Path

from agile.rotate import RotateOptions, open_store, rotate
from tests.rotate.rotate_helpers import agile, fill


def _stores(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("kx", "kem", "x25519", policy="default")
    full = open_store(str(home.parent / "full"), create=True)
    fill(full, keyset, 3)
    full.close()
    (home.parent / "mnt").mkdir()
    keystore.add_store("full", str(home.parent / "full"))
    keystore.add_store("mnt", str(home.parent / "mnt"))


def test_empty_store_listed(keystore, home: Path) -> None:
    _stores(keystore, home)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["empty_stores"] == ["mnt"]


def test_full_stores_not_listed(keystore, home: Path) -> None:
    _stores(keystore, home)
    keystore.remove_store("mnt")
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["empty_stores"] == []


def test_empty_store_cli_warning(keystore, home: Path) -> None:
    _stores(keystore, home)
    result = agile(home, "rotate", "--policy", "pq-hybrid")
    assert result.returncode == 0, result.stderr
    assert "warning: store mnt has no objects" in result.stderr


def test_empty_store_json(keystore, home: Path) -> None:
    _stores(keystore, home)
    result = agile(home, "rotate", "--policy", "pq-hybrid", "--json")
    assert json.loads(result.stdout)["empty_stores"] == ["mnt"]
