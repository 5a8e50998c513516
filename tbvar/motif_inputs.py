"""The input sequences of ``tbvar motifs``, as batches of base codes ``(n, L)``.

Three sources (:class:`SequenceSource`), each of sequences of the model's length L:

- ``sequences``: a FASTA (plain or gzip) whose every record has length L;
- ``genome`` + ``regions``: windows tiling each merged BED interval — ``ceil(len / L)``
  adjacent windows (at least one), centred on the interval; bases outside the contig are N;
- ``genome`` + ``random``: N windows drawn uniformly, with replacement, from the windows of
  the genome without N (:func:`tbvar.random_snvs.sample_windows`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pysam

from tbvar.genome import Genome, encode_sequence
from tbvar.model import N_CODE
from tbvar.random_snvs import read_bed, sample_windows


@dataclass(frozen=True)
class SequenceSource:
    """Where the sequences come from: a FASTA of sequences, or windows of a genome.

    Attributes
    ----------
    sequences
        FASTA of sequences of the model's length.
    genome
        Reference FASTA, with exactly one of ``regions`` (a BED file) or ``random`` (a number
        of windows, drawn with ``seed``).
    """

    sequences: str | None = None
    genome: str | None = None
    regions: str | None = None
    random: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.sequences is None) == (self.genome is None):
            raise ValueError("give exactly one of a FASTA of sequences or a genome")
        if self.genome is not None and (self.regions is None) == (self.random is None):
            raise ValueError("with a genome give exactly one of regions (a BED file) or a "
                             "number of random windows")
        if self.sequences is not None and (self.regions is not None or self.random is not None):
            raise ValueError("regions and random windows apply to a genome, not to a FASTA of "
                             "sequences")
        if self.random is not None and self.random < 1:
            raise ValueError(f"the number of random windows must be positive, got {self.random}")

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance (absolute paths)."""
        if self.sequences is not None:
            return {"sequences": os.path.abspath(self.sequences)}
        record: dict[str, Any] = {"genome": os.path.abspath(self.genome)}
        if self.regions is not None:
            record["regions"] = os.path.abspath(self.regions)
        else:
            record.update(random=self.random, seed=self.seed)
        return record

    def batches(self, length: int, batch_size: int) -> Iterator[np.ndarray]:
        """Batches ``(≤ batch_size, L)`` uint8 of the source's sequences, in order.

        Files are opened (and the BED file read, the windows drawn) on the call; a FASTA
        record of the wrong length raises when it is reached.
        """
        if self.sequences is not None:
            return fasta_batches(self.sequences, length, batch_size)
        genome = Genome(self.genome)
        if self.regions is not None:
            contigs, starts = tile_regions(read_bed(self.regions, genome), length)
        else:
            contigs, starts = sample_windows(genome, self.random, length, self.seed)
        return window_batches(genome, contigs, starts, length, batch_size)


def fasta_batches(path: str | os.PathLike[str], length: int, batch_size: int
                  ) -> Iterator[np.ndarray]:
    """Batches of the records of a FASTA file (plain or gzip), each of ``length`` bases.

    The file is opened on the call; its records are checked as they are read.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        ``"FILE: record NAME (k): length X, the model takes L"``; a file without records.
    """
    try:
        handle = pysam.FastxFile(str(path))
    except (OSError, ValueError) as exc:
        raise OSError(f"{path}: cannot read FASTA ({exc})") from None
    return _fasta_records(handle, str(path), length, batch_size)


def _fasta_records(handle: pysam.FastxFile, path: str, length: int, batch_size: int
                   ) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    number = 0
    with handle:
        try:
            for number, record in enumerate(handle, start=1):
                if len(record.sequence) != length:
                    raise ValueError(f"{path}: record {record.name!r} ({number}): length "
                                     f"{len(record.sequence)}, the model takes {length}")
                batch.append(encode_sequence(record.sequence))
                if len(batch) == batch_size:
                    yield np.stack(batch)
                    batch = []
        except (OSError, UnicodeDecodeError) as exc:
            raise OSError(f"{path}: cannot read FASTA ({exc})") from None
    if number == 0:
        raise ValueError(f"{path}: no FASTA records")
    if batch:
        yield np.stack(batch)


def tile_regions(regions: dict[str, np.ndarray], length: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``length`` tiling merged intervals (:func:`tbvar.random_snvs.read_bed`).

    An interval of ``s`` bases gets ``max(1, ceil(s / length))`` adjacent windows whose span is
    centred on it. Returns contigs ``(n,)`` (object) and 0-based starts ``(n,)`` (int64; a
    start may be negative or a window may pass the contig end near the contig's ends).
    """
    contigs, starts = [], []
    for contig, intervals in regions.items():
        for start, end in intervals.tolist():
            n = max(1, math.ceil((end - start) / length))
            first = start + (end - start - n * length) // 2
            starts.append(first + length * np.arange(n, dtype=np.int64))
            contigs.append(np.full(n, contig, dtype=object))
    return np.concatenate(contigs), np.concatenate(starts)


def window_batches(genome: Genome, contigs: np.ndarray, starts: np.ndarray, length: int,
                   batch_size: int) -> Iterator[np.ndarray]:
    """Batches of the windows ``contigs[i][starts[i]:starts[i] + length]`` (N outside the
    contig), in the given order."""
    offsets = np.arange(length, dtype=np.int64)
    for first in range(0, len(starts), batch_size):
        part = slice(first, first + batch_size)
        batch = np.empty((len(starts[part]), length), dtype=np.uint8)
        for contig in dict.fromkeys(contigs[part]):
            rows = np.flatnonzero(contigs[part] == contig)
            codes = genome.codes(contig)
            index = starts[part][rows, None] + offsets
            inside = (index >= 0) & (index < len(codes))
            batch[rows] = np.where(inside, codes[np.clip(index, 0, len(codes) - 1)], N_CODE)
        yield batch
