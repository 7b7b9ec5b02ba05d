"""Results handed from the checks' event loop to a consumer thread, so slow consumers never stall the checks.

A window's consumer writes rows to the database in batches; called on the loop's thread, each batch write
paused every check in flight. Here the loop only queues the result; one thread calls the consumer in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class Handoff(Generic[T]):
    """`with Handoff(consume) as put: put(item)`; `consume` runs on one thread, in order. Its first exception
    is raised by the next `put` (so the producer stops early) and on leaving the block."""

    def __init__(self, consume: Callable[[T], None], name: str = "credential-results"):
        self.consume = consume
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Callable[[T], None]:
        self._thread.start()
        return self.put

    def __exit__(self, exc_type, exc, tb) -> None:
        self._items.put(_DONE)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def put(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._items.put(item)

    def _run(self) -> None:
        while (item := self._items.get()) is not _DONE:
            if self._error is None:  # after a failure, drain without consuming
                try:
                    self.consume(item)
                except BaseException as exc:  # noqa: BLE001 - handed to the producer's thread
                    self._error = exc
