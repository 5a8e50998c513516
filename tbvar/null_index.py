"""Exact empirical p-values from sorted null samples, a compiled lookup per value.

A run with a background looks up every variant's |lod| of every task in that task's sorted
null sample (690 lookups per variant at 690 tasks). :class:`NullIndex` makes each lookup a
constant number of memory reads instead of a 13-step binary search (3-4x fewer CPU seconds,
``benchmarks/pipeline_capacity.py --background``):

- per column, a monotone *bucket* map ``b(x) = (bits(x + o) − base) >> shift`` (``bits`` is the
  IEEE bit pattern, increasing for non-negative floats; ``o`` the column's median null value, so
  buckets are about evenly spaced up to the median and logarithmic in the tail), with ``k``
  buckets spanning the column's null values;
- ``table[b]`` = how many null values fall in buckets before ``b``; the null values in bucket
  ``b`` are then ``null[table[b]:table[b + 1]]`` (both sorted by the same monotone map);
- the count of null values ``< x`` is ``table[b(x)]`` plus those of bucket ``b(x)`` below ``x``,
  found by a branch-free search of the (usually ≤ 8) values of that bucket.

The count is exact whatever the map rounds to: a null value in an earlier bucket is below ``x``
and one in a later bucket is above it, only the values sharing ``x``'s bucket are compared. The
kernels are compiled with numba (``cache=True``: compiled once per installation) and release the
GIL.
"""

from __future__ import annotations

import numba
import numpy as np

#: Null values of one bucket searched branch-free; fuller buckets take a binary search.
_SMALL_BUCKET = 8
#: Rows (variants) looked up together, column by column.
_ROW_BLOCK = 64


@numba.njit(cache=True, nogil=True)
def _bucket(x: float, offset: float, base: int, shift: int, top: int) -> int:
    """Bucket of ``x`` ≥ 0 (monotone non-decreasing in ``x``), clipped to ``[0, top]``."""
    shifted = np.float32(np.float32(x) + np.float32(offset))
    bucket = (np.int64(shifted.view(np.int32)) - base) >> shift
    return min(max(bucket, 0), top)


@numba.njit(cache=True, nogil=True)
def _build(null: np.ndarray, offset: np.ndarray, base: np.ndarray, shift: np.ndarray,
           table: np.ndarray) -> None:
    """Fill the per-column bucket maps and tables of ``null`` ``(C, k)`` (rows ascending)."""
    columns, k = null.shape
    buckets = table.shape[1] - 1
    for j in range(columns):
        row = null[j]
        offset[j] = row[k // 2]
        low = np.int64(np.float32(row[0] + offset[j]).view(np.int32))
        high = np.int64(np.float32(row[k - 1] + offset[j]).view(np.int32))
        step = 0
        while (high - low) >> step >= buckets:
            step += 1
        base[j], shift[j] = low, step
        filled = 0
        table[j, 0] = 0
        for i in range(k):
            bucket = _bucket(row[i], offset[j], low, step, buckets - 1)
            while filled < bucket:
                filled += 1
                table[j, filled] = i
        while filled < buckets:
            filled += 1
            table[j, filled] = k


@numba.njit(cache=True, nogil=True)
def _p_values(padded: np.ndarray, offset: np.ndarray, base: np.ndarray, shift: np.ndarray,
              table: np.ndarray, k: int, values: np.ndarray, columns: np.ndarray,
              p_of_below: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j] = p_of_below[#{null[c] < |values[i, j]|}]``, c = ``columns[j]`` (NaN
    stays NaN).

    Rows go in blocks of :data:`_ROW_BLOCK` (their values and p-values stay in cache while each
    column's null sample and table are read)."""
    m, width = values.shape
    top = table.shape[1] - 2
    for first in range(0, m, _ROW_BLOCK):
        last = min(first + _ROW_BLOCK, m)
        for j in range(width):
            c = columns[j]
            row = padded[c]
            bounds = table[c]
            for i in range(first, last):
                x = abs(values[i, j])
                if x != x:
                    out[i, j] = np.nan
                    continue
                bucket = _bucket(x, offset[c], base[c], shift[c], top)
                low, high = np.int64(bounds[bucket]), np.int64(bounds[bucket + 1])
                if high - low <= _SMALL_BUCKET:  # values past the bucket are above x (or +inf)
                    low += 4 * np.int64(row[low + 3] < x)
                    low += 2 * np.int64(row[low + 1] < x)
                    low += np.int64(row[low] < x)
                    low += np.int64(row[low] < x)
                else:
                    span = high - low
                    while span > 1:
                        half = span >> 1
                        low += half * np.int64(row[low + half - 1] < x)
                        span -= half
                    low += np.int64(row[low] < x)
                out[i, j] = p_of_below[min(low, k)]


class NullIndex:
    """Bucket index of sorted null samples, for exact empirical p-values.

    Parameters
    ----------
    sorted_abs
        ``(k, C)`` float32 absolute null values, ascending per column (k ≥ 1).
    """

    def __init__(self, sorted_abs: np.ndarray) -> None:
        k, columns = sorted_abs.shape
        self.k = k
        by_column = np.ascontiguousarray(sorted_abs.T, dtype=np.float32)
        pad = np.full((columns, _SMALL_BUCKET), np.inf, dtype=np.float32)
        self._padded = np.concatenate([by_column, pad], axis=1)
        self._offset = np.empty(columns, np.float32)
        self._base = np.empty(columns, np.int64)
        self._shift = np.empty(columns, np.int64)
        self._table = np.empty((columns, k + 1), np.int32)
        _build(by_column, self._offset, self._base, self._shift, self._table)
        # p = (at_least + 1) / (k + 1) with at_least = k - below
        self._p_of_below = ((k - np.arange(k + 1) + 1) / (k + 1)).astype(np.float32)

    def p_values(self, values: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Two-sided empirical p-values ``(r + 1) / (k + 1)`` of ``|values|``.

        Parameters
        ----------
        values
            ``(m, c)`` scores (NaN stays NaN).
        columns
            ``(c,)`` the null column of each column of ``values`` (default: all C in order).

        Returns
        -------
        np.ndarray
            ``(m, c)`` float32 p-values in ``[1/(k+1), 1]``, r = null values ≥ ``|value|``.
        """
        values = np.asarray(values, dtype=np.float32)
        if columns is None:
            columns = np.arange(len(self._padded))
        columns = np.asarray(columns, dtype=np.int64)
        if values.ndim != 2 or values.shape[1] != len(columns):
            raise ValueError(f"values of shape {values.shape} for {len(columns)} columns")
        if len(columns) and not 0 <= columns.min() <= columns.max() < len(self._padded):
            raise ValueError(f"columns outside 0..{len(self._padded) - 1}")
        out = np.empty(values.shape, dtype=np.float32)
        _p_values(self._padded, self._offset, self._base, self._shift, self._table, self.k,
                  values, columns, self._p_of_below, out)
        return out
