"""Variant input: VCF/VCF.gz/BCF or a DataFrame, split per ALT, each with a status.

Files are read by :class:`tbvar.vcf_reader.VcfSource` (record lines passed through unchanged,
errors naming the line).

Every input record yields at least one *allele row* (one per ALT; one row with ``alt_index``
-1 for a record without ALT). Rows that cannot be scored keep a status saying why; nothing is
dropped. Statuses, in the order they are checked:

``no_alt``            ALT is ``.``
``symbolic_allele``   ``<DEL>``, ``<NON_REF>``, ``*``, breakends (``]``, ``[``, or a
                      leading/trailing ``.``)
``ambiguous_allele``  REF or ALT holds a character other than A, C, G, T, N (any case)
``too_long``          REF or ALT longer than ``max_allele_length``
``unknown_contig``    the contig is not in the genome (after name harmonisation)
``bad_position``      POS < 1 or REF runs past the end of the contig
``ref_mismatch``      REF differs from the genome (case-insensitive) with the ``skip`` policy,
                      or with ``flip`` when the ALT does not match the genome either
``ok``                scored

Unsorted and duplicate records are allowed: every record is scored independently, in input
order, and written in input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tbvar.errors import VariantInputError
from tbvar.genome import BASE_TO_CODE, Genome
from tbvar.vcf_reader import LineBlock, RawRecord, VcfSource

__all__ = ["VariantInputError", "VariantChunk", "classify", "iter_vcf_chunks",
           "iter_source_chunks", "chunk_records", "SourceChunks", "alleles_from_frame"]

STATUS_OK = "ok"
STATUSES = ("ok", "no_alt", "symbolic_allele", "ambiguous_allele", "too_long",
            "unknown_contig", "bad_position", "ref_mismatch")
STATUS_REASONS = {
    "ok": "scored",
    "no_alt": "ALT is '.'",
    "symbolic_allele": "symbolic ALT (<...>, *, breakend) cannot be scored",
    "ambiguous_allele": "REF or ALT has a character other than A, C, G, T, N",
    "too_long": "REF or ALT longer than the maximum allele length",
    "unknown_contig": "contig not in the genome (after name harmonisation and --contig-map)",
    "bad_position": "POS < 1 or REF runs past the end of the contig",
    "ref_mismatch": "REF differs from the genome",
}
REF_MISMATCH_POLICIES = ("skip", "flip", "use-vcf")
ALLELE_COLUMNS = ("record_index", "alt_index", "chrom", "pos", "id", "ref", "alt")
_ALLELE_DTYPES = {"record_index": np.int64, "alt_index": np.int64, "pos": np.int64}
_VALID_BASES = frozenset("ACGTNacgtn")


@dataclass
class VariantChunk:
    """A run of consecutive input records and their allele rows.

    Attributes
    ----------
    alleles
        One row per record × ALT with :data:`ALLELE_COLUMNS`, later ``status``, ``contig``,
        ``ref_match``, ``swapped``.
    lines
        The records' original VCF lines (without line end) for pass-through writers; empty for
        DataFrame input.
    numbers
        Per record, its 1-based line number in the input (record number for BCF / regions).
    index
        Position of the chunk in the run (0, 1, ...).
    """

    alleles: pd.DataFrame
    lines: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    index: int = 0

    @property
    def n_records(self) -> int:
        """Input records in the chunk."""
        return len(self.lines) or int(self.alleles["record_index"].nunique())


def allele_frame(rows: list[tuple]) -> pd.DataFrame:
    """Allele rows as a DataFrame with :data:`ALLELE_COLUMNS` and fixed dtypes."""
    frame = pd.DataFrame(rows, columns=list(ALLELE_COLUMNS))
    return frame.astype(_ALLELE_DTYPES) if len(frame) else frame.astype(
        {**dict.fromkeys(ALLELE_COLUMNS, object), **_ALLELE_DTYPES})


_NO_ALLELES = allele_frame([])


def placeholder_chunk(index: int) -> VariantChunk:
    """Chunk ``index`` as a consumer of a chunk scored and saved elsewhere needs it: its index
    (no rows)."""
    return VariantChunk(_NO_ALLELES, index=index)


def _allele_status(ref: str, alt: str | None, max_len: int) -> str:
    if alt is None or pd.isna(alt):
        return "no_alt"
    if alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt or (
            len(alt) > 1 and (alt[0] == "." or alt[-1] == ".")):
        return "symbolic_allele"
    if not ref or not alt or not _VALID_BASES.issuperset(ref) or not _VALID_BASES.issuperset(alt):
        return "ambiguous_allele"
    if len(ref) > max_len or len(alt) > max_len:
        return "too_long"
    return STATUS_OK


def _concat_codes(alleles: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of all alleles concatenated, and the start offset of each allele."""
    text = "".join(alleles.tolist()).encode("ascii")
    lengths = alleles.str.len().to_numpy(dtype=np.int64)
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return BASE_TO_CODE[np.frombuffer(text, dtype=np.uint8)], offsets


def _matches_genome(codes: np.ndarray, pos0: np.ndarray, alleles: pd.Series) -> np.ndarray:
    """Per allele, whether it lies inside the contig and equals the genome at ``pos0``."""
    lengths = alleles.str.len().to_numpy(dtype=np.int64)
    inside = (pos0 >= 0) & (pos0 + lengths <= len(codes))
    result = np.zeros(len(pos0), dtype=bool)
    rows = np.flatnonzero(inside)
    if len(rows):
        allele_codes, offsets = _concat_codes(alleles.iloc[rows])
        index = np.repeat(pos0[rows] - offsets, lengths[rows]) + np.arange(len(allele_codes))
        result[rows] = np.logical_and.reduceat(codes[index] == allele_codes, offsets)
    return result


def classify(alleles: pd.DataFrame, genome: Genome, max_allele_length: int = 100,
             ref_mismatch: str = "skip") -> pd.DataFrame:
    """Add ``status``, ``contig`` (FASTA name), ``ref_match`` and ``swapped`` to allele rows.

    REF is compared with the genome in one vectorised gather per contig (case-insensitive;
    any non-ACGT base counts as N on both sides). ``ref_mismatch`` says what a REF that
    differs from the genome does: ``skip`` (status ``ref_mismatch``), ``flip`` (if the ALT
    matches the genome there, REF and ALT are swapped in the row, which is scored and marked
    ``swapped``; otherwise ``ref_mismatch``) or ``use-vcf`` (scored with the VCF's REF).
    ``ref_match`` says whether the VCF's REF matched (missing for rows whose REF was never
    compared: bad alleles, unknown contigs, positions off the contig).
    """
    if ref_mismatch not in REF_MISMATCH_POLICIES:
        raise ValueError(f"ref_mismatch must be one of {REF_MISMATCH_POLICIES}")
    out = alleles.copy()
    refs, alts = out["ref"].to_numpy(dtype=object), out["alt"].to_numpy(dtype=object)
    status = np.array([_allele_status(r, a, max_allele_length)
                       for r, a in zip(refs, alts, strict=True)], dtype=object)
    chroms = out["chrom"].to_numpy(dtype=object)
    fasta_names = {chrom: genome.resolve(chrom) for chrom in pd.unique(chroms)}
    contig = np.array([fasta_names[chrom] for chrom in chroms], dtype=object)
    status[(status == STATUS_OK) & pd.isna(contig)] = "unknown_contig"
    ref_match = np.zeros(len(out), dtype=bool)
    compared = np.zeros(len(out), dtype=bool)  # rows whose REF was compared with the genome
    swapped = np.zeros(len(out), dtype=bool)
    checkable = np.flatnonzero(status == STATUS_OK)
    positions = out["pos"].to_numpy(dtype=np.int64) - 1
    for name in pd.unique(contig[checkable]):
        rows = checkable[contig[checkable] == name]
        pos0, refs = positions[rows], out["ref"].iloc[rows]
        lengths = refs.str.len().to_numpy(dtype=np.int64)
        inside = (pos0 >= 0) & (pos0 + lengths <= genome.lengths[name])
        status[rows[~inside]] = "bad_position"
        codes = genome.codes(name)
        ref_match[rows] = _matches_genome(codes, pos0, refs) & inside
        compared[rows] = inside
        if ref_mismatch == "flip":
            wrong = rows[inside & ~ref_match[rows]]
            swapped[wrong] = _matches_genome(codes, positions[wrong], out["alt"].iloc[wrong])
    if ref_mismatch != "use-vcf":
        status[(status == STATUS_OK) & ~ref_match & ~swapped] = "ref_mismatch"
    if swapped.any():
        vcf_ref = out["ref"].to_numpy(dtype=object)
        vcf_alt = out["alt"].to_numpy(dtype=object)
        out["ref"] = np.where(swapped, vcf_alt, vcf_ref)
        out["alt"] = np.where(swapped, vcf_ref, vcf_alt)
    out["status"] = status
    out["contig"] = contig
    out["ref_match"] = pd.arrays.BooleanArray(ref_match, ~compared)  # <NA>: never compared
    out["swapped"] = swapped
    return out


def _records_to_rows(record_index: int, chrom: str, pos: int, vid: str | None, ref: str,
                     alts: list[str]) -> list[tuple]:
    if not alts:
        return [(record_index, -1, chrom, pos, vid, ref, None)]
    return [(record_index, k, chrom, pos, vid, ref, alt) for k, alt in enumerate(alts)]


def chunk_records(records: Iterable[RawRecord], chunk_size: int, first_record: int = 0,
                  first_chunk: int = 0) -> Iterator[VariantChunk]:
    """Group records into chunks of ``chunk_size`` records, in order.

    The records are input records ``first_record``, ``first_record + 1``, ... (their
    ``record_index``) and the first chunk is chunk ``first_chunk`` of the run.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    rows: list[tuple] = []
    lines: list[str] = []
    numbers: list[int] = []
    index, chunk_index = first_record, first_chunk
    for record in records:
        rows += _records_to_rows(index, record.chrom, record.pos, record.id, record.ref,
                                 record.alts)
        lines.append(record.line)
        numbers.append(record.number)
        index += 1
        if len(lines) == chunk_size:
            yield VariantChunk(allele_frame(rows), lines, numbers, chunk_index)
            rows, lines, numbers = [], [], []
            chunk_index += 1
    if lines:
        yield VariantChunk(allele_frame(rows), lines, numbers, chunk_index)


def block_chunk(source: VcfSource, block: LineBlock) -> VariantChunk:
    """The chunk of a block of ``source``'s lines (:meth:`VcfSource.line_blocks`): chunk
    ``block.index``, its records parsed (and the IDs they use counted in ``source``)."""
    (chunk,) = chunk_records(source.block_records(block), max(block.n_records, 1),
                             block.first_record, block.index)
    return chunk


def iter_source_chunks(source: VcfSource, chunk_size: int = 1024) -> Iterator[VariantChunk]:
    """Read an opened VCF in chunks of ``chunk_size`` records, in file order."""
    if source.line_by_line:
        return (block_chunk(source, block) for block in source.line_blocks(chunk_size))
    return chunk_records(source.records(), chunk_size)


@dataclass
class SourceChunks:
    """The chunks of an opened VCF in file order, as an iterable that says where they come
    from: an engine that reads the file itself (:mod:`tbvar.ray_engine`) uses ``source`` and
    ``chunk_size``, any other iterates."""

    source: VcfSource
    chunk_size: int

    def __iter__(self) -> Iterator[VariantChunk]:
        return iter_source_chunks(self.source, self.chunk_size)

    def blocks(self) -> Iterator[LineBlock] | None:
        """The chunks' lines unparsed (:meth:`VcfSource.line_blocks`), for an engine that
        parses them elsewhere (:func:`block_chunk`); ``None`` where the input is not read in
        blocks (BCF, ``--region``)."""
        return self.source.line_blocks(self.chunk_size) if self.source.line_by_line else None


def iter_vcf_chunks(path: str | os.PathLike[str], chunk_size: int = 1024,
                    region: str | None = None) -> Iterator[VariantChunk]:
    """Read a VCF in chunks of ``chunk_size`` records, in file order.

    Parameters
    ----------
    path
        VCF (plain, gzip or bgzip) or BCF.
    chunk_size
        Records per chunk (memory stays bounded by this).
    region
        ``chrom``, ``chrom:start-end`` (1-based, inclusive); needs a tabix/CSI index.
    """
    return iter_source_chunks(VcfSource(path, region), chunk_size)


def alleles_from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Allele rows from a DataFrame with columns ``chrom, pos, ref, alt`` (``id`` optional).

    ``alt`` may hold comma-separated ALTs, which are split like VCF ALTs.
    """
    missing = {"chrom", "pos", "ref", "alt"} - set(frame.columns)
    if missing:
        raise VariantInputError(f"variant table lacks columns {sorted(missing)}")
    rows: list[tuple] = []
    ids = frame["id"] if "id" in frame.columns else pd.Series([None] * len(frame))
    for index, (chrom, pos, vid, ref, alt) in enumerate(
            zip(frame["chrom"], frame["pos"], ids, frame["ref"], frame["alt"], strict=True)):
        try:
            pos = int(pos)
        except (TypeError, ValueError):
            raise VariantInputError(f"variant table row {index}: POS {pos!r} is not an "
                                    "integer") from None
        alts = [] if pd.isna(alt) or str(alt) in ("", ".") else str(alt).split(",")
        rows += _records_to_rows(index, str(chrom), pos, None if pd.isna(vid) else str(vid),
                                 str(ref), alts)
    return allele_frame(rows)
