"""Temporary files that killed writers leave in a directory store."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from agile.rotate.stores.directory import DirectoryStore

STALE = ".o1.agile-abc_1234.tmp"


def _store(tmp_path: Path) -> DirectoryStore:
    (tmp_path / "o1").write_bytes(b"envelope")
    (tmp_path / STALE).write_bytes(b"half an envelope")
    return DirectoryStore(tmp_path)


def _scan(store: DirectoryStore) -> list[str]:
    return [object_id for object_id, _ in store.iter_prefixes()]


def test_stale_temporary_removed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _scan(store)

    store.remove_leftovers()

    assert not (tmp_path / STALE).exists()


def test_removal_reported(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _scan(store)

    assert store.remove_leftovers() == [str(tmp_path / STALE)]


def test_object_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _scan(store)

    store.remove_leftovers()

    assert (tmp_path / "o1").read_bytes() == b"envelope"


def test_other_hidden_files_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for name in (".keep", ".notes.tmp", ".o1.short.tmp", ".o1.UPPER123.tmp"):
        (tmp_path / name).write_bytes(b"")
    _scan(store)

    store.remove_leftovers()

    assert sorted(p.name for p in tmp_path.glob(".*") if p.name != ".agile-store.lock") == [
        ".keep",
        ".notes.tmp",
        ".o1.UPPER123.tmp",
        ".o1.short.tmp",
    ]


def test_live_writer_not_disturbed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _scan(store)
    # Another process holds o1's lock slot, as a writer does from before it creates its
    # temporary file until after the rename.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from agile.rotate.stores.directory import DirectoryStore\n"
            f"store = DirectoryStore({str(tmp_path)!r})\n"
            "with store._object_lock('o1'):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.readline()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    remover = threading.Thread(target=store.remove_leftovers)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        remover.start()
        remover.join(timeout=0.5)
        waiting = remover.is_alive()
        # The writer finishes: its temporary file becomes the object.
        (tmp_path / STALE).replace(tmp_path / "o1")
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
        remover.join(timeout=30)

    assert waiting
    assert (tmp_path / "o1").read_bytes() == b"half an envelope"
