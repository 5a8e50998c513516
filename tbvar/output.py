"""Writing a scoring run to files: chunk parts in ``OUT.partial/``, then atomic assembly.

Outputs of one run: the main output (annotated VCF/BCF, TSV or Parquet), the JSON summary
``OUT.summary.json`` and, if asked, the ``--skipped`` TSV. The run holds the output's lock
(:mod:`tbvar.output_lock`) from start to end. Every chunk's encoded parts are stored in a
:class:`tbvar.partial.PartialRun` as soon as the chunk is scored; after the last chunk each
output is assembled inside the partial directory and renamed into place (side files first, the
main output last) and the directory is removed. So:

- an interrupted or killed run leaves no output file, only ``OUT.partial/``;
- ``resume=True`` skips the chunks finished before and yields the same bytes as an
  uninterrupted run (both take the same path through chunk parts);
- a run that fails on bad input removes ``OUT.partial/`` (resuming could not help).

The resume key (:func:`resume_key`) says what the output depends on.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tbvar.atomic import set_default_permissions
from tbvar.engine import Engine
from tbvar.errors import VariantInputError
from tbvar.formats import QVALUE_DTYPE, ChunkWriter
from tbvar.options import RunOptions, ScoreOptions
from tbvar.output_lock import OutputLock
from tbvar.partial import PartDir, PartialRun
from tbvar.prefetch import WriteBehind
from tbvar.preflight import check_outputs
from tbvar.pvalues import benjamini_hochberg
from tbvar.run_summary import RunSummary
from tbvar.stage import ScoredChunk
from tbvar.variants import VariantChunk

PVALUE_PART = "pvalues"


@dataclass
class OutputPlan:
    """The files of one run and what they depend on.

    Attributes
    ----------
    writers
        ``(final path, writer)`` pairs; the first is the main output, which owns
        ``OUT.partial/``, ``OUT.lock`` and ``OUT.summary.json``.
    key
        What the output depends on (:func:`resume_key`); a resumed run reuses chunks only
        when it is equal.
    header_additions
        Called after the last chunk: header lines the input lacked (see
        :meth:`tbvar.vcf_reader.VcfSource.header_additions`).
    significance
        Rows carry p-values (a background was given): q-values over the whole run are
        computed at assembly and handed to every writer.
    inputs
        Files the run reads, which no output may overwrite.
    """

    writers: list[tuple[Path, ChunkWriter]]
    key: dict[str, Any]
    header_additions: Callable[[], list[str]] = list
    significance: bool = False
    inputs: list[Path] = field(default_factory=list)

    @property
    def main(self) -> Path:
        """The main output path."""
        return Path(self.writers[0][0])


def pvalue_part(rows: pd.DataFrame) -> bytes:
    """A chunk's allele rows as a stored part: record (chunk-relative), ALT index and
    combined p-value, as a NumPy ``.npy`` structured array (no pickle)."""
    table = np.zeros(len(rows), dtype=QVALUE_DTYPE[:2] + [("p", "<f8")])
    record = rows["record_index"].to_numpy()
    table["record"] = record - (record[0] if len(record) else 0)
    table["alt_index"] = rows["alt_index"].to_numpy()
    table["p"] = rows["combined_p"].to_numpy(np.float64)
    buffer = io.BytesIO()
    np.save(buffer, table, allow_pickle=False)
    return buffer.getvalue()


def run_q_values(parts: Iterable[Path]) -> list[np.ndarray]:
    """Benjamini-Hochberg q-values over all chunks' combined p-values, per chunk as
    :data:`QVALUE_DTYPE` arrays (one row per allele, in row order)."""
    tables = [np.load(part, allow_pickle=False) for part in parts]
    q = benjamini_hochberg(np.concatenate([t["p"] for t in tables]) if tables else np.zeros(0))
    out, start = [], 0
    for table in tables:
        chunk = np.zeros(len(table), dtype=QVALUE_DTYPE)
        chunk["record"], chunk["alt_index"] = table["record"], table["alt_index"]
        chunk["q"] = q[start:start + len(table)]
        out.append(chunk)
        start += len(table)
    return out


def summary_path(output: str | os.PathLike[str]) -> Path:
    """``OUT.summary.json`` beside the output (``DIR.summary.json`` beside a dataset
    ``DIR/``)."""
    return Path(f"{Path(output)}.summary.json")


def resume_key(*, source: dict[str, Any] | None, metadata: Mapping[str, str],
               options: ScoreOptions, selected: list[int] | None, run: RunOptions,
               device: str, genome: dict[str, Any], model_sha256: str | None,
               writers: Sequence[tuple[Path, ChunkWriter]]) -> dict[str, Any]:
    """JSON-ready description of everything an output depends on.

    ``source`` is the input's fingerprint and region (:func:`tbvar.partial.input_fingerprint`).
    """
    what = {k: v for k, v in asdict(options).items() if k != "contig_map"}
    return {
        "input": source, "metadata": dict(metadata), "options": what, "tasks": selected,
        "chunk_size": run.chunk_size, "batch_size": run.batch_size, "device": device,
        "contig_map": dict(options.contig_map), "genome": genome, "model_sha256": model_sha256,
        "outputs": [[str(path), type(writer).__name__] for path, writer in writers],
    }


def check_sanity(summary: RunSummary, strict: bool) -> None:
    """With ``strict``, a run whose counts give warnings (:meth:`RunSummary.warnings`) is an
    error."""
    warnings = summary.warnings()
    if strict and warnings:
        raise VariantInputError(f"--strict: {warnings[0]}")


def write_run(engine: Engine, chunks: Iterable[VariantChunk], plan: OutputPlan,
              policy: str, resume: bool = False,
              notify: Callable[[str], None] | None = None, strict: bool = False) -> RunSummary:
    """Score ``chunks`` with ``engine`` into the outputs of ``plan``, atomically.

    Parameters
    ----------
    engine
        Runs the scoring stage over chunks (:class:`tbvar.engine.LocalEngine`, or an engine
        that saves chunks where it runs, with a :class:`ChunkSaver` of this output).
    chunks
        Input chunks in order, numbered from 0.
    plan
        The output files, their writers and the resume key.
    policy
        The REF-mismatch policy (recorded in the summary).
    resume
        Reuse finished chunks of an interrupted run.
    notify
        Receives one-line notes (e.g. why an old partial run could not be resumed).
    strict
        Stop with an error, writing nothing, when the counts give warnings (input sanity).

    Returns
    -------
    RunSummary
        Counts of the whole run.
    """
    check_outputs([path for path, _ in plan.writers] + [summary_path(plan.main)], plan.inputs,
                  directories=[path for path, writer in plan.writers
                               if getattr(writer, "directory", False)])
    with partial_run(plan.main, plan.key, resume) as store:
        if notify is not None and store.stale_reason:
            notify(f"not resuming {store.dir}: {store.stale_reason}; starting over")
        if notify is not None and store.reused:
            notify(f"resuming: {store.reused} finished chunk(s) in {store.dir} are reused")
        saver = ChunkSaver(store, [writer for _, writer in plan.writers])
        summary, n_chunks = score_into(engine, chunks, saver, policy)
        check_sanity(summary, strict)
        summary.header_added = plan.header_additions()
        _assemble(store, plan, summary, n_chunks)
    return summary


@contextmanager
def partial_run(output: Path, key: dict[str, Any], resume: bool) -> Iterator[PartialRun]:
    """Hold ``OUT.lock`` and ``OUT.partial/`` for a run that writes ``output``.

    After success, and after bad input (resuming could not help), the directory is removed;
    after an interruption or an operating-system error (disk full, read-only) it stays for
    ``--resume``, and the error is said in words (:func:`write_failure`).
    """
    try:
        with OutputLock(output):  # a second run into the same output stops here
            store = PartialRun(output, key, resume=resume)
            try:
                yield store
            except OSError:
                raise
            except Exception:
                store.remove()
                raise
            store.remove()
    except OSError as exc:
        raise write_failure(exc, output) from None


def write_failure(exc: OSError, output: Path) -> OSError:
    """An operating-system error while writing ``output``, in words: what could not be
    written, where, why, and what is left (a message of tbvar's own is kept as it is)."""
    if exc.errno is None or exc.strerror is None:
        return exc
    where = exc.filename or output
    partial = output.with_name(output.name + ".partial")
    chunks = len(list(partial.glob("chunk-*.json"))) if partial.is_dir() else 0
    if chunks or (partial / "state.bin").exists():
        kept = f"the {chunks} finished chunk(s) are" if chunks else "the finished work is"
        left = f"{kept} kept in {partial}: rerun with --resume once this is fixed"
    else:
        shutil.rmtree(partial, ignore_errors=True)
        left = "nothing was left behind"
    return OSError(f"cannot write {where} ({exc.strerror.lower()}); no output was written; "
                   f"{left}")


class ChunkSaver:
    """Stores scored chunks in a partial run: every writer's part (plus the p-values part when
    the rows carry p-values), then the chunk's counts, the commit mark.

    ``write_run`` saves with one; an engine that runs the stage elsewhere (a cluster worker)
    saves with a copy of one pointing at the same directory and yields ``(chunk, None)``.

    Parameters
    ----------
    store
        The partial run (or a :class:`~tbvar.partial.PartDir` of its directory).
    writers
        The writers of every output of the run.
    """

    def __init__(self, store: PartDir, writers: Sequence[ChunkWriter]) -> None:
        self.store = store
        self.writers = list(writers)

    def __call__(self, chunk: VariantChunk, scored: ScoredChunk) -> None:
        """Encode and store one scored chunk (atomically: its counts last)."""
        parts = {w.part: w.encode(scored) for w in self.writers}
        if "combined_p" in scored.rows:
            parts[PVALUE_PART] = pvalue_part(scored.rows)
        self.store.save(chunk.index, parts,
                        {"summary": scored.counts.to_dict(), "records": len(chunk.lines)})


def score_into(engine: Engine, chunks: Iterable[VariantChunk], saver: ChunkSaver,
               policy: str) -> tuple[RunSummary, int]:
    """Score with ``engine`` every chunk not yet saved in ``saver.store`` and save it.

    Returns the counts of all ``chunks`` (those saved before from their stored counts) and the
    number of chunks (the last index + 1).
    """
    summary = RunSummary(ref_mismatch_policy=policy)
    n_chunks = 0
    with WriteBehind() as behind:  # encode and save chunk k while chunk k+1 is scored
        for chunk, scored in engine(chunks, saver.store.done):
            if scored is None:
                summary.merge(RunSummary.from_dict(saver.store.info(chunk.index)["summary"]))
            else:
                summary.merge(scored.counts)
                behind.submit(saver, chunk, scored)
            n_chunks = chunk.index + 1
    return summary, n_chunks


def _assemble(store: PartialRun, plan: OutputPlan, summary: RunSummary, n_chunks: int) -> None:
    """Assemble every output from the stored parts and rename them into place (the summary
    and side files first, the main output last)."""
    counts = summary.to_dict()
    extra = summary.header_added + [
        "##tbvar_summary=" + json.dumps(counts, sort_keys=True, separators=(",", ":"))]
    q = run_q_values(store.parts(PVALUE_PART, n_chunks)) if plan.significance else None
    assembled = []
    for path, writer in plan.writers:
        target = store.scratch(writer.part)
        writer.assemble(target, store.parts(writer.part, n_chunks), extra, q)
        suffix = getattr(writer, "index_suffix", None)
        if suffix:  # the index goes in place before its file; a stale one never stays
            index = Path(f"{target}{suffix}")
            if index.exists():
                assembled.append((index, Path(f"{path}{suffix}")))
            else:
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        assembled.append((target, Path(path)))
    target = store.scratch("summary.json")
    target.write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    main = next(i for i, (_, path) in enumerate(assembled) if path == plan.main)
    order = [(target, summary_path(plan.main)), *assembled[:main], *assembled[main + 1:],
             assembled[main]]
    for source, path in order:  # the main output last: it appears only when all is done
        if source.is_dir():  # a dataset: an old one is moved aside, removed with the store
            if path.is_dir():
                os.replace(path, store.scratch("replaced"))
        else:
            set_default_permissions(source)
        os.replace(source, path)
