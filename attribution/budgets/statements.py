"""Closed periods' statements, delivered from the outbox the close writes: to a folder, to a webhook.

The body is the issued statement as ``GET /v1/periods/{period}/statement`` gives it (JSON, keys sorted),
so the same close always delivers the same bytes under the same delivery id. A folder receives
``statement-YYYY-MM-<first 12 of the content hash>.json``, written to a temporary name and renamed, so a
reader never sees half a file. A webhook gets it signed and retried exactly as the budget alerts
(:mod:`.webhook`). Each attempt, at either, is a row of the delivery log.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from attribution.budgets.signing import read_secret
from attribution.budgets.webhook import Attempt, post_signed
from attribution.config import Settings
from attribution.reports.period_statement import build_statement
from attribution.store.deliveries import (
    attempts_logged,
    lock_pending_statement,
    log_attempt,
    pending_statements,
    set_statement_status,
)
from attribution.store.session import unit_of_work

log = logging.getLogger(__name__)
DELIVERED, FAILED, PENDING = "delivered", "failed", "pending"


def statement_body(session: Session, period: str) -> bytes:
    return json.dumps(build_statement(session, period).to_dict(), sort_keys=True, default=str).encode()


def write_to_folder(folder: Path, period: str, content_hash: str, body: bytes, attempt: int) -> Attempt:
    """One atomic write; an OSError is a failed attempt naming the problem, retried on the next check."""
    at, began = datetime.now(UTC), time.monotonic()
    target = folder / f"statement-{period}-{content_hash[:12]}.json"
    error = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".json.partial")
        temporary.write_bytes(body)
        os.replace(temporary, target)
    except OSError as exc:
        error = f"statement_delivery.folder {str(folder)!r}: {exc.strerror}"
    return Attempt(attempt, at, None if error else 200, error, time.monotonic() - began)


def deliver_statements(
    settings: Settings, factory: sessionmaker[Session], *, sleep: Callable[[float], None] = time.sleep
) -> list[str]:
    """Deliver every pending statement to every configured destination; the periods delivered. With no
    destination configured the outbox waits (configuring one later delivers what closed meanwhile)."""
    config = settings.statement_delivery
    hook = config.webhook
    if config.folder is None and hook.url is None:
        return []
    secret = (
        read_secret(hook.secret_file, "statement_delivery.webhook.secret_file")
        if hook.url is not None and hook.secret_file is not None
        else b""
    )
    with factory() as session:
        periods = pending_statements(session)
    delivered = []
    for period in periods:
        with unit_of_work(factory) as session:
            if _deliver_one(session, settings, period, secret, sleep):
                delivered.append(period)
    return delivered


def _deliver_one(
    session: Session, settings: Settings, period: str, secret: bytes, sleep: Callable[[float], None]
) -> bool:
    """One period's statement to each destination, in the caller's transaction; whether all took it."""
    config = settings.statement_delivery
    row = lock_pending_statement(session, period)
    if row is None:  # delivered meanwhile, or another replica holds it
        return False
    body = statement_body(session, period)
    done = attempts_logged(session, row.delivery_id)
    tries: list[Attempt] = []
    if config.folder is not None:
        tries.append(write_to_folder(config.folder, period, row.content_hash, body, done + 1))
    folder_ok = all(t.ok for t in tries)
    if config.webhook.url is not None:
        posted = post_signed(
            config.webhook, secret, row.delivery_id, body, first_attempt=done + len(tries) + 1, sleep=sleep
        )
        tries += posted
        webhook_ok = posted[-1].ok
    else:
        webhook_ok = True
    for t in tries:
        log_attempt(session, row.delivery_id, t.attempt, t.at, t.status_code, t.error, t.duration_seconds)
    checks = row.checks + 1
    if folder_ok and webhook_ok:
        set_statement_status(session, period, DELIVERED, checks, tries[-1].at)
        return True
    status = FAILED if checks >= config.webhook.max_checks else PENDING
    set_statement_status(session, period, status, checks, None)
    log.warning(
        "statement %s: not delivered (%s)", period, "; ".join(t.error or "" for t in tries if not t.ok)
    )
    return False
