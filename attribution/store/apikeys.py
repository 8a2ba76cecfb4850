"""API keys: created and revoked by the CLI, shown once, stored as a SHA-256, checked in constant time.

A token is ``attr_<key_id>_<secret>``: ``key_id`` (12 hex digits) is public and finds the row, ``secret``
(32 random bytes, URL-safe base64) is never stored. Because the secret has 256 bits of entropy, a plain
SHA-256 is enough (a slow password hash protects low-entropy secrets; this one cannot be guessed), and it
keeps checking a key on every request cheap. The digest is compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from attribution.errors import AttributionError, NotFoundError
from attribution.model.names import InvalidNameError, canonical_name
from attribution.store.tables import ApiKey

PREFIX = "attr"
ADMIN, FINANCE, BILLING, TENANT_PREFIX = "admin", "finance", "billing", "tenant:"
_TOKEN = re.compile(r"^attr_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class InvalidScopeError(AttributionError):
    status_code = 422
    code = "invalid_scope"


def validate_scope(scope: str) -> str:
    """One of ``admin``, ``finance``, ``billing`` or ``tenant:<id>``; anything else is refused.

    A tenant id is a gateway label value (``Acme Corp`` too) and passes the one name check the collectors
    apply (:func:`canonical_name`): a scope holding an invisible, bidirectional or look-alike character
    would show in ``keys list`` like another tenant's scope. The scope is stored in NFC, as lines are."""
    if scope in (ADMIN, FINANCE, BILLING):
        return scope
    if scope.startswith(TENANT_PREFIX):
        try:
            return TENANT_PREFIX + canonical_name(scope[len(TENANT_PREFIX) :], "tenant id")
        except InvalidNameError as exc:
            raise InvalidScopeError(f"scope {scope!r}: {exc}") from None
    raise InvalidScopeError(f"unknown scope {scope!r}: use admin, finance, billing or tenant:<id>")


def scopes_of(row: ApiKey) -> tuple[str, ...]:
    """A key's scopes. Stored as a JSON list, so a tenant id may hold spaces; keys created before that
    hold space-separated scopes (which could never contain a space) and read the same as ever."""
    if row.scopes.startswith("["):
        scopes = json.loads(row.scopes)
        assert isinstance(scopes, list)
        return tuple(str(s) for s in scopes)
    return tuple(row.scopes.split())


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    token: str
    """The whole token: shown once, at creation, and never again."""
    scopes: tuple[str, ...]


def create_key(
    session: Session, scopes: Sequence[str], name: str = "", now: datetime | None = None
) -> NewKey:
    if not scopes:
        raise InvalidScopeError("a key needs at least one scope")
    checked = tuple(dict.fromkeys(validate_scope(s) for s in scopes))
    tenant_scopes = [s for s in checked if s.startswith(TENANT_PREFIX)]
    if tenant_scopes and (len(tenant_scopes) > 1 or len(checked) > 1):
        raise InvalidScopeError("a tenant key has exactly one scope, tenant:<id>; create one key per tenant")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            key_id=key_id,
            name=name[:200],
            scopes=json.dumps(list(checked), ensure_ascii=False),
            secret_sha256=_digest(secret),
            created_at=now or datetime.now(UTC),
            revoked_at=None,
        )
    )
    session.flush()
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", checked)


def revoke_key(session: Session, key_id: str, now: datetime | None = None) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}")
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        session.flush()
    return row


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id)).all()


def authenticate(session: Session, token: str) -> ApiKey | None:
    """The live key a token belongs to, or None (malformed, unknown, wrong secret or revoked).

    The digest comparison runs in constant time; a malformed or unknown id returns early, which reveals
    only that the public id does not exist, not anything about a secret.
    """
    match = _TOKEN.match(token)
    if match is None:
        return None
    row = session.get(ApiKey, match.group(1))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(match.group(2))):
        return None
    return row
