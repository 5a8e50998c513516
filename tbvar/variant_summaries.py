"""Per-variant summaries over the selected tasks.

Of the lod: ``max_abslod``, ``max_lod`` (signed), ``max_lod_task`` (ties joined by ``&``) and
``top_tasks`` (``task:lod`` of the k largest |lod|, joined by ``&``). Of the p-values against a
background: ``min_p``, ``min_p_task`` (the task with the smallest p; among tasks tied at it,
the one with the largest |z|, then the first) and ``combined_p`` (Simes, :mod:`tbvar.pvalues`).
"""

from __future__ import annotations

import numpy as np

from tbvar.pvalues import simes
from tbvar.text import format_floats, join_columns

TOP_SEPARATOR = "&"


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


def lod_summaries(lod: np.ndarray, labels: np.ndarray, top_k: int) -> dict[str, np.ndarray]:
    """``max_abslod``, ``max_lod``, ``max_lod_task`` and ``top_tasks`` per row of an ``(n, T)``
    lod matrix with T task ``labels``."""
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


def p_statistics(p: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``(n, C)`` p-values and z-scores: the smallest p ``(n,)`` float32, its column
    ``(n,)`` int64 (among columns tied at it, the one with the largest |z|, then the first) and
    the Simes combination ``(n,)`` float32."""
    if p.shape[1] == 0:
        return (np.full(len(p), np.nan, np.float32), np.full(len(p), -1, np.int64),
                np.full(len(p), np.nan, np.float32))
    tied = p == p.min(axis=1, keepdims=True)
    best = np.where(tied, np.abs(z), -np.inf).argmax(axis=1)
    return (np.take_along_axis(p, best[:, None], axis=1)[:, 0].astype(np.float32), best,
            simes(p).astype(np.float32))


def p_summaries(min_p: np.ndarray, best: np.ndarray, combined_p: np.ndarray,
                labels: np.ndarray) -> dict[str, np.ndarray]:
    """The output columns ``min_p``, ``min_p_task`` and ``combined_p`` of
    :func:`p_statistics` over the columns' task ``labels``."""
    return {"min_p": min_p,
            "min_p_task": labels[best].astype(object) if len(labels)
            else np.full(len(best), "", dtype=object),
            "combined_p": combined_p}
