"""Directory store writes reach each folder without following links, so a swap cannot redirect them.

The race tests replace a folder by a symbolic link to a directory outside the
store when the write takes the object's lock.  The store takes that lock after
it has reached the object's folder and before it writes, so the swap lands in
the window between the two.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agile.envelope import encrypt
from agile.errors import StoreError
from agile.rotate import DirectoryStore, RotateOptions, open_store, rotate
from agile.rotate.stores import Swap
from tests.rotate.rotate_helpers import agile


@pytest.fixture
def layout(tmp_path: Path) -> tuple[DirectoryStore, Path]:
    """Return a store under ``docs`` holding ``sub/a``, and an empty folder ``out`` beside it."""
    (tmp_path / "out").mkdir()
    store = DirectoryStore(tmp_path / "docs", create=True)
    store.put("sub/a", b"old")
    return store, tmp_path / "out"


def _swap_folder(folder: Path, moved: Path, target: Path) -> None:
    """Move ``folder`` to ``moved`` and put a symbolic link to ``target`` in its place."""
    shutil.move(folder, moved)
    folder.symlink_to(target)


def _swap_on_lock(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> None:
    """Run ``swap`` once, when the store next takes an object's lock."""
    take_lock = DirectoryStore._object_lock
    pending = [swap]

    def swap_then_lock(self: DirectoryStore, object_id: str):  # type: ignore[no-untyped-def]
        while pending:
            pending.pop()()
        return take_lock(self, object_id)

    monkeypatch.setattr(DirectoryStore, "_object_lock", swap_then_lock)


def test_put_folder_swapped_before_write(layout, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    moved = store.root / "moved"
    _swap_on_lock(monkeypatch, lambda: _swap_folder(store.root / "sub", moved, out))

    store.put("sub/new", b"data")

    assert list(out.iterdir()) == []
    assert (moved / "new").read_bytes() == b"data"


def test_put_link_target_swapped(layout, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    (store.root / "alias").symlink_to("sub/a")
    _swap_on_lock(monkeypatch, lambda: _swap_folder(store.root / "sub", store.root / "moved", out))

    with pytest.raises(StoreError, match="symbolic link"):
        store.put("alias", b"data")

    assert list(out.iterdir()) == []
    assert (store.root / "moved" / "a").read_bytes() == b"old"


def test_swap_folder_swapped_before_write(layout, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    # A copy with the expected bytes, so that a compare through the link would pass.
    (out / "a").write_bytes(b"old")
    moved = store.root / "moved"
    _swap_on_lock(monkeypatch, lambda: _swap_folder(store.root / "sub", moved, out))

    assert store.swap_many([Swap("sub/a", b"old", b"new")]) == [True]

    assert sorted(path.name for path in out.iterdir()) == ["a"]
    assert (out / "a").read_bytes() == b"old"
    assert (moved / "a").read_bytes() == b"new"


def test_swap_over_link_rejected(layout) -> None:  # type: ignore[no-untyped-def]
    store, _ = layout
    (store.root / "alias").symlink_to("sub/a")

    assert store.swap_many([Swap("alias", b"old", b"new")]) == [False]

    assert "symbolic link" in store.swap_errors["alias"]
    assert (store.root / "alias").is_symlink()
    assert (store.root / "sub" / "a").read_bytes() == b"old"


def test_swap_leaves_no_temporary(layout) -> None:  # type: ignore[no-untyped-def]
    store, _ = layout

    assert store.swap_many([Swap("sub/a", b"old", b"new")]) == [True]

    assert sorted(path.name for path in (store.root / "sub").iterdir()) == ["a"]


def test_put_keeps_file_mode(layout) -> None:  # type: ignore[no-untyped-def]
    store, _ = layout
    (store.root / "sub" / "a").chmod(0o640)

    store.put("sub/a", b"data")

    assert (store.root / "sub" / "a").stat().st_mode & 0o777 == 0o640


def test_put_new_file_private(layout) -> None:  # type: ignore[no-untyped-def]
    store, _ = layout

    store.put("fresh/b", b"data")

    assert (store.root / "fresh" / "b").stat().st_mode & 0o777 == 0o600


def test_rotate_linked_folder_failed(
    keystore, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    docs = tmp_path / "docs"
    store = open_store(str(docs), create=True)
    keystore.add_store("docs", store.url)
    envelope = encrypt(b"alpha", keyset, policy="default")
    store.put("sub/a", envelope)
    out = tmp_path / "out"
    out.mkdir()

    # The folder becomes a link out of the store after the scan listed sub/a.
    swap_many = DirectoryStore.swap_many
    pending = [lambda: _swap_folder(docs / "sub", tmp_path / "moved", out)]

    def swap_folder_first(self: DirectoryStore, swaps: list[Swap], **options: bool) -> list[bool]:
        while pending:
            pending.pop()()
        return swap_many(self, swaps, **options)

    monkeypatch.setattr(DirectoryStore, "swap_many", swap_folder_first)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))

    errors = {failure["object"]: failure["error"] for failure in report["failures"]}
    assert "leads through a symbolic link" in errors["sub/a"]
    assert report["disabled_key_ids"] == []
    assert list(out.iterdir()) == []
    assert (tmp_path / "moved" / "a").read_bytes() == envelope


def test_linked_lock_file_refused(tmp_path: Path) -> None:
    """A link at the lock file's name is refused instead of creating its target outside."""
    from agile.rotate.stores.directory import LOCK_NAME

    root = tmp_path / "store"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    store = DirectoryStore(root)
    # Put after the store was opened, so that the open of the lock file meets it.
    (root / LOCK_NAME).symlink_to(outside / "created")

    with pytest.raises(StoreError, match="is a symbolic link"):
        store.put("object", b"data")

    assert list(outside.iterdir()) == []


def test_linked_lock_file_stops_rotation_first(keystore, home: Path, tmp_path: Path) -> None:
    """A rotation refuses such a store before it changes any key, and so does its dry run."""
    from agile.rotate.stores.directory import LOCK_NAME

    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(tmp_path / "objects"), create=True)
    keystore.add_store("objects", store.url)
    store.put("object", encrypt(b"data", keyset, policy="default"))
    (tmp_path / "objects" / LOCK_NAME).unlink(missing_ok=True)
    (tmp_path / "objects" / LOCK_NAME).symlink_to(tmp_path / "elsewhere")

    dry = agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run")
    result = agile(home, "rotate", "--policy", "pq-hybrid")

    assert dry.returncode == 2
    assert "is a symbolic link" in dry.stderr
    assert result.returncode == 2
    assert [key.status.value for key in keystore.keyset("team").keys] == ["primary"]
