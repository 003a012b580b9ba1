"""Input checks shared by the built-in providers, with errors that name the value."""

from __future__ import annotations

from ...errors import InvalidArgument

__all__ = ["describe", "require_length"]


def describe(value: object) -> str:
    """Return '<n> bytes' for a byte string, else the type name, for error messages."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{len(value)} bytes"
    return type(value).__name__


def require_length(
    value: object,
    length: int,
    algorithm: str,
    value_name: str,
    error: type[InvalidArgument] = InvalidArgument,
    fix: str | None = None,
) -> bytes:
    """Return ``value`` if it is ``bytes`` of exactly ``length``; raise ``error`` otherwise.

    The message is built only on failure, because this check runs on every call.
    """
    if type(value) is not bytes or len(value) != length:
        raise error(
            f"{algorithm} {value_name} must be {length} bytes, got {describe(value)}", fix=fix
        )
    return value
