"""How a webhook request is signed, and how a receiver checks it (the same function, for its tests).

The signature is HMAC-SHA256, keyed by the shared secret, over ``<timestamp>.<body>``: the timestamp
(Unix seconds, ``X-Attribution-Timestamp``) is inside the signed text, so a receiver that refuses old
timestamps also refuses a replayed request. Header: ``X-Attribution-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from attribution.errors import ConfigError

SIGNATURE_HEADER = "X-Attribution-Signature"
TIMESTAMP_HEADER = "X-Attribution-Timestamp"
DELIVERY_HEADER = "X-Attribution-Delivery"
MIN_SECRET_BYTES = 16


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of ``<timestamp>.<body>``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """Whether ``header`` signs ``body`` at ``timestamp``, compared in constant time."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), header)


def read_secret(path: Path, setting: str = "budget_webhook.secret_file") -> bytes:
    """The signing secret from the file ``setting`` names (surrounding blanks dropped); the error names
    the setting and the file, never its content."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"{setting} {str(path)!r} cannot be read ({exc.strerror}): create it, e.g. "
            f"head -c 32 /dev/urandom | base64 > {path}"
        ) from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{setting} {str(path)!r} holds {len(secret)} bytes, fewer than "
            f"{MIN_SECRET_BYTES}: write a longer random secret"
        )
    return secret
