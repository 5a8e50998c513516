"""Background threads around the scoring loop: read-ahead (:func:`prefetch`) and write-behind
(:class:`WriteBehind`), each a bounded queue away from the caller."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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


class WriteBehind:
    """Run jobs in one background thread, in submission order, at most ``depth`` waiting.

    The consumer side of :func:`prefetch`: the caller goes on (e.g. with the next forward pass)
    while earlier results are encoded and saved. A failed job's exception is re-raised by the
    next :meth:`submit` or on leaving the ``with`` block, and no later job runs after it. On
    leaving, jobs not yet started are dropped if the block raised, else all are waited for.
    """

    def __init__(self, depth: int = 2) -> None:
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tbvar-write")
        self._pending: deque[Future[None]] = deque()
        self._failed = threading.Event()

    def _run(self, job: Callable[..., None], args: tuple) -> None:
        if self._failed.is_set():
            return
        try:
            job(*args)
        except BaseException:
            self._failed.set()
            raise

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        """Queue ``job(*args)``; waits while ``depth`` jobs are queued."""
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._run, job, args))

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            while exc_type is None and self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
