"""Worker processes for a stage's model-free steps: prepare and finish (and save) chunks.

Each worker receives the run's :class:`~tbvar.stage.HostStage` (pickled: the genome opens its
files anew, the background is copied), for a file output the run's
:class:`~tbvar.output.ChunkSaver`, and for a text VCF its :class:`~tbvar.vcf_reader.VcfSource`
(to parse line blocks). Requests go to one worker each, through its own queue, and are served
in order: ``prepare`` a chunk, or parse a block of input lines into its chunk and prepare that
(its windows come back, with the IDs a block's records used; the worker keeps the prepared
chunk), and ``finish`` it from the model's scores (saved, or the scored chunk comes back). All
replies share one queue, keyed by chunk index. Payloads travel as parcels
(:mod:`tbvar.parcels`): their large arrays (scores, windows) as files in a shared-memory
directory of the pool's own, not through the pipes. Workers ignore SIGINT (this process stops
them).
An error in a worker comes back as the reply it stopped and is raised here as itself when that
reply is waited for: chunks are waited for in input order, so of two bad input lines in
different chunks the first in the file is reported, as in a run without workers.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import shutil
import signal
import sys
from dataclasses import dataclass
from typing import Any

from tbvar.output import ChunkSaver
from tbvar.parcels import pack, parcel_directory, unpack
from tbvar.scores import VariantScores
from tbvar.stage import HostStage, PreparedChunk, ScoredChunk
from tbvar.variants import VariantChunk, block_chunk
from tbvar.vcf_reader import LineBlock, VcfSource
from tbvar.windows import Windows

POLL_S = 1.0  # how often a wait for a reply checks that the workers are alive
STOP_S = 30.0  # how long stopped workers may take to finish and exit
_REPLY = {"prepare": "windows", "finish": "scored"}  # the reply each request is waited for as


def _context() -> multiprocessing.context.BaseContext:
    """``fork`` on Linux, else ``spawn``.

    A forked worker starts at once and needs no ``if __name__ == "__main__":`` guard in the
    caller's script (``spawn`` and ``forkserver`` run the script again), as PyTorch's
    ``DataLoader`` workers; it runs only numpy, pandas and pyarrow code, never torch or CUDA,
    and the pool starts before this run's own threads. Elsewhere (macOS: forking is unsafe
    there) a script that scores with host workers needs that guard.
    """
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


@dataclass(frozen=True)
class _Failed:
    """A worker's reply to a request it could not serve: the error, raised when waited for."""

    error: BaseException


def _sendable(exc: BaseException) -> BaseException:
    """``exc``, or a RuntimeError saying it when it cannot be pickled."""
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _serve(stage: bytes, saver: ChunkSaver | None, source: VcfSource | None, parcels: str,
           requests: Any, replies: Any) -> None:
    """A worker's loop: requests ``(kind, index, parcel)`` until ``None``; ``stage`` is the
    pickled :class:`HostStage` (unpickling opens the genome's files anew: a forked worker
    must not share the parent's file offsets); ``source`` parses line blocks; replies go as
    parcels in the directory ``parcels``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's handler: stop quietly
    host: HostStage = pickle.loads(stage)
    prepared: dict[int, PreparedChunk] = {}
    while (request := requests.get()) is not None:
        kind, index, parcel = request
        try:
            payload = unpack(parcel)
            if kind == "prepare":
                block = isinstance(payload, LineBlock)
                prepared[index] = host.prepare(block_chunk(source, payload) if block
                                               else payload)
                usage = source.take_usage() if block else None
                replies.put((index, "windows", pack((prepared[index].windows, usage),
                                                    parcels)))
                continue
            chunk = prepared.pop(index)
            scored = host.finish(chunk, payload)
            if saver is not None:
                saver(chunk.chunk, scored)
            replies.put((index, "scored", pack(None if saver is not None else scored,
                                               parcels)))
        except Exception as exc:
            replies.put((index, _REPLY[kind], pack(_Failed(_sendable(exc)), parcels)))


class HostPool:
    """``workers`` processes serving one run; a context manager (stops them on leaving).

    Parameters
    ----------
    host
        The stage's model-free steps.
    saver
        Where finished chunks are saved (``None``: they come back).
    workers
        Worker processes.
    source
        The text VCF whose line blocks the workers parse (the IDs their records use are
        counted in it); ``None``: only chunks are sent.
    """

    def __init__(self, host: HostStage, saver: ChunkSaver | None, workers: int,
                 source: VcfSource | None = None) -> None:
        context = _context()
        stage = pickle.dumps(host)
        self._source = source
        self._parcels = parcel_directory()  # payloads with large arrays travel as files here
        self._replies = context.Queue()
        self._requests = [context.Queue() for _ in range(workers)]
        self._workers = [context.Process(target=_serve, name=f"tbvar-host-{k}", daemon=True,
                                         args=(stage, saver, source, str(self._parcels),
                                               self._requests[k], self._replies))
                         for k in range(workers)]
        self._owner: dict[int, int] = {}
        self._arrived: dict[tuple[int, str], Any] = {}
        self._next = 0
        for worker in self._workers:
            worker.start()

    def prepare(self, item: VariantChunk | LineBlock) -> None:
        """Send a chunk, or a block of the source's lines (parsed there into its chunk), to the
        next worker (in turn) to be prepared."""
        if isinstance(item, LineBlock) and self._source is None:
            raise ValueError("line blocks need the pool's source")
        self._owner[item.index] = self._next
        self._requests[self._next].put(("prepare", item.index, pack(item, self._parcels)))
        self._next = (self._next + 1) % len(self._workers)

    def windows(self, index: int) -> Windows:
        """The windows of prepared chunk ``index`` (waits for them)."""
        windows, usage = self._wait(index, "windows")
        if usage is not None:
            self._source.add_usage(usage)
        return windows

    def finish(self, index: int, scores: VariantScores) -> None:
        """Send the model's scores of chunk ``index`` to the worker that prepared it."""
        self._requests[self._owner.pop(index)].put(("finish", index,
                                                    pack(scores, self._parcels)))

    def scored(self, index: int, block: bool = True) -> tuple[bool, ScoredChunk | None]:
        """Whether chunk ``index`` is finished, and its scored chunk (``None`` once saved);
        waits for it with ``block``."""
        if not block and not self._drain(index, "scored", 0.0):
            return False, None
        return True, self._wait(index, "scored")

    def _drain(self, index: int, kind: str, timeout: float) -> bool:
        """Take replies off the queue until ``(index, kind)`` has arrived or none comes within
        ``timeout``; whether it has arrived."""
        while (index, kind) not in self._arrived:
            try:
                got, what, payload = self._replies.get(timeout=timeout) if timeout else \
                    self._replies.get_nowait()
            except queue.Empty:
                return False
            self._arrived[got, what] = payload
        return True

    def _wait(self, index: int, kind: str) -> Any:
        while not self._drain(index, kind, POLL_S):
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                raise RuntimeError(f"host worker {dead[0].name} stopped (exit code "
                                   f"{dead[0].exitcode}); no output was written")
        reply = unpack(self._arrived.pop((index, kind)))
        if isinstance(reply, _Failed):
            raise reply.error
        return reply

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Stop the workers: after their queued work when all went well, at once otherwise."""
        for requests in self._requests:
            if exc_type is None:
                requests.put(None)
            else:
                requests.cancel_join_thread()
        for worker in self._workers:
            if exc_type is None:
                worker.join(STOP_S)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        self._replies.cancel_join_thread()
        shutil.rmtree(self._parcels, ignore_errors=True)  # parcels never opened
