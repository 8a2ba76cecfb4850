"""Collectors: pull telemetry from a Prometheus-API store and write it, per interval, idempotently."""
