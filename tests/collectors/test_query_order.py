"""The source's query slots: never more in flight than ``max_concurrent_queries``, and waiting queries
served by priority, then arrival (a backfill reads its plans in the order it writes them)."""

from __future__ import annotations

import threading
import time

import pytest

from attribution.collectors.prom import PromClient
from attribution.collectors.query_order import QUERY_PRIORITY, Slots


def test_waiters_take_free_slots_by_priority_then_arrival() -> None:
    slots, order, started = Slots(1), [], []
    hold = slots.slot(())
    hold.__enter__()  # the one slot is taken: everyone below waits

    def wait(priority: tuple[int, ...], name: str) -> None:
        started.append(name)
        with slots.slot(priority):
            order.append(name)

    threads = []
    for priority, name in [
        ((2,), "late plan"),
        ((1,), "first plan, a"),
        ((1,), "first plan, b"),
        ((0, 5), "x"),
    ]:
        threads.append(threading.Thread(target=wait, args=(priority, name)))
        threads[-1].start()
        while name not in started:
            time.sleep(0.001)
        time.sleep(0.02)  # queued before the next one arrives
    hold.__exit__(None, None, None)
    for t in threads:
        t.join(5)
    assert order == ["x", "first plan, a", "first plan, b", "late plan"]


def test_map_keeps_the_bound_and_the_order_of_results() -> None:
    client = PromClient("http://prometheus", max_concurrent=3)
    running, most, lock = [0], [0], threading.Lock()

    def one(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i * i

    results: list[list[int]] = []

    def call(priority: tuple[int, ...]) -> None:
        QUERY_PRIORITY.set(priority)
        results.append(client.map(one, range(12)))

    threads = [threading.Thread(target=call, args=((k,),)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert results == [[i * i for i in range(12)]] * 3
    assert most[0] == 3


def test_a_failed_item_stops_the_rest_of_its_call() -> None:
    client = PromClient("http://prometheus", max_concurrent=2)
    sent = []

    def one(i: int) -> int:
        sent.append(i)
        if i == 0:
            raise ValueError("first")
        time.sleep(0.05)
        return i

    with pytest.raises(ValueError, match="first"):
        client.map(one, range(20))
    time.sleep(0.3)
    client.close()
    assert len(sent) < 20  # the items still waiting for a slot were not sent
