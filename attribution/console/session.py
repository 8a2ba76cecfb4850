"""Console sessions: a signed cookie naming an API key, and a CSRF token bound to that cookie.

The cookie is ``<key_id>.<expires_unix>.<signature>`` where the signature is an HMAC-SHA256 keyed by the
server's session secret (``api.session_secret_file``) together with the key's stored SHA-256 digest. So
no session table or migration is needed, every replica holding the secret verifies it, a revoked key ends
its sessions at once (the row is read on every request), and reading the database (a read-only analytics
role, a backup) is not enough to forge one: that also takes the secret, which lives only in the servers'
configuration. The API key itself is sent once, in the sign-in form's body, and never stored by the
browser.

Cross-site requests: the cookie is ``SameSite=Strict`` and ``HttpOnly``; every POST also carries a CSRF
token (an HMAC of the session cookie) in its form, and a POST whose ``Origin`` is another site is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from attribution.access import Principal
from attribution.errors import ConfigError
from attribution.store.apikeys import authenticate, scopes_of
from attribution.store.tables import ApiKey

COOKIE = "attribution_session"
#: A session lasts a working day; signing in again is one paste of the key.
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True, slots=True)
class Viewer(Principal):
    """Who is signed in: the API's principal (:mod:`attribution.access`) and the cookie that signs them in."""

    cookie: str

    @property
    def csrf(self) -> str:
        return _mac(self.cookie.encode(), "csrf")


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


#: The least session secret accepted, in bytes (an HMAC key of SHA-256's block of entropy).
MIN_SECRET_BYTES = 32


def session_secret(path: Path | None) -> bytes:
    """The configured secret (the file's bytes, surrounding whitespace dropped), or a random one for
    this process when none is configured."""
    if path is None:
        return secrets.token_bytes(MIN_SECRET_BYTES)
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"api.session_secret_file {str(path)!r} cannot be read ({exc.strerror}): create it, e.g. "
            "with 'openssl rand -hex 32 > FILE'"
        ) from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"api.session_secret_file {str(path)!r} holds {len(secret)} bytes, fewer than "
            f"{MIN_SECRET_BYTES}: write a longer one, e.g. with 'openssl rand -hex 32 > FILE'"
        )
    return secret


def _signature(secret: bytes, row: ApiKey, expires: int) -> str:
    key = hmac.new(secret, row.secret_sha256.encode(), hashlib.sha256).digest()
    return _mac(key, "console-session", row.key_id, str(expires))


def sign_in(session: Session, secret: bytes, token: str, now: float | None = None) -> str | None:
    """The session cookie's value for a valid, live API key; None for anything else."""
    row = authenticate(session, token.strip())
    if row is None:
        return None
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    return f"{row.key_id}.{expires}.{_signature(secret, row, expires)}"


def viewer_of(session: Session, secret: bytes, cookie: str | None, now: float | None = None) -> Viewer | None:
    """The signed-in viewer, or None: no cookie, a bad or expired signature, or a revoked key."""
    if not cookie or cookie.count(".") != 2:
        return None
    key_id, expires_text, signature = cookie.split(".")
    if not expires_text.isdigit() or int(expires_text) < (now if now is not None else time.time()):
        return None
    row = session.get(ApiKey, key_id) if len(key_id) == 12 else None
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(signature, _signature(secret, row, int(expires_text))):
        return None
    return Viewer(row.key_id, frozenset(scopes_of(row)), cookie)


def csrf_ok(viewer: Viewer, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(viewer.csrf, submitted)


def same_origin(origin: str | None, host: str | None) -> bool:
    """A POST from this site: no ``Origin`` (old browsers, same-origin navigations) or one naming our host."""
    if origin is None:
        return True
    if origin == "null" or host is None:
        return False
    return origin.split("://", 1)[-1] == host
