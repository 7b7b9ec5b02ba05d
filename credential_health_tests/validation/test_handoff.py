"""Results handed to a consumer thread: in order, off the producer's thread, failures surfaced to the producer."""

from __future__ import annotations

import threading
import time

import pytest

from credential_health.validation.handoff import Handoff


def test_items_are_consumed_in_order_on_another_thread_without_blocking_the_producer():
    consumed, threads = [], set()

    def slow(item: int) -> None:
        time.sleep(0.01)
        threads.add(threading.get_ident())
        consumed.append(item)

    began = time.perf_counter()
    with Handoff(slow) as put:
        for item in range(20):
            put(item)
        handed_on = time.perf_counter() - began
    assert handed_on < 0.1  # 20 x 10 ms of consuming did not hold the producer up
    assert consumed == list(range(20))
    assert threads and threading.get_ident() not in threads


def test_a_consumer_failure_stops_the_producer_and_is_raised():
    def fussy(item: int) -> None:
        if item == 3:
            raise ValueError("refused item 3")

    put_after_failure = []
    with pytest.raises(ValueError, match="refused item 3"), Handoff(fussy) as put:
        for item in range(1000):
            put(item)
            put_after_failure.append(item)
            time.sleep(0.001)
    assert len(put_after_failure) < 1000


def test_the_producers_own_error_wins():
    with pytest.raises(KeyError), Handoff(lambda item: 1 / 0) as put:
        put(1)
        time.sleep(0.05)
        raise KeyError("producer")
