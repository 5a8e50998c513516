"""Independent pieces of torch work on all intra-op threads, one thread per piece.

Work made of many small ops (a recurrence: ~10 ops per step) runs badly when every op is split
over an OpenMP team: each op ends in a barrier, and on a machine shared with other jobs a
barrier waits for whichever thread the kernel descheduled. Giving each thread whole pieces with
one intra-op thread each has no barriers and balances itself (a thread that is slowed down
takes fewer pieces).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_key: tuple[int, int] | None = None


def _pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``threads`` workers (made again after a fork or a new count)."""
    global _executor, _executor_key
    if _executor is None or _executor_key != (os.getpid(), threads):
        if _executor is not None and _executor_key and _executor_key[0] == os.getpid():
            _executor.shutdown(wait=False)
        _executor = ThreadPoolExecutor(threads, thread_name_prefix="tbvar-split")
        _executor_key = (os.getpid(), threads)
    return _executor


def _without_autograd(fn: Callable[[Item], None], inference: bool) -> Callable[[Item], None]:
    """``fn`` run under ``inference_mode`` (if ``inference``) or ``no_grad``."""
    def run(item: Item) -> None:
        with torch.inference_mode() if inference else torch.no_grad():
            fn(item)
    return run


def run_split(fn: Callable[[Item], None], items: Sequence[Item]) -> None:
    """Call ``fn(item)`` for every item, in ``torch.get_num_threads()`` threads, without
    autograd (in inference mode if the caller is).

    With more than one intra-op thread, the items are spread over a pool of that many worker
    threads while ``torch`` is set to one intra-op thread (restored afterwards; calls from
    several threads take turns). ``fn`` must only write what no other item writes.
    """
    threads = torch.get_num_threads()
    run = _without_autograd(fn, torch.is_inference_mode_enabled())
    if threads == 1 or len(items) < 2:
        for item in items:
            run(item)
        return
    with _lock:
        executor = _pool(threads)
        torch.set_num_threads(1)
        try:
            for _ in executor.map(run, items):
                pass
        finally:
            torch.set_num_threads(threads)
