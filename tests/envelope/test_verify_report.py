"""verify_report lists the signatures that did not count, and why."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agile import envelope
from agile.keys import Keystore
from tests.envelope.conftest import AGILE


@pytest.fixture
def dual(store: Keystore) -> list:
    return [
        store.create_keyset("classic", "signature", "ed25519"),
        store.create_keyset("pq", "signature", "ml-dsa-65"),
    ]


def test_unknown_key_listed(store: Keystore, dual: list, tmp_path: Path) -> None:
    signature = envelope.sign(b"release", dual)
    peer = Keystore.open(tmp_path / "peer")
    pq = dual[1]
    peer.create_keyset("pq", "signature", "ml-dsa-65").import_key(
        pq.export_public(pq.primary.id, format="pem"), public=True
    )

    report = envelope.verify_report(signature, b"release", peer)

    assert [v.algorithm for v in report.verified] == ["ml-dsa-65"]
    assert [(i.key_id, i.algorithm, i.reason) for i in report.ignored] == [
        (dual[0].primary.id, "ed25519", "key not in this keystore")
    ]


def test_policy_rejected_key_listed(store: Keystore, dual: list) -> None:
    signature = envelope.sign(b"release", dual)

    report = envelope.verify_report(signature, b"release", store, policy="pq-only")

    assert [v.algorithm for v in report.verified] == ["ml-dsa-65"]
    (ignored,) = report.ignored
    assert (ignored.key_id, ignored.algorithm) == (dual[0].primary.id, "ed25519")
    assert "pq-only" in ignored.reason
    assert envelope.verify(signature, b"release", store, policy="pq-only") == report.verified


def test_cli_reports_ignored(store: Keystore, dual: list, tmp_path: Path) -> None:
    (tmp_path / "app.tar").write_bytes(b"release")
    (tmp_path / "app.sig").write_bytes(envelope.sign(b"release", dual))
    command = [*AGILE, "--keystore", str(store.path), "verify", "--signature", "app.sig"]
    args = ["app.tar", "--policy", "pq-only"]

    text = subprocess.run([*command, *args], capture_output=True, text=True, cwd=tmp_path)
    data = subprocess.run([*command, *args, "--json"], capture_output=True, text=True, cwd=tmp_path)

    assert text.returncode == 0, text.stderr
    assert f"not checked: key {dual[0].primary.id} (ed25519)" in text.stdout
    report = json.loads(data.stdout)
    assert [v["algorithm"] for v in report["verified"]] == ["ml-dsa-65"]
    assert [i["algorithm"] for i in report["ignored"]] == ["ed25519"]
