"""Background read-ahead: apply a function to items in a worker thread, a bounded queue ahead."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()


def prefetch(items: Iterable[T], work: Callable[[T], R], depth: int = 2) -> Iterator[R]:
    """Yield ``work(item)`` for each item, computed by a worker thread up to ``depth`` ahead.

    Exceptions raised in the worker are re-raised in the consumer; when the consumer stops
    early (``break``, an exception, garbage collection) the worker stops too. ``depth <= 0``
    runs ``work`` in the calling thread.
    """
    if depth <= 0:
        yield from map(work, items)
        return
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item: Any) -> None:
        while not stopped.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                if stopped.is_set():
                    return
                put(work(item))
            put(_END)
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(exc)

    worker = threading.Thread(target=produce, name="tbvar-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        worker.join()
