"""Store overlaps beyond one tree or table: databases inside directory stores, and hard links."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agile.errors import StoreError
from agile.rotate import RotateOptions, dry_run
from agile.rotate.stores import open_store, overlap_reason, parse_store_url
from tests.rotate.rotate_helpers import agile


def _url(text: str):  # type: ignore[no-untyped-def]
    return parse_store_url(text)


def test_database_inside_directory(tmp_path: Path) -> None:
    reason = overlap_reason(_url(str(tmp_path)), _url(f"sqlite:///{tmp_path}/sub/x.db"))
    assert reason is not None


def test_directory_around_database(tmp_path: Path) -> None:
    assert overlap_reason(_url(f"sqlite:///{tmp_path}/x.db"), _url(str(tmp_path))) is not None


def test_database_in_hidden_folder(tmp_path: Path) -> None:
    assert overlap_reason(_url(str(tmp_path)), _url(f"sqlite:///{tmp_path}/.data/x.db")) is None


def test_database_beside_directory(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    assert overlap_reason(_url(str(tmp_path / "docs")), _url(f"sqlite:///{tmp_path}/x.db")) is None


def test_hard_link_database(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path}/app.db", create=True).close()
    os.link(tmp_path / "app.db", tmp_path / "hard.db")
    first, second = _url(f"sqlite:///{tmp_path}/app.db"), _url(f"sqlite:///{tmp_path}/hard.db")
    assert overlap_reason(first, second) is not None


def test_hard_link_other_table(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path}/app.db", create=True).close()
    os.link(tmp_path / "app.db", tmp_path / "hard.db")
    first = _url(f"sqlite:///{tmp_path}/app.db")
    second = _url(f"sqlite:///{tmp_path}/hard.db?table=other")
    assert overlap_reason(first, second) is not None


def test_same_database_other_table(tmp_path: Path) -> None:
    first = _url(f"sqlite:///{tmp_path}/app.db")
    second = _url(f"sqlite:///{tmp_path}/app.db?table=other")
    assert overlap_reason(first, second) is None


def test_cli_database_inside_directory(home: Path, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    agile(home, "store", "add", "docs", str(tmp_path / "docs"), check=True)
    result = agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/docs/x.db")
    assert result.returncode == 2
    assert "lies inside directory store" in result.stderr
    assert not (tmp_path / "docs" / "x.db").exists()


def test_cli_directory_around_database(home: Path, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/docs/x.db", check=True)
    result = agile(home, "store", "add", "docs", str(tmp_path / "docs"))
    assert result.returncode == 2
    assert "lies inside directory store" in result.stderr


def test_cli_hard_link_rejected(home: Path, tmp_path: Path) -> None:
    agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/app.db", check=True)
    os.link(tmp_path / "app.db", tmp_path / "hard.db")
    result = agile(home, "store", "add", "s2", f"sqlite:///{tmp_path}/hard.db")
    assert result.returncode == 2
    assert "hard links" in result.stderr


def test_cli_error_one_line(home: Path, tmp_path: Path) -> None:
    agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/app.db", check=True)
    os.link(tmp_path / "app.db", tmp_path / "hard.db")
    result = agile(home, "store", "add", "s2", f"sqlite:///{tmp_path}/hard.db")
    assert len(result.stderr.strip().splitlines()) == 1


def test_registered_overlap_stops_rotation(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (tmp_path / "docs").mkdir()
    keystore.add_store("docs", str(_url(str(tmp_path / "docs"))))
    # add_store refuses the overlap, so the keystore file is edited as an older version
    # or a hand edit could have left it.
    config = json.loads((home / "keystore.json").read_text())
    config["stores"]["db"] = str(_url(f"sqlite:///{tmp_path}/docs/x.db"))
    (home / "keystore.json").write_text(json.dumps(config))
    with pytest.raises(StoreError, match="registered stores 'db' and 'docs' overlap"):
        dry_run(str(home), RotateOptions(policy="pq-hybrid"))


def test_selected_overlap_stops_rotation(keystore, home: Path, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (tmp_path / "docs").mkdir()
    open_store(f"sqlite:///{tmp_path}/docs/x.db", create=True).close()
    stores = (str(tmp_path / "docs"), f"sqlite:///{tmp_path}/docs/x.db")
    with pytest.raises(StoreError, match="lies inside directory store"):
        dry_run(str(home), RotateOptions(policy="pq-hybrid", stores=stores))
