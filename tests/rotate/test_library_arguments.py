"""Library calls of stores and rotation check their arguments as the CLI does."""

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


@pytest.mark.parametrize(
    "options",
    [
        {"stores": "docs"},
        {"stores": ("docs", 5)},
        {"policy": 5},
        {"workers": 0},
        {"workers": "2"},
        {"batch_size": True},
        {"fail_fast": "yes"},
    ],
    ids=["stores-str", "stores-int", "policy-int", "workers-0", "workers-str", "batch", "flag"],
)
def test_rotate_options_checked(options: dict[str, object]) -> None:
    from agile.rotate import RotateOptions

    with pytest.raises(InvalidArgument):
        RotateOptions(**options)  # type: ignore[arg-type]


def test_rotate_needs_options(keystore, home: Path) -> None:
    from agile.rotate import rotate

    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    with pytest.raises(InvalidArgument, match="RotateOptions"):
        rotate(str(home), {"policy": "pq-hybrid"})  # type: ignore[arg-type]
    assert [key.id for key in keystore.keyset("team").keys] == [keyset.primary.id]
