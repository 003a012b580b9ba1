"""The ``agile rotate``, ``agile store`` and ``agile keystore`` commands in subprocesses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agile.envelope import read_header
from agile.rotate import open_store
from tests.rotate.rotate_helpers import agile, fill


@pytest.fixture
def team(keystore, home: Path):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "objects"), create=True)
    keystore.add_store("files", store.url)
    originals = fill(store, keyset, 5)
    return store, originals


def test_store_add_list(home: Path, keystore, tmp_path: Path) -> None:
    agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/s.db", check=True)
    rows = json.loads(agile(home, "store", "list", "--json", check=True).stdout)
    assert rows == [
        {
            "name": "db",
            "url": f"sqlite:///{tmp_path}/s.db?table=secrets&column=envelope&key=id",
            "objects": 0,
        }
    ]


def test_store_add_bad_url(home: Path, keystore) -> None:
    result = agile(home, "store", "add", "db", "sqlite:////x.db?table=a;b")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("objects", "dir:{root}/objects?aad=id"),
        ("objects", "objects/inner"),
        ("objects/inner", "objects"),
        ("sqlite:///{root}/s.db", "sqlite:///{root}/s.db?aad=id"),
    ],
    ids=["same-dir", "inner-dir", "outer-dir", "same-table"],
)
def test_store_add_overlap_rejected(
    home: Path, keystore, tmp_path: Path, first: str, second: str
) -> None:
    def url(text: str) -> str:
        return text.format(root=tmp_path) if "{" in text else str(tmp_path / text)

    agile(home, "store", "add", "one", url(first), check=True)
    result = agile(home, "store", "add", "two", url(second))

    assert result.returncode == 2
    assert "already covers" in result.stderr


def test_store_add_other_table_allowed(home: Path, keystore, tmp_path: Path) -> None:
    agile(home, "store", "add", "one", f"sqlite:///{tmp_path}/s.db", check=True)
    result = agile(home, "store", "add", "two", f"sqlite:///{tmp_path}/s.db?table=other")
    assert result.returncode == 0


def test_store_add_same_name_again(home: Path, keystore, tmp_path: Path) -> None:
    agile(home, "store", "add", "one", str(tmp_path / "objects"), check=True)
    rejected = agile(home, "store", "add", "one", f"dir:{tmp_path}/objects?aad=id")
    replaced = agile(home, "store", "add", "one", f"dir:{tmp_path}/objects?aad=id", "--replace")
    assert rejected.returncode == 2
    assert "--replace" in rejected.stderr
    assert replaced.returncode == 0, replaced.stderr
    assert "(was " in replaced.stdout


@pytest.mark.parametrize("output", [[], ["-o", "-"]], ids=["default", "dash"])
def test_store_put_get(home: Path, keystore, tmp_path: Path, output: list[str]) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/s.db", check=True)
    source = tmp_path / "secret.txt"
    source.write_bytes(b"launch codes\n")
    agile(home, "store", "put", "db", "codes", "--to", "team", str(source), check=True)
    result = agile(home, "store", "get", "db", "codes", *output, check=True)
    assert result.stdout == "launch codes\n"


def test_store_get_missing(home: Path, team) -> None:
    result = agile(home, "store", "get", "files", "absent")
    assert result.returncode == 2
    assert "'absent' not found" in result.stderr


def test_store_import(home: Path, keystore, tmp_path: Path) -> None:
    keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    (tmp_path / "plain" / "sub" / "a.txt").write_bytes(b"a")
    (tmp_path / "plain" / "b.txt").write_bytes(b"b")
    agile(home, "store", "add", "files", str(tmp_path / "objects"), check=True)
    agile(home, "store", "import", "files", str(tmp_path / "plain"), "--to", "team", check=True)
    listed = agile(home, "store", "list", "--objects", "files", check=True).stdout.split()
    assert listed == ["b.txt", "sub/a.txt"]


def test_rotate_dry_run_json(home: Path, team) -> None:
    plan = json.loads(agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run", "--json").stdout)
    assert plan["objects"] == {"rewrap": 5, "reencrypt": 0, "resign": 0}


def test_rotate_json_report(home: Path, team) -> None:
    result = agile(home, "rotate", "--policy", "pq-hybrid", "--json")
    report = json.loads(result.stdout)
    assert (report["state"], report["failed"], report["objects"]["rewrap"]) == ("done", 0, 5)


def test_rotate_quiet_in_pipe(home: Path, team) -> None:
    result = agile(home, "rotate", "--policy", "pq-hybrid")
    assert "migrating" not in result.stderr


def test_rotate_names_xwing(home: Path, team) -> None:
    store, originals = team
    agile(home, "rotate", "--policy", "pq-hybrid", check=True)
    for object_id in originals:
        assert [r.algorithm for r in read_header(store.read(object_id)).recipients] == ["x-wing"]


def test_rotate_failure_exit_code(home: Path, team) -> None:
    store, _ = team
    store.put("obj00001", b"garbage that is no envelope")
    result = agile(home, "rotate", "--policy", "pq-hybrid")
    assert result.returncode == 1
    assert "obj00001" in result.stdout


def test_rotate_then_nothing(home: Path, team) -> None:
    agile(home, "rotate", "--policy", "pq-hybrid", check=True)
    assert agile(home, "rotate", "--policy", "pq-hybrid", check=True).stdout == "nothing to do\n"


def test_rotate_resume_nothing(home: Path, team) -> None:
    assert agile(home, "rotate", "--resume", check=True).stdout == "nothing to resume\n"


def test_rotate_unknown_store(home: Path, team) -> None:
    result = agile(home, "rotate", "--policy", "pq-hybrid", "--store", "nosuch")
    assert result.returncode == 2
    assert "no store named 'nosuch'" in result.stderr


def test_rotate_subset_keeps_old_key(home: Path, team, keystore, tmp_path: Path) -> None:
    other = open_store(str(tmp_path / "other"), create=True)
    keystore.add_store("other", other.url)
    old = keystore.keyset("team").primary.id
    agile(home, "rotate", "--policy", "pq-hybrid", "--store", "files", check=True)
    assert keystore.keyset("team").key(old).status.value == "decrypt-only"


def test_backup_restore(home: Path, team, tmp_path: Path) -> None:
    store, originals = team
    backup = tmp_path / "backup.json"
    agile(home, "keystore", "backup", str(backup), check=True)
    restored = tmp_path / "restored"
    agile(restored, "keystore", "restore", str(backup), check=True)
    output = tmp_path / "plain"
    agile(restored, "store", "get", "files", "obj00000", "-o", str(output), check=True)
    assert output.read_bytes() == originals["obj00000"]


def test_backup_mode(home: Path, team, tmp_path: Path) -> None:
    agile(home, "keystore", "backup", str(tmp_path / "b.json"), check=True)
    assert os.stat(tmp_path / "b.json").st_mode & 0o777 == 0o600


def test_backup_sealed_files(home: Path, team, tmp_path: Path) -> None:
    import base64

    agile(home, "keystore", "backup", str(tmp_path / "b.json"), check=True)
    files = json.loads((tmp_path / "b.json").read_text())["files"]
    assert base64.b64decode(files["keysets/team.json"]) == (home / "keysets/team.json").read_bytes()


def test_restore_refuses_nonempty(home: Path, team, tmp_path: Path) -> None:
    agile(home, "keystore", "backup", str(tmp_path / "b.json"), check=True)
    result = agile(home, "keystore", "restore", str(tmp_path / "b.json"))
    assert result.returncode == 2
    assert "--force" in result.stderr


def test_restore_rejects_bad_name(home: Path, tmp_path: Path) -> None:
    bad = {"format": "agile-keystore-backup", "version": 1, "files": {"../evil": ""}}
    (tmp_path / "b.json").write_text(json.dumps(bad))
    result = agile(home, "keystore", "restore", str(tmp_path / "b.json"))
    assert result.returncode == 2
    assert "invalid file name" in result.stderr


def test_restore_rejects_non_string(home: Path, tmp_path: Path) -> None:
    bad = {"format": "agile-keystore-backup", "version": 1, "files": {"keystore.json": 5}}
    (tmp_path / "b.json").write_text(json.dumps(bad))
    result = agile(home, "keystore", "restore", str(tmp_path / "b.json"))
    assert result.returncode == 2
    assert "not a base64 string" in result.stderr


def test_store_add_reports_created(home: Path, keystore, tmp_path: Path) -> None:
    result = agile(home, "store", "add", "db", f"sqlite:///{tmp_path}/s.db?table=typo")
    assert result.returncode == 0
    assert "note: created SQLite database" in result.stderr


def test_store_add_existing_quiet(home: Path, keystore, tmp_path: Path) -> None:
    (tmp_path / "objects").mkdir()
    result = agile(home, "store", "add", "files", str(tmp_path / "objects"))
    assert result.returncode == 0
    assert "note:" not in result.stderr


def test_store_add_file_path(home: Path, keystore, tmp_path: Path) -> None:
    (tmp_path / "hostname").write_text("x")
    result = agile(home, "store", "add", "files", str(tmp_path / "hostname"))
    assert result.returncode == 2
    assert "is not a directory" in result.stderr


def test_rotate_dry_run_text_counts(home: Path, team) -> None:
    """Counts read as English: '5 objects', and '1 object' for one."""
    from cli.common import plural

    text = agile(home, "rotate", "--policy", "pq-hybrid", "--dry-run").stdout
    assert "5 objects scanned" in text
    assert (plural(1, "object"), plural(0, "object")) == ("1 object", "0 objects")
