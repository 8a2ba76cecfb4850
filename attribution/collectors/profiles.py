"""Source profiles: which PromQL gives each canonical signal, for each kind of exporter.

Built-in presets live in ``presets/*.toml`` (one file per exporter, named after the preset); a config
may add or override profiles under ``[profiles.<name>]`` with the same schema (:class:`ProfileConfig`).
A source lists its profiles, at most one per collector; each (source, collector) pair is a :class:`Plan`,
the unit that has a watermark, a scheduler job and coverage rows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from attribution.collectors.labels import LabelPlan
from attribution.config import CollectorName, ProfileConfig, Settings, SourceConfig
from attribution.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@cache
def presets() -> dict[str, ProfileConfig]:
    out: dict[str, ProfileConfig] = {}
    for path in sorted(PRESETS_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            out[path.stem] = ProfileConfig.model_validate(tomllib.load(fh))
    return out


def get_profile(settings: Settings, name: str) -> ProfileConfig:
    """A profile from the config's ``[profiles]``, else a preset."""
    found = settings.profiles.get(name) or presets().get(name)
    if found is None:
        known = sorted({*presets(), *settings.profiles})
        raise ConfigError(f"unknown source profile {name!r}; known: {', '.join(known)}")
    return found


def render(query: str, step_seconds: int) -> str:
    """Fill ``$window`` (the interval as a range that excludes its left edge on every backend: Prometheus
    2.x includes a sample exactly at the left edge, 3.x and VictoriaMetrics do not) and ``$step``."""
    return query.replace("$window", f"{step_seconds * 1000 - 1}ms").replace("$step", f"{step_seconds}s")


@dataclass(frozen=True, slots=True)
class Plan:
    """One collector reading one source through one profile."""

    source: SourceConfig
    collector: CollectorName
    profile_name: str
    profile: ProfileConfig
    labels: LabelPlan

    def query(self, signal: str, step_seconds: int) -> str | None:
        text = self.profile.signals.get(signal)
        return None if text is None else render(text, step_seconds)

    @property
    def key(self) -> tuple[str, str]:
        return self.collector.value, self.source.name


def plans(
    settings: Settings,
    collectors: Iterable[CollectorName] | None = None,
    sources: Iterable[str] | None = None,
) -> list[Plan]:
    """Every (source, collector) to run, optionally narrowed; a bad reference is a ConfigError."""
    wanted_collectors = set(collectors) if collectors is not None else set(CollectorName)
    configured = settings.effective_sources()
    wanted_sources = set(sources) if sources is not None else {s.name for s in configured}
    if unknown := wanted_sources - {s.name for s in configured}:
        raise ConfigError(f"no source named {', '.join(sorted(unknown))}")
    out: list[Plan] = []
    for source in configured:
        seen: dict[CollectorName, str] = {}
        for name in source.profiles:
            profile = get_profile(settings, name)
            if profile.collector in seen:
                raise ConfigError(
                    f"sources.{source.name}: profiles {seen[profile.collector]!r} and {name!r} both "
                    f"feed the {profile.collector.value} collector; use one per collector"
                )
            seen[profile.collector] = name
            if source.name in wanted_sources and profile.collector in wanted_collectors:
                labels = LabelPlan.resolve(settings, profile.labels, source.labels)
                out.append(Plan(source, profile.collector, name, profile, labels))
    return out
