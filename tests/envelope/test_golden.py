"""Golden vectors of envelope format v1: every stored envelope still opens to its plaintext."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agile import envelope
from agile.keys import Keystore

GOLDEN = Path(__file__).resolve().parents[2] / "vectors" / "golden" / "v1"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


@pytest.fixture(scope="module")
def golden_store(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    copy = tmp_path_factory.mktemp("golden") / "keystore"
    shutil.copytree(GOLDEN / MANIFEST["keystore"], copy)
    return Keystore.open(copy)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGILE_PASSPHRASE", MANIFEST["passphrase"])


@pytest.mark.parametrize("vector", MANIFEST["vectors"], ids=lambda v: v["name"])
def test_golden_vector(golden_store: Keystore, vector: dict) -> None:
    data = (GOLDEN / vector["envelope"]).read_bytes()
    plaintext = (GOLDEN / vector["plaintext"]).read_bytes()
    policy = vector.get("policy")
    if vector["kind"] == "signature":
        assert len(envelope.verify(data, plaintext, golden_store, policy=policy)) == 2
        return
    aad = vector.get("aad", "").encode()
    assert envelope.decrypt(data, golden_store, policy=policy, aad=aad) == plaintext


def test_golden_headers_name_known_keys(golden_store: Keystore) -> None:
    for vector in MANIFEST["vectors"]:
        header = envelope.read_header((GOLDEN / vector["envelope"]).read_bytes())
        ids = [s.key_id for s in header.recipients] or [s.key_id for s in header.signatures]
        for key_id in ids:
            assert golden_store.find_key(key_id)[1].id == key_id
