"""Jobs that turn stored telemetry into stored results: one unit of work each."""
