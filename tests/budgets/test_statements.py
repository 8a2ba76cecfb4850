"""A closed period's statement delivered from the close's outbox, to a folder and to a signed webhook
that fails once: each gets it once, and a later check sends nothing again."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from attribution.budgets.check import check_budgets
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.store.deliveries import delivery_log, statement_deliveries
from attribution.store.session import unit_of_work
from tests.support.billing_history import DEC, HOURS, NOV, hourly_settings, load
from tests.support.budgets import SECRET, receiver


def test_statement_delivered_on_close(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    load(pg_tx, NOV, HOURS)
    run_attribution(hourly_settings(), pg_tx, NOV, DEC)
    with pg_tx() as session:
        assert statement_deliveries(session) == []
    with unit_of_work(pg_tx) as session:
        row, _ = close_period(session, "2026-11", 3600, "k")
        digest, total = str(row.content_hash), int(row.total_usd_micros or 0)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    folder = tmp_path / "statements"
    with receiver(fail_first=1) as hook:
        webhook = {"url": hook.url, "secret_file": str(secret), "backoff_seconds": 0}
        settings = hourly_settings(statement_delivery={"folder": str(folder), "webhook": webhook})
        result = check_budgets(settings, pg_tx, DEC + timedelta(hours=1))
        assert result.statements_delivered == ["2026-11"]
        assert result.fired == []
        assert [r.status for r in hook.requests] == [500, 200] and all(r.signed for r in hook.requests)
        sent = hook.requests[-1].body
        assert sent["content_hash"] == digest and sent["total_usd_micros"] == total
        assert check_budgets(settings, pg_tx, DEC + timedelta(hours=2)).statements_delivered == []
        assert len(hook.requests) == 2
    written = json.loads((folder / f"statement-2026-11-{digest[:12]}.json").read_text())
    assert written == sent
    assert sum(x["total_usd_micros"] for x in written["lines"]) == total
    assert [p.name for p in folder.iterdir()] == [f"statement-2026-11-{digest[:12]}.json"]
    with pg_tx() as session:
        (outbox,) = statement_deliveries(session)
        assert outbox.status == "delivered"
        log = delivery_log(session, outbox.delivery_id)
        assert [(x.attempt, x.status_code) for x in log] == [(1, 200), (2, 500), (3, 200)]
