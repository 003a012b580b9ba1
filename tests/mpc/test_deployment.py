"""``agile mpc init`` output: file modes, configs and their validation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from agile.errors import InvalidArgument
from mpc.config import load_config
from mpc.deployment import create_deployment


def test_private_files_0600(tmp_path: Path) -> None:
    create_deployment(tmp_path / "d", 3, 2, ports=[41001, 41002, 41003])
    for name in ("key.pem", "xwing.key"):
        mode = stat.S_IMODE((tmp_path / "d" / "party-2" / name).stat().st_mode)
        assert mode == 0o600, name


def test_config_loads(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 3, 2, ports=[41001, 41002, 41003])
    config = load_config(paths[2])
    assert config.party == 3
    assert config.threshold == 2
    assert [p.port for p in config.parties] == [41001, 41002, 41003]
    assert config.me.host == "127.0.0.1"


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("x")
    with pytest.raises(InvalidArgument, match="not empty"):
        create_deployment(tmp_path / "d", 3, 2)


def test_threshold_above_parties(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="threshold 4"):
        create_deployment(tmp_path / "d", 3, 4)


def _rewrite(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_config_hostname_rejected(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, ports=[41001, 41002])
    data = json.loads(paths[0].read_text())
    data["parties"][0]["host"] = "example.org"
    paths[0].write_text(json.dumps(data))
    with pytest.raises(InvalidArgument, match="not an IP address"):
        load_config(paths[0])


def test_config_own_id_missing(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, ports=[41001, 41002])
    _rewrite(paths[0], party=7)
    with pytest.raises(InvalidArgument, match="own party id 7"):
        load_config(paths[0])


def test_config_wrong_version(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, ports=[41001, 41002])
    _rewrite(paths[0], version=9)
    with pytest.raises(InvalidArgument, match="version"):
        load_config(paths[0])


def test_base_port_past_65535(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="base port 65534") as caught:
        create_deployment(tmp_path / "d", 3, 2, base_port=65534)
    assert "65532" in (caught.value.fix or "")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("host", ["example.com", "", "not a host"])
def test_init_rejects_hostname(tmp_path: Path, host: str) -> None:
    with pytest.raises(InvalidArgument, match="not an IP address"):
        create_deployment(tmp_path / "d", 2, 2, host=host, ports=[41001, 41002])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ca_certificate": None}, "'ca_certificate' is None"),
        ({"certificate": 5}, "'certificate' is 5"),
        ({"parties": 5}, "'parties' is int"),
        ({"party": True}, "own party id True"),
        ({"dealer_sha256": 5}, "dealer_sha256 5"),
    ],
)
def test_config_bad_field(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, ports=[41001, 41002])
    _rewrite(paths[0], **changes)
    with pytest.raises(InvalidArgument, match=message):
        load_config(paths[0])


def test_config_bad_fingerprint(tmp_path: Path) -> None:
    paths = create_deployment(tmp_path / "d", 2, 2, ports=[41001, 41002])
    data = json.loads(paths[0].read_text())
    data["parties"][1]["certificate_sha256"] = 12
    paths[0].write_text(json.dumps(data))
    with pytest.raises(InvalidArgument, match="certificate_sha256 12"):
        load_config(paths[0])


def test_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "party.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        load_config(path)
