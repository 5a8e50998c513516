"""``tbvar-train prepare``: a DeepSEA-style dataset from a genome FASTA and peak files.

DeepSEA's rule (Zhou & Troyanskaya 2015), the default here: the genome is cut into
non-overlapping 200 bp bins (a trailing partial bin is ignored); a task is positive for a bin
when more than half of the bin (≥ 101 bp) lies inside *one* of its peaks (a single peak, not
the union of several); only bins positive for at least one task are kept; the input is the bin
plus 400 bp on each side (1000 bp), and windows running off a chromosome end are dropped.
Validation is a seeded sample of ``--valid-size`` bins of ``--valid-chrom`` (chr7, 4000); the
test set is every bin of ``--test-chroms`` (chr8, chr9); everything else — including the
unsampled bins of the validation chromosome, as in DeepSEA — trains. Sequences are stored
forward only; the trainer adds reverse complements (``train_rc_augment = true``).

Labels are computed per peak with interval arithmetic (first/last covered bin and their
overlaps) and a difference array over the bins, so the work is vectorised over peaks and bins.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tbvar.genome import Genome
from tbvar.progress import Progress
from tbvar_train.shards import ShardWriter, command_line, file_provenance

TABLE_COLUMNS = ("path", "cell_type", "target", "treatment")
HEADER_PREFIXES = ("#", "track", "browser")
GATHER_CHUNK = 4096


class PeakFileError(ValueError):
    """A peak table or peak file is malformed."""


def read_peak_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Task table (TSV ``path, cell_type, target, treatment``); paths made absolute.

    Relative peak paths are taken relative to the table's directory.
    """
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PeakFileError(f"{path}: cannot read peak table ({exc})") from None
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise PeakFileError(f"{path}: peak table lacks column(s) {', '.join(missing)} "
                            f"(needs {', '.join(TABLE_COLUMNS)})")
    if table.empty:
        raise PeakFileError(f"{path}: peak table has no rows")
    base = Path(path).parent
    table["path"] = [str(p if Path(p).is_absolute() else base / p) for p in table["path"]]
    table["treatment"] = table["treatment"].replace("", "None")
    for row, peak_path in enumerate(table["path"], start=2):
        if not Path(peak_path).is_file():
            raise PeakFileError(f"{path}: line {row}: peak file {peak_path} not found")
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)


def read_peaks(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``chrom, start, end`` of a BED / narrowPeak file (optionally gzip-compressed).

    Leading ``track``/``browser``/``#`` lines are skipped; other malformed lines raise
    :class:`PeakFileError` with the line number.
    """
    import gzip

    opener = gzip.open if Path(path).suffix == ".gz" else open
    skip = 0
    try:
        with opener(path, "rt") as handle:
            for line in handle:
                if not line.startswith(HEADER_PREFIXES):
                    break
                skip += 1
        frame = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], skiprows=skip,
                            dtype=str, skip_blank_lines=False, compression="infer")
    except pd.errors.EmptyDataError:
        return pd.DataFrame({"chrom": [], "start": [], "end": []})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise PeakFileError(f"{path}: cannot read as BED/narrowPeak ({exc})") from None
    frame.columns = ["chrom", "start", "end"]
    frame = frame[frame["chrom"].notna() & (frame["chrom"].str.strip() != "")]
    starts = pd.to_numeric(frame["start"], errors="coerce")
    ends = pd.to_numeric(frame["end"], errors="coerce")
    bad = starts.isna() | ends.isna() | (starts < 0) | (ends <= starts)
    if bad.any():
        row = bad.idxmax()
        raise PeakFileError(f"{path}: line {skip + row + 1}: bad interval "
                            f"{frame.at[row, 'chrom']}:{frame.at[row, 'start']}-"
                            f"{frame.at[row, 'end']} (need integers 0 <= start < end)")
    return pd.DataFrame({"chrom": frame["chrom"].to_numpy(),
                         "start": starts.to_numpy(np.int64), "end": ends.to_numpy(np.int64)})


def positive_bins(starts: np.ndarray, ends: np.ndarray, n_bins: int, bin_size: int,
                  min_overlap: int) -> np.ndarray:
    """Boolean (n_bins,): bins overlapped by at least ``min_overlap`` bp of a single peak.

    Only a peak's first and last covered bins can be partly covered, so each peak marks the
    contiguous bin range between them (each end kept if its overlap suffices).
    """
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    first, last = starts // bin_size, (ends - 1) // bin_size
    first_overlap = np.minimum(ends, (first + 1) * bin_size) - starts
    last_overlap = ends - np.maximum(starts, last * bin_size)
    lo = np.where(first_overlap >= min_overlap, first, first + 1)
    hi = np.minimum(np.where(last_overlap >= min_overlap, last, last - 1), n_bins - 1)
    keep = lo <= hi
    diff = (np.bincount(lo[keep], minlength=n_bins + 1)
            - np.bincount(hi[keep] + 1, minlength=n_bins + 1))
    return np.cumsum(diff[:n_bins]) > 0


def label_contig(length: int, task_peaks: Sequence[tuple[np.ndarray, np.ndarray]],
                 bin_size: int, flank: int, min_overlap: int) -> tuple[np.ndarray, np.ndarray,
                                                                        int]:
    """Kept bins of one contig, their labels and the number dropped at contig ends.

    Returns ``(bins, y, n_edge)``: bin indices (ascending) with at least one positive task
    whose window fits in the contig, the (n, T) uint8 labels, and how many positive bins
    were dropped because their window ran off an end.
    """
    n_bins = length // bin_size
    positives = [np.flatnonzero(positive_bins(s, e, n_bins, bin_size, min_overlap))
                 for s, e in task_peaks]
    any_positive = np.zeros(n_bins, dtype=bool)
    for idx in positives:
        any_positive[idx] = True
    bins = np.arange(n_bins)
    fits = (bins * bin_size - flank >= 0) & ((bins + 1) * bin_size + flank <= length)
    kept = np.flatnonzero(any_positive & fits)
    y = np.zeros((len(kept), len(positives)), dtype=np.uint8)
    for j, idx in enumerate(positives):
        y[:, j] = np.isin(kept, idx, assume_unique=True)
    return kept, y, int((any_positive & ~fits).sum())


def _resolve(genome: Genome, names: Sequence[str], what: str) -> list[str]:
    out = []
    for name in names:
        contig = genome.resolve(name)
        if contig is None:
            raise ValueError(f"{genome.path}: {what} {name!r} is not a contig of the genome")
        out.append(contig)
    return out


def prepare_dataset(genome_path: str | os.PathLike[str], table_path: str | os.PathLike[str],
                    out_dir: str | os.PathLike[str], valid_chrom: str | None = "chr7",
                    valid_size: int = 4000, test_chroms: Sequence[str] = ("chr8", "chr9"),
                    chroms: Sequence[str] | None = None, bin_size: int = 200, flank: int = 400,
                    seed: int = 0, hash_inputs: bool = True, overwrite: bool = False,
                    cache_dir: str | os.PathLike[str] | None = None,
                    command: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Build tbvar shards from a genome and a peak table; returns a summary dict.

    Encoded contigs are memory-mapped from tbvar's genome cache (``cache_dir``, see
    :class:`tbvar.genome.Genome`), so memory stays bounded by one contig's labels.
    """
    if bin_size < 1 or flank < 0:
        raise ValueError("--bin must be positive and --flank non-negative")
    min_overlap = bin_size // 2 + 1
    table = read_peak_table(table_path)
    genome = Genome(genome_path, cache_dir=cache_dir)
    contigs = _resolve(genome, chroms, "--chroms entry") if chroms else list(genome.lengths)
    valid_contig = _resolve(genome, [valid_chrom], "--valid-chrom")[0] if valid_chrom else None
    test_contigs = set(_resolve(genome, test_chroms, "--test-chroms entry"))
    for contig in [valid_contig, *test_contigs]:
        if contig is not None and contig not in contigs:
            raise ValueError(f"held-out contig {contig} is not among --chroms")
    if valid_contig in test_contigs:
        raise ValueError(f"{valid_contig} cannot be both the validation and a test contig")
    peaks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {
        c: [(np.empty(0, np.int64), np.empty(0, np.int64))] * len(table) for c in contigs}
    unknown = 0
    for j, path in enumerate(table["path"]):
        frame = read_peaks(path)
        names = {name: genome.resolve(str(name)) for name in frame["chrom"].unique()}
        mapped = frame["chrom"].map(names)
        unknown += int(mapped.isna().sum())
        for contig, group in frame.groupby(mapped, sort=False):
            if contig in peaks:
                peaks[contig][j] = (group["start"].to_numpy(), group["end"].to_numpy())

    def label(contig: str) -> tuple[np.ndarray, np.ndarray, int]:
        return label_contig(genome.lengths[contig], peaks[contig], bin_size, flank,
                            min_overlap)

    counts = {"train": 0, "valid": 0, "test": 0}
    n_bins = n_edge = 0
    valid_pick = np.empty(0, dtype=np.int64)
    for contig in contigs:
        kept, _, edge = label(contig)
        n_bins += genome.lengths[contig] // bin_size
        n_edge += edge
        if contig in test_contigs:
            counts["test"] += len(kept)
        elif contig == valid_contig:
            rng = np.random.default_rng(seed)
            valid_pick = np.sort(rng.choice(len(kept), size=min(valid_size, len(kept)),
                                            replace=False))
            counts["valid"] += len(valid_pick)
            counts["train"] += len(kept) - len(valid_pick)
        else:
            counts["train"] += len(kept)
    length = bin_size + 2 * flank
    tasks = table.assign(index=range(len(table)))
    provenance = {
        "source": "tbvar-train prepare (DeepSEA binning rule)",
        "genome": file_provenance(genome_path, hash_inputs),
        "peaks": [{**file_provenance(p, hash_inputs), "task": j}
                  for j, p in enumerate(table["path"])],
        "parameters": {"bin": bin_size, "flank": flank, "min_overlap": min_overlap,
                       "valid_chrom": valid_contig, "valid_size": valid_size,
                       "test_chroms": sorted(test_contigs), "chroms": contigs, "seed": seed},
        "command": command,
    }
    offsets = dict.fromkeys(counts, 0)
    shown = Progress(sum(counts.values()), progress, desc="tbvar-train prepare",
                     unit="windows")
    with shown, ShardWriter(out_dir, length, tasks, counts, True, provenance,
                            overwrite=overwrite) as writer:
        for contig in contigs:
            kept, y, _ = label(contig)
            if not len(kept):
                continue
            if contig in test_contigs:
                parts = {"test": np.arange(len(kept))}
            elif contig == valid_contig:
                parts = {"valid": valid_pick,
                         "train": np.setdiff1d(np.arange(len(kept)), valid_pick)}
            else:
                parts = {"train": np.arange(len(kept))}
            codes = genome.codes(contig)
            for split, rows in parts.items():
                for i in range(0, len(rows), GATHER_CHUNK):
                    chunk = rows[i:i + GATHER_CHUNK]
                    starts = kept[chunk] * bin_size - flank
                    x = codes[starts[:, None] + np.arange(length)]
                    writer.write(split, offsets[split], x, y[chunk])
                    offsets[split] += len(chunk)
                    shown.update(len(chunk))
        writer.meta["provenance"]["counts"] = {
            "bins": n_bins, "kept": sum(counts.values()), "edge_dropped": n_edge,
            "peaks_on_unknown_contigs": unknown, "splits": counts}
        writer.commit()
    genome.close()
    return writer.meta["provenance"]["counts"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prepare`` to the ``tbvar-train`` parser."""
    parser = subparsers.add_parser(
        "prepare", help="build a DeepSEA-style dataset from a genome and peak files",
        description="A DeepSEA-style dataset from a genome FASTA and peak files: the genome "
                    "is cut into 200 bp bins (inputs: the bin plus 400 bp each side); a task "
                    "is positive for a bin when more than half of it lies inside one of its "
                    "peaks; only bins positive for some task are kept; a sample of the "
                    "validation contig validates, the test contigs test, the rest trains.")
    parser.add_argument("--genome", required=True, help="genome FASTA (plain or bgzip)")
    parser.add_argument("--peaks", required=True,
                        help="TSV with columns path, cell_type, target, treatment (one peak "
                             "file per task: BED/narrowPeak, optionally .gz)")
    parser.add_argument("--out", required=True, help="shard directory to create")
    parser.add_argument("--valid-chrom", default="chr7",
                        help="validation chromosome (default chr7; '' for none)")
    parser.add_argument("--valid-size", type=int, default=4000,
                        help="validation samples drawn from --valid-chrom (default 4000)")
    parser.add_argument("--test-chroms", default="chr8,chr9",
                        help="comma-separated test chromosomes (default chr8,chr9; '' for none)")
    parser.add_argument("--chroms", help="comma-separated contigs to use (default: all)")
    parser.add_argument("--bin", type=int, default=200, help="bin size in bp (default 200)")
    parser.add_argument("--flank", type=int, default=400,
                        help="flank on each side of a bin in bp (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation sample")
    parser.add_argument("--no-sha256", action="store_true",
                        help="do not hash the inputs for the provenance record")
    parser.add_argument("--cache-dir", help="encoded-genome cache (default: tbvar's cache)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=_run)


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _run(args: argparse.Namespace) -> int:
    counts = prepare_dataset(
        args.genome, args.peaks, args.out, valid_chrom=args.valid_chrom or None,
        valid_size=args.valid_size, test_chroms=_split_list(args.test_chroms),
        chroms=_split_list(args.chroms) or None, bin_size=args.bin, flank=args.flank,
        seed=args.seed, hash_inputs=not args.no_sha256, overwrite=args.overwrite,
        cache_dir=args.cache_dir, command=command_line(args.argv), progress=not args.no_progress)
    print(f"kept {counts['kept']} of {counts['bins']} {args.bin}-bp bins: those positive for "
          f"at least one task (DeepSEA's rule); {counts['edge_dropped']} positive bins dropped "
          f"because the window ran off a chromosome end; {counts['peaks_on_unknown_contigs']} "
          f"peaks on contigs not in the genome ignored; splits {counts['splits']}",
          file=sys.stderr)
    return 0
