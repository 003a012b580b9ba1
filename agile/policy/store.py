"""The active policy of a keystore, stored beside its keysets.

``policy.json`` in the keystore directory records the spec.  A built-in spec is
stored by name, so a newer agile brings its updated profile.  A file's text is
stored too, so the keystore does not depend on the file staying where it was.

A stored text is checked against its recorded SHA-256 (``text_hash``, and for
Rego also ``hash``, which covers the module text) before it is parsed, so a
policy.json edited by hand raises :class:`InvalidPolicy` and its Rego never
runs.  Records written before ``text_hash`` existed still load: a Rego text is
then checked against ``hash`` alone, or if that is missing too, it goes through
the isolated check as a file would.  The hash of a TOML text is not its text
hash but that of the resolved rules, which change when a built-in ``base``
profile changes in a newer agile, so a mismatch there is only logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidPolicy, KeystoreError
from ..fsio import SECRET_MODE, atomic_write
from .loader import (
    MAX_POLICY_BYTES,
    load_policy,
    parse_profile_text,
    policy_file,
    policy_from_text,
    read_policy_text,
    read_regular_file,
)
from .model import Policy

__all__ = [
    "POLICY_FILE",
    "DEFAULT_POLICY",
    "active_policy",
    "set_active_policy",
    "stored_policy_identity",
]

log = logging.getLogger("agile.policy")

#: File name of the stored policy inside a keystore directory.
POLICY_FILE = "policy.json"

#: The built-in profile a keystore without a stored policy uses.
DEFAULT_POLICY = "default"

_FORMAT_VERSION = 1

#: Largest policy.json read, in bytes: JSON escapes can make the stored text up to six
#: times as long as the policy file.
_MAX_RECORD_BYTES = 8 * MAX_POLICY_BYTES

#: Maximum digits of an integer in policy.json, whose only integer is the format version.
_MAX_INTEGER_DIGITS = 20


def _parse_int(text: str) -> int:
    # Checked before int() so that a long number gets this message, not Python's limit hint.
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer has {len(text)} digits")
    return int(text)


def _read_record(path: Path) -> Any:
    """Parse policy.json; raise ``ValueError`` for JSON that is malformed or nested too deeply."""
    data = read_regular_file(path, _MAX_RECORD_BYTES).decode("utf-8")
    try:
        return json.loads(data, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _text_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def set_active_policy(keystore_dir: Path, spec: str) -> Policy:
    """Validate ``spec`` and store it as the keystore's active policy (atomic write, 0600)."""
    path = policy_file(spec)
    text = None
    if path is None:
        policy = load_policy(spec)
    else:
        # Validate the same text that is stored, so an edit to the file in between
        # cannot store a policy that was never validated.
        text = read_policy_text(path)
        policy = policy_from_text(text, path)
    directory = Path(keystore_dir)
    if not directory.is_dir():
        raise KeystoreError(
            f"keystore directory {str(directory)!r} not found",
            fix="create the keystore first, or pass --keystore DIR",
        )

    record: dict[str, Any] = {
        "version": _FORMAT_VERSION,
        "name": policy.name,
        "hash": policy.hash,
    }
    if path is None or text is None:
        record["spec"] = spec
    else:
        record["engine"] = "rego" if path.suffix == ".rego" else "toml"
        record["source"] = str(path.resolve())
        record["text"] = text
        record["text_hash"] = _text_hash(text)

    data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
    atomic_write(directory / POLICY_FILE, data, mode=SECRET_MODE)
    log.info("keystore %s: active policy set to %s (%s)", directory, policy.name, policy.hash)
    return policy


def stored_policy_identity(keystore_dir: Path) -> tuple[str | None, str | None]:
    """Return the name and hash of the keystore's active policy without evaluating it.

    A keystore without a stored policy uses the built-in default.  A stored record
    that cannot be read returns ``(None, None)``.
    """
    path = Path(keystore_dir) / POLICY_FILE
    try:
        record = _read_record(path)
    except FileNotFoundError:
        default = load_policy(DEFAULT_POLICY)
        return default.name, default.hash
    except (OSError, ValueError):
        return None, None
    if not isinstance(record, dict):
        return None, None
    name, hash_value = record.get("name"), record.get("hash")
    return (
        name if isinstance(name, str) else None,
        hash_value if isinstance(hash_value, str) else None,
    )


# The policy last loaded from each policy.json, by path, with the file's (inode, mtime,
# size) when it was read.  Reusing one Policy object keeps its cache of allow decisions,
# which a policy parsed anew on every call to the library API would lose.
_loaded: dict[str, tuple[tuple[int, int, int] | None, Policy]] = {}
_LOADED_SIZE = 64


def active_policy(keystore_dir: Path) -> Policy:
    """Return the keystore's stored policy, or the built-in ``default`` when none is set.

    The file is read again only when its inode, modification time or size changed
    since the last call (``set_active_policy`` replaces it with a new inode).
    """
    path = os.path.join(keystore_dir, POLICY_FILE)
    try:
        status = os.stat(path)
        stamp: tuple[int, int, int] | None = (status.st_ino, status.st_mtime_ns, status.st_size)
    except FileNotFoundError:
        stamp = None
    cached = _loaded.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    policy = _read_active(Path(path)) if stamp is not None else load_policy(DEFAULT_POLICY)
    if len(_loaded) >= _LOADED_SIZE:
        _loaded.clear()
    _loaded[path] = (stamp, policy)
    return policy


def _read_active(path: Path) -> Policy:
    try:
        record = _read_record(path)
    except FileNotFoundError:
        return load_policy(DEFAULT_POLICY)
    except (OSError, ValueError) as error:
        # ValueError covers RejectedFile (not a regular file, too large) and bad JSON.
        raise KeystoreError(
            f"stored policy {str(path)!r} is unreadable: {error}",
            fix="run 'agile policy set NAME|FILE' to store a policy again",
        ) from None

    if not isinstance(record, dict) or record.get("version") != _FORMAT_VERSION:
        raise KeystoreError(
            f"stored policy {str(path)!r} has an unknown format",
            fix="run 'agile policy set NAME|FILE' to store a policy again",
        )
    if "spec" in record:
        try:
            return load_policy(str(record["spec"]))
        except InvalidPolicy as error:
            # Name the stored file: the user gave no --policy and may not know of it.
            raise InvalidPolicy(
                f"stored policy {str(path)!r}: {error}",
                fix=(error.fix or "") + "; or run 'agile policy set NAME|FILE' to store another",
            ) from None

    stored_from = record.get("source")
    source = str(path)
    if isinstance(stored_from, str) and stored_from:
        source = f"{path} (stored from {stored_from})"
    text = record.get("text")
    if not isinstance(text, str):
        raise InvalidPolicy(f"{source}: no policy text", fix="run 'agile policy set' again")
    rego = record.get("engine") == "rego"
    hashed = _check_text_hash(record, text, path, rego=rego)

    if rego:
        from .rego import RegoPolicy

        # Text that matches its hash passed the isolated check when 'agile policy set'
        # stored it.  A record without a hash may have been written by hand.
        return RegoPolicy(text, source=source, isolate=not hashed)

    name = record.get("name")
    policy = parse_profile_text(text, source, default_name=name if isinstance(name, str) else None)
    recorded_hash = record.get("hash")
    if recorded_hash is not None and recorded_hash != policy.hash:
        log.warning(
            "stored policy %s now resolves to %s, not to the recorded %s, because a built-in "
            "base profile changed or the record was edited; run 'agile policy set' to record it",
            path,
            policy.hash,
            recorded_hash,
        )
    return policy


def _check_text_hash(record: dict[str, Any], text: str, path: Path, *, rego: bool) -> bool:
    """Raise :class:`InvalidPolicy` if ``text`` does not match a hash the record holds.

    Return whether the record held a hash of the text to check against.
    """
    recorded = [record["text_hash"]] if "text_hash" in record else []
    if rego and "hash" in record:
        recorded.append(record["hash"])
    actual = _text_hash(text)
    if any(value != actual for value in recorded):
        raise InvalidPolicy(
            f"stored policy {str(path)!r}: the policy text does not match the hash recorded "
            "with it, so the file was changed after 'agile policy set' stored it",
            fix="run 'agile policy set NAME|FILE' to store the policy again, and edit the "
            "policy file rather than policy.json",
        )
    return bool(recorded)
