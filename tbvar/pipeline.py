"""A scoring run: classify alleles, gather windows, score, summarise, hand rows to sinks.

Input preparation (VCF parsing, REF checks, window gathering) for chunk k+1 runs in a
background thread while chunk k is on the model, through a bounded queue, so memory stays
bounded by a few chunks whatever the input size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from tbvar.genome import Genome
from tbvar.model import N_CODE
from tbvar.prefetch import prefetch
from tbvar.scoring import ATTENTION_SCORES, TASK_SCORES, Scorer, VariantScores
from tbvar.text import format_floats, join_columns
from tbvar.variants import STATUS_OK, VariantChunk, allele_frame, classify
from tbvar.windows import build_windows

SUMMARY_COLUMNS = ("max_abslod", "max_lod", "max_lod_task", "top_tasks", *ATTENTION_SCORES)
FLAG_COLUMNS = ("ref_match", "swapped", "contains_n", "edge")
TOP_SEPARATOR = "&"


@dataclass
class ScoreOptions:
    """What to compute and how strictly to treat input (see ``tbvar score --help``)."""

    scores: tuple[str, ...] = ("lod", "diff")
    tasks: list[int] | None = None
    top_k: int = 5
    max_allele_length: int = 100
    ref_mismatch: str = "skip"

    def __post_init__(self) -> None:
        unknown = [s for s in self.scores if s not in TASK_SCORES]
        if unknown:
            raise ValueError(f"unknown score(s) {unknown}; choose from {', '.join(TASK_SCORES)}")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")


@dataclass
class RunSummary:
    """Counts of a run; ``status_counts`` add up to ``alleles``, every record is counted.

    ``header_added`` lists the header lines added for IDs the input used without defining.
    """

    records: int = 0
    alleles: int = 0
    status_counts: Counter = field(default_factory=Counter)
    edge: int = 0
    contains_n: int = 0
    swapped: int = 0
    ref_mismatch_policy: str = "skip"
    header_added: list[str] = field(default_factory=list)

    def add(self, rows: pd.DataFrame, records: int) -> None:
        """Count one chunk's result rows (``records`` input records)."""
        self.records += records
        self.alleles += len(rows)
        self.status_counts.update(rows["status"].tolist())
        self.edge += int(rows["edge"].sum())
        self.contains_n += int(rows["contains_n"].sum())
        self.swapped += int(rows["swapped"].sum())

    def merge(self, other: dict) -> None:
        """Add the counts of another summary given as :meth:`to_dict` output."""
        self.records += other["records"]
        self.alleles += other["alleles"]
        self.status_counts.update(other["status_counts"])
        for name in ("edge", "contains_n", "swapped"):
            setattr(self, name, getattr(self, name) + other["flags"][name])

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "records": self.records, "alleles": self.alleles,
            "scored": self.status_counts.get(STATUS_OK, 0),
            "status_counts": dict(sorted(self.status_counts.items())),
            "flags": {"edge": self.edge, "contains_n": self.contains_n,
                      "swapped": self.swapped},
            "ref_mismatch_policy": self.ref_mismatch_policy,
            "header_added": list(self.header_added),
        }

    def format(self) -> str:
        """Human-readable closing summary."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.status_counts.items(),
                                                          key=lambda kv: (-kv[1], kv[0])))
        policy = {"skip": "REF mismatches are skipped (status ref_mismatch)",
                  "flip": "REF mismatches whose ALT matches the genome are scored with REF "
                          "and ALT swapped (flag swapped); others are skipped",
                  "use-vcf": "REF mismatches are scored with the VCF's REF (ref_match=False)"}
        text = (f"{self.records} records -> {self.alleles} alleles; {counts or 'none'}\n"
                f"flags: edge {self.edge}, contains_n {self.contains_n}, "
                f"swapped {self.swapped}\n"
                f"REF mismatch policy: {self.ref_mismatch_policy} - "
                f"{policy.get(self.ref_mismatch_policy, '')}")
        if self.header_added:
            text += (f"\n{len(self.header_added)} INFO/FORMAT/FILTER/contig IDs used but not "
                     "defined in the input header were defined in the output header")
        return text


@dataclass
class ScoredChunk:
    """Result rows of one chunk: one row per allele, in input order, and the VCF lines.

    ``numbers`` are the records' input line numbers; ``summary`` counts this chunk only.
    """

    rows: pd.DataFrame
    lines: list[str]
    numbers: list[int] = field(default_factory=list)
    index: int = 0
    summary: RunSummary | None = None


def top_k_order(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column indices of the ``k`` largest values, largest first.

    Ties go to the lower index and NaN ranks last: the first ``k`` columns of a stable
    descending argsort, found with a partition (O(T) per row) and a sort of ``k`` candidates.
    """
    n, width = magnitude.shape
    magnitude = np.where(np.isnan(magnitude), -np.inf, magnitude)
    if k >= width:
        return np.argsort(-magnitude, axis=1, kind="stable")
    kth = np.partition(magnitude, width - k, axis=1)[:, width - k, None]
    above, level = magnitude > kth, magnitude == kth
    chosen = above | level
    crowded = np.flatnonzero(chosen.sum(axis=1) > k)  # rows with more ties at kth than room
    if len(crowded):
        room = k - above[crowded].sum(axis=1, keepdims=True)
        ties = level[crowded]
        chosen[crowded] = above[crowded] | (ties & (np.cumsum(ties, axis=1) <= room))
    candidates = np.nonzero(chosen)[1].reshape(n, k)  # ascending column order per row
    ranked = np.argsort(-np.take_along_axis(magnitude, candidates, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, ranked, axis=1)


def _top_tasks(lod: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``label:lod`` of the k largest |lod| per row, joined by ``&``."""
    if k == 0 or lod.shape[1] == 0:
        return np.full(len(lod), "", dtype=object)
    order = top_k_order(np.abs(lod), k)
    values = format_floats(np.take_along_axis(lod, order, axis=1)).reshape(order.shape)
    return join_columns(labels[order] + ":" + values, TOP_SEPARATOR)


def _summaries(lod: np.ndarray, labels: np.ndarray, top_k: int) -> dict[str, object]:
    absolute = np.abs(lod)
    best = absolute.max(axis=1, initial=0.0)
    strongest = absolute.argmax(axis=1)
    signed = np.take_along_axis(lod, strongest[:, None], axis=1)[:, 0]
    reaching_best = absolute == best[:, None]
    ties = reaching_best.sum(axis=1)
    reaching = np.where(ties == 1, labels[strongest], "").astype(object)
    for row in np.flatnonzero(ties > 1):
        reaching[row] = TOP_SEPARATOR.join(labels[reaching_best[row]])
    return {"max_abslod": best.astype(np.float32), "max_lod": signed.astype(np.float32),
            "max_lod_task": reaching, "top_tasks": _top_tasks(lod, labels, top_k)}


class ScoringRun:
    """Scores chunks of variants with one genome, scorer and task selection.

    Parameters
    ----------
    genome, scorer
        Sequence source and model runner.
    labels
        Unique labels of all model tasks (see :func:`tbvar.tasks.task_labels`).
    options
        Scores, task selection, top-k and input policies.
    """

    def __init__(self, genome: Genome, scorer: Scorer, labels: list[str],
                 options: ScoreOptions) -> None:
        self.genome = genome
        self.scorer = scorer
        self.options = options
        self.selected = np.asarray(options.tasks if options.tasks is not None
                                   else range(len(labels)), dtype=np.int64)
        self.labels = np.asarray(labels, dtype=object)[self.selected]
        self.score_columns = [f"{s}.{label}" for s in options.scores for label in self.labels]
        self.summary = RunSummary(ref_mismatch_policy=options.ref_mismatch)

    def prepare(self, chunk: VariantChunk) -> tuple[VariantChunk, pd.DataFrame, tuple]:
        """Classify a chunk's alleles and gather the windows of the scorable ones."""
        alleles = classify(chunk.alleles, self.genome, self.options.max_allele_length,
                           self.options.ref_mismatch)
        ok = alleles[alleles["status"] == STATUS_OK]
        windows = build_windows(self.genome, ok, self.scorer.config.sequence_length)
        return chunk, alleles, windows

    def score(self, chunk: VariantChunk, alleles: pd.DataFrame, windows: tuple,
              scores: VariantScores | None = None) -> ScoredChunk:
        """Build the chunk's result rows (running the model first unless ``scores`` are given)."""
        ref_windows, alt_windows, edge = windows
        ok = np.flatnonzero(alleles["status"].to_numpy() == STATUS_OK)
        n, n_ok = len(alleles), len(ok)
        rows = alleles.drop(columns=["contig"]).reset_index(drop=True)
        contains_n = np.zeros(n, dtype=bool)
        contains_n[ok] = ((ref_windows == N_CODE) | (alt_windows == N_CODE)).any(axis=1)
        edge_all = np.zeros(n, dtype=bool)
        edge_all[ok] = edge
        rows["contains_n"] = contains_n
        rows["edge"] = edge_all
        if scores is None:
            scores = self.scorer.score(ref_windows, alt_windows)
        lod = scores.lod[:, self.selected]
        columns: dict[str, object] = {}
        for name, values in {**_summaries(lod, self.labels, self.options.top_k),
                             **scores.attention_scores()}.items():
            columns[name] = _scatter(values, ok, n)
        blocks = [scores.task_score(s)[:, self.selected] for s in self.options.scores]
        matrix = np.full((n, len(self.score_columns)), np.nan, dtype=np.float32)
        if n_ok and blocks:
            matrix[ok] = np.concatenate(blocks, axis=1)
        result = pd.concat([rows, pd.DataFrame(columns),
                            pd.DataFrame(matrix, columns=self.score_columns)], axis=1)
        counts = RunSummary(ref_mismatch_policy=self.options.ref_mismatch)
        counts.add(result, int(rows["record_index"].nunique()))
        self.summary.merge(counts.to_dict())
        return ScoredChunk(result, chunk.lines, chunk.numbers, chunk.index, counts)

    def model_thread(self) -> bool:
        """Whether the model runs in its own pipeline stage: on accelerators, where that thread
        only waits for the device. On the CPU the model's own threads use every core, and a
        separate stage measured 2.3x slower (example model, 2 cores)."""
        return self.scorer.device.type != "cpu"

    def template(self) -> pd.DataFrame:
        """A zero-row result frame with every output column and its dtype."""
        empty = VariantChunk(allele_frame([]))
        summary = self.summary
        self.summary = RunSummary()
        try:
            return self.score(*self.prepare(empty)).rows
        finally:
            self.summary = summary

    def run(self, chunks: Iterable[VariantChunk], progress: bool = False,
            skip: Callable[[int], bool] | None = None
            ) -> Iterator[tuple[VariantChunk, ScoredChunk | None]]:
        """Score chunks in order, as a pipeline of threads.

        A reader thread prepares the next chunks (parsing, REF checks, windows) while this
        thread scores. With :meth:`model_thread` a third stage runs the model on chunk k+1 in
        its own thread while this thread builds the rows of chunk k (interrupting then waits
        for that chunk's forward pass). Yields ``(chunk, scored)``; chunks for which
        ``skip(chunk.index)`` is true (finished in an earlier, resumed run) are read but not
        scored and come with ``scored=None``.
        """
        def prepare(chunk: VariantChunk) -> tuple:
            return (chunk,) if skip is not None and skip(chunk.index) else self.prepare(chunk)

        def infer(prepared: tuple) -> tuple:  # appends the chunk's VariantScores
            if len(prepared) == 1:
                return prepared
            windows = prepared[2]
            return (*prepared, self.scorer.score(windows[0], windows[1]))

        staged = prefetch(chunks, prepare)
        if self.model_thread():
            staged = prefetch(staged, infer)
        bar = tqdm(unit=" records", disable=not progress, desc="tbvar score")
        try:
            for item in staged:
                scored = self.score(*item) if len(item) > 1 else None
                bar.update(len(item[0].lines) or int(item[0].alleles["record_index"].nunique()))
                yield item[0], scored
        finally:
            bar.close()


def _scatter(values: np.ndarray | list, rows: np.ndarray, n: int) -> np.ndarray:
    """Values of scored rows placed into an n-row column (NaN / -1 / '' elsewhere)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        out = np.full(n, np.nan, dtype=values.dtype)
    elif values.dtype.kind == "i":
        out = np.full(n, -1, dtype=values.dtype)
    else:
        out = np.full(n, "", dtype=object)
    out[rows] = values
    return out
