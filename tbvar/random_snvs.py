"""Random SNVs for a calibration background, drawn uniformly from eligible genome positions;
random genome windows (:func:`sample_windows`) for ``tbvar motifs``.

Sampling rule. A position is *eligible* when its base is A, C, G or T (soft-masked lower
case counts; N and IUPAC codes do not), it is at least ``margin`` bases from both ends of its
contig (0-based ``margin <= pos0 < length - margin``; with ``margin = L/2`` every scoring
window ``[pos0 - L/2, pos0 + L/2)`` lies inside the contig) and, when regions are given, it
lies inside one of them. N positions are drawn uniformly *with replacement* from all eligible
positions of all contigs of the FASTA (so N may exceed the number of eligible positions, and a
position may be drawn twice); REF is the genome base (upper case) and ALT is uniform over the
other three bases.

Why. This is the DeepSEA-style background: variants at random genome positions, against which
the score of a real variant is ranked to give an empirical p-value. Uniform over eligible bases
gives every scoreable base the same weight. With ``--regions`` (a BED of, say, promoters or DNase
hypersensitive sites) the background is uniform over the union of the intervals instead — the
right null for variants that were themselves selected from such regions. Every contig of the
FASTA counts (chrM, unplaced scaffolds and alt haplotypes included, if present); use regions
to leave them out.

Windows (:func:`sample_windows`) are drawn the same way, uniformly with replacement over all
window starts whose ``L`` bases are A, C, G or T and lie inside the contig.

Memory stays bounded for a whole genome: contigs are scanned in blocks of :data:`BLOCK_SIZE`
bases, once to count eligible positions per block and once to map the sorted random ranks to
positions in the blocks they fall in.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Iterator
from typing import TextIO

import numpy as np

from tbvar.genome import CODE_TO_BASE, Genome
from tbvar.model import N_CODE
from tbvar.variants import VariantChunk, allele_frame

__all__ = ["read_bed", "sample_snvs", "sample_windows"]

BLOCK_SIZE = 8 << 20  # bases of a contig examined at a time
_HEADER_PREFIXES = ("track", "browser", "#")


def _open_text(path: str) -> TextIO:
    """A text handle on a plain or gzip file, recognised by its first bytes."""
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _parse_bed_line(line: str) -> tuple[str, int, int]:
    fields = line.split()
    if len(fields) < 3:
        raise ValueError(f"expected at least 3 columns (chrom, start, end), found {len(fields)}")
    try:
        start, end = int(fields[1]), int(fields[2])
    except ValueError:
        raise ValueError(f"start {fields[1]!r} and end {fields[2]!r} must be integers") from None
    if start < 0 or end < start:
        raise ValueError(f"bad interval {fields[0]}:{start}-{end} (need 0 <= start <= end)")
    return fields[0], start, end


def _merge(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Union of intervals as sorted, disjoint, non-adjacent ``(k, 2)`` int64 ``[start, end)``."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    first = np.concatenate(([True], starts[1:] > reach[:-1]))
    last = np.concatenate((first[1:], [True]))
    return np.stack((starts[first], reach[last]), axis=1)


def read_bed(path: str | os.PathLike[str], genome: Genome) -> dict[str, np.ndarray]:
    """BED intervals per FASTA contig, merged so that no base is counted twice.

    Parameters
    ----------
    path
        BED file, plain or gzip (0-based half-open ``chrom start end``, further columns
        ignored; blank, ``track``, ``browser`` and ``#`` lines skipped).
    genome
        Contig names are harmonised with :meth:`Genome.resolve` (``1`` ↔ ``chr1``, ...).

    Returns
    -------
    dict
        FASTA contig name → ``(k, 2)`` int64 array of sorted, disjoint ``[start, end)``
        intervals clipped to the contig; empty intervals are dropped. Intervals on contigs
        the genome lacks are skipped.

    Raises
    ------
    ValueError
        ``"FILE: line N: reason"`` for a malformed line, ``"FILE: ..."`` when the file cannot be
        read or none of its intervals lies on a contig of the genome.
    """
    starts: dict[str, list[int]] = {}
    ends: dict[str, list[int]] = {}
    n_read = 0
    try:
        with _open_text(str(path)) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip() or line.startswith(_HEADER_PREFIXES):
                    continue
                try:
                    chrom, start, end = _parse_bed_line(line)
                except ValueError as exc:
                    raise ValueError(f"{path}: line {number}: {exc}") from None
                n_read += 1
                contig = genome.resolve(chrom)
                if contig is None:
                    continue
                starts.setdefault(contig, []).append(start)
                ends.setdefault(contig, []).append(min(end, genome.lengths[contig]))
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise ValueError(f"{path}: cannot read BED file ({exc})") from None
    if not starts:
        raise ValueError(f"{path}: none of its {n_read} intervals lies on a contig of the "
                         f"genome {genome.path}")
    merged = {}
    for contig in genome.lengths:  # genome order
        start = np.array(starts.get(contig, []), dtype=np.int64)
        end = np.array(ends.get(contig, []), dtype=np.int64)
        keep = start < end
        if keep.any():
            merged[contig] = _merge(start[keep], end[keep])
    return merged


def _eligible(codes: np.ndarray, lo: int, hi: int, intervals: np.ndarray | None) -> np.ndarray:
    """``(hi - lo,)`` bool: which of ``codes[lo:hi]`` are eligible (ACGT, inside intervals)."""
    mask = codes[lo:hi] != N_CODE
    if intervals is not None:
        first = np.searchsorted(intervals[:, 1], lo, side="right")
        stop = np.searchsorted(intervals[:, 0], hi, side="left")
        inside = np.clip(intervals[first:stop], lo, hi) - lo
        edges = np.zeros(hi - lo + 1, dtype=np.int8)  # +1 at starts, -1 at ends
        np.add.at(edges, inside[:, 0], 1)
        np.add.at(edges, inside[:, 1], -1)
        mask &= np.cumsum(edges[:-1], dtype=np.int8) > 0
    return mask


def _draw(n: int, rng: np.random.Generator, blocks: list[tuple[str, int, int]],
          eligible: Callable[[str, int, int], np.ndarray], nothing: str
          ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` positions drawn uniformly, with replacement, from the eligible ones of ``blocks``.

    ``blocks`` are ``(contig, lo, hi)`` ranges and ``eligible(contig, lo, hi)`` their
    ``(hi - lo,)`` bool masks, computed twice per block (count, then map the sorted random
    ranks), so memory stays bounded by one block. Returns contigs ``(n,)`` (object) and
    0-based positions ``(n,)`` (int64), sorted by block order and position; ``ValueError``
    with the text ``nothing`` if no position is eligible.
    """
    counts = np.fromiter((np.count_nonzero(eligible(*block)) for block in blocks),
                         dtype=np.int64, count=len(blocks))
    total = int(counts.sum())
    if total == 0:
        raise ValueError(nothing)
    ranks = np.sort(rng.integers(0, total, size=n))
    offsets = np.concatenate(([0], np.cumsum(counts)))
    bounds = np.searchsorted(ranks, offsets)
    chroms = np.empty(n, dtype=object)
    pos0 = np.empty(n, dtype=np.int64)
    for k in np.flatnonzero(bounds[1:] > bounds[:-1]):
        contig, lo, hi = blocks[k]
        part = slice(bounds[k], bounds[k + 1])
        pos0[part] = lo + np.flatnonzero(eligible(contig, lo, hi))[ranks[part] - offsets[k]]
        chroms[part] = contig
    return chroms, pos0


def _contig_rows(chroms: np.ndarray) -> Iterator[tuple[str, slice]]:
    """``(contig, rows)`` of an array of contig names grouped in runs (as :func:`_draw` gives)."""
    change = np.flatnonzero(chroms[1:] != chroms[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(chroms)]))
    for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
        yield chroms[first], slice(first, last)


def sample_windows(genome: Genome, n: int, length: int, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` windows of ``length`` bases uniformly, with replacement, from all windows
    that lie inside a contig and hold only A, C, G and T (soft-masked lower case counts).

    Returns
    -------
    contigs, starts
        ``(n,)`` FASTA contig names (object) and 0-based window starts (int64), sorted by
        contig (FASTA order) and start; window i is ``contigs[i][starts[i]:starts[i] + length]``.

    Raises
    ------
    ValueError
        ``n`` or ``length`` below 1, or no such window in the genome.
    """
    if n < 1 or length < 1:
        raise ValueError(f"need n >= 1 and length >= 1 (got n={n}, length={length})")
    blocks = [(contig, lo, min(lo + BLOCK_SIZE, size - length + 1))
              for contig, size in genome.lengths.items()
              for lo in range(0, size - length + 1, BLOCK_SIZE)]

    def eligible(contig: str, lo: int, hi: int) -> np.ndarray:
        bases = np.concatenate(([0], np.cumsum(
            _eligible(genome.codes(contig), lo, hi + length - 1, None), dtype=np.int64)))
        return bases[length:] - bases[:-length] == length

    return _draw(n, np.random.default_rng(seed), blocks, eligible,
                 f"{genome.path}: no window of {length} bases without N lies inside a contig")


def _chunks(chroms: np.ndarray, pos0: np.ndarray, refs: np.ndarray, alts: np.ndarray,
            chunk_size: int) -> Iterator[VariantChunk]:
    """Chunks of ``chunk_size`` SNVs (arrays of shape ``(n,)``; codes for REF/ALT)."""
    ref_bases = CODE_TO_BASE[refs].view("S1").astype(str)
    alt_bases = CODE_TO_BASE[alts].view("S1").astype(str)
    for index, first in enumerate(range(0, len(pos0), chunk_size)):
        part = slice(first, first + chunk_size)
        records = range(first, first + len(pos0[part]))
        rows = list(zip(records, [0] * len(records), chroms[part].tolist(),
                        (pos0[part] + 1).tolist(), [f"rand{i}" for i in records],
                        ref_bases[part].tolist(), alt_bases[part].tolist(), strict=True))
        yield VariantChunk(allele_frame(rows), lines=[], numbers=[], index=index)


def sample_snvs(genome: Genome, n: int, seed: int = 0, margin: int = 500,
                regions: dict[str, np.ndarray] | None = None, chunk_size: int = 1024
                ) -> Iterator[VariantChunk]:
    """Draw ``n`` random SNVs uniformly, with replacement, from the eligible positions.

    Parameters
    ----------
    genome
        Reference genome; all its contigs are candidates, in FASTA order.
    n
        Number of SNVs (positive; may exceed the number of eligible positions).
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same SNVs.
    margin
        Minimum distance in bases from both contig ends (``margin <= pos0 < length - margin``);
        the scorer passes half its window length.
    regions
        Intervals from :func:`read_bed`; only positions inside them are eligible.
    chunk_size
        Records per chunk.

    Returns
    -------
    Iterator[VariantChunk]
        Chunks numbered 0, 1, ... of SNVs sorted by contig (FASTA order) and position:
        ``record_index`` 0..n-1, ``alt_index`` 0, ``chrom`` the FASTA contig name, ``pos``
        1-based, ``id`` ``rand{record_index}``, ``ref`` the genome base in upper case, ``alt``
        one of the other three bases.

    Raises
    ------
    ValueError
        ``n``, ``margin`` or ``chunk_size`` out of range, or no eligible position.
    """
    if n < 1 or chunk_size < 1 or margin < 0:
        raise ValueError(f"need n >= 1, chunk_size >= 1 and margin >= 0 (got n={n}, "
                         f"chunk_size={chunk_size}, margin={margin})")
    blocks = [(contig, lo, min(lo + BLOCK_SIZE, length - margin))
              for contig, length in genome.lengths.items()
              if regions is None or contig in regions
              for lo in range(margin, length - margin, BLOCK_SIZE)]

    def eligible(contig: str, lo: int, hi: int) -> np.ndarray:
        return _eligible(genome.codes(contig), lo, hi,
                         None if regions is None else regions[contig])

    where = " inside the regions" if regions is not None else ""
    rng = np.random.default_rng(seed)
    chroms, pos0 = _draw(n, rng, blocks, eligible, f"{genome.path}: no eligible position "
                         f"(A/C/G/T at least {margin} bases from both contig ends{where}) to "
                         "draw random SNVs from")
    shift = rng.integers(1, 4, size=n)  # ALT = REF + 1, 2 or 3 (mod 4): another base
    refs = np.empty(n, dtype=np.uint8)
    for contig, rows in _contig_rows(chroms):
        refs[rows] = genome.codes(contig)[pos0[rows]]
    alts = ((refs + shift) % 4).astype(np.uint8)
    return _chunks(chroms, pos0, refs, alts, chunk_size)
