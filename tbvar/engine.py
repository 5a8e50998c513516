"""The local execution engine: a :class:`~tbvar.stage.ScoringStage` over chunks, as a pipeline
of threads in one process.

A reader thread prepares the next chunks (VCF parsing, REF checks, windows) while the calling
thread finishes the current one; with a model thread (on accelerators by default) the model
runs chunk k+1 while the calling thread builds the rows of chunk k. Queues between the stages
are bounded, so memory stays bounded by a few chunks whatever the input size.

Another engine (e.g. a cluster one) provides the same :data:`Engine` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tbvar.prefetch import prefetch
from tbvar.progress import Progress
from tbvar.scores import VariantScores
from tbvar.stage import PreparedChunk, ScoredChunk, ScoringStage
from tbvar.variants import VariantChunk

#: ``(chunks, skip) → (chunk, scored or None)`` in input order; ``None`` for the chunks for
#: which ``skip(chunk.index)`` is true (finished by an earlier, resumed run).
Engine = Callable[[Iterable[VariantChunk], Callable[[int], bool] | None],
                  Iterator[tuple[VariantChunk, ScoredChunk | None]]]


@dataclass
class _Skipped:
    chunk: VariantChunk


@dataclass
class _Inferred:
    prepared: PreparedChunk
    scores: VariantScores


class LocalEngine:
    """An :data:`Engine` running a stage in this process.

    Parameters
    ----------
    stage
        The scoring stage.
    progress
        Show progress of records (:class:`tbvar.progress.Progress`).
    model_thread
        Run the model in its own thread; ``None``: on accelerators only (on the CPU the
        model's own threads use every core, and a separate stage measured 2.3x slower).
    total, interval, desc
        Records expected (``None``: unknown), seconds between progress lines in a log, and
        what the progress line calls the run.
    """

    def __init__(self, stage: ScoringStage, progress: bool = False,
                 model_thread: bool | None = None, total: int | None = None,
                 interval: float = 30.0, desc: str = "tbvar score") -> None:
        self.stage = stage
        self.progress = progress
        self.total, self.interval, self.desc = total, interval, desc
        self.threaded = (stage.scorer.device.type != "cpu" if model_thread is None
                         else model_thread)

    def _infer(self, item: PreparedChunk | _Skipped) -> _Inferred | _Skipped:
        if isinstance(item, _Skipped):
            return item
        return _Inferred(item, self.stage.infer(item.windows))

    def __call__(self, chunks: Iterable[VariantChunk],
                 skip: Callable[[int], bool] | None = None
                 ) -> Iterator[tuple[VariantChunk, ScoredChunk | None]]:
        """Scored chunks in input order (``None`` for skipped ones)."""
        def prepare(chunk: VariantChunk) -> PreparedChunk | _Skipped:
            if skip is not None and skip(chunk.index):
                return _Skipped(chunk)
            return self.stage.prepare(chunk)

        staged = prefetch(chunks, prepare)
        staged = prefetch(staged, self._infer) if self.threaded else map(self._infer, staged)
        with Progress(self.total, self.progress, self.interval, self.desc) as bar:
            for item in staged:
                chunk = item.chunk if isinstance(item, _Skipped) else item.prepared.chunk
                bar.update(chunk.n_records)
                yield chunk, (None if isinstance(item, _Skipped)
                              else self.stage.finish(item.prepared, item.scores))
