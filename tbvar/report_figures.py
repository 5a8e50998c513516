"""Histograms of a run report (:mod:`tbvar.run_report`): matplotlib figures, no pyplot state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LOG_RATIO = 50


@dataclass(frozen=True)
class Histogram:
    """One panel: ``values`` (missing values dropped) in ``bins`` bins over ``span`` (default:
    their range); with ``log``, counts are on a log axis when the tallest bar is more than
    :data:`LOG_RATIO` times the lowest non-empty one (heavy tails)."""

    values: np.ndarray
    title: str
    xlabel: str
    bins: int = 40
    span: tuple[float, float] | None = None
    log: bool = False


def histograms(panels: Sequence[Histogram]):  # -> matplotlib.figure.Figure
    """The panels side by side in one figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(3.6 * len(panels), 2.8), layout="constrained")
    for axes, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels,
                           strict=True):
        values = np.asarray(panel.values, dtype=np.float64)
        values = values[np.isfinite(values)]
        counts, edges = np.histogram(values, bins=panel.bins, range=panel.span)
        filled = counts[counts > 0]
        log = panel.log and len(filled) > 0 and counts.max() > LOG_RATIO * filled.min()
        axes.stairs(counts, edges, fill=True, color="#4c72b0")
        if log:
            axes.set_yscale("log")
        else:
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(f"{panel.title} (n = {len(values):,})", fontsize=10)
        axes.set_xlabel(panel.xlabel)
        axes.set_ylabel("variants (log scale)" if log else "variants")
    return figure
