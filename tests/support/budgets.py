"""What the budget tests share: a hand-worked month (lines, corrections, attributed intervals), and a
real HTTP receiver in a thread that fails a set number of times before it accepts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from attribution.budgets.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from attribution.config import Settings
from attribution.store.session import unit_of_work
from attribution.store.tables import ClusterCost, CorrectionLine
from attribution.store.writes import insert_all
from tests.builders import T0, small_cluster_settings
from tests.support.api import stored_line
from tests.support.lines import insert_lines

#: 119 one-minute intervals attributed from T0 (2026-11-02T00:00Z), in November 2026 (30 days).
ATTRIBUTED_INTERVALS = 119
NOVEMBER_SECONDS = 30 * 86400
ACME_USAGE = 6_000_000  # $6.00 of usage so far
GLOBEX_USAGE = 1_000_001
ACME_CORRECTION = 500_000  # $0.50 billed in November for October (closed)
SECRET = b"0123456789abcdef-test-secret"


def store_month(factory: sessionmaker[Session]) -> None:
    """acme's and globex's usage of November so far, one correction for acme, and the cluster's
    attributed intervals (their cost does not matter to a budget, only how many there are)."""
    with unit_of_work(factory) as session:
        lines = [stored_line("acme", "0-4k", ACME_USAGE), stored_line("globex", "0-4k", GLOBEX_USAGE)]
        insert_lines(session, lines)
        correction = {k: v for k, v in stored_line("acme", "0-4k", ACME_CORRECTION).items()}
        del correction["interval_start"], correction["estimated"]
        insert_all(
            session,
            CorrectionLine,
            [{**correction, "billing_period": "2026-11", "charge_period": "2026-10", "created_at": T0}],
        )
        clusters = [
            {
                "interval_start": T0 + timedelta(minutes=m),
                "cost_usd_micros": 1,
                "unallocated_usd_micros": 0,
                "unmeasured_usd_micros": 0,
                "gpus_in_inventory": 4,
                "gpus_sampled": 4,
            }
            for m in range(ATTRIBUTED_INTERVALS)
        ]
        insert_all(session, ClusterCost, clusters)


def budget_settings(tmp_path: Path, url: str | None = None, **webhook: Any) -> Settings:
    secret = tmp_path / "webhook-secret"
    secret.write_bytes(SECRET + b"\n")
    hook: dict[str, Any] = {"url": url, "secret_file": str(secret), "backoff_seconds": "0.5", **webhook}
    return small_cluster_settings(
        budgets=[
            {"tenant": "acme", "monthly_usd": "10.00", "thresholds": [50, 80, 100]},
            {"monthly_usd": "3000.00", "thresholds": [50, 80, 100]},
            {"tenant": "globex", "monthly_usd": "5000.00"},
        ],
        budget_webhook=hook if url else {},
    )


@dataclass
class Received:
    delivery_id: str
    status: int
    body: dict[str, Any]
    signed: bool


@dataclass
class Receiver:
    """Answers 500 to its first ``fail_first`` requests, then 2xx; records every request."""

    fail_first: int
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[str]:
        """Delivery ids answered 2xx, in order: a receiver deduping by id processes each once."""
        return [r.delivery_id for r in self.requests if r.status == 200]


@contextmanager
def receiver(fail_first: int) -> Iterator[Receiver]:
    state = Receiver(fail_first)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER])
            with state.lock:
                status = 500 if len(state.requests) < state.fail_first else 200
                state.requests.append(
                    Received(self.headers[DELIVERY_HEADER], status, json.loads(body), signed)
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/budget"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
