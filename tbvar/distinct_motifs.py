"""Distinct matched motifs by edit distance of consensus sequences (TBiNet paper, Table 5).

Several database motifs describe the same binding preference (JASPAR holds CTCF as MA0139.2,
MA1929.2 and MA1930.2, and many paralogues share a motif), so the number of database motifs
matched over-counts what a model has learned. Definition implemented here: take a set of
distinct database motifs (``tbvar motifs`` reports two: the best matches of the kernels, and
every motif matched by a kernel with q below the threshold); link two of them when the
Levenshtein edit distance (substitutions, insertions and deletions, each 1) between their
consensus sequences (most probable base per column, as written in the database, no reverse
complement) is at most ``d``; the count for ``d`` is the number of connected components
(single linkage). ``d = 0`` merges only identical consensus sequences. (The paper's own
wording of its Table 5 could not be consulted here; this is a reading of "distinct motifs by
edit distance of consensus sequences". Most JASPAR consensus sequences are 8-20 bases long,
so at ``d = 10`` nearly all of them join.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The thresholds of the paper's Table 5.
EDIT_DISTANCES = (0, 3, 5, 10)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (unit costs), one numpy row per base of ``a``."""
    target = np.frombuffer(b.encode(), dtype=np.uint8)
    row = np.arange(len(b) + 1)
    for i, base in enumerate(a.encode(), start=1):
        substituted = row[:-1] + (target != base)
        row = np.concatenate(([i], np.minimum(substituted, row[1:] + 1)))
        row = np.minimum.accumulate(row - np.arange(len(b) + 1)) + np.arange(len(b) + 1)
    return int(row[-1])


def distinct_counts(consensus: Sequence[str], distances: Sequence[int] = EDIT_DISTANCES
                    ) -> dict[str, int]:
    """``{str(d): n}``: the number of single-linkage clusters of the ``consensus`` sequences
    when two are joined at edit distance ≤ ``d``, for each ``d`` in ``distances``."""
    n = len(consensus)
    pairs = np.array([(i, j, edit_distance(consensus[i], consensus[j]))
                      for i in range(n) for j in range(i)], dtype=np.int64).reshape(-1, 3)
    return {str(d): _components(n, pairs[pairs[:, 2] <= d, :2]) for d in distances}


def _components(n: int, edges: np.ndarray) -> int:
    """Number of connected components of ``n`` nodes joined by ``edges`` ``(m, 2)``."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in edges.tolist():
        parent[root(i)] = root(j)
    return len({root(i) for i in range(n)})
