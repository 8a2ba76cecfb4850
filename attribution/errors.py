"""One error hierarchy. Each error carries the HTTP status the API answers with and a stable code."""

from __future__ import annotations


class AttributionError(Exception):
    """Base of every domain error; ``code`` is the stable ``error`` field of the API body."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(AttributionError):
    status_code = 500
    code = "config_error"


class UnknownCatalogEntryError(ConfigError):
    code = "unknown_catalog_entry"


class InvalidWindowError(AttributionError):
    status_code = 422
    code = "invalid_window"


class NotFoundError(AttributionError):
    status_code = 404
    code = "not_found"


class SourceUnavailableError(AttributionError):
    """Prometheus (or a Prometheus-API store) could not be reached or answered with an error."""

    status_code = 503
    code = "source_unavailable"


class SourceQueryError(AttributionError):
    """The source rejected a query (bad PromQL, too many points): retrying will not help."""

    status_code = 502
    code = "source_query_error"


class DatabaseUnavailableError(AttributionError):
    status_code = 503
    code = "database_unavailable"


class ConservationError(AttributionError):
    """An attribution failed to sum to the cost it splits: a bug, never a data condition."""

    status_code = 500
    code = "conservation_violated"


class ConflictError(AttributionError):
    """The request contradicts the current state, e.g. closing a closed period with another key."""

    status_code = 409
    code = "conflict"


class PeriodIncompleteError(AttributionError):
    """A period cannot close while some of its intervals are not attributed: its total would be short."""

    status_code = 422
    code = "period_incomplete"


class CurrencyError(AttributionError):
    """A billing currency that cannot be converted to: unknown code, or no rate for the period."""

    status_code = 422
    code = "currency_error"
