"""One alert's delivery: POST its fixed body, signed, retried with exponential backoff, each try logged.

2xx is delivered. Anything else (another status, a refused connection, a timeout) is retried after
``backoff_seconds``, then twice that, and so on, up to ``attempts`` tries in this check; an alert still
undelivered stays ``pending`` for the next check, and is ``failed`` after ``max_checks`` checks. Every
try carries the same ``X-Attribution-Delivery`` id, so a receiver that saw one succeed drops the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from attribution.budgets.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from attribution.config import WebhookConfig

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_signed(
    config: WebhookConfig,
    secret: bytes,
    delivery_id: str,
    body: bytes,
    *,
    first_attempt: int = 1,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = lambda: datetime.now(UTC),
) -> list[Attempt]:
    """Try until one succeeds or ``config.attempts`` have failed; every try, in order."""
    assert config.url is not None
    tries: list[Attempt] = []
    with requests.Session() as http:
        for n in range(config.attempts):
            if n:
                sleep(config.backoff_seconds * 2 ** (n - 1))
            at = clock()
            timestamp = int(at.timestamp())
            headers = {
                "Content-Type": "application/json",
                DELIVERY_HEADER: delivery_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature(secret, timestamp, body),
            }
            began = time.monotonic()
            code: int | None = None
            error: str | None = None
            try:
                code = http.post(
                    config.url, data=body, headers=headers, timeout=config.timeout_seconds
                ).status_code
                if not 200 <= code < 300:
                    error = f"HTTP {code}"
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            tries.append(Attempt(first_attempt + n, at, code, error, time.monotonic() - began))
            if tries[-1].ok:
                break
    return tries
