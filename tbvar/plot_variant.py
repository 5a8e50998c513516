"""Figures of one explained variant (:class:`~tbvar.explain.VariantExplanation`) for notebooks
and ``tbvar explain`` pages: the attention profile and the ISM heat map.

Each function returns a :class:`matplotlib.figure.Figure` made without pyplot (no global
figure state; Jupyter shows it, ``fig.savefig`` writes it). At :data:`FIGURE_DPI` the PNG of
the attention profile is 1000 × 450 px and of the ISM heat map 1000 × 400 px. Needs the
``interpret`` extra (matplotlib).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from tbvar.model import ONEHOT_ORDER

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from tbvar.explain import VariantExplanation

#: Resolution at which the figure sizes below are the stated pixel sizes.
FIGURE_DPI = 100
ATTENTION_SIZE = (10.0, 4.5)
ISM_SIZE = (10.0, 4.0)
#: Bases shown top to bottom in the ISM heat map.
DISPLAY_BASES = "ACGT"
REF_COLOR, ALT_COLOR, VARIANT_COLOR = "#1f77b4", "#d62728", "#555555"


def _figure(size: tuple[float, float]) -> Figure:
    return Figure(figsize=size, dpi=FIGURE_DPI, layout="constrained")


def _mark_variant(ax: Axes, explanation: VariantExplanation) -> None:
    ax.axvline(explanation.pos, color=VARIANT_COLOR, linestyle=":", linewidth=1)


def plot_attention_profile(explanation: VariantExplanation) -> Figure:
    """REF and ALT attention per bin along the genome, and their difference.

    Each bin is drawn at the centre of its receptive field (``bin_start``..``bin_end``), the
    variant as a dotted line and the uniform level 1/B dashed.

    Raises
    ------
    ValueError
        The explanation has no attention (a model without it, or left out).
    """
    if explanation.attention_ref is None or explanation.attention_alt is None:
        raise ValueError(f"variant {explanation.variant}: the explanation has no attention "
                         "(the model has none, or it was left out)")
    centre = (explanation.bin_start + explanation.bin_end) / 2
    n_bins = len(centre)
    step = float(np.median(np.diff(centre))) if n_bins > 1 else 1.0
    fig = _figure(ATTENTION_SIZE)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.plot(centre, explanation.attention_ref, "o-", color=REF_COLOR, markersize=3,
             label=f"REF {explanation.ref}")
    top.plot(centre, explanation.attention_alt, "o-", color=ALT_COLOR, markersize=3,
             label=f"ALT {explanation.alt}")
    top.axhline(1 / n_bins, color="#999999", linestyle="--", linewidth=0.8,
                label=f"uniform 1/{n_bins}")
    top.set_ylabel("attention")
    top.set_title(f"{explanation.variant}: attention over {n_bins} bins "
                  f"(receptive fields {int(explanation.bin_end[0] - explanation.bin_start[0] + 1)}"
                  " bp)", fontsize=10)
    top.legend(fontsize=8, loc="upper right")
    diff = explanation.attention_diff
    bottom.bar(centre, diff, width=0.8 * step,
               color=np.where(diff >= 0, ALT_COLOR, REF_COLOR))
    bottom.axhline(0, color="black", linewidth=0.6)
    bottom.set_ylabel("ALT − REF")
    bottom.set_xlabel(f"{explanation.contig} position (bin centres)")
    for ax in (top, bottom):
        _mark_variant(ax, explanation)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    return fig


def _ism_row(explanation: VariantExplanation, task: int | str | None) -> int:
    """Index into ``explanation.ism`` of a task (model index, label or target)."""
    if task is None:
        return 0
    labels = explanation.task_labels[explanation.ism_tasks]
    for row, (index, label) in enumerate(zip(explanation.ism_tasks, labels, strict=True)):
        target = label.split("|")[1:2]  # cell|target|treatment labels
        if str(task) in (str(index), label) or [str(task)] == target:
            return row
    raise ValueError(f"task {task!r} has no ISM in this explanation (ISM tasks: "
                     f"{', '.join(labels)})")


def plot_ism_heatmap(explanation: VariantExplanation, task: int | str | None = None) -> Figure:
    """The ISM heat map of one task and, above it, the per-position maximum |lod|.

    Parameters
    ----------
    explanation
        An explained variant.
    task
        One of its ISM tasks: model task index, label or target (default: the first).

    Cells are the lod of changing the REF window's base at a position to the row's base
    (red: ALT binds more); the reference base's cell (0) carries a dot, the variant's
    position is marked.
    """
    row = _ism_row(explanation, task)
    label = explanation.task_labels[explanation.ism_tasks[row]]
    positions = explanation.ism_positions
    order = [ONEHOT_ORDER.index(b) for b in DISPLAY_BASES]
    effects = explanation.ism[row][:, order].T  # (4, P), rows A, C, G, T
    limit = float(np.nanmax(np.abs(effects), initial=0.0)) or 1.0
    fig = _figure(ISM_SIZE)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    strongest = explanation.ism_max[row]
    top.bar(positions, strongest, width=1.0,
            color=np.where(positions == explanation.pos, ALT_COLOR, "#777777"))
    top.set_ylabel("max |lod|")
    top.set_title(f"{explanation.variant}: in-silico mutagenesis of the REF window, {label}",
                  fontsize=10)
    edges = np.append(positions - 0.5, positions[-1] + 0.5)
    mesh = bottom.pcolormesh(edges, np.arange(5) - 0.5, effects, cmap="RdBu_r",
                             vmin=-limit, vmax=limit)
    reference = np.array([DISPLAY_BASES.find(b) for b in explanation.ism_reference])
    known = reference >= 0
    bottom.plot(positions[known], reference[known], ".", color="black", markersize=2)
    bottom.set_yticks(range(4), list(DISPLAY_BASES))
    bottom.invert_yaxis()
    bottom.set_xlabel(f"{explanation.contig} position")
    fig.colorbar(mesh, ax=[top, bottom], label="lod", pad=0.01, aspect=20)
    for ax in (top, bottom):
        _mark_variant(ax, explanation)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    return fig
