"""Strict decoding of the hexadecimal values in vector files.

``bytes.fromhex`` skips whitespace between bytes, so ``" 00ff"`` and ``"00 ff"``
decode like ``"00ff"``.  A vector value changed that way would still pass, and
its damage would go unreported.  The readers decode with :func:`decode_hex`,
which takes only the digits 0-9, a-f and A-F, in an even number.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["decode_hex", "hex_problem"]

_NOT_HEX_DIGIT = re.compile(r"[^0-9a-fA-F]")

#: Characters of a value shown in an error, so that a long key does not fill the line.
_SHOWN_CHARACTERS = 24


def hex_problem(value: Any) -> str | None:
    """Return None when ``value`` is a string of hexadecimal digit pairs, else what is wrong."""
    if not isinstance(value, str):
        return f"must be a hexadecimal string, not {type(value).__name__}"
    found = _NOT_HEX_DIGIT.search(value)
    if found is not None:
        return f"contains non-hexadecimal text {found.group()!r} at position {found.start()}"
    if len(value) % 2:
        return f"has an odd number of hexadecimal digits ({len(value)})"
    return None


def decode_hex(value: Any, name: str = "value") -> bytes:
    """Decode ``value``, or raise ValueError naming ``name`` when it is not strict hexadecimal.

    The readers call this inside a case's action, where the judge turns a ValueError
    raised in a reader module into a damaged-file error that names the file and case.
    """
    problem = hex_problem(value)
    if problem is not None:
        excerpt = repr(value)
        if isinstance(value, str) and len(value) > _SHOWN_CHARACTERS:
            excerpt = repr(value[:_SHOWN_CHARACTERS]) + "…"
        raise ValueError(f"{name} {excerpt} {problem}")
    return bytes.fromhex(value)
