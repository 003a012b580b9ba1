"""Reader for the project's own golden vectors: envelopes of a format version with their plaintexts.

A golden set is a folder with ``manifest.json`` (format version, the passphrase of
its public test keystore, and one entry per envelope), the keystore, and the
envelope and plaintext files.  Each entry is one case: the envelope must decrypt
(or its signatures verify) to the stored plaintext with the current code, so
every later release proves that it still reads the format.  An entry may name the
policy to open it with, either a built-in spec or a policy file inside the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidPolicy, VectorFormatError
from .judge import judge, mismatch
from .report import FileReport
from .targets import Selection

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = ["looks_like", "run_file"]

FORMAT = "agile-golden"
#: Provider column for golden cases, which exercise the envelope code with the preferred providers.
PROVIDER = "agile"
#: Values of an entry's ``kind``: an encrypted envelope to decrypt, or a signed one to verify.
KINDS = ("encrypted", "signature")


def _member(
    path: Path,
    name: Any,
    *,
    folder: bool = False,
    entry: str | None = None,
    field: str | None = None,
    fix: str = "name files relative to manifest.json, or restore the set from the repository",
) -> Path:
    """Return ``name`` resolved inside the golden set beside ``path``.

    The manifest is input: a name such as ``/dev/zero`` or ``../../..`` must not make the
    runner read a device or copy a tree from elsewhere.  ``entry`` and ``field`` name the
    manifest entry and its field in errors, and ``fix`` is the advice for a name outside
    the folder.
    """
    where = f"{path}: {entry}" if entry is not None else str(path)
    label = f"{field} {name!r}" if field is not None else repr(name)
    root = path.parent.resolve()
    try:
        target = (root / str(name)).resolve()
    except RuntimeError:
        # Path.resolve raises RuntimeError on a symlink loop before Python 3.13, and from
        # 3.13 on it returns the looping link, which the check below catches.
        target = None
    if target is None or (target.is_symlink() and not target.exists()):
        raise VectorFormatError(
            f"{where}: {label} is a symlink loop",
            fix="replace the symlink with the file, or restore the set from the repository",
        )
    kind_ok = target.is_dir() if folder else target.is_file()
    if not isinstance(name, str) or not target.is_relative_to(root) or not kind_ok:
        raise VectorFormatError(
            f"{where}: {label} is not a {'folder' if folder else 'regular file'} inside "
            f"the golden set's folder {str(root)!r}",
            fix=fix,
        )
    return target


def _policy_fix() -> str:
    from ..policy import builtin_profiles

    return (
        "name a built-in profile, one of " + ", ".join(builtin_profiles()) + ", optionally "
        "with modules as in 'default:pq', or a .toml or .rego file inside the golden set's folder"
    )


def _entry_policy(path: Path, vector: dict[str, Any]) -> Policy | None:
    """Load the policy that entry ``vector`` names, or return None when it names none.

    The policy is a built-in spec (``legacy``, ``default:pq``) or a policy file inside
    the golden set's folder, named relative to manifest.json.  Any other name, a file
    outside the folder (directly or through a symlink) and an invalid policy are
    damage: a policy from elsewhere could allow what the set means to test, and an
    unknown name is a broken set, not a failure of the envelope code.
    """
    from ..policy import builtin_modules, builtin_profiles, load_policy
    from ..policy.loader import policy_file

    spec = vector.get("policy")
    if spec is None:
        return None
    where = f"{path}: {vector['name']}"
    if not isinstance(spec, str) or not spec:
        raise VectorFormatError(
            f"{where}: policy must be a policy name or file name, not {spec!r}",
            fix=_policy_fix(),
        )

    # policy_file separates file names (a path, or a name ending in .toml or .rego) from
    # built-in specs.  A built-in spec is checked here, because load_policy would also
    # look for a file of that name in the current folder.
    if policy_file(spec) is None:
        profile, *modules = spec.split(":")
        unknown = [module for module in modules if module not in builtin_modules()]
        if profile not in builtin_profiles() or unknown:
            raise VectorFormatError(
                f"{where}: unknown policy {spec!r}, which is neither a built-in profile nor "
                "a file name",
                fix=_policy_fix(),
            )
        source: str | Path = spec
    else:
        source = _member(path, spec, entry=str(vector["name"]), field="policy", fix=_policy_fix())

    try:
        return load_policy(source)
    except InvalidPolicy as error:
        raise VectorFormatError(
            f"{where}: policy {spec!r} is invalid: {error}",
            fix=error.fix or "restore the policy file from the repository",
        ) from None


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
    """Raise VectorFormatError for an unreadable format version, an unknown kind or a bad aad.

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
        if not isinstance(vector.get("aad", ""), str):
            raise VectorFormatError(
                f"{path}: {vector['name']}: aad must be a string, not {vector['aad']!r}",
                fix="write the associated data as text, or restore manifest.json from the "
                "repository",
            )


def run_file(path: Path, manifest: dict[str, Any], selection: Selection) -> FileReport:
    from .. import envelope
    from ..keys import Keystore

    _check_manifest(path, manifest)
    # Policies load before any case runs, so that a bad one is damage, not a failed case.
    policies = [_entry_policy(path, vector) for vector in manifest["vectors"]]
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
        keystore = _member(path, manifest["keystore"], folder=True, field="keystore")
        _copy_keystore(path, keystore, keystore_copy)
        store = Keystore.open(keystore_copy)
        with _passphrase(manifest["passphrase"]):
            for vector, policy in zip(manifest["vectors"], policies, strict=True):
                # A missing file is a damaged vector set, not a failure of agile.
                entry = str(vector["name"])
                try:
                    envelope_path = _member(path, vector["envelope"], entry=entry, field="envelope")
                    plaintext_path = _member(
                        path, vector["plaintext"], entry=entry, field="plaintext"
                    )
                    data = envelope_path.read_bytes()
                    plaintext = plaintext_path.read_bytes()
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
                    policy: Policy | None = policy,
                ) -> str | None:
                    if vector["kind"] == "signature":
                        envelope.verify(data, plaintext, store, policy=policy)
                        return None
                    aad = vector.get("aad", "").encode()
                    opened = envelope.decrypt(data, store, policy=policy, aad=aad)
                    return mismatch("plaintext", opened, plaintext)

                judge(report, algorithm, PROVIDER, vector["name"], "valid", action)
    return report
