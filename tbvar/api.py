"""Python API: ``load_model``, ``predict``, ``score_vcf``, ``score_variants``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from tbvar.batch_size import resolve_batch_size
from tbvar.engine import Engine, LocalEngine
from tbvar.formats import WriterContext, detect_format, make_writer
from tbvar.genome import Genome, encode_sequence
from tbvar.host_engine import HostEngine
from tbvar.options import RunOptions, ScoreOptions, host_workers
from tbvar.output import ChunkSaver, OutputPlan, check_sanity, resume_key, write_run
from tbvar.partial import PartDir, input_fingerprint, partial_dir
from tbvar.pvalues import benjamini_hochberg
from tbvar.run_setup import (
    load_model,
    load_run_background,
    make_stage,
    open_genome,
    resolve_settings,
    run_metadata,
    task_selection,
)
from tbvar.run_summary import RunSummary
from tbvar.scoring import Scorer
from tbvar.stage import ScoringStage
from tbvar.variant_table import variant_table
from tbvar.variants import SourceChunks, VariantChunk, alleles_from_frame
from tbvar.vcf_reader import VcfSource
from tbvar.writers import SkippedWriter

PathLike = str | os.PathLike[str]


def _as_codes(sequences: Sequence[str] | np.ndarray, length: int) -> np.ndarray:
    if isinstance(sequences, np.ndarray) and sequences.dtype == np.uint8:
        codes = sequences
    else:
        texts = [sequences] if isinstance(sequences, str) else list(sequences)
        bad = [i for i, s in enumerate(texts) if len(s) != length]
        if bad:
            raise ValueError(f"sequence {bad[0]} has length {len(texts[bad[0]])}, the model "
                             f"needs {length}")
        codes = encode_sequence("".join(texts)).reshape(len(texts), length)
    if codes.ndim != 2 or codes.shape[1] != length:
        raise ValueError(f"expected sequences of length {length}, got shape {codes.shape}")
    return codes


def predict(sequences: Sequence[str] | np.ndarray, model: PathLike | nn.Module,
            device: str = "auto", batch_size: int = 128, precision: str = "fp32",
            reverse_complement: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw model output for sequences.

    Parameters
    ----------
    sequences
        DNA strings of the model's length, or uint8 base codes ``(n, L)`` (A,G,C,T,N = 0..4).
    model
        Model file or loaded model.
    reverse_complement
        Average with the reverse-complement pass (attention flipped back); off by default so
        the output equals the network's forward output.

    Returns
    -------
    probs, attention
        ``(n, n_tasks)`` probabilities and ``(n, n_bins)`` attention, float32 (attention is
        ``None`` for models without it).
    """
    net = load_model(model)
    codes = _as_codes(sequences, net.config.sequence_length)
    scorer = Scorer(net, device=device, batch_size=batch_size, precision=precision,
                    reverse_complement=reverse_complement)
    return scorer.predict(codes)


def _engine(stage: ScoringStage, model: PathLike | nn.Module, run: RunOptions,
            saver: ChunkSaver | None, total: int | None = None) -> tuple[Engine, str]:
    """The run's engine and the device it scores on (part of the resume key); ``total``:
    the input's records, for a local run's progress."""
    if run.engine == "local":
        device = str(stage.scorer.device)
        workers = host_workers(run, device)
        shown = total if run.progress else None
        if workers > 1:  # the model in this thread, the rest of each chunk in a worker
            return (HostEngine(stage, workers, saver, progress=run.progress, total=shown,
                               interval=run.progress_interval), device)
        return (LocalEngine(stage, progress=run.progress, model_thread=run.model_thread,
                            total=shown, interval=run.progress_interval), device)
    from tbvar.ray_engine import RayEngine  # Ray is an optional extra, imported when asked for

    model_file = model if isinstance(model, nn.Module) else stage.scorer.model.info.path
    engine = RayEngine(stage, model_file, run, saver)
    return engine, engine.device


def _score(chunks: Iterable[VariantChunk], source: VcfSource | None, genome: PathLike | Genome,
           model: PathLike | nn.Module, output: PathLike | None, format: str | None,
           skipped: PathLike | None, options: ScoreOptions, run: RunOptions,
           total: int | None = None) -> pd.DataFrame | RunSummary:
    """Shared body of :func:`score_vcf` and :func:`score_variants` (``total``: records, for
    progress)."""
    net = load_model(model)
    run = resolve_batch_size(net, options, run)
    ref_genome = open_genome(genome, options.contig_map)
    background, forced = load_run_background(options, run, net, ref_genome)
    # with a cluster engine the workers build their own stages; this one gives the columns
    stage = make_stage(net, ref_genome, options, run if run.engine == "local" else
                       replace(run, device="cpu", precision="fp32"), background)
    if output is None:
        if skipped is not None:
            raise ValueError("skipped needs an output file")
        engine, _ = _engine(stage, model, run, None, total)
        return _frame(engine, chunks, options.ref_mismatch, stage.template, options.strict)
    meta = run_metadata(net, ref_genome, options, run, background, forced)
    context = WriterContext(stage.template, meta, source.header if source else None,
                            stage.scorer.has_attention)
    writers = [(Path(output), make_writer(output, format, context))]
    if skipped is not None:
        writers.append((Path(skipped), SkippedWriter(skipped)))
    if source is None and run.resume:
        raise ValueError("resume needs a VCF input file")
    engine, device = _engine(stage, model, run, ChunkSaver(
        PartDir(partial_dir(Path(output).absolute())), [writer for _, writer in writers]), total)
    key = resume_key(
        source={**input_fingerprint(source.path), "region": source.region} if source else None,
        metadata=meta, options=options, selected=task_selection(net, options.tasks)[1],
        run=run, device=device, genome=ref_genome.fingerprint,
        model_sha256=getattr(getattr(net, "info", None), "sha256", None), writers=writers)
    inputs = [Path(p) for p in (source.path if source else None, ref_genome.path,
                                options.background) if p is not None]
    # definitions the input lacked matter to VCF output only
    additions = (source.header_additions if source is not None
                 and detect_format(output, format) == "vcf" else list)
    plan = OutputPlan(writers, key, additions, significance=background is not None,
                      inputs=inputs)
    return write_run(engine, chunks, plan, options.ref_mismatch, resume=run.resume,
                     notify=run.notify, strict=options.strict)


def _frame(engine: Engine, chunks: Iterable[VariantChunk], policy: str,
           template: pd.DataFrame, strict: bool) -> pd.DataFrame:
    """All result rows as one DataFrame; the run's counts in ``attrs["summary"]``."""
    summary = RunSummary(ref_mismatch_policy=policy)
    frames = []
    for _, scored in engine(chunks):
        summary.merge(scored.counts)
        frames.append(scored.rows)
    check_sanity(summary, strict)
    frame = pd.concat(frames, ignore_index=True) if frames else template
    if "q" in frame:
        frame["q"] = benjamini_hochberg(frame["combined_p"].to_numpy()).astype(np.float32)
    frame.attrs["summary"] = summary.to_dict()
    return frame


def score_vcf(vcf: PathLike, genome: PathLike | Genome, model: PathLike | nn.Module,
              output: PathLike | None = None, *, format: str | None = None,
              region: str | None = None, skipped: PathLike | None = None,
              options: ScoreOptions | None = None, run: RunOptions | None = None,
              **settings: Any) -> pd.DataFrame | RunSummary:
    """Score every variant of a VCF/VCF.gz/BCF.

    Parameters
    ----------
    vcf, genome, model
        Input variants, reference FASTA (or :class:`Genome`), model file (or loaded model).
    output
        If given, write there (format from ``format`` or the extension: ``.vcf``, ``.vcf.gz``,
        ``.bcf``, ``.tsv``, ``.tsv.gz``, ``.parquet``, ``DIR/`` for a Parquet dataset) plus
        ``OUTPUT.summary.json`` and return
        the :class:`RunSummary`; otherwise return the rows as a DataFrame (summary dict in
        ``df.attrs["summary"]``).
    region
        ``chrom[:start-end]``; the VCF must be bgzipped and indexed.
    skipped
        Also write every unscored allele with its input line and reason to this TSV.
    options, run
        What is scored (:class:`~tbvar.options.ScoreOptions`) and how the run executes
        (:class:`~tbvar.options.RunOptions`); defaults if not given.
    **settings
        Any field of either, overriding the objects: ``scores`` (per-task scores, names in
        :data:`tbvar.scores.TASK_SCORES`), ``tasks`` (selectors: index, target, cell type or
        label), ``top_k``, ``reverse_complement``, ``max_allele_length``, ``ref_mismatch``
        (``skip``, ``flip``, ``use-vcf``), ``contig_map`` (``{VCF contig: FASTA contig}`` or a
        two-column TSV file), ``device``, ``batch_size``, ``precision``, ``chunk_size``,
        ``progress``, ``model_thread``, ``host_workers`` (processes for the per-chunk host
        work, :mod:`tbvar.host_engine`), ``resume`` (continue an interrupted run into the same
        ``output``), ``command`` (recorded in headers), ``notify`` (receives one-line notes),
        ``background`` (a ``tbvar calibrate`` file: adds per-task ``p``/``z`` scores and per
        variant ``min_p``, ``min_p_task``, ``combined_p`` and ``q``), ``force_background``,
        ``engine`` (``"ray"``: score on a Ray cluster's workers, :mod:`tbvar.ray_engine`),
        ``ray_address``, ``workers``, ``gpus_per_worker``.
    """
    what, how = resolve_settings(settings, options, run)
    source = VcfSource(vcf, region)
    return _score(SourceChunks(source, how.chunk_size), source, genome, model, output, format,
                  skipped, what, how, total=source.count_records() if how.progress else None)


def score_variants(variants: Any, genome: PathLike | Genome | Any,
                   model: PathLike | nn.Module, output: PathLike | None = None, *,
                   columns: Mapping[str, str] | None = None, format: str | None = None,
                   skipped: PathLike | None = None, options: ScoreOptions | None = None,
                   run: RunOptions | None = None, **settings: Any) -> pd.DataFrame | RunSummary:
    """Score variants given in a notebook's terms (:mod:`tbvar.variant_table`).

    Parameters
    ----------
    variants
        A DataFrame (``chrom, pos, ref, alt``, ``id``; or the columns named by ``columns``),
        a list of ``(chrom, pos, ref, alt)`` tuples, or a list of ``"chrom:pos:ref:alt"``
        strings (``-`` or ``_`` separated too). ``pos`` is 1-based and alleles are written
        as in a VCF (``alt`` may list several ALTs, comma-separated).
    columns
        ``{"chrom": "CHR", "pos": "BP", "ref": ..., "alt": ...}``; for GWAS/eQTL summary
        statistics ``"effect_allele"`` and ``"other_allele"`` instead of ``ref``/``alt``:
        the genome's allele is found (``--ref-mismatch flip`` unless ``ref_mismatch`` is
        given) and scores measure the effect allele against the other allele (``swapped``:
        the genome carries the effect allele).

    Other parameters as in :func:`score_vcf`; output is TSV or Parquet.

    Raises
    ------
    ValueError
        Variants in no accepted form (the message lists them).
    """
    table, summary_statistics = variant_table(variants, columns)
    if summary_statistics:
        settings = {"ref_mismatch": "flip", **settings, "orientation": "input"}
    what, how = resolve_settings(settings, options, run)
    alleles = alleles_from_frame(table)
    groups = alleles["record_index"].to_numpy() // how.chunk_size
    chunks = (VariantChunk(part.reset_index(drop=True), index=int(k))
              for k, part in alleles.groupby(groups, sort=False))
    return _score(chunks, None, genome, model, output, format, skipped, what, how,
                  total=len(table))


def default_output_name(vcf: PathLike) -> Path:
    """``in.vcf.gz`` → ``in.tbvar.vcf.gz`` (used when ``-o`` is omitted)."""
    name = Path(vcf).name
    for suffix in (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf"):
        if name.endswith(suffix):
            return Path(vcf).with_name(name[: -len(suffix)] + ".tbvar" + suffix)
    return Path(vcf).with_name(name + ".tbvar.tsv")
