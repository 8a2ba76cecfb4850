"""One scheduler replica, as its own process: ``python -m tests.scheduler.replica SETTINGS NOW DELAY``.

SETTINGS is a JSON file of settings; the clock is pinned at NOW (ISO 8601); the replica starts after
DELAY seconds (so two replicas tick out of phase, as replicas on two machines do) and exits once every
watermark, the attribution job's included, has reached the target.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from attribution.config import load_settings
from attribution.ledger.watermark import followed_plans
from attribution.scheduler.app import build_scheduler
from attribution.scheduler.collect_loop import collect_target
from attribution.store.collection_state import all_watermarks
from attribution.store.session import make_engine, make_sessionmaker


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(**json.loads(Path(sys.argv[1]).read_text()))
    now = datetime.fromisoformat(sys.argv[2])
    time.sleep(float(sys.argv[3]))
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    scheduler = build_scheduler(settings, factory, clock=lambda: now)
    target, expected = collect_target(settings, now), len(followed_plans(settings)) + 1

    def stop_when_done() -> None:
        with factory() as session:
            marks = all_watermarks(session)
        if len(marks) == expected and all(w.watermark >= target for w in marks):
            scheduler.shutdown(wait=False)

    scheduler.add_job(stop_when_done, "interval", seconds=0.5, id="stop-when-done")
    scheduler.start()
    engine.dispose()


if __name__ == "__main__":
    main()
