"""A keyset file this user may not read gets a fix about its mode, not about removing it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agile.keys import Keystore
from cli.main import main

#: The user that reads the keystore when the tests run as root, which ignores file modes.
NOBODY = 65534


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Return a keystore with keysets 'a' and 'b', where 'b.json' has mode 000.

    The folder lies outside pytest's 0700 temporary folder, so that another user reaches it.
    """
    monkeypatch.setenv("AGILE_PASSPHRASE", "access tests")
    monkeypatch.setenv("AGILE_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("AGILE_ARGON2_ITERATIONS", "1")
    monkeypatch.delenv("AGILE_HOME", raising=False)
    base = Path(tempfile.mkdtemp(prefix="agile-access-"))
    base.chmod(0o755)
    store = Keystore.open(base / "ks")
    store.create_keyset("a", "kem", "x25519")
    store.create_keyset("b", "kem", "x25519")
    if os.geteuid() == 0:
        for path in [base / "ks", *(base / "ks").rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    (base / "ks" / "keysets" / "b.json").chmod(0)
    yield base / "ks"
    shutil.rmtree(base)


def _as_reader(task: Callable[[], object]) -> object:
    """Return ``task()`` run by a user that file modes bind: this one, or as root uid 65534.

    As root, a forked child drops to uid 65534 and sends the JSON result back through a
    pipe, because the interpreter may live where that user cannot start it.
    """
    if os.geteuid() != 0:
        return task()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            with os.fdopen(write_end, "w") as pipe:
                json.dump(task(), pipe)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(text)


def test_scan_fix_names_mode(home: Path) -> None:
    def scan() -> list[list[str]]:
        result = Keystore.open(home, create=False).scan()
        return [[item.reason, item.fix] for item in result.unreadable]

    unreadable = _as_reader(scan)

    assert isinstance(unreadable, list)
    assert len(unreadable) == 1
    reason, fix = unreadable[0]
    assert "b.json" in reason
    assert "Permission denied" in reason
    assert f"chmod 600 {home / 'keysets' / 'b.json'}" in fix
    assert "remove it" not in fix
    assert "restore" not in fix


def test_cli_list_fix_names_mode(home: Path) -> None:
    def keyset_list() -> list[str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            with contextlib.suppress(SystemExit):
                main(["--keystore", str(home), "keyset", "list"])
        return [stdout.getvalue(), stderr.getvalue()]

    output = _as_reader(keyset_list)

    assert isinstance(output, list)
    stdout, stderr = output
    assert stdout.startswith("a ")
    assert "chmod 600" in stderr
    assert "remove it" not in stderr
