"""A small, strict OpenMetrics reader for the simulator's tests.

Stricter than promtool where promtool is silently lenient: each family declared once and contiguous,
each series strictly ascending in time (a streamed file writes a series once per chunk, so its samples need
not be contiguous), sample names matching the family type, a final ``# EOF``. Violations raise
AssertionError with the offending line number.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Labels]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+) (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}


@dataclass
class ParsedFamily:
    name: str
    kind: str
    help: str = ""
    series: dict[SeriesKey, list[tuple[int, float]]] = field(default_factory=dict)

    def label_names(self, sample_suffix: str = "") -> set[frozenset[str]]:
        """Distinct label-name sets over the series whose sample name is family name + suffix."""
        return {
            frozenset(name for name, _ in labels)
            for sample, labels in self.series
            if sample == self.name + sample_suffix
        }


@functools.cache
def parse_labels(text: str) -> Labels:
    labels: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        assert match, f"bad label text at {text[position:]!r}"
        labels.append((match.group(1), match.group(2).replace('\\"', '"').replace("\\\\", "\\")))
        position = match.end()
    return tuple(labels)


def parse_openmetrics(path: Path) -> dict[str, ParsedFamily]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("# EOF\n"), "file must end with '# EOF' and a newline"
    families: dict[str, ParsedFamily] = {}
    current: ParsedFamily | None = None
    pending_help: dict[str, str] = {}
    for number, line in enumerate(text.splitlines()[:-1], start=1):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            pending_help[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name not in families, f"line {number}: family {name} declared twice"
            assert kind in _SUFFIXES, f"line {number}: unknown type {kind}"
            current = families[name] = ParsedFamily(name, kind, pending_help.pop(name, ""))
        elif line.startswith("#"):
            raise AssertionError(f"line {number}: unexpected comment {line!r}")
        else:
            assert current is not None, f"line {number}: sample before any # TYPE"
            _add_sample(current, line, number)
    return families


def _add_sample(family: ParsedFamily, line: str, number: int) -> None:
    match = _SAMPLE.match(line)
    assert match, f"line {number}: not a sample with a timestamp: {line!r}"
    sample, labels_text, value, stamp = match.groups()
    suffix = sample[len(family.name) :]
    assert sample.startswith(family.name) and suffix in _SUFFIXES[family.kind], (
        f"line {number}: sample {sample} does not belong to {family.kind} {family.name}"
    )
    key = (sample, parse_labels(labels_text or ""))
    points = family.series.setdefault(key, [])
    timestamp = int(stamp)
    assert not points or points[-1][0] < timestamp, f"line {number}: time goes backwards"
    points.append((timestamp, float(value)))
