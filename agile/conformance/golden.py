"""Reader for the project's own golden vectors: envelopes of a format version with their plaintexts.

A golden set is a folder with ``manifest.json`` (format version, the passphrase of
its public test keystore, and one entry per envelope), the keystore, and the
envelope and plaintext files.  Each entry is one case: the envelope must decrypt
(or its signatures verify) to the stored plaintext with the current code, so
every later release proves that it still reads the format.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import VectorFormatError
from .judge import judge, mismatch
from .report import FileReport
from .targets import Selection

__all__ = ["looks_like", "run_file"]

FORMAT = "agile-golden"
#: Provider column for golden cases, which exercise the envelope code with the preferred providers.
PROVIDER = "agile"
#: Values of an entry's ``kind``: an encrypted envelope to decrypt, or a signed one to verify.
KINDS = ("encrypted", "signature")


def _member(path: Path, name: Any, *, folder: bool = False) -> Path:
    """Return ``name`` resolved inside the golden set beside ``path``.

    The manifest is input: a name such as ``/dev/zero`` or ``../../..`` must not make the
    runner read a device or copy a tree from elsewhere.
    """
    root = path.parent.resolve()
    try:
        target = (root / str(name)).resolve()
    except RuntimeError:
        # Path.resolve raises RuntimeError on a symlink loop before Python 3.13, and from
        # 3.13 on it returns the looping link, which the check below catches.
        target = None
    if target is None or (target.is_symlink() and not target.exists()):
        raise VectorFormatError(
            f"{path}: {name!r} is a symlink loop",
            fix="replace the symlink with the file, or restore the set from the repository",
        )
    kind_ok = target.is_dir() if folder else target.is_file()
    if not isinstance(name, str) or not target.is_relative_to(root) or not kind_ok:
        raise VectorFormatError(
            f"{path}: {name!r} is not a {'folder' if folder else 'regular file'} inside "
            f"the golden set's folder {str(root)!r}",
            fix="name files relative to manifest.json, or restore the set from the repository",
        )
    return target


def _copy_private(source: str, target: str) -> None:
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)


def _copy_keystore(path: Path, source: Path, target: Path) -> None:
    """Copy the golden set's keystore, or raise VectorFormatError naming an unreadable entry."""
    try:
        # The copy is made 0600, as keystore files are, because a checkout leaves them
        # 0644 and the keystore would warn about each one on every run.
        shutil.copytree(source, target, copy_function=_copy_private)
    except shutil.Error as error:
        # copytree carries on past a failed entry and raises one error listing them all.
        failed_source, _target, reason = error.args[0][0]
        raise VectorFormatError(
            f"{path}: cannot copy the keystore entry {failed_source!r}: {reason}",
            fix="restore the golden vector set from the repository",
        ) from None
    except OSError as error:
        raise VectorFormatError(
            f"{path}: cannot copy the keystore {str(source)!r}: {error.strerror}",
            fix="restore the golden vector set from the repository",
        ) from None


def looks_like(document: Any) -> bool:
    return isinstance(document, dict) and {"format_version", "keystore", "vectors"} <= set(document)


@contextlib.contextmanager
def _passphrase(value: str) -> Iterator[None]:
    """Set AGILE_PASSPHRASE in the block: the golden keystore has a public test passphrase."""
    previous = os.environ.get("AGILE_PASSPHRASE")
    os.environ["AGILE_PASSPHRASE"] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ["AGILE_PASSPHRASE"]
        else:
            os.environ["AGILE_PASSPHRASE"] = previous


def _check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Raise VectorFormatError for a format version this release cannot read or an unknown kind.

    Checked before any case runs, so that a damaged manifest is reported as damage and
    never as cases that passed or failed.
    """
    from ..envelope.format import VERSION

    version = manifest["format_version"]
    if type(version) is not int or version != VERSION:
        raise VectorFormatError(
            f"{path}: format_version {version!r} is not supported, because this agile reads only "
            f"golden sets of envelope format version {VERSION}",
            fix="run the set with an agile release that reads that format version, or restore "
            "manifest.json from the repository",
        )
    if not isinstance(manifest["vectors"], list):
        raise VectorFormatError(
            f"{path}: 'vectors' must be a list of entries",
            fix="restore manifest.json from the repository",
        )
    for vector in manifest["vectors"]:
        kind = vector["kind"]
        if kind not in KINDS:
            raise VectorFormatError(
                f"{path}: {vector['name']}: unknown kind {kind!r}",
                fix=f"use one of: {', '.join(KINDS)}",
            )


def run_file(path: Path, manifest: dict[str, Any], selection: Selection) -> FileReport:
    from .. import envelope
    from ..keys import Keystore

    _check_manifest(path, manifest)
    report = FileReport(path=str(path), format=f"{FORMAT}-v{manifest['format_version']}")
    algorithm = f"envelope-v{manifest['format_version']}"
    # The envelopes test agile as a whole, so a run restricted to providers or to
    # registry algorithm ids leaves them out.
    if selection.providers is not None and PROVIDER not in selection.providers:
        return report
    if not selection.wants(algorithm):
        return report
    with tempfile.TemporaryDirectory(prefix="agile-golden-") as scratch:
        # The keystore is copied because opening it takes a lock file and the
        # vectors folder may be read-only.
        keystore_copy = Path(scratch) / "keystore"
        _copy_keystore(path, _member(path, manifest["keystore"], folder=True), keystore_copy)
        store = Keystore.open(keystore_copy)
        with _passphrase(manifest["passphrase"]):
            for vector in manifest["vectors"]:
                # A missing file is a damaged vector set, not a failure of agile.
                try:
                    data = _member(path, vector["envelope"]).read_bytes()
                    plaintext = _member(path, vector["plaintext"]).read_bytes()
                except OSError as error:
                    raise VectorFormatError(
                        f"{path}: {vector['name']}: cannot read {error.filename!r}: "
                        f"{error.strerror}",
                        fix="restore the golden vector set from the repository",
                    ) from None

                def action(
                    vector: dict[str, Any] = vector,
                    data: bytes = data,
                    plaintext: bytes = plaintext,
                ) -> str | None:
                    policy = vector.get("policy")
                    if vector["kind"] == "signature":
                        envelope.verify(data, plaintext, store, policy=policy)
                        return None
                    aad = vector.get("aad", "").encode()
                    opened = envelope.decrypt(data, store, policy=policy, aad=aad)
                    return mismatch("plaintext", opened, plaintext)

                judge(report, algorithm, PROVIDER, vector["name"], "valid", action)
    return report
