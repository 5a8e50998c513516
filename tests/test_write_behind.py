"""tbvar.prefetch.WriteBehind: order, bounded queue, failures stop later jobs."""

from __future__ import annotations

import threading
import time

import pytest

from tbvar.prefetch import WriteBehind


def test_jobs_run_in_order_off_the_calling_thread() -> None:
    done, threads = [], set()

    def job(i: int) -> None:
        time.sleep(0.002 * (i % 3))
        threads.add(threading.current_thread().name)
        done.append(i)

    with WriteBehind(depth=2) as behind:
        for i in range(20):
            behind.submit(job, i)
    assert done == list(range(20))
    assert threads and threading.current_thread().name not in threads


def test_at_most_depth_jobs_wait() -> None:
    release, started = threading.Event(), []

    def job(i: int) -> None:
        started.append(i)
        release.wait(5)

    with WriteBehind(depth=2) as behind:
        behind.submit(job, 0)
        behind.submit(job, 1)
        blocked = threading.Thread(target=behind.submit, args=(job, 2))
        blocked.start()
        blocked.join(0.2)
        assert blocked.is_alive()  # a third job waits until the first finishes
        release.set()
        blocked.join(5)
    assert started == [0, 1, 2]


def test_a_failure_is_raised_and_no_later_job_runs() -> None:
    done = []

    def job(i: int) -> None:
        if i == 3:
            raise KeyboardInterrupt
        done.append(i)

    with pytest.raises(KeyboardInterrupt):
        with WriteBehind(depth=4) as behind:
            for i in range(10):
                behind.submit(job, i)
    assert done == [0, 1, 2]


def test_caller_failure_waits_for_the_running_job_and_drops_the_rest() -> None:
    gate, running, done = threading.Event(), threading.Event(), []

    def job(i: int) -> None:
        running.set()
        gate.wait(5)
        done.append(i)

    with pytest.raises(RuntimeError):
        with WriteBehind(depth=3) as behind:
            for i in range(3):
                behind.submit(job, i)
            assert running.wait(5)  # job 0 has started; jobs 1 and 2 wait behind it
            threading.Timer(1.0, gate.set).start()  # after the block has left
            raise RuntimeError("caller failed")
    assert done == [0]  # job 0 was waited for; jobs 1 and 2 never started
