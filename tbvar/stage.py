"""The scoring stage: one chunk of input records → one scored chunk, pure and typed.

:class:`ScoringStage` turns a :class:`~tbvar.variants.VariantChunk` into a
:class:`ScoredChunk` in three steps with dataclasses between them, so that an engine can run
them in different threads or processes (:mod:`tbvar.engine`):

1. :meth:`ScoringStage.prepare` — classify alleles (status per ALT) and gather the REF/ALT
   windows of the scorable ones → :class:`PreparedChunk`;
2. :meth:`ScoringStage.infer` — the model's forward passes → :class:`~tbvar.scores.VariantScores`;
3. :meth:`ScoringStage.finish` — result rows (one per allele, in input order) and the chunk's
   counts → :class:`ScoredChunk`.

The stage keeps no state between chunks: each :class:`ScoredChunk` carries its own counts
(:class:`~tbvar.run_summary.RunSummary`) and the caller adds them up. Steps 1 and 3 need no
model: :class:`HostStage` holds them alone and is what host worker processes receive
(:mod:`tbvar.host_engine`; it pickles, the genome reopening its files).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from tbvar.background import Background
from tbvar.genome import Genome
from tbvar.model import N_CODE
from tbvar.options import ScoreOptions
from tbvar.run_summary import RunSummary
from tbvar.scores import VariantScores
from tbvar.scoring import Scorer
from tbvar.task_pvalues import ModelNull
from tbvar.text import percent_encode
from tbvar.variant_summaries import lod_summaries, p_summaries
from tbvar.variants import STATUS_OK, VariantChunk, allele_frame, classify
from tbvar.windows import ANCHORS, Windows, build_windows


@dataclass
class PreparedChunk:
    """A chunk ready for the model.

    Attributes
    ----------
    chunk
        The input chunk.
    alleles
        Its allele rows with ``status``, ``contig``, ``ref_match``, ``swapped``.
    windows
        Windows of the rows with status ``ok``, in row order.
    """

    chunk: VariantChunk
    alleles: pd.DataFrame
    windows: Windows


@dataclass
class ScoredChunk:
    """Result rows of one chunk: one row per allele, in input order, and the VCF lines.

    ``numbers`` are the records' input line numbers; ``counts`` count this chunk only.
    """

    rows: pd.DataFrame
    lines: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    index: int = 0
    counts: RunSummary = field(default_factory=RunSummary)


class HostStage:
    """The model-free steps of a stage: :meth:`prepare` and :meth:`finish`.

    Parameters
    ----------
    genome
        Sequence source.
    sequence_length
        Window length L the model takes.
    labels
        Unique labels of all model tasks (see :func:`tbvar.tasks.task_labels`).
    selected
        Indices of the tasks to report (``None``: all).
    options
        What is scored (scores, top-k, input policies).
    background
        Null distributions for p-values (``options.background`` loaded), or ``None``.
    """

    def __init__(self, genome: Genome, sequence_length: int, labels: list[str],
                 selected: list[int] | np.ndarray | None, options: ScoreOptions,
                 background: Background | None = None) -> None:
        self.genome = genome
        self.sequence_length = sequence_length
        self.options = options
        self.background = background
        self.all_labels = list(labels)
        self.selected = np.asarray(selected if selected is not None else range(len(labels)),
                                   dtype=np.int64)
        # the tasks whose p-values a background run looks up, in selection order (None: every
        # task in model order)
        self._p_tasks = (None if np.array_equal(self.selected, np.arange(len(labels)))
                         else self.selected)
        self.labels = np.asarray(labels, dtype=object)[self.selected]
        self.score_columns = [f"{s}.{label}" for s in options.scores for label in self.labels]
        # labels inside text summaries (max_lod_task, top_tasks, min_p_task): percent-encoded
        self.text_labels = percent_encode(self.labels)

    def prepare(self, chunk: VariantChunk) -> PreparedChunk:
        """Classify a chunk's alleles and gather the windows of the scorable ones."""
        alleles = classify(chunk.alleles, self.genome, self.options.max_allele_length,
                           self.options.ref_mismatch)
        ok = alleles[alleles["status"] == STATUS_OK]
        length = self.sequence_length
        return PreparedChunk(chunk, alleles, build_windows(
            self.genome, ok, length, ANCHORS[self.options.anchor](length)))

    def finish(self, prepared: PreparedChunk, scores: VariantScores) -> ScoredChunk:
        """Result rows and counts of a chunk from its model scores (the background, if any, is
        this stage's: scores cross processes without it)."""
        scores = self._with_background(scores)
        alleles, windows = prepared.alleles, prepared.windows
        ok = np.flatnonzero(alleles["status"].to_numpy() == STATUS_OK)
        n = len(alleles)
        rows = alleles.drop(columns=["contig"]).reset_index(drop=True)
        if self.options.orientation == "input":
            scores, rows = _input_orientation(scores, rows, ok)
        rows["contains_n"] = _scatter(((windows.ref == N_CODE) | (windows.alt == N_CODE))
                                      .any(axis=1), ok, n, fill=False)
        rows["edge"] = _scatter(windows.edge, ok, n, fill=False)
        columns = {name: _scatter(values, ok, n)
                   for name, values in self._variant_columns(scores).items()}
        matrix = np.full((n, len(self.score_columns)), np.nan, dtype=np.float32)
        if len(ok) and self.options.scores:
            matrix[ok] = np.concatenate([scores.task_score(s)[:, self.selected]
                                         for s in self.options.scores], axis=1)
        parts = [rows, pd.DataFrame(columns), pd.DataFrame(matrix, columns=self.score_columns)]
        if self.background is not None:  # q: filled in over the whole run (tbvar.output)
            parts.append(pd.DataFrame({"q": np.full(n, np.nan, dtype=np.float32)}))
        result = pd.concat(parts, axis=1)
        counts = RunSummary.of_rows(result, int(rows["record_index"].nunique()),
                                    self.options.ref_mismatch)
        chunk = prepared.chunk
        return ScoredChunk(result, chunk.lines, chunk.numbers, chunk.index, counts)

    def _with_background(self, scores: VariantScores) -> VariantScores:
        """``scores`` against this stage's background, p-values for the selected tasks only."""
        if self.background is None:
            return scores
        return replace(scores, background=self.background, tasks=self._p_tasks)

    def _variant_columns(self, scores: VariantScores) -> dict[str, np.ndarray]:
        """Per-variant summaries of the scored alleles: of lod, attention, p-values."""
        columns = {**lod_summaries(scores.lod[:, self.selected], self.text_labels,
                                   self.options.top_k),
                   **scores.attention_scores()}
        if self.background is not None:
            found = scores.calibrated
            columns.update(p_summaries(found.min_p, found.best, found.combined_p,
                                       self.text_labels))
        return columns


class ScoringStage(HostStage):
    """Scores chunks of variants with one genome, scorer and task selection: the
    :class:`HostStage` steps and the model's.

    Parameters
    ----------
    genome, scorer
        Sequence source and model runner.
    labels, selected, options, background
        As for :class:`HostStage`.
    p_values_on_model
        With a background: compute the p-values on the model's device
        (:class:`~tbvar.task_pvalues.ModelNull`; checked on the host, the same output).
    """

    def __init__(self, genome: Genome, scorer: Scorer, labels: list[str],
                 selected: list[int] | None, options: ScoreOptions,
                 background: Background | None = None, p_values_on_model: bool = False
                 ) -> None:
        super().__init__(genome, scorer.sequence_length, labels, selected, options, background)
        self.scorer = scorer
        self.model_null = (ModelNull(background, self.selected, scorer.device,
                                     with_p="p" in options.scores)
                           if p_values_on_model and background is not None
                           and ModelNull.usable(background, self.selected) else None)

    def host(self) -> HostStage:
        """The model-free steps of this stage, on their own (e.g. for another process)."""
        return HostStage(self.genome, self.sequence_length, self.all_labels, self.selected,
                         self.options, self.background)

    def infer(self, windows: Windows) -> VariantScores:
        """The model's scores of a prepared chunk's windows."""
        return self.scorer.score(windows.ref, windows.alt, self.model_null)

    def __call__(self, chunk: VariantChunk) -> ScoredChunk:
        """All three steps for one chunk, in the calling thread."""
        prepared = self.prepare(chunk)
        return self.finish(prepared, self.infer(prepared.windows))

    @cached_property
    def template(self) -> pd.DataFrame:
        """A zero-row result frame with every output column and its dtype."""
        return self(VariantChunk(allele_frame([]))).rows


def _input_orientation(scores: VariantScores, rows: pd.DataFrame, ok: np.ndarray
                       ) -> tuple[VariantScores, pd.DataFrame]:
    """Rows swapped to match the genome put back in the input's orientation: alleles as
    given, scores measuring the input's ALT against its REF."""
    swapped = rows["swapped"].to_numpy(dtype=bool)
    if not swapped.any():
        return scores, rows
    rows = rows.copy()
    rows.loc[swapped, ["ref", "alt"]] = rows.loc[swapped, ["alt", "ref"]].to_numpy()
    return scores.exchanged(swapped[ok]), rows


def _scatter(values: np.ndarray, rows: np.ndarray, n: int,
             fill: object = None) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Values of scored ``rows`` placed into an n-row column; elsewhere ``fill`` or missing:
    NaN (floats), ``<NA>`` (integers, a nullable ``Int32`` column) or ``None`` (text)."""
    values = np.asarray(values)
    if fill is None and values.dtype.kind == "i":
        data = np.zeros(n, dtype=values.dtype)
        data[rows] = values
        mask = np.ones(n, dtype=bool)
        mask[rows] = False
        return pd.arrays.IntegerArray(data, mask)
    if fill is None:
        fill = np.nan if values.dtype.kind == "f" else None
    out = np.full(n, fill, dtype=values.dtype if values.dtype.kind in "fb" else object)
    out[rows] = values
    return out
