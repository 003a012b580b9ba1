"""Rotation reads its journal in pages and streams the scan into it, so memory stays flat."""

from __future__ import annotations

from pathlib import Path

import pytest

from agile.envelope import decrypt, read_header
from agile.rotate import Journal, RotateOptions, executor, open_store, rotate
from tests.rotate.rotate_helpers import fill


def test_pages_visit_each_pending_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    rows = [(store, f"o{index:02d}", "rewrap") for store in ("a", "b") for index in range(7)]
    journal.add_objects(run.run_id, rows)
    seen = []
    after = None

    while page := journal.pending_page(run.run_id, after, 3):
        after = (page[-1][0], page[-1][1])
        seen.extend(page)
        # Finishing objects between pages must not make the next page skip or repeat any.
        journal.finish_objects(run.run_id, [(*row, "done", None) for row in page[:2]])

    assert seen == sorted(rows)


def test_pending_count(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.create_run("p", "h", {})
    journal.add_objects(run.run_id, [("s", "a", "rewrap"), ("s", "b", "rewrap")])
    journal.finish_objects(run.run_id, [("s", "a", "rewrap", "failed", "damaged")])
    assert journal.pending_count(run.run_id) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_rotation_over_many_pages(
    keystore, home: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(executor, "_PAGE_SIZE", 4)
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("objects", store.url)
    originals = fill(store, keyset, 23)
    progress: list[tuple[int, int]] = []

    report = rotate(
        str(home),
        RotateOptions(policy="pq-hybrid", workers=workers, batch_size=3),
        progress=lambda done, total: progress.append((done, total)),
    )

    assert report["state"] == "done"
    assert report["objects"]["rewrap"] == 23
    assert progress[-1] == (23, 23)
    new_key = report["keys"][0]["new_key_id"]
    for object_id, plaintext in originals.items():
        data = store.read(object_id)
        assert [r.key_id for r in read_header(data).recipients] == [new_key]
        assert decrypt(data, keystore, policy="pq-hybrid") == plaintext
