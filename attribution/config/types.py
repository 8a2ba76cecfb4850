"""The pieces every settings part is built from: money, UTC instants, fractions, names, regexes.

Money is given as decimal strings and converted to integer micro-USD here, once, so that no float ever
touches a price. :data:`UsdAmount` and :data:`UtcInstant` are the one validation of a price and of an
instant: a field typed with them is checked the same way wherever it is declared.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from attribution.catalog import SHIPPED, Catalog
from attribution.model.names import canonical_name
from attribution.model.vocabulary import RESERVED_NAMES

MICROS_PER_USD = 1_000_000

#: The catalog of the Settings being validated (shipped + declared), for the field validators of its
#: nested tables; set by ``Settings._declared_catalog`` before they run.
VALIDATING_CATALOG: ContextVar[Catalog] = ContextVar("validating_catalog", default=SHIPPED)


class StrictModel(BaseModel):
    """A settings table: unknown keys are refused with their path, and a loaded table never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def usd_to_micros(value: str | int | Decimal) -> int:
    """Exact conversion of a decimal USD amount to integer micro-USD; refuses sub-micro precision."""
    if isinstance(value, float):
        raise ValueError("money must be a decimal string, not a float")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise ValueError(f"{value} has more than 6 decimal places")
    if micros < 0:
        raise ValueError("must not be negative")
    return int(micros)


def _usd_amount(value: Any) -> str:
    usd_to_micros(value)
    return str(value)


def _utc_instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-01-01T00:00:00Z")
    return value.astimezone(UTC)


UsdAmount = Annotated[str, BeforeValidator(_usd_amount)]
"""A non-negative USD amount as its decimal string (at most 6 places; a float is refused), kept as
given; :func:`usd_to_micros` turns it into exact micro-USD."""

UtcInstant = Annotated[datetime, AfterValidator(_utc_instant)]
"""An instant with an offset, converted to UTC; a naive time is refused (it would mean local time)."""


def fraction_to_ppm(value: str) -> int:
    """An exact decimal fraction in (0, 1] as parts per million."""
    try:
        ppm = Decimal(value) * 1_000_000
    except InvalidOperation:
        raise ValueError(f"not a decimal fraction: {value!r}") from None
    if ppm != ppm.to_integral_value() or not 0 < ppm <= 1_000_000:
        raise ValueError(f"{value} must be in (0, 1] with at most 6 decimal places")
    return int(ppm)


def unreserved_name(name: str, what: str) -> str:
    """``name`` in its canonical form (:func:`canonical_name`), refused if it is one of the names the
    model books its own lines under: a pool or tenant so named would merge with those lines."""
    name = canonical_name(name, what)
    if name in RESERVED_NAMES:
        raise ValueError(
            f"{what} {name!r} is reserved for the model's own lines ({', '.join(sorted(RESERVED_NAMES))})"
        )
    return name


LabelRules = dict[str, str]
SELECTOR_FLAGS = re.ASCII
"""How a ``gpu_selector`` pattern is compiled, here to check it and by the collector to match it
(``collectors/labels.GpuSelectors``): ASCII classes, as Prometheus' RE2 has them."""


def check_regexes(rules: LabelRules, flags: int = 0) -> LabelRules:
    """Every pattern compiles with ``flags`` (those it is matched with), or ValueError naming its label,
    the problem and the fix. Checked with other flags than the matcher's, ``(?u)`` passed the
    configuration and failed the collection ("ASCII and UNICODE flags are incompatible" is a ValueError,
    not a re.error). With ASCII ``flags``, a Unicode flag (``(?u)``, or scoped: ``(?u:\\d)``) is refused
    too: it would match digits and letters RE2 does not. A repeat count past C's range (OverflowError) or
    groups nested a thousand deep (RecursionError) are bad patterns as well, not tracebacks."""
    for label, pattern in rules.items():
        if flags & re.ASCII and _UNICODE_FLAG.search(pattern):
            raise ValueError(
                f"label {label!r}: {pattern!r} asks for Unicode classes ((?u)); selectors match ASCII "
                "classes, as Prometheus' RE2 does: remove the u flag"
            )
        try:
            re.compile(pattern, flags)
        except (re.error, ValueError, OverflowError, RecursionError) as exc:
            raise ValueError(
                f"label {label!r}: bad regular expression {pattern!r}: {exc}; fix the pattern"
            ) from None
    return rules


_UNICODE_FLAG = re.compile(r"(?<!\\)\(\?[a-zA-Z]*u[a-zA-Z-]*[:)]")
"""An inline flag group that sets ``u``: ``(?u)``, ``(?iu)``, ``(?u:...)``, ``(?u-i:...)``; not an escaped
``\\(``."""
