"""TOMTOM matches of kernel motifs against a motif database, in-process (memelite).

memelite's ``tomtom`` scores column pairs by negative Euclidean distance and computes p-values
of the best ungapped alignment (either strand, overhangs allowed, "complete" scores) against
the database's own columns as background. With that distance two uniform columns match
perfectly, so a near-uniform query gets p ≈ 1e-13 against database motifs with long
uninformative spacers (measured: a uniform 26-column matrix against JASPAR 2024's CTCF
MA1929.2; MEME's default Pearson distance does not have this problem). Each kernel matrix is
therefore matched by its *informative core*: the span from its first to its last column of at
least ``min_information`` bits, and only when the core averages at least that many bits per
column (otherwise the kernel is *uninformative* and not matched).

Per kernel: p-values against every database motif (the better strand), E = p × number of
database motifs, q = Benjamini-Hochberg over the kernel's p-values against all database motifs.
Matches overlapping fewer than ``min(5, core width, motif width)`` columns are not reported
(MEME Tomtom's ``-min-overlap 5``). Offsets are relative to the whole kernel: kernel column
``i`` aligns with column ``i + offset`` of the database motif (``orientation = '+'``) or of its
reverse complement (``'-'``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from tbvar.meme import MEME_TO_CODES, Motif
from tbvar.pvalues import benjamini_hochberg

MIN_OVERLAP = 5
MATCH_COLUMNS = ["kernel", "rank", "match_id", "match_name", "p", "E", "q", "orientation",
                 "offset", "overlap"]


def informative_core(motif: Motif, min_information: float) -> slice | None:
    """Columns from the first to the last of at least ``min_information`` bits, or ``None``
    when there is none or they average less than ``min_information`` bits."""
    bits = motif.information()
    strong = np.flatnonzero(bits >= min_information)
    if not len(strong):
        return None
    core = slice(int(strong[0]), int(strong[-1]) + 1)
    return core if bits[core].mean() >= min_information else None


def _meme_columns(probs: np.ndarray) -> np.ndarray:
    """``(width, 4)`` A,G,C,T probabilities → memelite's ``(4, width)`` A,C,G,T (float64)."""
    return np.ascontiguousarray(probs[:, MEME_TO_CODES].T, dtype=np.float64)


def tomtom_matches(kernels: Sequence[Motif], cores: Sequence[slice], database: Sequence[Motif],
                   qvalue: float) -> pd.DataFrame:
    """Database matches with q < ``qvalue`` of each kernel's informative core.

    Parameters
    ----------
    kernels, cores
        Kernel motifs and their :func:`informative_core` (one each, same order).
    database
        Target motifs (e.g. :func:`tbvar.meme.read_meme` of JASPAR).
    qvalue
        Report matches with q below this.

    Returns
    -------
    pandas.DataFrame
        :data:`MATCH_COLUMNS`, one row per reported match, by kernel (input order) then p;
        ``rank`` 1 is the kernel's best match.
    """
    if not kernels:
        return pd.DataFrame({name: [] for name in MATCH_COLUMNS})
    from memelite import tomtom

    queries = [_meme_columns(k.probs[core]) for k, core in zip(kernels, cores, strict=True)]
    targets = [_meme_columns(m.probs) for m in database]
    threads = torch.get_num_threads()  # numba's OpenMP layer resets torch's thread count
    try:
        with warnings.catch_warnings():  # memelite warns on small databases (< 25 motifs)
            warnings.simplefilter("ignore", UserWarning)
            p, _, offset, overlap, strand = tomtom(queries, targets)
    finally:
        torch.set_num_threads(threads)
    p = np.clip(p, 0.0, 1.0)
    q = np.stack([benjamini_hochberg(row) for row in p])
    widths = np.array([m.width for m in database])
    frames = []
    for i, (kernel, core) in enumerate(zip(kernels, cores, strict=True)):
        needed = np.minimum(min(MIN_OVERLAP, core.stop - core.start), widths)
        hits = np.flatnonzero((q[i] < qvalue) & (overlap[i] >= needed))
        hits = hits[np.argsort(p[i, hits], kind="stable")]
        frames.append(pd.DataFrame({
            "kernel": kernel.id, "rank": np.arange(1, len(hits) + 1),
            "match_id": [database[j].id for j in hits],
            "match_name": [database[j].name for j in hits],
            "p": p[i, hits], "E": p[i, hits] * len(database), "q": q[i, hits],
            "orientation": np.where(strand[i, hits] > 0, "-", "+"),
            "offset": offset[i, hits].astype(np.int64) - core.start,
            "overlap": overlap[i, hits].astype(np.int64)}))
    return pd.concat(frames, ignore_index=True)
