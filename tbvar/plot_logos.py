"""A kernel's sequence logo above its database match, aligned (a notebook helper).

Logos show information content (bits against a uniform background; logomaker). The match is
drawn in the orientation and at the offset TOMTOM found (:mod:`tbvar.motif_match`): kernel
column ``i`` sits above column ``i + offset`` of the match or, for orientation ``-``, of its
reverse complement. Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot
state), :data:`DPI` dots per inch, ``0.3 × span + 1.5`` by 3.5 inches for a span of ``span``
columns covered by either logo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tbvar.meme import MEME_TO_CODES, Motif

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
HEIGHT = 3.5  # inches


def figure_width(span: int) -> float:
    """Width in inches of a logo pair covering ``span`` columns."""
    return 0.3 * span + 1.5


def reverse_complement(motif: Motif) -> Motif:
    """The motif of the other strand (columns reversed, A↔T and C↔G)."""
    return Motif(motif.id, motif.name, motif.probs[::-1, ::-1].copy(), motif.n_sites)


def _draw(ax, motif: Motif, first: int, title: str) -> None:
    import logomaker
    import pandas as pd

    frame = pd.DataFrame(motif.probs[:, MEME_TO_CODES], columns=list("ACGT"),
                         index=first + np.arange(motif.width))
    heights = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    logomaker.Logo(heights, ax=ax, color_scheme="classic")
    ax.set_ylim(0, 2)
    ax.set_ylabel("bits")
    ax.set_title(title, fontsize=10, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def logo_pair(kernel: Motif, match: Motif, offset: int = 0, orientation: str = "+",
              kernel_title: str | None = None, match_title: str | None = None) -> Figure:
    """The kernel's logo above its match's, aligned by TOMTOM's offset and orientation.

    Parameters
    ----------
    kernel, match
        The two motifs (``probs`` in A, G, C, T order).
    offset, orientation
        Kernel column ``i`` aligns with match column ``i + offset`` (of the reverse
        complement when ``orientation`` is ``-``).
    kernel_title, match_title
        Axis titles (default: the motif labels; the match's notes a reverse complement).

    Returns
    -------
    matplotlib.figure.Figure
        Two stacked axes sharing the x axis (kernel column index).
    """
    if orientation not in ("+", "-"):
        raise ValueError(f"orientation must be '+' or '-', got {orientation!r}")
    from matplotlib.figure import Figure

    shown = reverse_complement(match) if orientation == "-" else match
    left, right = min(0, -offset), max(kernel.width, match.width - offset)
    figure = Figure(figsize=(figure_width(right - left), HEIGHT), dpi=DPI)
    top, bottom = figure.subplots(2, 1, sharex=True)
    _draw(top, kernel, 0, kernel_title or kernel.label)
    strand = " (reverse complement)" if orientation == "-" else ""
    _draw(bottom, shown, -offset, match_title or f"{match.label}{strand}")
    bottom.set_xlim(left - 0.5, right - 0.5)
    bottom.set_xlabel("kernel position")
    figure.subplots_adjust(left=0.8 / figure.get_figwidth(), right=0.98, top=0.9, bottom=0.15,
                           hspace=0.45)
    return figure
