"""Vectorised text for result columns: float formatting and row-wise joins of string columns.

These run once per chunk on whole columns, so the writers and the summary columns avoid a
Python call per value on the scoring path.

Floats are written as the shortest decimal that reads back as the same float32 (orjson's
Ryu-based formatting, ~20x faster than numpy's ``astype(str)``): ``0.1``, ``-2.5e-7``,
``16777216.0``; NaN becomes the output's missing marker and ±infinity ``inf``/``-inf``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _fix_infinite(text: np.ndarray, values: np.ndarray) -> None:
    """orjson writes ``null`` for ±inf as for NaN; put ``inf``/``-inf`` back."""
    infinite = np.isinf(values)
    if infinite.any():
        text[infinite] = np.where(values[infinite] > 0, "inf", "-inf")


def format_floats(values: np.ndarray | Sequence[float], missing: str = ".") -> np.ndarray:
    """Shortest float32 decimal per value (object array of ``str``); ``missing`` for NaN."""
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if not len(values):
        return np.zeros(0, dtype=object)
    text = orjson.dumps(values, option=_NUMPY)[1:-1].decode().replace("null", missing)
    formatted = np.array(text.split(","), dtype=object)
    _fix_infinite(formatted, values)
    return formatted


def format_float_rows(block: np.ndarray, separator: str, missing: str) -> list[str]:
    """Each row of a 2-D float block as one line of shortest float32 decimals.

    Values are joined by ``separator``; NaN becomes ``missing``.
    """
    block = np.ascontiguousarray(block, dtype=np.float32)
    n, width = block.shape
    if n == 0 or width == 0:
        return [""] * n
    text = orjson.dumps(block, option=_NUMPY)[2:-2].decode()
    rows = text.replace("null", missing).replace(",", separator).split(f"]{separator}[")
    for row in np.flatnonzero(np.isinf(block).any(axis=1)):
        rows[row] = separator.join(format_floats(block[row], missing))
    return rows


def join_columns(parts: np.ndarray, separator: str) -> np.ndarray:
    """Row-wise ``separator.join`` of a 2-D object array of strings (``""`` for no columns)."""
    if parts.shape[1] == 0:
        return np.full(len(parts), "", dtype=object)
    joined = parts[:, 0].astype(object)
    for column in parts[:, 1:].T:
        joined = joined + separator + column
    return joined


#: Characters percent-encoded in task labels inside text fields (VCF 4.3 INFO reserves
#: ``,;=%`` and whitespace; ``&`` and ``:`` separate tbvar's own lists ``label:lod&...``).
RESERVED = "%,;=&: \t\r\n"


def percent_encode(labels: Sequence[str]) -> np.ndarray:
    """Labels with :data:`RESERVED` characters written as ``%XX`` (``%2C`` for ``,``)."""
    table = str.maketrans({c: f"%{ord(c):02X}" for c in RESERVED})
    return np.array([str(label).translate(table) for label in labels], dtype=object)


def percent_decode(text: str) -> str:
    """Inverse of :func:`percent_encode` for one value."""
    from urllib.parse import unquote

    return unquote(text)
