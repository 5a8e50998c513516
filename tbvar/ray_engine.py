"""The Ray engine: the scoring stage in a pool of Ray actors across a cluster's GPUs (or CPU
cores), as an :data:`~tbvar.engine.Engine` of :func:`tbvar.output.write_run`.

- Each worker (an actor) builds its own :class:`~tbvar.stage.ScoringStage` from a
  :class:`StageSpec` — its own model, genome handle and background — and runs a
  :class:`~tbvar.engine.LocalEngine` over ranges of whole chunks, saving every chunk with the
  run's :class:`~tbvar.output.ChunkSaver` into ``OUT.partial/`` (a shared file system) as
  ``write_run`` would. The driver yields ``(chunk, None)`` in input order once a chunk is
  saved, and ``write_run`` adds up the stored counts and assembles the outputs as for a local
  run: the bytes are the same.
- An indexed input (bgzipped VCF or BCF with a ``.tbi``/``.csi``) is counted and read by the
  workers, in ranges of whole chunks (:mod:`tbvar.input_ranges`); any other input is read
  by the driver, which ships its chunks.
- A killed or failed worker is restarted and its range retried by Ray (``max_restarts``,
  ``max_task_retries``); the retry skips the chunks already saved. After a driver crash,
  ``resume`` reuses every saved chunk.
- The pool stays up for later runs of the same process (each worker keeps its last stage);
  it is closed when a run fails or stops, and ends with the process.

Ray is an optional extra (``pip install tbvar[ray]``); this module imports it only when an
engine is made.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from tbvar.background import Background
from tbvar.engine import LocalEngine
from tbvar.genome import Genome
from tbvar.input_ranges import (
    ChunkRange,
    PieceCount,
    count_piece,
    index_reason,
    input_spans,
    pieces,
    plan_ranges,
    read_range,
)
from tbvar.options import RunOptions, ScoreOptions
from tbvar.output import ChunkSaver, score_into
from tbvar.progress import Progress
from tbvar.run_setup import load_model, make_stage
from tbvar.stage import ScoredChunk, ScoringStage
from tbvar.variants import SourceChunks, VariantChunk, placeholder_chunk
from tbvar.vcf_reader import Span, VcfSource

PIECES_PER_WORKER = 8  # pieces of an indexed input counted per worker
RANGES_PER_WORKER = 4  # at least this many ranges per worker (load balance) ...
MAX_RANGE_CHUNKS = 64  # ... of at most this many chunks (what a retry repeats)
DRIVER_RANGE_CHUNKS = 4  # chunks per range of an input the driver reads
IN_FLIGHT_PER_WORKER = 2  # ranges queued per worker

#: One unit of work: a range of an indexed input, or chunks the driver read.
Work = ChunkRange | list[VariantChunk]


@dataclass(frozen=True)
class StageSpec:
    """What a worker builds its stage from.

    Attributes
    ----------
    model
        A model file (absolute path) or a model to ship.
    genome, contig_map
        The genome FASTA (absolute path) and its contig map.
    options
        What is scored (the background as an absolute path).
    device, batch_size, precision, p_values_on, cuda_graphs
        How the model runs (:class:`~tbvar.options.RunOptions`).
    files
        SHA-256 of the model file and of the background, the genome's fingerprint: a worker
        keeps its stage for the next run only while the spec, files included, is equal.
    """

    model: str | nn.Module
    genome: str
    contig_map: dict[str, str]
    options: ScoreOptions
    device: str
    batch_size: int
    precision: str
    p_values_on: str
    cuda_graphs: bool
    files: tuple[str | None, ...]

    def build(self) -> ScoringStage:
        """The stage: model, genome handle and background opened here."""
        background = (Background.load(self.options.background)
                      if self.options.background is not None else None)
        run = RunOptions(device=self.device, batch_size=self.batch_size,
                         precision=self.precision, p_values_on=self.p_values_on,
                         cuda_graphs=self.cuda_graphs)
        return make_stage(load_model(self.model), Genome(self.genome, contig_map=self.contig_map),
                          self.options, run, background)


@dataclass(frozen=True)
class _Job:
    """One run as the workers see it: the stage, where chunks go (``saver``; ``None``: back
    to the driver) and, for an indexed input, how to read it."""

    id: str
    spec: StageSpec
    saver: ChunkSaver | None
    policy: str
    model_thread: bool | None
    vcf: str | None = None
    region: str | None = None
    spans: tuple[Span, ...] = ()
    chunk_size: int = 0

    def source(self) -> VcfSource:
        """The indexed input, opened."""
        return VcfSource(self.vcf, self.region)


class ScoringWorker:
    """A Ray actor holding one stage: counts pieces and scores ranges of the run it is sent.

    Parameters
    ----------
    threads
        Torch intra-op threads (the CPU cores the actor holds).
    """

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self._job: _Job | None = None
        self._spec: StageSpec | None = None
        self._stage: ScoringStage | None = None
        self._source: VcfSource | None = None

    def _load(self, job_id: str, job_ref: list) -> _Job:
        """The run's job (``job_ref``: its object reference in a list, fetched once)."""
        if self._job is None or self._job.id != job_id:
            import ray

            self._job, self._source = ray.get(job_ref[0]), None
        return self._job

    def count(self, job_id: str, job_ref: list, piece: Span, step: int) -> PieceCount:
        """Count one piece of the run's indexed input."""
        return count_piece(self._load(job_id, job_ref).source(), piece, step)

    def score(self, job_id: str, job_ref: list, work: Work) -> list[ScoredChunk]:
        """Score the chunks of ``work``: saved (skipping those saved before) when the run
        has a saver, else returned."""
        job = self._load(job_id, job_ref)
        if job.spec != self._spec:
            self._stage, self._spec = job.spec.build(), job.spec
        engine = LocalEngine(self._stage, model_thread=job.model_thread)
        if isinstance(work, ChunkRange):
            if self._source is None:
                self._source = job.source()
            chunks: Iterable[VariantChunk] = read_range(self._source, list(job.spans), work,
                                                        job.chunk_size)
        else:
            chunks = work
        if job.saver is None:
            return [scored for _, scored in engine(chunks)]
        score_into(engine, chunks, job.saver, job.policy)
        return []


class _Pool:
    """The actors, the work queued on each, and the Ray session they belong to."""

    def __init__(self, workers: int, gpus: float) -> None:
        import ray

        actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=-1,
                           max_task_retries=-1)(ScoringWorker)
        self.actors = [actor.remote(1) for _ in range(workers)]
        self.queued = [0] * workers
        self.owner: dict[Any, int] = {}
        self.shape = (workers, gpus, ray.get_runtime_context().get_job_id())

    def submit(self, method: str, *args: Any) -> Any:
        """Call ``method`` on the actor with the least work queued; its object reference."""
        index = min(range(len(self.actors)), key=self.queued.__getitem__)
        ref = getattr(self.actors[index], method).remote(*args)
        self.queued[index] += 1
        self.owner[ref] = index
        return ref

    def result(self, ref: Any) -> Any:
        """The result of a call (a worker's error re-raised as itself)."""
        import ray

        self.queued[self.owner.pop(ref)] -= 1
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise

    def close(self) -> None:
        """Kill the actors (their work stops)."""
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)


_POOL: _Pool | None = None


def _pool(workers: int, gpus: float) -> _Pool:
    """The pool of this shape in this Ray session: the last one, or a new one."""
    global _POOL
    import ray

    shape = (workers, gpus, ray.get_runtime_context().get_job_id())
    if _POOL is not None and _POOL.shape != shape:
        close_workers()
    if _POOL is None:
        _POOL = _Pool(workers, gpus)
    return _POOL


def close_workers() -> None:
    """End the workers kept for later runs of this process (freeing their GPUs or cores)."""
    global _POOL
    if _POOL is not None:
        try:
            _POOL.close()
        except Exception:  # the actors of an ended Ray session are gone already
            pass
        _POOL = None


def resolve_workers(run: RunOptions, resources: dict[str, float]) -> tuple[str, float, int]:
    """The workers' device (``cpu`` or ``cuda``), GPUs per worker and number of workers for
    ``run`` on a cluster with ``resources`` (``ray.cluster_resources()``)."""
    gpus_total, cpus_total = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    device = run.device
    if device == "auto":
        wanted = run.gpus_per_worker if run.gpus_per_worker is not None else gpus_total
        device = "cuda" if wanted > 0 else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device {run.device!r}: with engine 'ray' the device is auto, cpu or "
                         "cuda (Ray gives each worker its GPUs)")
    gpus = run.gpus_per_worker if run.gpus_per_worker is not None else float(device == "cuda")
    if (device == "cuda") != (gpus > 0):
        raise ValueError(f"device {device} with {gpus:g} GPUs per worker: CUDA workers need "
                         "GPUs, CPU workers none")
    workers = run.workers or max(1, int(gpus_total // gpus) if gpus else int(cpus_total))
    return device, gpus, workers


class RayEngine:
    """An :data:`~tbvar.engine.Engine` running the stage on a Ray cluster's workers.

    Connects to Ray (``run.ray_address``) when this process is not connected yet.

    Parameters
    ----------
    stage
        The driver's stage: the genome, options and background the workers open again.
    model
        The model file or a loaded model (shipped to the workers).
    run
        How the run executes (device, batch size, precision, workers, GPUs per worker).
    saver
        Where workers save scored chunks (the run's ``OUT.partial/``); ``None``: scored
        chunks come back to this process (a DataFrame result).

    Attributes
    ----------
    device
        The device the workers score on (``cpu`` or ``cuda``).
    """

    def __init__(self, stage: ScoringStage, model: str | os.PathLike[str] | nn.Module,
                 run: RunOptions, saver: ChunkSaver | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError("engine 'ray' needs Ray: pip install 'tbvar[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=run.ray_address, logging_level=logging.WARNING)
        resources = ray.cluster_resources()
        self.device, self.gpus, self.workers = resolve_workers(run, resources)
        self.run, self.saver = run, saver
        options, background = stage.options, stage.background
        self.spec = StageSpec(
            model if isinstance(model, nn.Module) else os.path.abspath(model),
            os.path.abspath(stage.genome.path), dict(stage.genome.contig_map),
            replace(options, background=options.background and
                    os.path.abspath(options.background)),
            self.device, run.batch_size, run.precision, run.p_values_on, run.cuda_graphs,
            (getattr(getattr(stage.scorer.model, "info", None), "sha256", None),
             background.sha256 if background is not None else None, stage.genome.fingerprint))
        if (self.workers * self.gpus > resources.get("GPU", 0)
                or self.workers > resources.get("CPU", 0)):
            self._note(f"ray: {self.workers} worker(s) with 1 CPU and {self.gpus:g} GPU(s) each "
                       f"need more than the cluster's {resources.get('CPU', 0):g} CPUs and "
                       f"{resources.get('GPU', 0):g} GPUs: they wait for resources")

    def _note(self, text: str) -> None:
        if self.run.notify is not None:
            self.run.notify(text)

    def __call__(self, chunks: Iterable[VariantChunk],
                 skip: Callable[[int], bool] | None = None
                 ) -> Iterator[tuple[VariantChunk, ScoredChunk | None]]:
        """Chunks in input order, with their scored rows (``None`` once saved)."""
        import ray

        job = _Job(uuid.uuid4().hex, self.spec, self.saver, self.spec.options.ref_mismatch,
                   self.run.model_thread)
        pool = _pool(self.workers, self.gpus)
        reason = (index_reason(chunks.source) if isinstance(chunks, SourceChunks)
                  else "it is not a file")
        if reason is None:
            source = chunks.source
            job = replace(job, vcf=os.path.abspath(source.path), region=source.region,
                          spans=tuple(input_spans(source)), chunk_size=chunks.chunk_size)
        job_ref = ray.put(job)
        finished = False
        try:
            if reason is None:
                items, total = self._indexed(pool, job, [job_ref], chunks.source, skip)
            else:
                self._note(f"ray: the driver reads the input ({reason}); {self.workers} "
                           f"{self.device} worker(s) score it")
                items, total = _driver_items(chunks, skip), None
            for chunk, scored in _dispatch(pool, job.id, [job_ref], items, total,
                                           self.run.progress, self.run.progress_interval):
                if self.saver is not None and not self.saver.store.done(chunk.index):
                    raise OSError(f"a worker saved chunk {chunk.index} but it is not in "
                                  f"{self.saver.store.dir}: the output must be on a file "
                                  "system that every node of the cluster shares")
                yield chunk, scored
            finished = True
        finally:
            if not finished:  # a failure or an interruption: stop the work in flight
                close_workers()

    def _indexed(self, pool: _Pool, job: _Job, job_ref: list, source: VcfSource,
                 skip: Callable[[int], bool] | None
                 ) -> tuple[Iterator[tuple[Work | None, list[int]]], int]:
        """Count the pieces of an indexed input (adding the IDs they use to ``source``) and
        plan its ranges; the work items and the number of chunks."""
        cut = pieces(source, list(job.spans), PIECES_PER_WORKER * self.workers)
        refs = [pool.submit("count", job.id, job_ref, piece, job.chunk_size) for piece in cut]
        counts = [pool.result(ref) for ref in refs]
        for count in counts:
            source.add_usage(count.usage)
        n_chunks = math.ceil(sum(count.records for count in counts) / job.chunk_size)
        per_range = min(MAX_RANGE_CHUNKS,
                        max(1, math.ceil(n_chunks / (RANGES_PER_WORKER * self.workers))))
        ranges = plan_ranges(list(job.spans), cut, counts, job.chunk_size, job.chunk_size,
                             per_range)
        self._note(f"ray: {len(cut)} pieces of {source.path} counted by its index; "
                   f"{n_chunks} chunks in {len(ranges)} ranges for {self.workers} "
                   f"{self.device} worker(s)")
        items = ((None if skip is not None and all(map(skip, r.chunks)) else r, list(r.chunks))
                 for r in ranges)
        return items, n_chunks


def _driver_items(chunks: Iterable[VariantChunk], skip: Callable[[int], bool] | None
                  ) -> Iterator[tuple[Work | None, list[int]]]:
    """Work items of chunks read here: runs of unsaved chunks, ``None`` for saved ones."""
    batch: list[VariantChunk] = []
    for chunk in chunks:
        if skip is not None and skip(chunk.index):
            if batch:
                yield batch, [c.index for c in batch]
                batch = []
            yield None, [chunk.index]
            continue
        batch.append(chunk)
        if len(batch) == DRIVER_RANGE_CHUNKS:
            yield batch, [c.index for c in batch]
            batch = []
    if batch:
        yield batch, [c.index for c in batch]


def _dispatch(pool: _Pool, job_id: str, job_ref: list,
              items: Iterator[tuple[Work | None, list[int]]], total: int | None,
              progress: bool, interval: float = 30.0
              ) -> Iterator[tuple[VariantChunk, ScoredChunk | None]]:
    """Send the work items to the pool (a few per worker at a time) and yield every chunk in
    input order once its item is done (``None`` items: done before)."""
    import ray

    done: dict[int, ScoredChunk | None] = {}
    in_flight: dict[Any, list[int]] = {}
    capacity = IN_FLIGHT_PER_WORKER * len(pool.actors)
    next_index = 0
    more = True
    # a bar on a terminal, else a line every ``interval`` seconds (a batch job's log)
    with Progress(total, progress, interval, "tbvar score", unit="chunks") as bar:
        while more or in_flight or done:
            while more and len(in_flight) < capacity:
                item = next(items, None)
                if item is None:
                    more = False
                elif item[0] is None:
                    done.update(dict.fromkeys(item[1]))
                else:
                    in_flight[pool.submit("score", job_id, job_ref, item[0])] = item[1]
            while next_index in done:
                yield placeholder_chunk(next_index), done.pop(next_index)
                bar.update(1)
                next_index += 1
            if in_flight:
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                indices = in_flight.pop(ref)
                scored = {s.index: s for s in pool.result(ref)}
                done.update((index, scored.get(index)) for index in indices)
            elif done and not more:
                raise RuntimeError(f"chunk {next_index} was never scored")
