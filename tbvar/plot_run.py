"""Manhattan-style figure of a scoring run: one score per scored allele along the genome.

The run is a DataFrame as :func:`tbvar.score_vcf` returns it (any score column) or a
``tbvar score`` output in any format, read by :func:`tbvar.run_reader.read_run` (its per-variant
columns). Needs the ``interpret`` extra (matplotlib).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tbvar.plot_variant import FIGURE_DPI
from tbvar.run_reader import read_run

#: Columns drawn as −log10: the per-variant p/q columns and per-task ``p.TASK`` columns.
P_COLUMNS = ("min_p", "combined_p", "q")
#: 1200 × 400 px at :data:`FIGURE_DPI`.
MANHATTAN_SIZE = (12.0, 4.0)
_REGION = re.compile(r"^(?P<chrom>[^:]+)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")
_COLORS = ("#1f4e79", "#7fa7d1")


def is_p_column(column: str) -> bool:
    """Whether a run column holds p- or q-values (drawn as −log10)."""
    return column in P_COLUMNS or column.startswith("p.")


def _values(run: pd.DataFrame | str | os.PathLike[str], value: str) -> pd.DataFrame:
    """``chrom``, ``pos`` and ``value`` of a run: a DataFrame (any column) or an output file
    read by :func:`tbvar.run_reader.read_run` (its per-variant columns)."""
    frame = run if isinstance(run, pd.DataFrame) else read_run(run).variants
    columns = ["chrom", "pos", value]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        where = "the run" if isinstance(run, pd.DataFrame) else f"{run} (files give the " \
            "per-variant columns; per-task columns need the score_vcf DataFrame)"
        raise ValueError(f"{where}: no column {missing[0]!r} (scores: --scores, p-values: "
                         "--background)")
    return frame[columns]


def _region(frame: pd.DataFrame, region: str) -> pd.DataFrame:
    match = _REGION.match(region.strip())
    if match is None:
        raise ValueError(f"region {region!r}: expected chrom or chrom:start-end")
    keep = frame["chrom"].astype(str) == match["chrom"]
    if match["start"] is not None:
        start, end = (int(match[k].replace(",", "")) for k in ("start", "end"))
        keep &= (frame["pos"] >= start) & (frame["pos"] <= end)
    return frame[keep]


def plot_run_manhattan(run: pd.DataFrame | str | os.PathLike[str], value: str = "max_abslod",
                       region: str | None = None, threshold: float | None = None) -> Figure:
    """One point per scored allele: ``value`` (or −log10 of it for p/q columns) by position.

    Parameters
    ----------
    run
        :func:`tbvar.score_vcf` DataFrame, or a ``tbvar score`` output file (TSV(.gz),
        Parquet, VCF(.gz)/BCF).
    value
        A numeric column: ``max_abslod`` (default), ``min_p``, ``combined_p``, ``q``,
        ``attn_shift``; of a DataFrame also per-task columns such as ``abslod.TASK`` or
        ``p.TASK``.
    region
        ``chrom`` or ``chrom:start-end`` (1-based, inclusive) to draw; default: everything,
        contigs side by side in order of appearance, alternately coloured.
    threshold
        A horizontal line at this value (in the column's units: p = 0.05 is drawn at
        −log10 0.05).

    Raises
    ------
    ValueError
        Unreadable input, unknown column or region, or no scored allele to draw.
    """
    frame = _values(run, value)
    if region is not None:
        frame = _region(frame, region)
    frame = frame[np.isfinite(pd.to_numeric(frame[value], errors="coerce"))]
    if frame.empty:
        raise ValueError(f"no scored allele with a {value} value"
                         + (f" in {region}" if region else ""))
    log = is_p_column(value)
    y = frame[value].to_numpy(dtype=np.float64)
    y = -np.log10(np.clip(y, np.finfo(np.float64).tiny, None)) if log else y
    contigs = pd.unique(frame["chrom"].astype(str))
    chrom = frame["chrom"].astype(str).to_numpy()
    pos = frame["pos"].to_numpy(dtype=np.int64)
    fig = Figure(figsize=MANHATTAN_SIZE, dpi=FIGURE_DPI, layout="constrained")
    ax = fig.subplots()
    offset, ticks = 0, []
    for k, name in enumerate(contigs):
        rows = chrom == name
        start = pos[rows].min() if len(contigs) > 1 else 0
        x = pos[rows] - start + offset
        ax.scatter(x, y[rows], s=8, color=_COLORS[k % 2], linewidths=0)
        ticks.append((x.min() + x.max()) / 2)
        offset = x.max() + 1
    if len(contigs) > 1:
        ax.set_xticks(ticks, contigs)
        ax.set_xlabel("contig")
    else:
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.set_xlabel(f"{contigs[0]} position")
    if threshold is not None:
        ax.axhline(-np.log10(threshold) if log else threshold, color="#d62728",
                   linestyle="--", linewidth=0.8)
    ax.set_ylabel(f"−log10 {value}" if log else value)
    ax.set_title(f"{len(frame):,} scored alleles" + (f" in {region}" if region else ""),
                 fontsize=10)
    return fig
