"""The scheduler: APScheduler in its own process, one loop per file.

* :mod:`~attribution.scheduler.app`: the APScheduler app, ``run_scheduler`` and the ``attribution
  scheduler`` command;
* :mod:`~attribution.scheduler.collect_loop`: a collector's run, ``[watermark, now - safety lag)``;
* :mod:`~attribution.scheduler.attribute_loop`: the attribution job's run, behind every collector;
* :mod:`~attribution.scheduler.outcome`: what a run reports and its one log line;
* :mod:`~attribution.scheduler.selfmetrics`: its own metrics; :mod:`~attribution.scheduler.alerts`: the
  lag alert derived from the cadences.

It sits above the ledger (it runs its job) and the collectors; nothing below imports it.
"""
