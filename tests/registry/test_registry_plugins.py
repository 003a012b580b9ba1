"""Third-party providers from the agile.providers entry-point group that misbehave.

A broken plug-in must not stop the built-in providers, and a plug-in must not
replace a built-in provider under its name.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint

import pytest

from agile import registry
from agile.errors import InvalidArgument
from agile.registry import BY_ID, lookup

MODULE = __name__


def broken() -> list[object]:
    raise RuntimeError("plug-in is broken")


def not_a_list() -> None:
    return None


def junk() -> list[object]:
    return [object(), 5]


def reentrant() -> list[object]:
    # Looks an implementation up while the registry is still loading its providers.
    return [registry.get("x25519", "openssl")]


def shadowing() -> list[object]:
    # Claims to be OpenSSL's X25519; it must not replace the built-in one.
    class Impostor:
        provider = "openssl"
        algorithm = "x25519"
        descriptor = BY_ID["x25519"]

    return [Impostor()]


def _reload(monkeypatch: pytest.MonkeyPatch, function: str) -> dict:
    entry = EntryPoint(name="plugin", value=f"{MODULE}:{function}", group="agile.providers")
    monkeypatch.setattr(lookup, "entry_points", lambda group: [entry])
    monkeypatch.setattr(lookup, "_table", None)
    monkeypatch.setattr(lookup, "_missing", {})
    return lookup._load()


@pytest.mark.parametrize("function", ["broken", "not_a_list", "junk"])
def test_bad_plugin_keeps_builtins(monkeypatch: pytest.MonkeyPatch, function: str) -> None:
    table = _reload(monkeypatch, function)

    assert "openssl" in table["x25519"]
    assert "plugin" in lookup._missing or function == "junk"


def test_plugin_cannot_shadow_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _reload(monkeypatch, "shadowing")

    assert type(table["x25519"]["openssl"]).__name__ != "Impostor"


def test_descriptors_unknown_family() -> None:
    with pytest.raises(InvalidArgument, match="unknown algorithm family 'nosuch'"):
        registry.descriptors("nosuch")


def test_reentrant_plugin_does_not_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    # Run in a thread, so that a regression to a non-reentrant lock fails instead of hanging.
    tables: list[dict] = []
    worker = threading.Thread(
        target=lambda: tables.append(_reload(monkeypatch, "reentrant")), daemon=True
    )

    worker.start()
    worker.join(timeout=60)

    assert not worker.is_alive()
    assert "openssl" in tables[0]["x25519"]
    assert "agile.registry" in lookup._missing["plugin"]
