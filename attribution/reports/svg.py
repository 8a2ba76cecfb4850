"""Charts as inline SVG, drawn here: no JavaScript, no external assets, printable, readable by screen readers.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (named by ``aria-labelledby``), axis
labels that carry their units, a legend, and a ``<title>`` on every bar and point so a reader can get the
exact figure. Colours are the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies.
Figures here are floats for drawing only; the tables beside the charts carry the exact amounts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP = 84, 16, 44
AXIS_BOTTOM = 250  # y of the x axis
Fmt = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Frame:
    """The plotting area and its y scale."""

    y_max: float
    ticks: list[float]

    @property
    def plot_width(self) -> float:
        return WIDTH - LEFT - RIGHT

    def y(self, value: float) -> float:
        return AXIS_BOTTOM - (AXIS_BOTTOM - TOP) * (value / self.y_max if self.y_max else 0.0)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _open(chart_id: str, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<text x="{LEFT}" y="22" class="chart-title" font-size="15" font-weight="bold">'
        f"{escape(title)}</text>",
    ]


def _axes(frame: Frame, y_label: str, fmt: Fmt) -> list[str]:
    out = ['<g class="y-axis" font-size="11" fill="#333">']
    for tick in frame.ticks:
        y = frame.y(tick)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(tick))}</text>')
    out.append("</g>")
    mid = (TOP + AXIS_BOTTOM) / 2
    out.append(
        f'<text class="axis-label" x="16" y="{mid:.0f}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 16 {mid:.0f})">{escape(y_label)}</text>'
    )
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{AXIS_BOTTOM}" y2="{AXIS_BOTTOM}" stroke="#333"/>'
    )
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{AXIS_BOTTOM}" stroke="#333"/>')
    return out


def _x_labels(centres: Sequence[float], labels: Sequence[str], x_label: str) -> list[str]:
    every = max(1, math.ceil(len(labels) / 16))
    out = ['<g class="x-axis" font-size="10" fill="#333">']
    for i, (x, label) in enumerate(zip(centres, labels, strict=True)):
        if i % every == 0:
            y = AXIS_BOTTOM + 12
            out.append(
                f'<text x="{x:.1f}" y="{y}" text-anchor="end" transform="rotate(-35 {x:.1f} {y})">'
                f"{escape(_short(label))}</text>"
            )
    out.append("</g>")
    out.append(
        f'<text class="axis-label" x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{AXIS_BOTTOM + 62}" '
        f'font-size="12" text-anchor="middle">{escape(x_label)}</text>'
    )
    return out


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _colours(count: int, colours: Sequence[str] | None) -> list[str]:
    """Given colours (a chart keeps a concept's colour when empty series are left out), else the palette."""
    return list(colours) if colours else [PALETTE[i % len(PALETTE)] for i in range(count)]


def _legend(names: Sequence[str], colours: Sequence[str], marker: str = "rect") -> list[str]:
    out = ['<g class="legend" font-size="11">']
    x: float = LEFT
    y = HEIGHT - 12
    for name, colour in zip(names, colours, strict=True):
        width = 22 + 6.5 * len(name)
        if x + width > WIDTH - RIGHT:
            break  # the table beside the chart lists every series
        if marker == "rect":
            out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        else:
            out.append(
                f'<line x1="{x}" x2="{x + 12}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" stroke-width="3"/>'
            )
        out.append(f'<text x="{x + 15}" y="{y}">{escape(name)}</text>')
        x += width
    out.append("</g>")
    return out


def stacked_bars(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    y_label: str,
    x_label: str,
    fmt: Fmt,
    colours: Sequence[str] | None = None,
) -> str:
    """One bar per category, stacked by series. Negative values (credits) are drawn as zero."""
    fills = _colours(len(series), colours)
    totals = [sum(max(v[i], 0.0) for _, v in series) for i in range(len(categories))]
    ticks = nice_ticks(max(totals, default=0.0))
    frame = Frame(ticks[-1], ticks)
    out = _open(chart_id, title, description) + _axes(frame, y_label, fmt)
    slot = frame.plot_width / max(len(categories), 1)
    bar = max(min(slot * 0.7, 60.0), 1.0)
    centres = [LEFT + slot * (i + 0.5) for i in range(len(categories))]
    out.append('<g class="bars">')
    for i, (category, x) in enumerate(zip(categories, centres, strict=True)):
        base = 0.0
        for s, (name, values) in enumerate(series):
            value = max(values[i], 0.0)
            if value <= 0:
                continue
            y_top, y_bottom = frame.y(base + value), frame.y(base)
            out.append(
                f'<rect class="bar" x="{x - bar / 2:.1f}" y="{y_top:.1f}" width="{bar:.1f}" '
                f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{fills[s]}">'
                f"<title>{escape(category)}, {escape(name)}: {escape(fmt(value))}</title></rect>"
            )
            base += value
    out.append("</g>")
    out += _x_labels(centres, categories, x_label)
    out += _legend([name for name, _ in series], fills)
    out.append("</svg>")
    return "\n".join(out)


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_label: str,
    x_label: str,
    fmt: Fmt,
    y_max: float | None = None,
) -> str:
    """One polyline per series over the labels; gaps (None) break a line. Points carry their values."""
    values = [v for _, vs in series for v in vs if v is not None]
    ticks = nice_ticks(y_max if y_max is not None else max(values, default=0.0))
    frame = Frame(ticks[-1], ticks)
    out = _open(chart_id, title, description) + _axes(frame, y_label, fmt)
    step = frame.plot_width / max(len(labels), 1)
    xs = [LEFT + step * (i + 0.5) for i in range(len(labels))]
    for s, (name, vs) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for x, v in zip(xs, vs, strict=True):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x:.1f},{frame.y(v):.1f}")
        out.append(f'<g class="series" stroke="{colour}" fill="{colour}">')
        for run in (r for r in runs if r):
            if len(run) > 1:
                out.append(
                    f'<polyline class="line" points="{" ".join(run)}" fill="none" stroke-width="2.5"/>'
                )
        for x, v, label in zip(xs, vs, labels, strict=True):
            if v is not None:
                out.append(
                    f'<circle class="point" cx="{x:.1f}" cy="{frame.y(v):.1f}" r="3">'
                    f"<title>{escape(label)}, {escape(name)}: {escape(fmt(v))}</title></circle>"
                )
        out.append("</g>")
    out += _x_labels(xs, labels, x_label)
    out += _legend([name for name, _ in series], _colours(len(series), None), marker="line")
    out.append("</svg>")
    return "\n".join(out)
