"""Python API: ``load_model``, ``predict``, ``score_vcf``, ``score_variants``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from tbvar import __version__
from tbvar.checkpoint import load_model as load_checkpoint
from tbvar.genome import Genome, encode_sequence, read_contig_map
from tbvar.model import TBiNet
from tbvar.output import write_run
from tbvar.partial import input_fingerprint
from tbvar.pipeline import RunSummary, ScoreOptions, ScoringRun
from tbvar.registry import resolve_model
from tbvar.scoring import LOGIT_EPS, Scorer
from tbvar.tasks import select_tasks, task_labels
from tbvar.variants import VariantChunk, alleles_from_frame, iter_source_chunks
from tbvar.vcf_reader import VcfSource
from tbvar.vcf_writer import VcfWriter
from tbvar.writers import SkippedWriter, TableWriter, detect_format

PathLike = str | os.PathLike[str]


def load_model(model: PathLike | TBiNet | None = None, device: str = "cpu") -> TBiNet:
    """Load a model; the returned module carries its metadata as ``.info``.

    Parameters
    ----------
    model
        A registry name (``None``: the published TBiNet, ``"tbinet"``; installed in the cache
        on first use), a ``.safetensors`` tbvar model, or a Keras TBiNet ``.h5`` file
        (converted once and cached); an already loaded model is returned as is.
    device
        Device to place the model on.
    """
    if isinstance(model, TBiNet):
        return model
    loaded, info = load_checkpoint(resolve_model(model),
                                   device="cpu" if device == "auto" else device)
    loaded.info = info
    return loaded


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


def predict(sequences: Sequence[str] | np.ndarray, model: PathLike | TBiNet,
            device: str = "auto", batch_size: int = 128, precision: str = "fp32",
            reverse_complement: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
        ``(n, n_tasks)`` probabilities and ``(n, n_bins)`` attention, float32.
    """
    net = load_model(model)
    codes = _as_codes(sequences, net.config.sequence_length)
    scorer = Scorer(net, device=device, batch_size=batch_size, precision=precision,
                    reverse_complement=reverse_complement)
    return scorer.predict(codes)


def run_metadata(model: TBiNet, genome: PathLike | Genome, reverse_complement: bool,
                 precision: str, ref_mismatch: str, command: str | None = None
                 ) -> dict[str, str]:
    """Provenance written into output headers / Parquet metadata."""
    info = getattr(model, "info", None)
    meta = {
        "version": __version__,
        "model": (f"{info.path} sha256={info.sha256} ({info.description or 'no description'})"
                  if info is not None else "in-memory model"),
        "tasks_source": (info.task_source or "model file") if info is not None else "generic",
        "genome": genome.path if isinstance(genome, Genome) else str(genome),
        "logit_eps": repr(LOGIT_EPS),
        "rc_average": str(reverse_complement).lower(),
        "precision": precision,
        "ref_mismatch": ref_mismatch,
    }
    if info is not None and info.random_weights:
        meta["warning"] = "the model has RANDOM weights; scores are meaningless"
    if command:
        meta["command"] = command
    return meta


def _score(chunks: Iterable[VariantChunk], genome: PathLike | Genome,
           model: PathLike | TBiNet, output: PathLike | None, format: str | None,
           source: VcfSource | None, scores: Sequence[str],
           tasks: Sequence[str] | None, top_k: int, device: str, batch_size: int,
           precision: str, reverse_complement: bool, max_allele_length: int,
           ref_mismatch: str, progress: bool, command: str | None,
           contig_map: PathLike | Mapping[str, str] | None = None, skipped: PathLike | None = None,
           resume: bool = False, chunk_size: int = 1024,
           notify: Callable[[str], None] | None = None) -> pd.DataFrame | RunSummary:
    """Shared body of :func:`score_vcf` and :func:`score_variants`."""
    net = load_model(model)
    info = getattr(net, "info", None)
    if info is not None:
        labels, selected = task_labels(info.tasks), select_tasks(info.tasks, tasks)
    else:
        labels, selected = [f"task{j}" for j in range(net.config.n_tasks)], None
    options = ScoreOptions(scores=tuple(scores), tasks=selected, top_k=top_k,
                           max_allele_length=max_allele_length, ref_mismatch=ref_mismatch)
    scorer = Scorer(net, device=device, batch_size=batch_size, precision=precision,
                    reverse_complement=reverse_complement)
    mapping = read_contig_map(contig_map) if isinstance(contig_map, (str, os.PathLike)) \
        else dict(contig_map or {})
    if isinstance(genome, Genome):
        if mapping:
            raise ValueError("contig_map applies to a genome given as a path; pass it to "
                             "Genome(..., contig_map=...) instead")
        ref_genome = genome
    else:
        ref_genome = Genome(genome, contig_map=mapping)
    run = ScoringRun(ref_genome, scorer, labels, options)
    if output is None:
        if skipped is not None:
            raise ValueError("skipped needs an output file")
        frames = [scored.rows for _, scored in run.run(chunks, progress=progress)]
        frame = pd.concat(frames, ignore_index=True) if frames else run.template()
        frame.attrs["summary"] = run.summary.to_dict()
        return frame
    fmt = detect_format(output, format)
    meta = run_metadata(net, ref_genome, reverse_complement, precision, ref_mismatch, command)
    writers: list[tuple[Path, object]] = []
    if fmt == "vcf":
        if source is None:
            raise ValueError(f"{output}: VCF output needs VCF input; write TSV or Parquet")
        writers.append((Path(output), VcfWriter(output, source.header, meta)))
    else:
        writers.append((Path(output), TableWriter(output, fmt, run.template(), meta)))
    if skipped is not None:
        writers.append((Path(skipped), SkippedWriter(skipped)))
    key = {
        "input": input_fingerprint(source.path) if source is not None else None,
        "region": source.region if source is not None else None,
        "metadata": meta, "options": asdict(options), "chunk_size": chunk_size,
        "batch_size": batch_size, "device": str(scorer.device), "contig_map": mapping,
        "genome": ref_genome.fingerprint, "model_sha256": getattr(info, "sha256", None),
        "outputs": [[str(path), type(writer).__name__] for path, writer in writers],
    }
    if source is None and resume:
        raise ValueError("resume needs a VCF input file")
    return write_run(run, chunks, writers, key,
                     source.header_additions if source is not None else list,
                     resume=resume, progress=progress, notify=notify)


def score_vcf(vcf: PathLike, genome: PathLike | Genome, model: PathLike | TBiNet,
              output: PathLike | None = None, format: str | None = None,
              scores: Sequence[str] = ("lod", "diff"), tasks: Sequence[str] | None = None,
              top_k: int = 5, device: str = "auto", batch_size: int = 128,
              precision: str = "fp32", reverse_complement: bool = True,
              region: str | None = None, max_allele_length: int = 100,
              ref_mismatch: str = "skip", chunk_size: int = 1024, progress: bool = False,
              command: str | None = None, contig_map: PathLike | Mapping[str, str] | None = None,
              skipped: PathLike | None = None, resume: bool = False,
              notify: Callable[[str], None] | None = None) -> pd.DataFrame | RunSummary:
    """Score every variant of a VCF/VCF.gz/BCF.

    Parameters
    ----------
    vcf, genome, model
        Input variants, reference FASTA (or :class:`Genome`), model file (or loaded model).
    output
        If given, write there (format from ``format`` or the extension: ``.vcf``, ``.vcf.gz``,
        ``.bcf``, ``.tsv``, ``.tsv.gz``, ``.parquet``) plus ``OUTPUT.summary.json`` and return
        the :class:`RunSummary`; otherwise return the rows as a DataFrame (summary dict in
        ``df.attrs["summary"]``).
    scores
        Per-task scores to report: ``ref, alt, diff, lod, absdiff, abslod``.
    tasks
        Task selectors (index, target, cell type or label); default all.
    top_k, device, batch_size, precision, reverse_complement
        See ``tbvar score --help``.
    region
        ``chrom[:start-end]``; the VCF must be bgzipped and indexed.
    max_allele_length, ref_mismatch
        Input policies (``ref_mismatch``: ``skip``, ``flip`` or ``use-vcf``).
    chunk_size, progress, command
        Records per chunk, tqdm progress bar, command line recorded in the output header.
    contig_map
        ``{VCF contig: FASTA contig}`` or a two-column TSV file of them, tried before the
        automatic harmonisation (chr1/1, chrM/MT, GL000192.1/chr1_gl000192_random).
    skipped
        Also write every unscored allele with its input line and reason to this TSV.
    resume
        Continue an interrupted run into the same ``output`` (reusing ``OUTPUT.partial/``).
    notify
        Receives one-line notes about resuming.
    """
    source = VcfSource(vcf, region)
    return _score(iter_source_chunks(source, chunk_size=chunk_size), genome, model,
                  output, format, source, scores, tasks, top_k, device,
                  batch_size, precision, reverse_complement, max_allele_length, ref_mismatch,
                  progress, command, contig_map, skipped, resume, chunk_size, notify)


def score_variants(variants: pd.DataFrame, genome: PathLike | Genome,
                   model: PathLike | TBiNet, output: PathLike | None = None,
                   format: str | None = None, scores: Sequence[str] = ("lod", "diff"),
                   tasks: Sequence[str] | None = None, top_k: int = 5, device: str = "auto",
                   batch_size: int = 128, precision: str = "fp32",
                   reverse_complement: bool = True, max_allele_length: int = 100,
                   ref_mismatch: str = "skip", chunk_size: int = 1024,
                   progress: bool = False,
                   contig_map: PathLike | Mapping[str, str] | None = None,
                   skipped: PathLike | None = None) -> pd.DataFrame | RunSummary:
    """Score variants given as a DataFrame with columns ``chrom, pos, ref, alt`` (``id``).

    ``pos`` is 1-based and alleles are written as in a VCF (``alt`` may list several ALTs,
    comma-separated). Other parameters as in :func:`score_vcf`; output is TSV or Parquet.
    """
    alleles = alleles_from_frame(variants)
    groups = alleles["record_index"].to_numpy() // chunk_size
    chunks = (VariantChunk(part.reset_index(drop=True), index=int(k))
              for k, part in alleles.groupby(groups, sort=False))
    return _score(chunks, genome, model, output, format, None, scores, tasks, top_k, device,
                  batch_size, precision, reverse_complement, max_allele_length, ref_mismatch,
                  progress, None, contig_map, skipped, False, chunk_size)


def default_output_name(vcf: PathLike) -> Path:
    """``in.vcf.gz`` → ``in.tbvar.vcf.gz`` (used when ``-o`` is omitted)."""
    name = Path(vcf).name
    for suffix in (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf"):
        if name.endswith(suffix):
            return Path(vcf).with_name(name[: -len(suffix)] + ".tbvar" + suffix)
    return Path(vcf).with_name(name + ".tbvar.tsv")
