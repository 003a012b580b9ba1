"""One keystore used by several threads and by two processes while its keys rotate."""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

import agile
from agile.keys import Keystore

ROUNDS = 10


def _rotate(home: str, rounds: int, results: Any) -> None:
    """Add a key to keyset 'box' and promote it, ``rounds`` times (a child process)."""
    try:
        for _ in range(rounds):
            keyset = Keystore.open(home, create=False).keyset("box")
            keyset.promote(keyset.add_key().id)
        results.put("ok")
    except Exception:  # noqa: BLE001 - the parent reports the traceback
        results.put(traceback.format_exc())


def _decrypt(home: str, sealed: list[tuple[bytes, bytes]], rounds: int, results: Any) -> None:
    """Decrypt old envelopes and round-trip new ones in a loop (a child process)."""
    failures = []
    for _ in range(rounds):
        for envelope, plaintext in sealed:
            try:
                if agile.decrypt(envelope, keystore=home) != plaintext:
                    failures.append("old envelope decrypted to another plaintext")
                fresh = agile.encrypt(plaintext, to="box", keystore=home)
                if agile.decrypt(fresh, keystore=home) != plaintext:
                    failures.append("new envelope decrypted to another plaintext")
            except Exception as error:  # noqa: BLE001 - the parent reports each failure
                failures.append(f"{type(error).__name__}: {error}")
    results.put(failures)


@pytest.fixture
def box(store: Keystore) -> Keystore:
    """Return the keystore with an x25519 keyset 'box'; children inherit the environment."""
    store.create_keyset("box", "kem", "x25519")
    return store


def test_threads_with_writer(box: Keystore) -> None:
    sealed = [
        (agile.encrypt(b"old %d" % i, to="box", keystore=box), b"old %d" % i) for i in range(3)
    ]
    failures: list[str] = []

    def work() -> None:
        for _ in range(ROUNDS):
            try:
                plaintext = os.urandom(64)
                fresh = agile.encrypt(plaintext, to="box", keystore=box)
                if agile.decrypt(fresh, keystore=box) != plaintext:
                    failures.append("new envelope decrypted to another plaintext")
                for envelope, expected in sealed:
                    if agile.decrypt(envelope, keystore=box) != expected:
                        failures.append("old envelope decrypted to another plaintext")
            except Exception:  # noqa: BLE001 - collected and asserted below
                failures.append(traceback.format_exc())

    def write() -> None:
        try:
            for _ in range(ROUNDS):
                keyset = Keystore.open(box.path).keyset("box")
                keyset.promote(keyset.add_key().id)
        except Exception:  # noqa: BLE001 - collected and asserted below
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=work) for _ in range(8)]
    threads.append(threading.Thread(target=write))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_threads_lose_no_key(box: Keystore) -> None:
    def write(shared: bool) -> None:
        for _ in range(ROUNDS):
            keyset = (box if shared else Keystore.open(box.path)).keyset("box")
            keyset.promote(keyset.add_key().id)

    threads = [threading.Thread(target=write, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(Keystore.open(box.path).keyset("box").keys) == 1 + 4 * ROUNDS


def test_processes_rotate_and_decrypt(box: Keystore, keystore: Path) -> None:
    sealed = [
        (agile.encrypt(b"old %d" % i, to="box", keystore=box), b"old %d" % i) for i in range(3)
    ]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    rotator = context.Process(target=_rotate, args=(str(keystore), ROUNDS, results))
    reader = context.Process(target=_decrypt, args=(str(keystore), sealed, ROUNDS, results))
    rotator.start()
    reader.start()
    rotator.join(timeout=120)
    reader.join(timeout=120)
    outcomes = [results.get(timeout=10), results.get(timeout=10)]
    assert sorted(outcomes, key=str) == sorted(["ok", []], key=str)
