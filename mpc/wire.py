"""Message framing between parties: a small JSON header and a binary body.

Frame layout: ``AMPC`` | header length (4 bytes, big endian) | body length
(8 bytes, big endian) | header (UTF-8 JSON object) | body.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from agile.errors import MPCError

from .field import ELEMENT_SIZE, MAX_LENGTH

__all__ = ["MAGIC", "MAX_HEADER", "MAX_BODY", "write_frame", "read_frame"]

MAGIC = b"AMPC"
_LENGTHS = struct.Struct(">IQ")
MAX_HEADER = 64 * 1024
#: Three of the longest vectors (a Beaver triple batch) plus room for the HPKE enc and tag.
MAX_BODY = 3 * (MAX_LENGTH + 1) * ELEMENT_SIZE + 4096


async def write_frame(writer: asyncio.StreamWriter, header: dict[str, Any], body: bytes) -> None:
    """Send one frame and wait until it is handed to the transport."""
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    writer.write(MAGIC + _LENGTHS.pack(len(encoded), len(body)) + encoded)
    writer.write(body)
    await writer.drain()


async def read_frame(reader: asyncio.StreamReader, peer: str) -> tuple[dict[str, Any], bytes]:
    """Read one frame; raise :class:`asyncio.IncompleteReadError` at end of stream."""
    prefix = await reader.readexactly(len(MAGIC) + _LENGTHS.size)
    if prefix[: len(MAGIC)] != MAGIC:
        raise MPCError(
            f"{peer} sent a frame without the AMPC magic", fix="the peer is not an agile party"
        )
    header_size, body_size = _LENGTHS.unpack(prefix[len(MAGIC) :])
    if header_size > MAX_HEADER or body_size > MAX_BODY:
        raise MPCError(
            f"{peer} sent a frame of {header_size} + {body_size} bytes, above the limit",
            fix="vectors are limited to 2^24 elements",
        )
    header_bytes = await reader.readexactly(header_size)
    body = await reader.readexactly(body_size)
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MPCError(f"{peer} sent a frame whose header is not JSON") from None
    if not isinstance(header, dict):
        raise MPCError(f"{peer} sent a frame whose header is not a JSON object")
    return header, body
