"""Ranges of whole chunks of an indexed VCF/BCF, so that workers can read the input in parallel.

Chunk k of a run holds input records k·chunk_size … (k+1)·chunk_size − 1 in file order,
whoever reads them: that fixes the model's batches and every output part, so the output is
byte-identical however the work is split. Splitting an indexed input takes two steps:

1. *pieces* (:func:`pieces`): the input — its ``--region``, or the contigs holding records in
   file order (:mod:`tbvar.vcf_index`) — cut into spans of about equal length (contig lengths
   from the header). Workers count each piece (:func:`count_piece`): its records, a breakpoint
   for every ``step``-th record (its POS and the offset of the piece's first record at that
   POS) and the IDs its records use (for the header lines the output adds);
2. *ranges* (:func:`plan_ranges`): runs of whole chunks, each starting at a breakpoint and a
   few records to skip. :func:`read_range` reads one through the index, on through later
   pieces and contigs, as chunks with their run-wide indices, records numbered as a read of
   the whole input numbers them.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from cyvcf2 import VCF

from tbvar.variants import VariantChunk, chunk_records
from tbvar.vcf_index import contigs_in_file_order, index_path
from tbvar.vcf_reader import RawRecord, Span, VcfSource

_CONTIG_LENGTH = re.compile(r"^##contig=<ID=([^,>]+)(?:,.*)?,length=([0-9]+)", re.MULTILINE)


def index_reason(source: VcfSource) -> str | None:
    """Why ``source`` cannot be split by its index (``None``: it can): it must be a BCF or a
    bgzipped VCF with a ``.csi``/``.tbi`` index no older than the file."""
    index = index_path(source.path)
    if not (source.bcf or source.compressed) or index is None:
        return "it has no tabix/CSI index"
    if os.stat(index).st_mtime_ns < os.stat(source.path).st_mtime_ns:
        return f"its index {index} is older than the file"
    return None


def input_spans(source: VcfSource) -> list[Span]:
    """The input as spans in file order: its region, or each contig holding records, whole
    (from POS 0)."""
    contigs = contigs_in_file_order(index_path(source.path), lambda: _header_contigs(source))
    if source.region:
        return [source._indexed_span(contigs)]  # "17" finds "chr17", as a local run does
    return [(contig, 0, None) for contig in contigs]


def _header_contigs(source: VcfSource) -> list[str]:
    """The header's contigs in htslib's order (the reference ids of a CSI without names)."""
    reader = VCF(source.path, lazy=True, threads=1)
    try:
        return list(reader.seqnames)
    finally:
        reader.close()


def pieces(source: VcfSource, spans: list[Span], n: int) -> list[Span]:
    """The spans cut into about ``n`` pieces of equal length, in order (a span of a contig
    whose length the header does not give stays whole; the last piece of a contig runs to its
    end)."""
    lengths = {name: int(length) for name, length in _CONTIG_LENGTH.findall(source.header)}
    extents = [(span, (span[2] or lengths.get(span[0], 0)) - max(span[1], 1) + 1)
               for span in spans]
    step = max(1, math.ceil(sum(max(size, 0) for _, size in extents) / max(n, 1)))
    out: list[Span] = []
    for (contig, start, end), size in extents:
        cuts = list(range(max(start, 1) + step, max(start, 1) + size, step)) if size > 0 else []
        bounds = [start, *cuts]
        out += [(contig, a, b - 1) for a, b in itertools.pairwise(bounds)]
        out.append((contig, bounds[-1], end))
    return out


@dataclass(frozen=True)
class PieceCount:
    """What a worker found in one piece.

    Attributes
    ----------
    records
        Records whose POS lies in the piece.
    breakpoints
        For records 0, ``step``, 2·``step``, … of the piece: ``(POS, offset)``, the offset
        being that of the piece's first record at that POS (a query from POS starts there).
    usage
        IDs the records use (:meth:`VcfSource.usage`).
    """

    records: int
    breakpoints: list[tuple[int, int]]
    usage: dict


def count_piece(source: VcfSource, piece: Span, step: int) -> PieceCount:
    """Read one piece through the index (``source`` freshly opened: its usage is the piece's)."""
    records, run_start, last_pos = 0, 0, None
    breakpoints = []
    for record in source.query(piece):
        if record.pos != last_pos:
            run_start, last_pos = records, record.pos
        if records % step == 0:
            breakpoints.append((record.pos, run_start))
        records += 1
    return PieceCount(records, breakpoints, source.usage())


@dataclass(frozen=True)
class ChunkRange:
    """Chunks ``first_chunk … first_chunk + n_chunks − 1`` of a run over an indexed input.

    Reading starts at POS ``pos`` of input span ``span_index`` and skips ``skip`` records; the
    next record is input record ``first_record``.
    """

    first_chunk: int
    n_chunks: int
    first_record: int
    n_records: int
    span_index: int
    pos: int
    skip: int

    @property
    def chunks(self) -> range:
        """The chunk indices of the range."""
        return range(self.first_chunk, self.first_chunk + self.n_chunks)


def plan_ranges(spans: list[Span], cut: list[Span], counts: list[PieceCount],
                chunk_size: int, step: int, chunks_per_range: int) -> list[ChunkRange]:
    """Ranges of ``chunks_per_range`` whole chunks (the last may be shorter) covering the
    input, from the counts of its pieces ``cut`` (in input order) with breakpoints every
    ``step`` records."""
    span_of = {}
    for index, (contig, _, _) in enumerate(spans):
        span_of.setdefault(contig, index)
    filled = [(piece, count) for piece, count in zip(cut, counts, strict=True)
              if count.records]
    starts = list(itertools.accumulate((count.records for _, count in filled), initial=0))
    total = starts[-1]
    n_chunks = math.ceil(total / chunk_size)
    out = []
    for first_chunk in range(0, n_chunks, chunks_per_range):
        last_chunk = min(first_chunk + chunks_per_range, n_chunks)
        first = first_chunk * chunk_size
        j = bisect.bisect_right(starts, first) - 1
        (contig, _, _), count = filled[j]
        offset = first - starts[j]
        pos, run_start = count.breakpoints[offset // step]
        out.append(ChunkRange(first_chunk, last_chunk - first_chunk, first,
                              min(last_chunk * chunk_size, total) - first, span_of[contig],
                              pos, offset - run_start))
    return out


def _records_from(source: VcfSource, spans: list[Span], index: int, pos: int,
                  first: int) -> Iterator[RawRecord]:
    """Records from POS ``pos`` of span ``index`` on, through the later spans; the first is
    input record ``first``."""
    ordinal = first
    for k, (contig, start, end) in enumerate(spans[index:]):
        for record in source.query((contig, pos if k == 0 else start, end), first=ordinal):
            ordinal += 1
            yield record


def read_range(source: VcfSource, spans: list[Span], chunk_range: ChunkRange,
               chunk_size: int) -> Iterator[VariantChunk]:
    """The chunks of a range, read through the index."""
    records = _records_from(source, spans, chunk_range.span_index, chunk_range.pos,
                            chunk_range.first_record - chunk_range.skip)
    wanted = itertools.islice(records, chunk_range.skip,
                              chunk_range.skip + chunk_range.n_records)
    return chunk_records(wanted, chunk_size, chunk_range.first_record, chunk_range.first_chunk)
