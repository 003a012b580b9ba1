"""Directory stores never write through symbolic links out of the store, and report loops."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agile.envelope import encrypt
from agile.errors import StoreError
from agile.rotate import DirectoryStore, RotateOptions, dry_run, open_store
from agile.rotate.stores import Swap
from tests.rotate.rotate_helpers import agile


@pytest.fixture
def layout(tmp_path: Path) -> tuple[DirectoryStore, Path]:
    """Return a store under ``docs`` and a folder ``out`` beside it."""
    (tmp_path / "out").mkdir()
    return DirectoryStore(tmp_path / "docs", create=True), tmp_path / "out"


def test_put_through_linked_folder(layout) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    (store.root / "dirlink").symlink_to(out)
    with pytest.raises(StoreError, match="outside store directory"):
        store.put("dirlink/new", b"data")
    assert list(out.iterdir()) == []


def test_put_creates_no_outside_folder(layout) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    (store.root / "dirlink").symlink_to(out)
    with pytest.raises(StoreError):
        store.put("dirlink/a/b", b"data")
    assert list(out.iterdir()) == []


def test_put_through_file_link_outside(layout) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    (out / "target").write_bytes(b"outside")
    (store.root / "flink").symlink_to(out / "target")
    with pytest.raises(StoreError, match="symbolic link"):
        store.put("flink", b"data")
    assert (out / "target").read_bytes() == b"outside"


def test_put_through_inside_link(layout) -> None:  # type: ignore[no-untyped-def]
    store, _ = layout
    (store.root / "sub").mkdir()
    (store.root / "alias").symlink_to("sub")
    store.put("alias/new", b"data")
    assert (store.root / "sub" / "new").read_bytes() == b"data"


def test_swap_through_replaced_folder(layout) -> None:  # type: ignore[no-untyped-def]
    store, out = layout
    store.put("sub/a", b"old")
    # The folder becomes a link to a copy outside the store after the scan read it.
    shutil.move(store.root / "sub", out / "sub")
    (store.root / "sub").symlink_to(out / "sub")
    assert store.swap_many([Swap("sub/a", b"old", b"new")]) == [False]
    assert "symbolic link" in store.swap_errors["sub/a"]
    assert (out / "sub" / "a").read_bytes() == b"old"


@pytest.mark.parametrize("object_id", ["dirlink/new", "dirlink/a/new"], ids=["direct", "nested"])
def test_cli_put_linked_folder(home: Path, tmp_path: Path, keystore, object_id: str) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (tmp_path / "docs").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "docs" / "dirlink").symlink_to(tmp_path / "out")
    (tmp_path / "plain").write_bytes(b"plain")
    agile(home, "store", "add", "docs", str(tmp_path / "docs"), check=True)

    result = agile(home, "store", "put", "docs", object_id, "--to", "team", str(tmp_path / "plain"))

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


def _unreadable(home: Path) -> dict[str, str]:
    plan = dry_run(str(home), RotateOptions(policy="pq-hybrid")).to_dict()
    return {item["object"]: item["error"] for item in plan["unreadable"]}


@pytest.fixture
def docs(keystore, home: Path) -> Path:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "docs"), create=True)
    keystore.add_store("docs", store.url)
    store.put("sub/a", encrypt(b"alpha", keyset, policy="default"))
    return home.parent / "docs"


def test_link_to_root_reported(docs: Path, home: Path) -> None:
    (docs / "selfdir").symlink_to("../docs")
    assert "loops" in _unreadable(home)["selfdir"]


def test_link_to_own_folder_reported(docs: Path, home: Path) -> None:
    (docs / "sub" / "up").symlink_to("../sub")
    assert "loops" in _unreadable(home)["sub/up"]


def test_link_to_subfolder_skipped(docs: Path, home: Path) -> None:
    (docs / "alias").symlink_to("sub")
    assert _unreadable(home) == {}


def test_dot_object_id_rejected(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, create=True)
    with pytest.raises(StoreError, match="invalid object id"):
        store.path_of(".")


def _as_nobody(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None,
    reason="root ignores folder modes, and setpriv is not there to drop to another user",
)
def test_read_only_folder_named() -> None:
    # Outside pytest's tmp_path, whose 0700 parent another user cannot enter.
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        (root / "sub").mkdir(mode=0o755)
        (root / "sub" / "a").write_bytes(b"old")
        (root / "sub" / "a").chmod(0o666)
        (root / "sub").chmod(0o555)
        (root / ".agile-store.lock").touch(mode=0o666)
        (root / ".agile-store.lock").chmod(0o666)
        script = (
            "from agile.rotate import DirectoryStore\n"
            "from agile.rotate.stores import Swap\n"
            f"store = DirectoryStore({str(root)!r})\n"
            "store.swap_many([Swap('sub/a', b'old', b'new')])\n"
            "print(store.swap_errors['sub/a'])\n"
        )
        if os.geteuid() == 0:
            result = _as_nobody(script)
        else:
            result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert f"its folder {str(root / 'sub')!r}" in result.stdout
