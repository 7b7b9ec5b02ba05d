"""A concurrency limit that serves first attempts before retries.

A failing endpoint's retries then wait behind other tenants' first deliveries instead of taking
request slots from them (measured in bench/notify_throughput.py).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import asynccontextmanager


class PrioritySlots:
    """At most `limit` holders at once; waiters with a lower priority number go first, FIFO within one."""

    def __init__(self, limit: int):
        self._free = limit
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def hold(self, priority: int = 0):
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), waiter))
        try:
            await waiter  # the releaser hands its slot straight to us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # we were handed a slot as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
