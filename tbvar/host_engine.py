"""The host engine: a stage's per-chunk host work in worker processes, the model in this one.

On a GPU the model is fast and the host work of a chunk — classifying alleles and gathering
windows (``prepare``), result rows and summaries (``finish``), encoding and saving the output
parts — bounds a run on one core. :class:`HostEngine` spreads that work over
``host_workers`` processes (:mod:`tbvar.host_pool`), so it grows with the host's cores:

- this process reads the input (a read-ahead thread) and runs the model, chunk by chunk in
  input order. A text VCF read without a region is read as blocks of undecoded lines
  (:meth:`~tbvar.vcf_reader.VcfSource.line_blocks`), each parsed into its chunk by the worker
  that prepares it (:func:`~tbvar.variants.block_chunk`): parsing is most of what this process
  would otherwise do besides the model. Other inputs are parsed here, as chunks;
- chunk k is prepared by a worker (in turn), which sends its windows back and keeps the rest;
  the model's scores go back to the same worker, which finishes the chunk and, given the run's
  :class:`~tbvar.output.ChunkSaver`, encodes and saves it into ``OUT.partial/`` exactly as
  ``write_run`` would (the engine then yields ``(chunk, None)`` and ``write_run`` takes the
  counts from the store); without a saver the scored chunk comes back;
- chunks are yielded in input order, with at most ``2 * workers`` chunks being prepared and
  ``2 * workers`` being finished, so memory stays bounded whatever the input size.

The chunks, the model's batches and every part are those of a :class:`~tbvar.engine.LocalEngine`
run: outputs are byte-identical.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tbvar.host_pool import HostPool
from tbvar.output import ChunkSaver
from tbvar.prefetch import prefetch
from tbvar.progress import Progress
from tbvar.stage import ScoredChunk, ScoringStage
from tbvar.variants import SourceChunks, VariantChunk, block_chunk, placeholder_chunk
from tbvar.vcf_reader import LineBlock, VcfSource

T = TypeVar("T")
IN_FLIGHT_PER_WORKER = 2  # chunks being prepared, and chunks being finished, per worker


@dataclass
class _Entry:
    """A chunk on its way: skipped (finished before), waiting for the model, or finishing."""

    chunk: VariantChunk
    n_records: int
    skipped: bool
    inferred: bool = False


def _same(item: T) -> T:
    return item


class HostEngine:
    """An :data:`~tbvar.engine.Engine` with the host work in worker processes.

    Parameters
    ----------
    stage
        The scoring stage (its model runs in this process, its :meth:`~ScoringStage.host`
        steps in the workers).
    workers
        Worker processes (at least 1).
    saver
        The run's chunk saver (workers save finished chunks); ``None``: scored chunks come
        back (a DataFrame result).
    progress, total, interval, desc
        Progress, as for :class:`~tbvar.engine.LocalEngine`.
    """

    def __init__(self, stage: ScoringStage, workers: int, saver: ChunkSaver | None = None,
                 progress: bool = False, total: int | None = None, interval: float = 30.0,
                 desc: str = "tbvar score") -> None:
        if workers < 1:
            raise ValueError("host workers must be positive")
        self.stage, self.workers, self.saver = stage, workers, saver
        self.progress, self.total, self.interval, self.desc = progress, total, interval, desc

    def __call__(self, chunks: Iterable[VariantChunk],
                 skip: Callable[[int], bool] | None = None
                 ) -> Iterator[tuple[VariantChunk, ScoredChunk | None]]:
        """Chunks in input order, with their scored rows (``None``: skipped, or saved; a chunk
        parsed by a worker is yielded as its :func:`~tbvar.variants.placeholder_chunk`)."""
        depth = IN_FLIGHT_PER_WORKER * self.workers
        order: deque[_Entry] = deque()  # every chunk not yet yielded, in input order
        waiting: deque[_Entry] = deque()  # those being prepared, in input order
        blocks = chunks.blocks() if isinstance(chunks, SourceChunks) else None
        source = chunks.source if blocks is not None else None
        with (HostPool(self.stage.host(), self.saver, self.workers, source) as pool,
              Progress(self.total, self.progress, self.interval, self.desc) as bar):
            for item in prefetch(chunks if blocks is None else blocks, _same):
                entry = _entry(item, skip, source)
                order.append(entry)
                if not entry.skipped:
                    pool.prepare(item)
                    waiting.append(entry)
                while len(waiting) > depth:
                    self._infer(pool, waiting.popleft())
                yield from _done(pool, order, bar, depth)
            while waiting:
                self._infer(pool, waiting.popleft())
                yield from _done(pool, order, bar, depth)
            yield from _done(pool, order, bar, 0)

    def _infer(self, pool: HostPool, entry: _Entry) -> None:
        """The model's scores of a prepared chunk, sent to its worker."""
        index = entry.chunk.index
        pool.finish(index, self.stage.infer(pool.windows(index)))
        entry.inferred = True


def _entry(item: VariantChunk | LineBlock, skip: Callable[[int], bool] | None,
           source: VcfSource | None) -> _Entry:
    """The entry of a chunk or line block read; a block finished before is parsed here (the
    IDs its records use are counted in ``source``), one to be scored is parsed by a worker."""
    skipped = skip is not None and skip(item.index)
    if isinstance(item, VariantChunk):
        return _Entry(item, item.n_records, skipped)
    chunk = block_chunk(source, item) if skipped else placeholder_chunk(item.index)
    return _Entry(chunk, item.n_records, skipped)


def _done(pool: HostPool, order: deque[_Entry], bar: Progress, keep: int
          ) -> Iterator[tuple[VariantChunk, ScoredChunk | None]]:
    """Yield the finished chunks at the head of ``order``; wait for them while more than
    ``keep`` chunks are finishing."""
    while order and (order[0].skipped or order[0].inferred):
        entry = order[0]
        scored = None
        if not entry.skipped:
            finishing = sum(e.inferred for e in order)
            ready, scored = pool.scored(entry.chunk.index, block=finishing > keep)
            if not ready:
                return
        order.popleft()
        bar.update(entry.n_records)
        yield entry.chunk, scored
