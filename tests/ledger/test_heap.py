"""The heap's trimmer (ledger/heap.py): while a span's reads run ahead beside its engine, the free heap
of both threads is returned every so often, by a thread of its own that stops, and is gone, when asked.
The trims themselves are glibc's ``malloc_trim``, real here; only their count is watched."""

from __future__ import annotations

import threading
import time

import pytest

from attribution.ledger import heap


def test_the_trimmer_trims_on_its_own_thread_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    if heap._malloc_trim() is None:
        pytest.skip("no malloc_trim in this C library: the trimmer starts nothing")
    trims: list[str] = []
    real = heap.return_free_memory

    def counted() -> None:
        trims.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(heap, "return_free_memory", counted)
    trimmer = heap.Trimmer(period_seconds=0.01)
    deadline = time.monotonic() + 10
    while len(trims) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    trimmer.stop()
    assert len(trims) >= 3 and set(trims) == {"heap-trimmer"}
    stopped_at = len(trims)
    time.sleep(0.05)
    assert len(trims) == stopped_at  # none after stop
    assert not [t for t in threading.enumerate() if t.name == "heap-trimmer"]


def test_a_trimmer_stopped_at_once_never_trims(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[None] = []
    monkeypatch.setattr(heap, "return_free_memory", lambda: trims.append(None))
    heap.Trimmer(period_seconds=60).stop()
    assert trims == []
    assert not [t for t in threading.enumerate() if t.name == "heap-trimmer"]
