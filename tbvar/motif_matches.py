"""JASPAR matches of the model's first-layer kernels, read from a ``tbvar motifs`` directory.

``tbvar motifs`` compares every kernel's motif with JASPAR (TOMTOM) and writes
``DIR/matches.tsv``. Only four columns are read, found by name (case-insensitive, first
spelling present wins) so that added or reordered columns do not matter:

========== ==========================================================
kernel     ``kernel``, ``filter``: 0-based kernel index, or a name ending in it (``kernel_12``)
id         ``best_match_id``, ``match_id``, ``target_id``, ``jaspar_id``
name       ``best_match_name``, ``match_name``, ``target_name``, ``jaspar_name``
q          ``q``, ``q_value``, ``qvalue``, ``q-value``, ``best_q``
========== ==========================================================

``tbvar motifs`` writes ``kernel_K`` names, one row per match (``rank`` 1 the best, the
smallest q); a kernel listed several times keeps its row with the smallest q (ties: the first),
i.e. its rank-1 match. Rows without a match (empty id) count as no match.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

MATCHES_FILE = "matches.tsv"
COLUMNS = {
    "kernel": ("kernel", "filter"),
    "id": ("best_match_id", "match_id", "target_id", "jaspar_id"),
    "name": ("best_match_name", "match_name", "target_name", "jaspar_name"),
    "q": ("q", "q_value", "qvalue", "q-value", "best_q"),
}
_TRAILING_NUMBER = re.compile(r"(\d+)$")


class MotifMatchError(ValueError):
    """A ``tbvar motifs`` directory or its ``matches.tsv`` cannot be read."""


@dataclass(frozen=True)
class KernelMatches:
    """Best JASPAR match per kernel (empty id / NaN q: none).

    Attributes
    ----------
    match_id, match_name
        ``(K,)`` object arrays.
    q
        ``(K,)`` float64 q-values of the matches.
    source
        The file read.
    """

    match_id: np.ndarray
    match_name: np.ndarray
    q: np.ndarray
    source: str


def _column(frame: pd.DataFrame, key: str, path: Path) -> str:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    found = next((lower[name] for name in COLUMNS[key] if name in lower), None)
    if found is None:
        raise MotifMatchError(f"{path}: no {key} column (looked for {', '.join(COLUMNS[key])}; "
                              f"found {', '.join(map(str, frame.columns))})")
    return found


def _kernel_index(value: str) -> int:
    match = _TRAILING_NUMBER.search(value.strip())
    return int(match.group(1)) if match else -1


def read_kernel_matches(motifs: str | os.PathLike[str], n_kernels: int) -> KernelMatches:
    """The best match of each of ``n_kernels`` kernels from ``motifs`` (a ``tbvar motifs``
    directory or its ``matches.tsv``).

    Raises
    ------
    MotifMatchError
        The file is missing or unreadable, lacks a column, names no kernel of the model, or
        names a kernel the model does not have (another model's directory).
    """
    path = Path(motifs)
    if path.is_dir():
        path = path / MATCHES_FILE
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except FileNotFoundError:
        raise MotifMatchError(f"{path}: no such file (give a 'tbvar motifs' output "
                              "directory)") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:
        raise MotifMatchError(f"{path}: cannot read kernel matches ({exc})") from None
    columns = {key: _column(frame, key, path) for key in COLUMNS}
    kernels = np.array([_kernel_index(v) for v in frame[columns["kernel"]]], dtype=np.int64)
    bad = np.flatnonzero((kernels < 0) | (kernels >= n_kernels))
    if len(bad):
        raise MotifMatchError(f"{path}: kernel {frame[columns['kernel']].iloc[bad[0]]!r} is "
                              f"not one of this model's {n_kernels} kernels (0..{n_kernels - 1});"
                              " were the motifs made for another model?")
    q = pd.to_numeric(frame[columns["q"]], errors="coerce").to_numpy(np.float64, copy=True)
    ids = frame[columns["id"]].str.strip().to_numpy(dtype=object)
    q[ids == ""] = np.nan
    matched = np.flatnonzero(ids != "")
    # per kernel, its matched row with the smallest q (NaN last; ties: the first row)
    order = matched[np.lexsort((matched, np.where(np.isnan(q[matched]), np.inf, q[matched]),
                                kernels[matched]))]
    _, first = np.unique(kernels[order], return_index=True)
    rows = order[first]
    match_id = np.full(n_kernels, "", dtype=object)
    match_name = np.full(n_kernels, "", dtype=object)
    best_q = np.full(n_kernels, np.nan)
    match_id[kernels[rows]] = ids[rows]
    match_name[kernels[rows]] = frame[columns["name"]].str.strip().to_numpy(dtype=object)[rows]
    best_q[kernels[rows]] = q[rows]
    return KernelMatches(match_id, match_name, best_q, str(path))
