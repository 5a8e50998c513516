"""Plotting helpers for notebooks, each returning a matplotlib ``Figure`` (``interpret`` extra).

- :func:`plot_attention_profile` — REF/ALT attention over a variant's window and their
  difference, bins at genome coordinates (:mod:`tbvar.plot_variant`);
- :func:`plot_ism_heatmap` — in-silico mutagenesis effects around a variant, with the
  per-position maximum (:mod:`tbvar.plot_variant`);
- :func:`logo_pair` — a kernel's logo above its JASPAR match, aligned (:mod:`tbvar.plot_logos`);
- :func:`plot_run_manhattan` — a run's max |lod| or −log10 p along a region
  (:mod:`tbvar.plot_run`).
"""

from tbvar.plot_logos import logo_pair
from tbvar.plot_run import plot_run_manhattan
from tbvar.plot_variant import plot_attention_profile, plot_ism_heatmap

__all__ = ["logo_pair", "plot_attention_profile", "plot_ism_heatmap", "plot_run_manhattan"]
