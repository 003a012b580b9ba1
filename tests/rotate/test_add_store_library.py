"""Keystore.add_store checks and normalizes a store URL as 'agile store add' does."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.errors import InvalidArgument, StoreError


def test_relative_path_made_absolute(
    keystore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    keystore.add_store("docs", "objects")
    assert keystore.stores()["docs"] == str(tmp_path / "objects")
    assert (tmp_path / "objects").is_dir()


def test_same_url_again_changes_nothing(keystore, tmp_path: Path) -> None:
    keystore.add_store("docs", str(tmp_path / "objects"))
    assert keystore.add_store("docs", tmp_path / "objects") == str(tmp_path / "objects")


@pytest.mark.parametrize("url", ["", "mem://x", "sqlite:///x.db?table=sqlite_master"])
def test_invalid_url_refused(keystore, url: str) -> None:
    with pytest.raises(StoreError):
        keystore.add_store("docs", url)
    assert keystore.stores() == {}


def test_wrong_type_refused(keystore) -> None:
    with pytest.raises(InvalidArgument, match="got int"):
        keystore.add_store("docs", 5)


def test_overlap_refused(keystore, tmp_path: Path) -> None:
    keystore.add_store("docs", str(tmp_path / "objects"))
    with pytest.raises(StoreError, match="already covers"):
        keystore.add_store("inner", str(tmp_path / "objects" / "sub"))


def test_keystore_folder_refused(keystore, home: Path) -> None:
    with pytest.raises(StoreError, match="overlaps the keystore"):
        keystore.add_store("self", str(home))
