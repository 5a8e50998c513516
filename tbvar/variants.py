"""Variant input: VCF/VCF.gz/BCF (cyvcf2) or a DataFrame, split per ALT, each with a status.

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
``ref_mismatch``      REF differs from the genome (case-insensitive), with the ``skip`` policy
``ok``                scored
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from cyvcf2 import VCF

from tbvar.genome import BASE_TO_CODE, Genome

STATUS_OK = "ok"
STATUSES = ("ok", "no_alt", "symbolic_allele", "ambiguous_allele", "too_long",
            "unknown_contig", "bad_position", "ref_mismatch")
REF_MISMATCH_POLICIES = ("skip", "use-vcf")
ALLELE_COLUMNS = ("record_index", "alt_index", "chrom", "pos", "id", "ref", "alt")
_VALID_BASES = frozenset("ACGTNacgtn")


class VariantInputError(ValueError):
    """An input file or table cannot be read; the message names the file and record."""


@dataclass
class VariantChunk:
    """A run of consecutive input records and their allele rows.

    Attributes
    ----------
    alleles
        One row per record × ALT with :data:`ALLELE_COLUMNS`, later ``status``, ``contig``,
        ``ref_match``.
    lines
        The records' original VCF lines (without newline) for pass-through writers; empty for
        DataFrame input.
    """

    alleles: pd.DataFrame
    lines: list[str] = field(default_factory=list)


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


def classify(alleles: pd.DataFrame, genome: Genome, max_allele_length: int = 100,
             ref_mismatch: str = "skip") -> pd.DataFrame:
    """Add ``status``, ``contig`` (FASTA name) and ``ref_match`` columns to allele rows.

    REF is compared with the genome in one vectorised gather per contig (case-insensitive;
    any non-ACGT base counts as N on both sides).
    """
    if ref_mismatch not in REF_MISMATCH_POLICIES:
        raise ValueError(f"ref_mismatch must be one of {REF_MISMATCH_POLICIES}")
    out = alleles.copy()
    status = np.array([_allele_status(r, a, max_allele_length)
                       for r, a in zip(out["ref"], out["alt"], strict=True)], dtype=object)
    contig = np.array([genome.resolve(c) for c in out["chrom"]], dtype=object)
    status[(status == STATUS_OK) & pd.isna(contig)] = "unknown_contig"
    ref_match = np.zeros(len(out), dtype=bool)
    checkable = np.flatnonzero(status == STATUS_OK)
    for name in pd.unique(contig[checkable]):
        rows = checkable[contig[checkable] == name]
        pos0 = out["pos"].to_numpy(dtype=np.int64)[rows] - 1
        refs = out["ref"].iloc[rows]
        lengths = refs.str.len().to_numpy(dtype=np.int64)
        inside = (pos0 >= 0) & (pos0 + lengths <= genome.lengths[name])
        status[rows[~inside]] = "bad_position"
        rows, pos0, refs, lengths = rows[inside], pos0[inside], refs[inside], lengths[inside]
        if len(rows) == 0:
            continue
        ref_codes, offsets = _concat_codes(refs)
        genome_index = np.repeat(pos0 - offsets, lengths) + np.arange(len(ref_codes))
        same = genome.codes(name)[genome_index] == ref_codes
        ref_match[rows] = np.logical_and.reduceat(same, offsets)
    if ref_mismatch == "skip":
        status[(status == STATUS_OK) & ~ref_match] = "ref_mismatch"
    out["status"] = status
    out["contig"] = contig
    out["ref_match"] = ref_match
    return out


def _records_to_rows(record_index: int, chrom: str, pos: int, vid: str | None, ref: str,
                     alts: list[str]) -> list[tuple]:
    if not alts:
        return [(record_index, -1, chrom, pos, vid, ref, None)]
    return [(record_index, k, chrom, pos, vid, ref, alt) for k, alt in enumerate(alts)]


def read_vcf_header(path: str | os.PathLike[str]) -> str:
    """The raw header text of a VCF/BCF (``##`` lines and the ``#CHROM`` line)."""
    reader = open_vcf(path)
    try:
        return reader.raw_header
    finally:
        reader.close()


def open_vcf(path: str | os.PathLike[str]) -> VCF:
    """Open a VCF/VCF.gz/BCF with cyvcf2, turning failures into :class:`VariantInputError`."""
    path = str(path)
    if not os.path.exists(path):
        raise VariantInputError(f"{path}: no such file")
    try:
        return VCF(path, lazy=True, threads=1)
    except (OSError, ValueError, Exception) as exc:  # cyvcf2 raises bare Exception too
        raise VariantInputError(f"{path}: not a readable VCF/BCF file ({exc})") from None


def iter_vcf_chunks(path: str | os.PathLike[str], chunk_size: int = 1024,
                    region: str | None = None) -> Iterator[VariantChunk]:
    """Read a VCF in chunks of ``chunk_size`` records, in file order.

    Parameters
    ----------
    path
        VCF, bgzipped VCF or BCF.
    chunk_size
        Records per chunk (memory stays bounded by this).
    region
        ``chrom``, ``chrom:start-end`` (1-based, inclusive); needs a tabix/CSI index.
    """
    path = str(path)
    if region and not any(os.path.exists(path + ext) for ext in (".tbi", ".csi")):
        raise VariantInputError(f"{path}: --region needs a bgzipped VCF with a .tbi/.csi index "
                                "(bgzip the file, then tabix -p vcf or bcftools index)")
    reader = open_vcf(path)
    try:
        try:
            records = reader(region) if region else iter(reader)
        except (OSError, ValueError, Exception) as exc:
            raise VariantInputError(f"{path}: cannot query region {region!r} ({exc}); "
                                    "the file must be bgzipped and indexed (tabix -p vcf)"
                                    ) from None
        rows: list[tuple] = []
        lines: list[str] = []
        index = 0
        while True:
            try:
                variant = next(records)
            except StopIteration:
                break
            except Exception as exc:  # htslib parse errors surface as generic exceptions
                raise VariantInputError(f"{path}: record {index + 1} (after the header) "
                                        f"cannot be parsed ({exc})") from None
            rows += _records_to_rows(index, variant.CHROM, variant.POS, variant.ID,
                                     variant.REF, list(variant.ALT))
            lines.append(str(variant).rstrip("\r\n"))
            index += 1
            if len(lines) == chunk_size:
                yield VariantChunk(pd.DataFrame(rows, columns=list(ALLELE_COLUMNS)), lines)
                rows, lines = [], []
        if lines:
            yield VariantChunk(pd.DataFrame(rows, columns=list(ALLELE_COLUMNS)), lines)
    finally:
        reader.close()


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
    return pd.DataFrame(rows, columns=list(ALLELE_COLUMNS))
