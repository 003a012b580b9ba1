"""Rotation of stores whose envelopes are bound to their object ids (store URL ``aad=id``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agile.envelope import decrypt, encrypt, read_header
from agile.errors import AuthenticationFailed, StoreError
from agile.rotate import RotateOptions, open_store, parse_store_url, rotate

URLS = {
    "dir": "dir:{root}/objects?aad=id",
    "sqlite": "sqlite:///{root}/objects.db?aad=id",
}


def _bound_store(keystore, home: Path, kind: str, payload: str):
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(URLS[kind].format(root=home.parent), create=True)
    keystore.add_store("objects", store.url)
    originals = {}
    for index in range(5):
        object_id = f"obj{index}"
        plaintext = os.urandom(100)
        originals[object_id] = plaintext
        sealed = encrypt(
            plaintext, keyset, policy="default", payload_algorithm=payload, aad=object_id.encode()
        )
        store.put(object_id, sealed)
    return store, originals


@pytest.mark.parametrize("kind", sorted(URLS))
@pytest.mark.parametrize("payload", ["aes-256-gcm", "aes-128-gcm"])
def test_bound_objects_rotate(keystore, home: Path, kind: str, payload: str) -> None:
    store, originals = _bound_store(keystore, home, kind, payload)
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert report["failures"] == []
    for object_id, plaintext in originals.items():
        sealed = store.read(object_id)
        assert read_header(sealed).recipients[0].algorithm == "x-wing"
        assert decrypt(sealed, keystore, policy="pq-hybrid", aad=object_id.encode()) == plaintext


def test_bound_object_moved_fails(keystore, home: Path) -> None:
    store, _ = _bound_store(keystore, home, "sqlite", "aes-128-gcm")
    rotate(str(home), RotateOptions(policy="pq-hybrid"))
    with pytest.raises(AuthenticationFailed):
        decrypt(store.read("obj0"), keystore, policy="pq-hybrid", aad=b"obj1")


def test_unbound_store_reports_bound_objects(keystore, home: Path) -> None:
    keyset = keystore.create_keyset("team", "kem", algorithm="x25519", policy="default")
    store = open_store(str(home.parent / "plain"), create=True)
    keystore.add_store("plain", store.url)
    store.put("obj0", encrypt(b"data", keyset, policy="default", aad=b"obj0"))
    report = rotate(str(home), RotateOptions(policy="pq-hybrid"))
    assert [failure["object"] for failure in report["failures"]] == ["obj0"]


def test_url_aad_round_trip(tmp_path: Path) -> None:
    url = parse_store_url(f"dir:{tmp_path}?aad=id")
    assert parse_store_url(str(url)) == url


def test_url_aad_invalid(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="invalid aad="):
        parse_store_url(f"sqlite:///{tmp_path}/x.db?aad=path")
