"""A commitment on real Postgres: April 2026 attributed, the statement's commitments section hand-worked
to the micro-dollar, in the statement JSON (API) and the HTML statement."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.ledger.attribute import run_attribution
from attribution.reports.commitments import commitment_section
from attribution.reports.statement_html import build_statement_html
from tests.support.api import bearer, create_api_key
from tests.support.billing_history import hourly_settings, load

APR, MAY = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
COMMITMENTS = [
    {
        "name": "h100-q2",
        "amount_usd": "27000.01",
        "term_start": "2026-04-01T00:00:00Z",
        "term_end": "2026-07-01T00:00:00Z",
        "gpu_type": "H100-SXM",
    },
    {
        "name": "small-april",
        "amount_usd": "10000",
        "term_start": "2026-04-01T00:00:00Z",
        "term_end": "2026-05-01T00:00:00Z",
        "pool": "small",
    },
]


def test_the_commitments_section_hand_worked(db_factory: sessionmaker[Session]) -> None:
    """h100-q2: April's share is floor(27,000,010,000 / 3) = 9,000,003,333 micro-USD; the 4 H100 at 2.99
    USD/h for 720 h cost 8,611,200,000, so 388,803,333 is unused. small-april: the whole 10,000 USD in its
    one month, against pool small's cost as attributed (2 of the 4 GPUs: 4,305,600,000)."""
    load(db_factory, APR, 30 * 24)
    settings = hourly_settings(commitments=COMMITMENTS)
    run_attribution(settings, db_factory, APR, MAY)
    with db_factory() as session:
        section = commitment_section(session, settings, "2026-04")
        html = build_statement_html(session, settings, "2026-04")
        tenant_html = build_statement_html(session, settings, "2026-04", "acme")
    h100, small = section.months
    assert (h100.month, h100.months, h100.amortised_usd_micros) == (0, 3, 9_000_003_333)
    assert (h100.covered_cost_usd_micros, h100.used_usd_micros) == (8_611_200_000, 8_611_200_000)
    assert h100.unused_usd_micros == 388_803_333
    assert (small.amortised_usd_micros, small.covered_cost_usd_micros) == (10_000_000_000, 4_305_600_000)
    assert small.unused_usd_micros == 5_694_400_000
    assert section.unused_usd_micros == 6_083_203_333
    assert "<td>h100-q2</td><td>GPU type H100-SXM</td><td>1 of 3</td>" in html
    assert "<td>9000.003333</td><td>8611.200000</td><td>388.803333</td>" in html
    assert 'id="commitments"' not in tenant_html  # the platform's cost, not a tenant's

    client = TestClient(create_app(settings, db_factory))
    body = client.get("/v1/periods/2026-04/statement", headers=bearer(create_api_key(db_factory, "finance")))
    assert body.status_code == 200, body.text
    listed = {c["name"]: c for c in body.json()["commitments"]}
    assert listed["h100-q2"]["unused_usd"] == "388.803333" and listed["h100-q2"]["month_of_term"] == 1
    with db_factory() as session:
        assert commitment_section(session, settings, "2026-07").months == []  # after the term
