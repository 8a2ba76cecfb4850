"""A range answer's samples read from its text as columns, with no Python object per sample.

Why: a range answer is mostly samples, ``[1696118400,"81920"]`` per point (3.1 M points, 98 MB, in a
full-fleet collection of 2 h). Parsed as JSON, each point is a list, an int and a str, and then a float:
1.7 s for those 3.1 M points, half of the collector's CPU, on two cores it shares with the Prometheus that
serves the queries (docs/collectors.md, "Speed"; this path: 1.1 s). Here :func:`cut` cuts the answer
at each series' ``"values":[``: the rest (status, warnings, labels) is still parsed by orjson, and
:func:`read_samples` parses the samples of every series at once as arrays
(:mod:`~attribution.collectors.number_text`): the doubles ``float()`` gives, bit for bit.

Only the exact shape Prometheus, VictoriaMetrics, Thanos and Mimir write is read so: pairs of a number
and a quoted number (``NaN``, ``+Inf``, ``-Inf`` included), no whitespace. Anything else (a missing value,
a quoted timestamp, a space, an escape, a letter outside ``NaN``/``Inf``) declines with ``None`` and the
caller parses the whole answer as JSON as before, so an unusual answer is read as before and a malformed
one refused as before: this path only ever agrees with the JSON one, or steps aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.answers import NOT_FINITE, SeriesColumns, finite_columns, kept_lengths, labels_of
from attribution.collectors.number_text import parse_numbers

_VALUES = b'"values":['
#: What a sample's numbers may hold: digits, sign, point, exponent, and the letters of NaN and Inf.
_NUMBER_BYTES = b"0123456789.e+-NaIinf"
_PAIR_SHAPE = b'[,""],'
#: The infinities as Prometheus writes them (answers.NOT_FINITE, but NaN), quoted as in a pair.
_INFINITE_TEXTS = [f'"{text}"'.encode() for text in sorted(NOT_FINITE - {"NaN"})]
#: Whole seconds above this are not exact in a double (the JSON path keeps them as ints): declined.
_EXACT_SECONDS = float(2**53)
#: Text read per pass of :func:`read_samples` (whole segments): its temporaries are a few hundred KiB,
#: which stay in cache and which the allocator reuses pass after pass; measured against 8-64 KiB (numpy's
#: per-call cost wins below 64 KiB) and against whole answers (docs/performance.md, "seventh pass").
PIECE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class CutAnswer:
    """An answer cut at its series' samples: ``skeleton`` is the answer with every ``"values"`` emptied
    (``[]``), ``segments[i]`` the text of the ``i``-th emptied array's pairs (``[t,"v"],[t,"v"]``, or
    ``b""``), in the answer's order."""

    skeleton: bytes
    segments: list[bytes]


@dataclass(frozen=True, slots=True)
class Samples:
    """Every series' samples in one column each: series ``i`` has ``lengths[i]`` pairs, in order.
    ``nan_texts``/``inf_texts``: how many values were written ``NaN`` and ``+Inf``/``-Inf``/``Inf``."""

    lengths: NDArray[np.int64]
    stamps: NDArray[np.int64]
    values: NDArray[np.float64]
    nan_texts: int
    inf_texts: int


def cut(body: bytes) -> CutAnswer | None:
    """The answer cut at each ``"values":[``: an array's pairs end at the last ``]]`` before the next
    series' key (or the answer's end); an empty array stays. Found so, one forward search per series
    skips the samples in long strides. Inside a JSON string a ``"`` is escaped, so the key can only be a
    key; whether it is each series' key is checked against the parsed skeleton (:func:`columns`), and a
    ``]]`` inside a later label makes the segment hold more than samples, which :func:`read_samples`
    refuses. ``None`` when there is no such key or an array does not close."""
    keys = []
    find = body.find
    at = find(_VALUES)
    while at >= 0:
        keys.append(at + len(_VALUES))
        at = find(_VALUES, at + len(_VALUES))
    if not keys:
        return None
    pieces: list[bytes] = []
    segments: list[bytes] = []
    pos = 0
    for begin, limit in zip(keys, [*keys[1:], len(body)], strict=True):
        if body[begin : begin + 1] == b"]":
            segments.append(b"")
            continue
        end = body.rfind(b"]]", begin, limit)
        if end < 0:
            return None
        pieces.append(body[pos:begin])
        segments.append(body[begin : end + 1])
        pos = end + 1
    pieces.append(body[pos:])
    return CutAnswer(b"".join(pieces), segments)


def read_samples(segments: list[bytes]) -> Samples | None:
    """The pairs of every segment as columns, or ``None`` if any is not exactly ``[number,"number"]``
    pairs joined by commas.

    Read in pieces of whole segments of about :data:`PIECE_BYTES` each (:func:`_read_piece`), each
    writing its pairs into its slice of the columns: the same columns as one piece, since every check and
    every number is per pair. Why pieces: the parse is some thirty numpy passes, each making a temporary
    the size of its input; over a whole answer (tens of MB) every temporary is a fresh mapping the kernel
    zero-fills page by page, and no pass finds its input in cache. A piece's temporaries are small enough
    for the allocator to hand the same memory back pass after pass (docs/collectors.md, "Speed")."""
    lengths = np.fromiter((s.count(b"[") for s in segments), np.int64, len(segments))
    stamps = np.empty(int(lengths.sum()), np.int64)
    values = np.empty(len(stamps), np.float64)
    nan_texts = inf_texts = 0
    first = at = 0
    for last in _piece_ends(segments):
        pairs = int(lengths[first:last].sum())
        found = _read_piece(segments[first:last], pairs, stamps[at : at + pairs], values[at : at + pairs])
        if found is None:
            return None
        nan_texts, inf_texts = nan_texts + found[0], inf_texts + found[1]
        first, at = last, at + pairs
    return Samples(lengths, stamps, values, nan_texts, inf_texts)


def _piece_ends(segments: list[bytes]) -> list[int]:
    """Where each piece of about :data:`PIECE_BYTES` ends (a longer segment is a piece of its own): the
    last one at ``len(segments)``; none for no segments."""
    ends = []
    size = 0
    for i, segment in enumerate(segments, 1):
        size += len(segment)
        if size >= PIECE_BYTES or i == len(segments):
            ends.append(i)
            size = 0
    return ends


def _read_piece(
    segments: list[bytes], pairs: int, stamps: NDArray[np.int64], values: NDArray[np.float64]
) -> tuple[int, int] | None:
    """The ``pairs`` pairs of a few segments into ``stamps`` and ``values``; how many values were written
    ``NaN`` and as an infinity, or ``None`` if the text is not such pairs.

    The shape is checked on the text of all segments at once: with the number bytes removed, it must be
    ``[,""]`` pairs joined by commas; no field may be empty; the letters must all be in ``NaN`` or ``Inf``
    tokens; numpy must read exactly two numbers a pair; timestamps must be finite and exact in a double."""
    text = b",".join(s for s in segments if s)
    if text.translate(None, _NUMBER_BYTES) != (_PAIR_SHAPE * pairs)[:-1]:
        return None
    # an empty field is an empty number text, which parse_numbers refuses
    numbers = parse_numbers(text.translate(None, b'[]"'), 2 * pairs)
    if numbers is None:
        return None
    nan_texts = inf_texts = 0
    if not np.isfinite(numbers).all():  # letters make NaN or Inf, or no number: only whole NaN and Inf
        nan_texts, inf_texts = text.count(b'"NaN"'), text.count(b"Inf")
        letters = (text.count(b"N"), text.count(b"a"), text.count(b"I"), text.count(b"n"), text.count(b"f"))
        if letters != (2 * nan_texts, nan_texts, inf_texts, inf_texts, inf_texts):
            return None
        if inf_texts != sum(text.count(quoted) for quoted in _INFINITE_TEXTS):
            return None
    seconds = numbers[0::2]
    if pairs and not (np.isfinite(seconds).all() and np.abs(seconds).max() < _EXACT_SECONDS):
        return None
    # JSON whole seconds are ints, and fractions Python's round (half to even): np.rint is the same
    stamps[:] = np.rint(seconds)
    values[:] = numbers[1::2]
    return nan_texts, inf_texts


def _fits(result: Any, segments: list[bytes]) -> bool:
    """Every series of the skeleton's result emptied by :func:`cut`, one segment each, in order."""
    if not isinstance(result, list) or len(result) != len(segments):
        return False
    return all(isinstance(item, dict) and item.get("values") == [] for item in result)


def columns(result: Any, segments: list[bytes]) -> tuple[SeriesColumns, int] | None:
    """:func:`~attribution.collectors.answers.series_columns` of the whole answer, from its skeleton's
    ``result`` and its segments: the same columns and the same count of dropped infinities; ``None``
    where the text path declines."""
    if not _fits(result, segments):
        return None
    samples = read_samples(segments)
    if samples is None:
        return None
    labels = [labels_of(item) for item in result]
    return finite_columns(labels, samples.lengths, samples.stamps, samples.values, samples.nan_texts)


def stamps(result: Any, segments: list[bytes]) -> list[tuple[dict[str, str], list[int]]] | None:
    """:func:`~attribution.collectors.answers.series_stamps` from the skeleton and segments: per series
    its labels and the seconds of the points not written ``NaN`` or ``Inf``. An infinity not written so
    (an overflow such as ``1e999``, which that function keeps) declines, as does anything it would."""
    if not _fits(result, segments):
        return None
    samples = read_samples(segments)
    if samples is None:
        return None
    values = samples.values
    kept = ~np.isnan(values)
    infinite = np.isinf(values)
    if int(infinite.sum()) != samples.inf_texts:
        return None
    kept &= ~infinite
    lengths = samples.lengths if kept.all() else kept_lengths(samples.lengths, kept)
    seconds = samples.stamps[kept].tolist()  # one list, sliced per series: no array slice per series
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]] if ends else []
    out = [(labels_of(item), seconds[low:high]) for item, low, high in zip(result, starts, ends, strict=True)]
    return out
