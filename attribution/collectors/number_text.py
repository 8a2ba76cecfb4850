"""Comma-separated number texts to doubles as one array, each exactly the double ``float()`` gives.

Why: a range answer's samples are millions of short number texts (``1759276800``, ``81920``). numpy's
text reader parses each with ``PyOS_string_to_double`` (the parse of ``float()``) at about 190 ns a
number, as slow as ``float()`` itself.

Two readers, the first that accepts the text wins:

* **orjson** (:func:`_json_numbers`), when every field is a JSON number: the text read as one JSON array,
  whose ints and doubles numpy makes one float64 column. orjson's reader rounds a decimal to the nearest
  double, as ``float()`` does, and an integer becomes its nearest double, as ``float()`` makes it:
  checked bit for bit against ``float()`` on 36 M random texts with orjson 3.13 (up to 30 significant
  digits, exponents from -340 to 310, subnormals, integers of up to 80 bits, halfway cases above 2**53),
  and held there by the tests (halfway cases, ties, subnormals and 30-digit decimals as examples, and
  hypothesis strategies), so another orjson that rounds otherwise fails them. Its Python list costs
  some 4 MB at the peak for a 256 KB piece, freed with the piece. About 45 ns a number where the lanes
  below take about 110 (session 17, docs/performance.md). JSON's one disagreement with ``float()`` is
  the integer ``-0`` (the int 0 for JSON, -0.0 for ``float()``): a text with such a field is left to
  the lanes.
* **64-bit lanes** (:func:`_plain_decimals`), for what JSON refuses (``NaN``, ``+Inf``, ``+5``, ``5.``,
  ``.5``, ``007``, ``-0``): plain decimals of at most 15 digits are read eight bytes at a time (the parse
  of simdjson's ``parse_eight_digits_unrolled``, done on a whole column by numpy) and made exact doubles
  by Clinger's fast path. The rest (an exponent, a ``+``, ``NaN``, ``Inf``, 16 digits or more, anything
  odd) go to numpy's reader, and a text neither accepts makes the whole parse fail (``None``), never a
  wrong number.
"""

from __future__ import annotations

import numpy as np
import orjson
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

#: The bytes of comma-separated JSON numbers: a text of other bytes is not read as JSON.
_JSON_NUMBER_BYTES = b"0123456789-+.eE,"
#: Integers of up to this many digits are exact in a double (10**15 < 2**53).
_MAX_DIGITS = 15
_LANE = 16
_COMMA, _POINT, _MINUS, _ZERO = ord(","), ord("."), ord("-"), ord("0")
_POW10 = 10 ** np.arange(_MAX_DIGITS + 1, dtype=np.uint64)
_ZEROS = np.uint64(0x3030303030303030)  # eight "0" bytes
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_PLUS_SIX = np.uint64(0x0606060606060606)
_PAIRS = np.uint64(0x000000FF000000FF)
_MUL_100 = np.uint64(100 + (1_000_000 << 32))
_MUL_1 = np.uint64(1 + (10_000 << 32))
_LOW32 = np.uint64(0xFFFFFFFF)
_EIGHT_DIGITS = np.uint64(100_000_000)


def _keep(width: int) -> int:
    """The mask of a little-endian 64-bit lane keeping its last ``width`` bytes (0 to 8)."""
    return ((1 << 64) - 1) << (8 * (8 - width)) & ((1 << 64) - 1) if width else 0


#: Per field width (0 to 16), which bytes of the two lanes (the 16 bytes that end the field) are its own.
_KEEP_HIGH = np.array([_keep(max(min(w - 8, 8), 0)) for w in range(_LANE + 1)], dtype=np.uint64)
_KEEP_LOW = np.array([_keep(min(w, 8)) for w in range(_LANE + 1)], dtype=np.uint64)


def parse_numbers(text: bytes, count: int) -> NDArray[np.float64] | None:
    """The ``count`` numbers of ``text`` (``"1,2.5,-3"``: no spaces, no empty field), or ``None`` if it
    does not hold exactly ``count`` numbers that ``float()`` parses."""
    if count == 0:
        return np.empty(0, np.float64) if not text else None
    found = _json_numbers(text, count)
    if found is not None:
        return found
    buf = np.frombuffer(text, dtype=np.uint8)
    commas = np.flatnonzero(buf == _COMMA)
    if len(commas) != count - 1:
        return None
    starts = np.empty(count, np.int64)
    starts[0] = 0
    starts[1:] = commas + 1
    ends = np.empty(count, np.int64)
    ends[:-1] = commas
    ends[-1] = len(buf)
    widths = ends - starts
    if not widths.all():
        return None
    values, plain = _plain_decimals(buf, ends, widths)
    if not plain.all():
        rest = ~plain
        # fields and their commas tile the text: each byte's field is a repeat of the field's flag
        picked = np.repeat(rest, widths + 1)[: len(buf)]
        try:
            parsed = np.fromstring(buf[picked].tobytes(), dtype=np.float64, sep=",")
        except ValueError:
            return None
        if len(parsed) != int(rest.sum()):
            return None
        values[rest] = parsed
    return values


def _json_numbers(text: bytes, count: int) -> NDArray[np.float64] | None:
    """The ``count`` numbers of ``text`` read by orjson as a JSON array, or ``None`` where a field is not
    a JSON number (orjson refuses it: ``NaN``, ``+5``, ``5.``, ``007``, an empty field, an overflow such
    as ``1e999``), where a field is the integer ``-0`` (the int 0 for JSON, -0.0 for ``float()``), or
    where the count differs. Only digits, signs, points, exponents and commas are handed to orjson, so
    it can only give numbers (``true`` would be 1.0)."""
    if text.translate(None, _JSON_NUMBER_BYTES) or _has_minus_zero(text):
        return None
    try:
        parsed = orjson.loads(b"[" + text + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(parsed) != count:
        return None
    try:
        return np.array(parsed, dtype=np.float64)
    except OverflowError:  # an int past the doubles (orjson 3.13 refuses those itself): the lanes' inf
        return None


def _has_minus_zero(text: bytes) -> bool:
    """Whether a field of the comma-separated ``text`` is exactly ``-0``."""
    if b"-" not in text:  # one memchr: most answers hold no negative number at all
        return False
    return text == b"-0" or text.startswith(b"-0,") or text.endswith(b",-0") or b",-0," in text


def _plain_decimals(
    buf: NDArray[np.uint8], ends: NDArray[np.int64], widths: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Each field's double where it is ``-?digits[.digits]`` with 1 to 15 digits, and where it is so
    (elsewhere the value is junk).

    Each field's last 16 bytes are read as two little-endian 64-bit lanes, the bytes before the field,
    its sign and its point made ``"0"``; a lane is all digits when every byte's high nibble is 3 and
    stays 3 plus six; and the eight digits of a lane are combined in three multiply-and-shift steps, which
    gives ``full``, the digits with the point read as a 0. With ``k`` digits after the point, the ``k``
    lowest digits of ``full`` are the fraction and the rest is the integer part shifted one place left,
    so the digits are ``m = (full - full % 10**k) // 10 + full % 10**k``, below 10**15 and so exact in a
    double, as is ``10**k``: their IEEE quotient is the correctly rounded decimal, which is what
    ``float()`` returns (Clinger's fast path)."""
    count = len(ends)
    padded = np.concatenate((np.zeros(_LANE, np.uint8), buf))
    rows = sliding_window_view(padded, _LANE)[ends]  # row i: the 16 bytes that end field i
    minus = buf[ends - widths] == _MINUS
    fits = widths - minus <= _LANE  # a sign may be left of the lanes: it is not read from them
    point_at = np.flatnonzero(buf == _POINT)
    in_field = np.searchsorted(ends, point_at, side="right")
    points = np.bincount(in_field, minlength=count)
    after = np.zeros(count, np.int64)
    after[in_field] = ends[in_field] - point_at - 1
    near = fits[in_field]
    rows[in_field[near], _LANE - 1 - after[in_field[near]]] = _ZERO
    signed = minus & (widths <= _LANE)
    rows[signed, _LANE - widths[signed]] = _ZERO
    lanes = rows.view("<u8")
    clipped = np.minimum(widths, _LANE)
    low = _own(lanes[:, 1], _KEEP_LOW[clipped])
    digits = widths - points - minus
    plain = fits & (points <= 1) & (digits >= 1) & (digits <= _MAX_DIGITS) & _all_digits(low)
    full = _eight_digits(low)
    wide = np.flatnonzero(clipped > 8)  # the first lane is all padding for the others (most values)
    high = _own(lanes[wide, 0], _KEEP_HIGH[clipped[wide]])
    plain[wide] &= _all_digits(high)
    full[wide] += _eight_digits(high) * _EIGHT_DIGITS
    values = full.astype(np.float64)
    pointed = in_field[near]  # a field with two points is not plain: its value is junk anyway
    full_p, scale = full[pointed], _POW10[np.minimum(after[pointed], _MAX_DIGITS)]
    fraction = full_p % scale
    values[pointed] = ((full_p - fraction) // np.uint64(10) + fraction).astype(np.float64) / scale
    np.negative(values, out=values, where=minus)
    return values, plain


def _own(lane: NDArray[np.uint64], keep: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The lane with the bytes that are not the field's made ``"0"``."""
    return (lane & keep) | (_ZEROS & ~keep)


def _all_digits(lane: NDArray[np.uint64]) -> NDArray[np.bool_]:
    found: NDArray[np.bool_] = ((lane & _HIGH_NIBBLES) == _ZEROS) & (
        ((lane + _PLUS_SIX) & _HIGH_NIBBLES) == _ZEROS
    )
    return found


def _eight_digits(lane: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The eight ASCII digits of each lane (the first, most significant, in the lowest byte) as a number."""
    v = lane - _ZEROS
    v = v * np.uint64(10) + (v >> np.uint64(8))
    v = ((v & _PAIRS) * _MUL_100 + ((v >> np.uint64(16)) & _PAIRS) * _MUL_1) >> np.uint64(32)
    return v & _LOW32
