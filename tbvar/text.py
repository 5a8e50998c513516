"""Vectorised text for result columns: float formatting and row-wise joins of string columns.

These run once per chunk on whole columns (object arrays of ``str``), so the writers and the
summary columns avoid a Python call per value on the scoring path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def format_floats(values: np.ndarray | Sequence[float], missing: str = ".") -> np.ndarray:
    """Shortest decimal that reads back as the same float32, per value; ``missing`` for NaN.

    Returns an object array of ``str`` (the same text as ``str(numpy.float32(v))``).
    """
    values = np.asarray(values, dtype=np.float32)
    text = values.astype(str).astype(object)
    text[np.isnan(values)] = missing
    return text


def join_columns(parts: np.ndarray, separator: str) -> np.ndarray:
    """Row-wise ``separator.join`` of a 2-D object array of strings (``""`` for no columns)."""
    if parts.shape[1] == 0:
        return np.full(len(parts), "", dtype=object)
    joined = parts[:, 0].astype(object)
    for column in parts[:, 1:].T:
        joined = joined + separator + column
    return joined
