"""Reference and alternate sequence windows, gathered with numpy from encoded contigs.

Window rule (docs/architecture.md): the window of length L starts at ``pos0 - L/2``
(``pos0`` = 0-based position of the first REF base), so the first allele base sits at index
L/2. A window for an allele is the left flank, then the allele, then the genome after the REF
allele, cut or filled to L. The REF window is built by the same rule with the REF allele, so it
equals the plain genome window whenever REF matches the genome. Positions outside the contig
are N (code 4) and flag the row as ``edge``. Everything is vectorised over variants: one
fancy-index gather per contig, no per-variant string slicing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tbvar.genome import BASE_TO_CODE, Genome
from tbvar.model import N_CODE

#: Where the first REF base sits in a window of length L: tbvar's ``center`` (index L/2) or
#: ``deepsea`` (index L/2 − 1, as DeepSEA's and ExPecto's scripts and Selene place it).
ANCHORS = {"center": lambda length: length // 2, "deepsea": lambda length: length // 2 - 1}


@dataclass(frozen=True)
class Windows:
    """REF and ALT windows of n allele rows.

    Attributes
    ----------
    ref, alt
        ``(n, L)`` uint8 base codes.
    edge
        ``(n,)`` bool: a window needed bases outside its contig.
    """

    ref: np.ndarray
    alt: np.ndarray
    edge: np.ndarray


def pad_alleles(alleles: list[str] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Alleles as an ``(n, max_len)`` uint8 code matrix (padded with N) and their lengths."""
    values = list(alleles)
    lengths = np.fromiter((len(a) for a in values), dtype=np.int64, count=len(values))
    width = max(int(lengths.max(initial=0)), 1)
    padded = np.full((len(values), width), N_CODE, dtype=np.uint8)
    if len(values):
        text = np.frombuffer("".join(values).encode("ascii"), dtype=np.uint8)
        rows = np.repeat(np.arange(len(values)), lengths)
        cols = np.arange(len(text)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        padded[rows, cols] = BASE_TO_CODE[text]
    return padded, lengths


def allele_windows(contig_codes: np.ndarray, pos0: np.ndarray, ref_len: np.ndarray,
                   allele_codes: np.ndarray, allele_len: np.ndarray, length: int,
                   anchor: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Windows with an allele substituted for the REF span, all variants on one contig.

    Parameters
    ----------
    contig_codes
        Base codes of the whole contig.
    pos0, ref_len
        0-based start and length of the REF allele per variant.
    allele_codes, allele_len
        Padded allele codes ``(n, w)`` and lengths (from :func:`pad_alleles`).
    length
        Window length L.

    Returns
    -------
    windows
        ``(n, L)`` uint8 codes.
    edge
        ``(n,)`` True where the window needed bases outside the contig.
    """
    first = length // 2 if anchor is None else anchor
    offset = np.arange(length, dtype=np.int64)[None, :] - first
    pos0 = np.asarray(pos0, dtype=np.int64)[:, None]
    alen = np.asarray(allele_len, dtype=np.int64)[:, None]
    in_allele = (offset >= 0) & (offset < alen)
    genome_index = np.where(offset < 0, pos0 + offset,
                            pos0 + np.asarray(ref_len, dtype=np.int64)[:, None] + offset - alen)
    outside = ((genome_index < 0) | (genome_index >= len(contig_codes))) & ~in_allele
    gathered = contig_codes[np.clip(genome_index, 0, len(contig_codes) - 1)]
    column = np.clip(offset, 0, allele_codes.shape[1] - 1)
    allele_part = np.take_along_axis(allele_codes, np.broadcast_to(column, in_allele.shape), 1)
    windows = np.where(in_allele, allele_part, np.where(outside, N_CODE, gathered))
    return windows.astype(np.uint8, copy=False), outside.any(axis=1)


def build_windows(genome: Genome, alleles: pd.DataFrame, length: int,
                  anchor: int | None = None) -> Windows:
    """REF and ALT windows of length L for allele rows (needs ``contig``, ``pos``, ``ref``,
    ``alt``), rows in the order of ``alleles``; the first REF base sits at window index
    ``anchor`` (default L/2; DeepSEA, ExPecto and Selene use L/2 − 1, :data:`ANCHORS`)."""
    n = len(alleles)
    ref_windows = np.empty((n, length), dtype=np.uint8)
    alt_windows = np.empty((n, length), dtype=np.uint8)
    edge = np.zeros(n, dtype=bool)
    contigs = alleles["contig"].to_numpy(dtype=object)
    pos0 = alleles["pos"].to_numpy(dtype=np.int64) - 1
    for name in pd.unique(contigs):
        rows = np.flatnonzero(contigs == name)
        codes = genome.codes(name)
        ref_codes, ref_len = pad_alleles(alleles["ref"].iloc[rows])
        alt_codes, alt_len = pad_alleles(alleles["alt"].iloc[rows])
        ref_windows[rows], ref_edge = allele_windows(codes, pos0[rows], ref_len, ref_codes,
                                                     ref_len, length, anchor)
        alt_windows[rows], alt_edge = allele_windows(codes, pos0[rows], ref_len, alt_codes,
                                                     alt_len, length, anchor)
        edge[rows] = ref_edge | alt_edge
    return Windows(ref_windows, alt_windows, edge)
