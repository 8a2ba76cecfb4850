"""Cursor pagination: opaque cursors that carry the last key of a page and are bound to their query.

A cursor is URL-safe base64 of ``{"after": <line key>, "query": <digest>, "version": ...}``; the digest covers
the window and the filters, so a cursor replayed with another query (another tenant, another window) is a 422,
not a page of something else. It also carries the version of the results it paged (the attribution run and the
period's state): after a new run or a close, its remaining pages would come from another rounding, so the
cursor is refused with a 409 ``stale_cursor`` and the client starts over. A tenant key's tenant filter is
applied on every page whatever the cursor says, so no cursor reaches another tenant's lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from bisect import bisect_right
from collections.abc import Sequence
from typing import TypeVar

from attribution.errors import AttributionError

Key = tuple[str, ...]
T = TypeVar("T")


class InvalidCursorError(AttributionError):
    status_code = 422
    code = "invalid_cursor"


class StaleCursorError(AttributionError):
    status_code = 409
    code = "stale_cursor"


#: A cursor this API issues is well under this once decoded; anything longer is refused unparsed.
MAX_CURSOR_BYTES = 512


def query_digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def encode_cursor(after: Key, digest: str, version: str = "") -> str:
    body = {"after": list(after), "query": digest, "version": version}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, digest: str, version: str = "") -> Key:
    """The key a page starts after. Nesting or length no issued cursor has is refused before parsing
    (deeply nested JSON would exhaust the parser's recursion)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) > MAX_CURSOR_BYTES:
            raise ValueError("too long")
        body = json.loads(raw)
        after, query, seen = body["after"], body["query"], body.get("version", "")
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise InvalidCursorError("cursor is not one this API issued") from None
    if query != digest or not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise InvalidCursorError("cursor belongs to another query (window or filters differ)")
    if seen != version:
        raise StaleCursorError(
            "the results changed since this cursor was issued (a new attribution run or a period close);"
            " start again from the first page"
        )
    return tuple(after)


def page_after(
    items: Sequence[T], keys: Sequence[Key], after: Key | None, limit: int
) -> tuple[list[T], bool]:
    """Up to ``limit`` items whose key is after ``after`` (``keys`` sorted, parallel to ``items``)."""
    first = 0 if after is None else bisect_right(keys, after)
    chunk = list(items[first : first + limit])
    return chunk, first + limit < len(items)
