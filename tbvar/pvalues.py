"""Combining p-values: across tasks per variant (Simes) and across variants (Benjamini-Hochberg).

**Simes** combines a variant's per-task p-values into one: ``min_j (T p_(j) / j)`` over its T
tasks sorted ascending. It is a valid p-value when the task tests are independent or positively
dependent (PRDS; Sarkar 1998), as effects on related TFs are, it handles the discrete empirical
p-values of a background (ties, p = 1) exactly, and for one strong task it is T · min p (the
Bonferroni bound) while several moderately affected tasks make it smaller. The Cauchy
combination (ACAT) was not chosen: it needs p < 1 and its validity under dependence holds only
in the tail.

**Benjamini-Hochberg** turns the combined p-values of all scored variants of a run into
q-values: ``q_(i) = min_{j ≥ i} (m p_(j) / j)``, capped at 1, over the m non-missing ones;
``q < α`` controls the false discovery rate at α under independence or PRDS.
"""

from __future__ import annotations

import numpy as np


def simes(p: np.ndarray) -> np.ndarray:
    """Simes combination of each row of ``p`` ``(n, T)`` → ``(n,)``; a row of NaN gives NaN."""
    p = np.asarray(p)
    if p.dtype != np.float32:
        p = p.astype(np.float64)
    if p.shape[1] == 0:
        return np.full(len(p), np.nan)
    # sorted in the input's precision (float32 p-values sort twice as fast), combined in float64
    ordered = np.sort(p, axis=1).astype(np.float64)  # NaN last
    rank = np.arange(1, p.shape[1] + 1)[None, :]
    if not np.isnan(ordered[:, -1]).any():  # no missing p-value: the common case
        return np.minimum((p.shape[1] * ordered / rank).min(axis=1), 1.0)
    present = np.sum(~np.isnan(p), axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = np.nanmin(np.where(rank <= present, present * ordered / rank, np.nan), axis=1,
                             initial=np.inf)
    combined[present[:, 0] == 0] = np.nan
    return np.minimum(combined, 1.0)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of ``p`` ``(n,)``; NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return q
    order = present[np.argsort(p[present], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q
