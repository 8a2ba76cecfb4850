"""GPU telemetry (dcgm-exporter by default): which GPUs, MIG instances and shares of shared GPUs were
present in each interval, in which pool.

Each interval ``[t, t + step)`` takes the samples in ``(t, t + step]``: the profile's ``avg_over_time``
over ``$window`` evaluated at ``t + step``. Signals are in canonical units: bytes and percent.

dcgm-exporter may write several series for one GPU ``UUID`` (MIG instances, pods sharing a GPU). They are
grouped per GPU and interval and placed by :func:`attribution.collectors.gpu_units.place_gpu`; the series'
order never matters. A series that cannot be placed is stored with its ``problem`` (its share is billed
to ``__unmeasured__``), logged, and marks the interval ``unplaced`` in the source's coverage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.catalog import GpuSpec
from attribution.collectors.answers import Series, SeriesColumns
from attribution.collectors.batch import Batch, RowColumns
from attribution.collectors.gauges import NO_SERIES, Grid, largest, rounded
from attribution.collectors.gpu_columns import RowsAsColumns
from attribution.collectors.gpu_units import Part, Reading, is_whole_gpu, place_gpu, whole_gpu
from attribution.collectors.labels import GpuSelectors, first_label, workload
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, utc_from_seconds
from attribution.config import Settings
from attribution.store.tables import GpuSample

SOURCE = "gpu"
MIG_ID_LABELS = ("GPU_I_ID",)
MIG_PROFILE_LABELS = ("GPU_I_PROFILE",)
SHARED_LABELS = ("vgpu",)
log = logging.getLogger(__name__)
#: What the collector reads, in the order it reads it.
SIGNALS = ("fb_used_bytes", "fb_free_bytes", "gpu_util_percent", "fb_reserved_bytes", "power_watts")

#: (MIG instance id or "", workload or "") of one series of one GPU.
SeriesKey = tuple[str, str]
#: (uuid, unix seconds, MIG instance id or "", workload or "") of one series' value.
SeriesValueKey = tuple[str, int, str, str]
#: (dcgm ``modelName``, host) of one series.
Meta = tuple[str, str]


def collect_gpu(client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime) -> Batch:
    """Rows for ``gpu_samples`` over ``[start, end)``: one per part of each GPU and interval, as columns.
    A GPU whose one FB_USED series is whole (:func:`~attribution.collectors.gpu_units.is_whole_gpu`)
    is placed as arrays (:mod:`attribution.collectors.gpu_columns`); any other is placed per interval by
    :func:`_rows`, from its own series only."""
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end

    def read(signal: str) -> SeriesColumns:
        query = plan.query(signal, step)
        return NO_SERIES if query is None else client.range_columns(query, first, last, step)

    # the five signals side by side (client.map: at most the source's max_concurrent_queries at once)
    used, free, util, reserved, power = client.map(read, SIGNALS)
    grid = Grid(int(first.timestamp()), step, (int(last.timestamp()) - int(first.timestamp())) // step + 1)
    selectors = GpuSelectors(settings.pools)  # compiled once per chunk, asked once per GPU series
    uuids = [first_label(labels, plan.labels.gpu_uuid) for labels in used.labels]
    readings = {i: _reading(selectors, used.labels[i], 0.0) for i, u in enumerate(uuids) if u is not None}
    by_uuid: dict[str, list[int]] = {}
    for i in readings:
        by_uuid.setdefault(str(uuids[i]), []).append(i)
    whole = [s[0] for s in by_uuid.values() if len(s) == 1 and is_whole_gpu(readings[s[0]])]
    lengths = np.diff(used.offsets)
    owner = np.repeat(np.arange(len(uuids), dtype=np.int64), lengths)
    if (grid.index(used.stamps[np.isin(owner, whole)]) < 0).any():
        whole = []  # a stamp off the step's grid (not Prometheus' answer): every GPU one by one
    batch = Batch(GpuSample, [])
    rows = RowsAsColumns()
    specs: dict[str, GpuSpec | None] = {}  # catalog match per modelName, once per window
    match_gpu = settings.catalog.match_gpu  # a pydantic private attribute: slow to reach once per GPU

    def spec(name: str) -> GpuSpec | None:
        return specs[name] if name in specs else specs.setdefault(name, match_gpu(name))

    if whole:
        _whole_rows(rows, whole, uuids, readings, [used, free, util, reserved, power], plan, grid, spec)
    placed = set(whole)
    rest = [i for i in readings if i not in placed]
    if rest:
        _placed_rows(rows, batch, (used, rest, readings), [free, util, reserved, power], plan, step, spec)
    counted = np.isin(owner, list(readings))
    stamps, counts = np.unique(used.stamps[counted], return_counts=True)
    for ts, n in zip(stamps.tolist(), counts.tolist(), strict=True):
        batch.series[utc_from_seconds(ts - step)] = n
    columns, n = rows.columns()
    batch.columns = RowColumns(columns, n) if n else None
    return batch


def _whole_rows(
    rows: RowsAsColumns,
    whole: list[int],
    uuids: list[str | None],
    readings: Mapping[int, Reading],
    answers: list[SeriesColumns],
    plan: Plan,
    grid: Grid,
    spec: Callable[[str], GpuSpec | None],
) -> None:
    """The rows of the whole GPUs (``whole``: their FB_USED series), every interval at once."""
    used, free, util, reserved, power = answers
    g_of = np.full(len(used.labels), -1, dtype=np.int64)
    g_of[whole] = np.arange(len(whole))
    owner = np.repeat(g_of, np.diff(used.offsets))
    mine = owner >= 0
    g, stamps, fb = owner[mine], used.stamps[mine], used.values[mine]
    k = grid.index(stamps)
    keys = {(uuids[i], "", readings[i].workload or ""): n for n, i in enumerate(whole)}
    shape = (len(whole), grid.count)
    gauges = [
        largest(a, _targets(a, plan, keys, True), grid.index(a.stamps), shape) for a in (free, reserved, util)
    ]
    by_uuid = {str(uuids[i]): n for n, i in enumerate(whole)}
    watts = largest(power, _targets(power, plan, by_uuid, False), grid.index(power.stamps), shape)
    names = [first_label(used.labels[i], plan.labels.gpu_model) or "" for i in whole]
    texts = rows.texts

    def per_gpu(name: str, values: Sequence[str | None]) -> NDArray[np.int64]:
        return texts[name].codes(values)[g]

    types = [None if (gpu := spec(name)) is None else gpu.key for name in names]
    hosts = [first_label(used.labels[i], plan.labels.hostname) or "" for i in whole]
    none = np.ones(len(g), dtype=bool)
    columns = {
        "interval_start": stamps - grid.step,
        "gpu_uuid": per_gpu("gpu_uuid", [uuids[i] for i in whole]),
        "part": np.full(len(g), texts["part"].code(""), dtype=np.int64),
        "hostname": per_gpu("hostname", hosts),
        "gpu_model_name": per_gpu("gpu_model_name", names),
        "gpu_type": per_gpu("gpu_type", types),
        "pool": per_gpu("pool", [readings[i].pool for i in whole]),
        "problem": np.full(len(g), -1, dtype=np.int64),
        "fb_used_bytes": rounded(fb),
        "fb_used_bytes_null": np.zeros(len(g), dtype=bool),
        "gpu_share_ppm": np.zeros(len(g), dtype=np.int64),
        "gpu_share_ppm_null": none,
    }
    for name, matrix, scale in zip(
        ("fb_free_bytes", "fb_reserved_bytes", "gpu_util_percent", "power_milliwatts"),
        (*gauges, watts),
        (None, None, None, 1000),
        strict=True,
    ):
        values = matrix[g, k]
        null = np.isnan(values)
        if name == "gpu_util_percent":
            columns[name] = np.where(null, 0.0, values)
        else:
            found = values[~null] if scale is None else values[~null] * scale
            columns[name] = np.zeros(len(g), dtype=np.int64)
            columns[name][~null] = rounded(found)
        columns[f"{name}_null"] = null
    rows.add_arrays(columns)


def _targets(answer: SeriesColumns, plan: Plan, keys: Mapping[Any, int], triples: bool) -> NDArray[np.int64]:
    """Per series of ``answer``, the whole GPU it belongs to (-1: none): by (uuid, MIG instance,
    workload) with ``triples`` (as :func:`_by_series` keys them), else by uuid (power: :func:`_per_gpu`)."""
    out = np.full(len(answer.labels), -1, dtype=np.int64)
    for i, labels in enumerate(answer.labels):
        uuid = first_label(labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        key: Any = uuid
        if triples:
            key = (uuid, first_label(labels, MIG_ID_LABELS) or "", workload(labels) or "")
        out[i] = keys.get(key, -1)
    return out


def _placed_rows(
    rows: RowsAsColumns,
    batch: Batch,
    fb_used: tuple[SeriesColumns, list[int], Mapping[int, Reading]],
    answers: list[SeriesColumns],
    plan: Plan,
    step: int,
    spec: Callable[[str], GpuSpec | None],
) -> None:
    """The rows of the other GPUs (``rest``: their FB_USED series, with their ``readings``), placed per
    GPU and interval by :func:`_rows` from their own series, as dicts; unplaced series are logged and
    mark the interval."""
    used, rest, readings = fb_used
    mine = {first_label(used.labels[i], plan.labels.gpu_uuid) for i in rest}
    free, util, reserved, power = (_only(a, plan, mine) for a in answers)
    gpus: dict[tuple[str, int], list[tuple[Reading, float, Meta]]] = {}
    for i in rest:
        series = used.series(i)
        uuid = str(first_label(series.labels, plan.labels.gpu_uuid))
        reading = readings[i]
        meta = (
            first_label(series.labels, plan.labels.gpu_model) or "",
            first_label(series.labels, plan.labels.hostname) or "",
        )
        for ts, value in series.points:
            gpus.setdefault((uuid, ts), []).append((reading, value, meta))
    values = (_by_series(free, plan), _by_series(util, plan), _by_series(reserved, plan))
    watts = _per_gpu(power, plan)
    specs: dict[str, GpuSpec | None] = {}
    problems: dict[str, int] = {}
    written: list[dict[str, Any]] = []
    for (uuid, ts), found in sorted(gpus.items(), key=_interval_first):
        interval_start = utc_from_seconds(ts - step)
        for row in _rows(uuid, ts, interval_start, found, values, specs, spec):
            w = watts.get((uuid, ts))
            row["power_milliwatts"] = None if w is None else round(w * 1000)
            if row["problem"] is not None:
                batch.unplaced.add(interval_start)
                problems[row["problem"]] = problems.get(row["problem"], 0) + 1
            written.append(row)
    rows.add_dicts(written, lambda t: round(t.timestamp()))
    for problem, n in sorted(problems.items()):
        log.warning("gpu source %s: %d series-interval(s) not placed, billed to __unmeasured__: %s",
                    plan.source.name, n, problem)  # fmt: skip


def _only(answer: SeriesColumns, plan: Plan, uuids: set[str | None]) -> list[Series]:
    """The answer's series of these GPUs, as points."""
    return [
        answer.series(i)
        for i, labels in enumerate(answer.labels)
        if first_label(labels, plan.labels.gpu_uuid) in uuids
    ]


def _interval_first(item: tuple[tuple[str, int], Any]) -> tuple[int, str]:
    (uuid, ts), _ = item
    return ts, uuid


def _reading(selectors: GpuSelectors, labels: Mapping[str, str], fb_used: float) -> Reading:
    pool = selectors.pool_for(labels)
    return Reading(
        mig_id=first_label(labels, MIG_ID_LABELS),
        profile=first_label(labels, MIG_PROFILE_LABELS),
        workload=workload(labels),
        pool=pool.name if pool else None,
        fb_used_bytes=fb_used,
        shared=first_label(labels, SHARED_LABELS) is not None,
    )


def _with_fb(reading: Reading, value: float) -> Reading:
    return Reading(reading.mig_id, reading.profile, reading.workload, reading.pool, value, reading.shared)


def _rows(
    uuid: str,
    ts: int,
    interval_start: datetime,
    readings: list[tuple[Reading, float, Meta]],
    values: tuple[
        Mapping[SeriesValueKey, float], Mapping[SeriesValueKey, float], Mapping[SeriesValueKey, float]
    ],
    specs: dict[str, GpuSpec | None],
    match_gpu: Callable[[str], GpuSpec | None],
) -> list[dict[str, Any]]:
    """One GPU's rows in one interval; ``values`` are FB_FREE, GPU_UTIL and FB_RESERVED by series. Labels
    shared by the GPU's series (model, host) are taken in sorted order, so that no series' position
    decides them."""
    if len(readings) == 1:
        names, host = [readings[0][2][0]], readings[0][2][1]
    else:
        names = sorted({name for _, _, (name, _) in readings})
        host = max(host for _, _, (_, host) in readings)
    free, util, reserved = values
    gpu = None
    if len(names) == 1:
        gpu = specs[names[0]] if names[0] in specs else specs.setdefault(names[0], match_gpu(names[0]))
    if len(readings) == 1 and is_whole_gpu(readings[0][0]):
        parts = [whole_gpu(readings[0][0], readings[0][1])]  # place_gpu's answer, without a Reading
    else:
        parts = place_gpu([_with_fb(r, fb) for r, fb, _ in readings], gpu.memory_bytes if gpu else None)
    if len(names) > 1:
        problem = f"series of one UUID name several GPU models: {', '.join(names)}"
        parts = [Part(p.part, None, p.share_ppm, problem, None, p.series) for p in parts]
    return [
        {
            "interval_start": interval_start,
            "gpu_uuid": uuid,
            "part": p.part,
            "hostname": host,
            "gpu_model_name": names[0] if len(names) == 1 else " | ".join(names),
            "gpu_type": gpu.key if gpu else None,
            "pool": p.pool,
            "fb_used_bytes": None if p.fb_used_bytes is None else round(p.fb_used_bytes),
            "fb_free_bytes": _rounded(free.get((uuid, ts, *p.series))) if p.series else None,
            "fb_reserved_bytes": _rounded(reserved.get((uuid, ts, *p.series))) if p.series else None,
            "gpu_util_percent": util.get((uuid, ts, *p.series)) if p.series else None,
            "gpu_share_ppm": p.share_ppm,
            "problem": None if p.problem is None else p.problem[:200],
        }
        for p in parts
    ]


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def _per_gpu(series_list: list[Series], plan: Plan) -> dict[tuple[str, int], float]:
    """A per-GPU gauge (board power) by (uuid, ts). dcgm writes device fields once per GPU, but a scrape
    may attach pod labels to several copies: of duplicates, the largest, whatever their order."""
    out: dict[tuple[str, int], float] = {}
    for series in series_list:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        for ts, value in series.points:
            seen = out.get((uuid, ts))
            out[(uuid, ts)] = value if seen is None or value > seen else seen
    return out


def _by_series(series_list: list[Series], plan: Plan) -> dict[SeriesValueKey, float]:
    """Values by (uuid, ts, MIG instance, workload); of duplicates, the largest (not the last: the order
    series arrive in decides nothing)."""
    out: dict[SeriesValueKey, float] = {}
    for series in series_list:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        mig, pod = first_label(series.labels, MIG_ID_LABELS) or "", workload(series.labels) or ""
        for ts, value in series.points:
            key = (uuid, ts, mig, pod)
            seen = out.get(key)
            out[key] = value if seen is None or value > seen else seen
    return out
