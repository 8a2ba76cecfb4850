"""Price lists for the pricing-tier analysis: flat, or bands by context that reprice the whole request.

A price list is a TOML file (docs/reports.md, examples in deploy/pricing/)::

    name = "long context at 128k"
    currency = "USD"

    [[bands]]                      # from 0 tokens: the base price
    from_tokens = 0
    input_usd_per_million = "3.00"
    output_usd_per_million = "15.00"

    [[bands]]                      # a request with this much context or more: every token at this price
    from_tokens = 131072
    input_usd_per_million = "6.00"
    output_usd_per_million = "22.50"

One band is a flat price. As providers do at 128k, 200k or 272k, crossing a band's threshold reprices the
whole request (input and output), not only the tokens past it. Prices are exact decimals (strings are
best; numbers are read through their decimal text), at most 6 decimal places, never negative.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from attribution.errors import AttributionError

MAX_DECIMALS = 6
BAND_KEYS = {"from_tokens", "input_usd_per_million", "output_usd_per_million"}


class PriceListError(AttributionError):
    """A price list that cannot be read or does not make sense (HTTP 422)."""

    status_code = 422
    code = "invalid_price_list"


@dataclass(frozen=True, slots=True)
class Band:
    """Prices for a whole request whose context (in tokens) is at least ``from_tokens``."""

    from_tokens: int
    input_usd_per_million: Decimal
    output_usd_per_million: Decimal

    def revenue_usd_micros(self, prompt_tokens: int, generation_tokens: int) -> Decimal:
        """Exact revenue: a price in USD per 1M tokens is numerically micro-USD per token."""
        return prompt_tokens * self.input_usd_per_million + generation_tokens * self.output_usd_per_million


@dataclass(frozen=True, slots=True)
class PriceList:
    name: str
    currency: str
    bands: tuple[Band, ...]

    @property
    def thresholds_tokens(self) -> list[int]:
        return [b.from_tokens for b in self.bands[1:]]

    def band_for(self, context_tokens: float) -> Band:
        """The band that prices a request with ``context_tokens`` of context: the last one it reaches."""
        chosen = self.bands[0]
        for band in self.bands:
            if context_tokens >= band.from_tokens:
                chosen = band
        return chosen


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PriceListError(f'{where}: must be a decimal number, e.g. "3.00", got {value!r}')
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise PriceListError(f"{where}: {value!r} is not a decimal number") from None
    if not price.is_finite() or price < 0:
        raise PriceListError(f"{where}: must be a finite price of 0 or more, got {value!r}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        raise PriceListError(f"{where}: {value!r} has more than {MAX_DECIMALS} decimal places")
    return price


def _band(raw: Any, where: str) -> Band:
    if not isinstance(raw, dict):
        raise PriceListError(f"{where}: must be a table with {', '.join(sorted(BAND_KEYS))}")
    unknown = set(raw) - BAND_KEYS
    missing = BAND_KEYS - set(raw)
    if unknown or missing:
        raise PriceListError(
            f"{where}: "
            + "; ".join(
                part
                for part in (
                    f"unknown keys {sorted(unknown)}" if unknown else "",
                    f"missing keys {sorted(missing)}" if missing else "",
                )
                if part
            )
        )
    tokens = raw["from_tokens"]
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise PriceListError(f"{where}.from_tokens: must be a whole number of tokens, 0 or more")
    return Band(
        tokens,
        _price(raw["input_usd_per_million"], f"{where}.input_usd_per_million"),
        _price(raw["output_usd_per_million"], f"{where}.output_usd_per_million"),
    )


def parse_price_list(data: dict[str, Any], source: str = "price list", currency: str = "USD") -> PriceList:
    """Validate a parsed TOML document; every problem names the key and what is wrong with it."""
    unknown = set(data) - {"name", "currency", "bands"}
    if unknown:
        raise PriceListError(f"{source}: unknown keys {sorted(unknown)}; expected name, currency, bands")
    if data.get("currency", currency) != currency:
        raise PriceListError(f"{source}: currency {data.get('currency')!r} is not the statements' {currency}")
    raw = data.get("bands")
    if not isinstance(raw, list) or not raw:
        raise PriceListError(f"{source}: needs at least one [[bands]] table (one band is a flat price)")
    bands = tuple(_band(b, f"bands.{i}") for i, b in enumerate(raw))
    if bands[0].from_tokens != 0:
        raise PriceListError(f"{source}: bands.0.from_tokens must be 0, so that every request has a price")
    for i in range(1, len(bands)):
        if bands[i].from_tokens <= bands[i - 1].from_tokens:
            raise PriceListError(f"{source}: bands.{i}.from_tokens must be above bands.{i - 1}.from_tokens")
    return PriceList(str(data.get("name", Path(source).stem)), currency, bands)


def load_price_list(path: Path, currency: str = "USD") -> PriceList:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PriceListError(f"price list {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceListError(f"price list {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceListError(f"price list {path} is not valid TOML: {exc}") from None
    return parse_price_list(data, str(path), currency)
