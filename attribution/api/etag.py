"""Strong ETags of cached answers, and the 304 that spares a client the bytes it already has.

An answer of a window is a pure function of the attribution run its lines are as of (the window's
version, read with the lines like a sequence lock, see :mod:`attribution.api.cache`) and of the request's
answer identity: the route, its normalised query (window, period, grouping, filters, page) and what the
caller may see (a tenant key's chargeback hides the cluster's total, an admin's does not). The tag hashes
exactly those, plus the settings and release that shape the bytes, so equal tags mean byte-equal bodies
(a strong validator, RFC 9110 section 8.8.1) and a new run gives every answer a new tag.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import Header, Response

from attribution import __version__

JSON = "application/json"
IfNoneMatch = Annotated[
    str | None,
    Header(max_length=2000, description="the ETag of an answer held: 304 without a body if it is current"),
]
#: Answers depend on the caller's key: shared caches must not keep them, clients must revalidate.
CACHE_CONTROL = "private, no-cache"


def answer_etag(version: str, route: str, *identity: object) -> str:
    """The quoted strong tag of ``route``'s answer for ``identity``, as of the run ``version`` names."""
    parts = [__version__, version, route, *(repr(p) for p in identity)]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or is ``*``). The header's comparison is the weak one
    (RFC 9110 section 13.1.2): a ``W/`` prefix the client or a proxy added does not prevent the match."""
    if not if_none_match:
        return False
    for raw in if_none_match.split(","):
        tag = raw.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def not_modified(etag: str) -> Response:
    """304, no body, with the tag it validates."""
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def tagged(body: bytes, etag: str, media_type: str = JSON) -> Response:
    """200 with the cached bytes and their tag."""
    return Response(body, media_type=media_type, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
