"""``tbvar calibrate``: score a background of variants and store its null distributions.

The background is scored by exactly the engine of ``tbvar score`` (:class:`~tbvar.stage.
ScoringStage` run by :class:`~tbvar.engine.LocalEngine`) with the same window, reverse-
complement averaging, precision and REF-mismatch policy, over all model tasks. Its scored
alleles feed a :class:`~tbvar.null_sample.NullSample` (bounded memory whatever the number of
background variants); the result is a :class:`~tbvar.background.Background` file.

Like ``tbvar score`` the run holds ``BG.lock``, keeps its progress in ``BG.partial/`` (the
sample's state, saved every few chunks; :func:`tbvar.output.partial_run`) and, with
``resume=True``, continues an interrupted run to the same file an uninterrupted one writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from dataclasses import replace as replace_options
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

from tbvar.background import CALIBRATED, DEFAULT_SAMPLE_SIZE, Background
from tbvar.batch_size import resolve_batch_size
from tbvar.checkpoint import file_sha256
from tbvar.engine import LocalEngine
from tbvar.genome import Genome
from tbvar.null_sample import NullSample, row_priority
from tbvar.options import RunOptions, ScoreOptions, calibration_options
from tbvar.output import check_sanity, partial_run
from tbvar.partial import PartialRun
from tbvar.random_snvs import read_bed, sample_snvs
from tbvar.run_setup import load_model, open_genome, resolve_settings, task_selection
from tbvar.run_summary import RunSummary
from tbvar.scoring import Scorer
from tbvar.stage import ScoredChunk, ScoringStage
from tbvar.variants import STATUS_OK, VariantChunk, iter_source_chunks
from tbvar.vcf_reader import VcfSource
from tbvar.version import __version__

#: Chunks between two saved states of an unfinished calibration.
CHECKPOINT_EVERY = 16


@dataclass(frozen=True)
class BackgroundSource:
    """Where the background variants come from: a VCF, or N random genome SNVs.

    Attributes
    ----------
    vcf
        A VCF/VCF.gz/BCF of background variants (e.g. 1000 Genomes common SNVs).
    random
        Number of random SNVs (uniform over non-N positions at least L/2 from contig ends,
        ALT uniform over the other three bases; :mod:`tbvar.random_snvs`).
    seed
        Seed of the random SNVs and of the sample.
    regions
        BED file restricting the random SNVs (e.g. promoters, DHS).
    """

    vcf: str | None = None
    random: int | None = None
    seed: int = 0
    regions: str | None = None

    def __post_init__(self) -> None:
        if (self.vcf is None) == (self.random is None):
            raise ValueError("give exactly one background: a VCF or a number of random SNVs")
        if self.random is not None and self.random < 1:
            raise ValueError("the number of random SNVs must be positive")
        if self.vcf is not None and self.regions is not None:
            raise ValueError("regions restrict random SNVs; filter a background VCF yourself")

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance of the source."""
        if self.vcf is not None:
            return {"kind": "vcf", "path": str(self.vcf), "size": os.path.getsize(self.vcf),
                    "sha256": file_sha256(self.vcf)}
        regions = ({"path": str(self.regions), "sha256": file_sha256(self.regions)}
                   if self.regions else None)
        return {"kind": "random", "n": self.random, "seed": self.seed, "regions": regions}

    def count(self) -> int | None:
        """Records to score, when cheap to know (random SNVs; an indexed or plain VCF)."""
        return self.random if self.vcf is None else VcfSource(self.vcf).count_records()

    def chunks(self, genome: Genome, length: int, chunk_size: int) -> Iterator[VariantChunk]:
        """The background variants in chunks."""
        if self.vcf is not None:
            return iter_source_chunks(VcfSource(self.vcf), chunk_size=chunk_size)
        regions = read_bed(self.regions, genome) if self.regions else None
        return sample_snvs(genome, self.random, seed=self.seed, margin=length // 2,
                           regions=regions, chunk_size=chunk_size)


def _calibrated_values(scored: ScoredChunk) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sampling priorities ``(r,)`` and calibrated scores (``(r, C)`` each) of a chunk's
    scored alleles (``priority`` still to be hashed: record and ALT index)."""
    rows = scored.rows[scored.rows["status"].to_numpy() == STATUS_OK]
    values = {name: rows.filter(regex=f"^{name}\\.").to_numpy(np.float32)
              for name, kind in CALIBRATED.items() if kind == "task"}
    values.update({name: rows[[name]].to_numpy(np.float32)
                   for name, kind in CALIBRATED.items() if kind == "variant" and name in rows})
    keys = np.stack([rows["record_index"].to_numpy(), rows["alt_index"].to_numpy()])
    return keys, values


def _save_state(store: PartialRun, sample: NullSample, next_chunk: int,
                counts: RunSummary) -> None:
    meta = {"next_chunk": str(next_chunk), "counts": json.dumps(counts.to_dict())}
    store.write_state(save(sample.state(), metadata=meta))


def _restore(store: PartialRun, sample_size: int, policy: str
             ) -> tuple[NullSample, int, RunSummary]:
    """The saved state of an interrupted run, or a fresh one."""
    if not store.state_path.exists():
        return NullSample(sample_size), 0, RunSummary(ref_mismatch_policy=policy)
    with safe_open(str(store.state_path), framework="numpy") as handle:
        meta = handle.metadata()
        state = {name: handle.get_tensor(name) for name in handle.keys()}
    return (NullSample.from_state(state), int(meta["next_chunk"]),
            RunSummary.from_dict(json.loads(meta["counts"])))


def _accumulate(engine: LocalEngine, chunks: Iterable[VariantChunk], store: PartialRun,
                sample: NullSample, start: int, counts: RunSummary, seed: int) -> RunSummary:
    """Add every scored allele of the chunks from ``start`` on to ``sample``, saving the
    state every :data:`CHECKPOINT_EVERY` chunks."""
    for chunk, scored in engine(chunks, lambda index: index < start):
        if scored is None:
            continue
        keys, values = _calibrated_values(scored)
        sample.add(row_priority(keys[0], keys[1], seed), values)
        counts.merge(scored.counts)
        if (chunk.index + 1) % CHECKPOINT_EVERY == 0:
            _save_state(store, sample, chunk.index + 1, counts)
    return counts


def background_metadata(model: Any, genome: Genome, options: ScoreOptions, run: RunOptions,
                        source: BackgroundSource, counts: RunSummary, labels: list[str]
                        ) -> dict[str, Any]:
    """Provenance of a background: what a scoring run must match to use it."""
    info = getattr(model, "info", None)
    return {
        "model_sha256": getattr(info, "sha256", None),
        "model": getattr(info, "path", None) or "in-memory model",
        "arch": getattr(model, "arch", None),
        "genome": {"path": genome.path, "assembly": genome.assembly_id},
        "options": calibration_options(options, run),
        "source": source.describe(),
        "counts": counts.to_dict(),
        "tasks": labels,
        "tbvar_version": __version__,
    }


def calibrate(genome: str | os.PathLike[str] | Genome, model: Any,
              output: str | os.PathLike[str], *, source: BackgroundSource,
              sample_size: int = DEFAULT_SAMPLE_SIZE, options: ScoreOptions | None = None,
              run: RunOptions | None = None, **settings: Any) -> Background:
    """Score a background and write its null distributions to ``output``.

    Parameters
    ----------
    genome, model
        As for :func:`tbvar.score_vcf`.
    output
        The background file to write (safetensors + JSON).
    source
        The background variants (:class:`BackgroundSource`).
    sample_size
        k, the sampled variants per score (p-value resolution 1/(k + 1); 8,192 by default).
    options, run, **settings
        As for :func:`tbvar.score_vcf`; ``scores``, ``tasks`` and ``top_k`` are set here (all
        tasks, ``lod`` and ``diff``).

    Returns
    -------
    Background
        What was written.
    """
    what, how = resolve_settings(settings, options, run)
    what = replace_options(what, scores=("lod", "diff"), tasks=None, top_k=0)
    net = load_model(model)
    how = resolve_batch_size(net, what, how)
    labels, _ = task_selection(net, None)
    scorer = Scorer(net, device=how.device, batch_size=how.batch_size, precision=how.precision,
                    reverse_complement=what.reverse_complement)
    ref_genome = open_genome(genome, what.contig_map)
    stage = ScoringStage(ref_genome, scorer, labels, None, what)
    key = {"source": source.describe(), "sample_size": sample_size, "options": asdict(what),
           "run": calibration_options(what, how), "chunk_size": how.chunk_size,
           "model_sha256": getattr(getattr(net, "info", None), "sha256", None),
           "genome": ref_genome.fingerprint}
    chunks = source.chunks(ref_genome, scorer.sequence_length, how.chunk_size)
    engine = LocalEngine(stage, progress=how.progress, model_thread=how.model_thread,
                         total=source.count(), interval=how.progress_interval,
                         desc="tbvar calibrate")
    with partial_run(Path(output), key, how.resume) as store:
        counts, sample = _sample_background(store, engine, chunks, sample_size, source.seed,
                                            how.notify, what)
        sample.background(background_metadata(
            net, ref_genome, what, how, source, counts, labels)).save(output)
    return Background.load(output)


def _sample_background(store: PartialRun, engine: LocalEngine, chunks: Iterable[VariantChunk],
                       sample_size: int, seed: int, notify: Any, options: ScoreOptions
                       ) -> tuple[RunSummary, NullSample]:
    """Score the background (resuming from ``store``) into a null sample; its counts."""
    sample, start, counts = _restore(store, sample_size, options.ref_mismatch)
    if notify is not None and store.stale_reason:
        notify(f"not resuming {store.dir}: {store.stale_reason}; starting over")
    if notify is not None and start:
        notify(f"resuming: the first {start} chunk(s) in {store.dir} are reused")
    counts = _accumulate(engine, chunks, store, sample, start, counts, seed)
    check_sanity(counts, options.strict)
    return counts, sample
