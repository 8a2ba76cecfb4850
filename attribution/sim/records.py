"""What an engine reports for one chunk, in compact typed buffers."""

from __future__ import annotations

from array import array
from typing import ClassVar

import numpy as np
import numpy.typing as npt


class EngineRecords:
    """What happened in one chunk, as flat float arrays of fixed-width records (one ``extend`` per record;
    integers are exact as floats), read by ``chunk`` as (records, width) matrices.

    ``pieces`` (start, end, held at start, held just before end, rate, group): linear KV residency.
    ``completions`` (group, gateway arrival, arrival, first scheduled, first token, finish, prompt, output,
    capped, preemptions). ``first_tokens`` (group, time, TTFT), one per engine attempt. ``failures``
    (group, gateway arrival, time, kind). ``preemptions`` (time, the blocks the running requests held or
    needed then: always more than the usable blocks). ``running`` / ``waiting``: the engine's gauges at each
    scrape instant of the chunk.
    """

    WIDTHS: ClassVar[dict[str, int]] = {
        "pieces": 6, "completions": 10, "first_tokens": 3, "failures": 4, "preemptions": 2,
    }  # fmt: skip

    def __init__(self) -> None:
        self.pieces: array[float] = array("d")
        self.completions: array[float] = array("d")
        self.first_tokens: array[float] = array("d")
        self.failures: array[float] = array("d")
        self.preemptions: array[float] = array("d")
        self.running: array[int] = array("q")
        self.waiting: array[int] = array("q")

    def table(self, name: str) -> npt.NDArray[np.float64]:
        """Records of ``name`` as a (records, width) matrix."""
        flat = np.frombuffer(getattr(self, name), dtype=np.float64)
        return flat.reshape(-1, self.WIDTHS[name])
