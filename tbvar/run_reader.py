"""Finished run outputs read back: TSV(.gz), Parquet or VCF(.gz)/BCF → one per-variant table.

:func:`read_run` gives the same per-variant columns for every format (one row per ALT, in file
order), the run's provenance (VCF ``##tbvar_*`` header lines, Parquet ``tbvar.*`` schema
metadata; TSV holds none), its counts (``OUT.summary.json`` beside the file, else the VCF's
``##tbvar_summary`` line) and, for tables, per-task hit counts gathered while reading in
batches, so that all-task tables need no more memory than their per-variant columns. VCF
outputs hold per-variant summaries only, so they give no per-task hit counts.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tbvar.errors import RunOutputError
from tbvar.formats import FORMATS
from tbvar.output import summary_path
from tbvar.vcf_reader import RawRecord, VcfSource

VARIANT_COLUMNS = ("record_index", "alt_index", "chrom", "pos", "id", "ref", "alt", "status",
                   "max_abslod", "max_lod", "max_lod_task", "top_tasks", "attn_shift",
                   "attn_center", "min_p", "min_p_task", "combined_p", "q")
FLOAT_COLUMNS = ("max_abslod", "max_lod", "attn_shift", "attn_center", "min_p", "combined_p", "q")
TEXT_COLUMNS = ("chrom", "id", "ref", "alt", "status", "max_lod_task", "top_tasks", "min_p_task")
REQUIRED_COLUMNS = ("record_index", "alt_index", "chrom", "pos", "ref", "alt", "status",
                    "max_abslod", "max_lod")
# VCF INFO key → column; max_abslod is |TBVAR_MAXLOD|
INFO_COLUMNS = {"TBVAR_STATUS": "status", "TBVAR_MAXLOD": "max_lod",
                "TBVAR_MAXLOD_TASK": "max_lod_task", "TBVAR_TOPK": "top_tasks",
                "TBVAR_ATTN_SHIFT": "attn_shift", "TBVAR_ATTN_CENTER": "attn_center",
                "TBVAR_MINP": "min_p", "TBVAR_MINP_TASK": "min_p_task", "TBVAR_Q": "q"}
BATCH_ROWS = 8192


@dataclass(frozen=True)
class HitRule:
    """When a scored variant counts as a hit of a task: ``p < p_max`` when the table has
    per-task p-values, else ``|lod| > lod_min``."""

    lod_min: float = 1.0
    p_max: float = 0.01


@dataclass(frozen=True)
class TaskHits:
    """Per task label, the number of scored variants meeting ``rule`` (text, e.g.
    ``p < 0.01``) on the per-task ``score`` (``p``, ``lod`` or ``abslod``), out of
    ``scored``."""

    score: str
    rule: str
    counts: pd.Series
    scored: int


@dataclass(frozen=True)
class RunOutput:
    """A finished run output read back.

    ``kind`` is ``tsv``, ``parquet`` or ``vcf``; ``variants`` holds the
    :data:`VARIANT_COLUMNS` the output has (float32 numbers, text missing as ``None``);
    ``summary`` is the run's counts (:meth:`tbvar.run_summary.RunSummary.to_dict`) from
    ``summary_source``, or ``None``; ``task_hits`` is ``None`` for VCF outputs and tables
    without per-task lod or p columns.
    """

    path: Path
    kind: str
    variants: pd.DataFrame
    provenance: dict[str, str]
    summary: dict | None
    summary_source: str | None
    task_hits: TaskHits | None


def read_run(path: str | os.PathLike[str], rule: HitRule | None = None) -> RunOutput:
    """Read a tbvar run output, its format told by the name as for ``tbvar score -o``
    (:data:`tbvar.formats.FORMATS`); per-task hits are counted by ``rule`` (default
    :class:`HitRule`).

    Raises :class:`tbvar.errors.RunOutputError` (one line naming the file) for a missing or
    unreadable file and for a file that is not a tbvar output.
    """
    path = Path(path)
    rule = rule or HitRule()
    if not path.is_file():
        raise RunOutputError(f"{path}: no such file" if not path.exists() else
                             f"{path}: not a file")
    name = path.name.lower()
    kind = next((f.name for f in FORMATS.values() if name.endswith(f.suffixes)), None)
    hits = vcf_summary = None
    if kind == "tsv":
        variants, provenance, hits = _read_tsv(path, rule)
    elif kind == "parquet":
        variants, provenance, hits = _read_parquet(path, rule)
    elif kind == "vcf":
        variants, provenance, vcf_summary = _read_vcf(path)
    else:
        suffixes = ", ".join(s for f in FORMATS.values() for s in f.suffixes)
        raise RunOutputError(f"{path}: not a tbvar run output (the name ends in none of "
                             f"{suffixes})")
    summary, source = _read_summary(path)
    if summary is None and vcf_summary is not None:
        summary, source = vcf_summary, f"the ##tbvar_summary header line of {path.name}"
    return RunOutput(path, kind, variants, provenance, summary, source, hits)


def _read_summary(path: Path) -> tuple[dict | None, str | None]:
    """``OUT.summary.json`` beside ``path`` and its name, or ``(None, None)``."""
    side = summary_path(path)
    if not side.is_file():
        return None, None
    try:
        summary = json.loads(side.read_text())
    except (ValueError, OSError) as exc:
        raise RunOutputError(f"{side}: not a tbvar run summary ({_first_line(exc)})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("status_counts"), dict):
        raise RunOutputError(f"{side}: not a tbvar run summary (no status_counts)")
    return summary, side.name


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _not_tbvar(path: Path, what: str) -> RunOutputError:
    return RunOutputError(f"{path}: not a tbvar run output ({what})")


# -- tables --------------------------------------------------------------------------------------
def _task_columns(columns: list[str]) -> tuple[str, list[str]] | None:
    """(score, column names) of the per-task columns the hit rule uses: ``p``, else ``lod``,
    else ``abslod``; ``None`` when the table has none."""
    for score in ("p", "lod", "abslod"):
        chosen = [c for c in columns if c.startswith(f"{score}.")]
        if chosen:
            return score, chosen
    return None


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise _not_tbvar(path, f"no {', '.join(missing)} column"
                               f"{'s' if len(missing) > 1 else ''}")


class _Hits:
    """Per-task hit counts accumulated over batches of table rows."""

    def __init__(self, columns: list[str], rule: HitRule) -> None:
        found = _task_columns(columns)
        self.score, self.columns = found if found else ("", [])
        self.rule = rule
        self.counts = np.zeros(len(self.columns), dtype=np.int64)
        self.scored = 0

    def add(self, batch: pd.DataFrame) -> None:
        if not self.columns:
            return
        ok = batch["status"].to_numpy(dtype=object) == "ok"
        values = batch.loc[ok, self.columns].to_numpy(np.float64)
        hit = values < self.rule.p_max if self.score == "p" else np.abs(values) > self.rule.lod_min
        self.counts += hit.sum(axis=0)
        self.scored += int(ok.sum())

    def result(self) -> TaskHits | None:
        if not self.columns:
            return None
        text = (f"p < {self.rule.p_max:g}" if self.score == "p" else
                f"|{self.score}| > {self.rule.lod_min:g}")
        labels = [c.split(".", 1)[1] for c in self.columns]
        return TaskHits(self.score, text, pd.Series(self.counts, index=labels, name="hits"),
                        self.scored)


def _variant_frame(batches: Iterator[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The per-variant columns of all batches as one frame with the common dtypes."""
    frames = [batch[columns].copy() for batch in batches]  # not views that keep whole batches
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return _normalise(frame)


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """int64 indices and positions, float32 numbers, text as objects with ``None`` for missing
    or empty text (tables write unscored rows' task columns empty, VCF ``.``)."""
    out = {}
    for name in frame.columns:
        values = frame[name]
        if name in FLOAT_COLUMNS:
            out[name] = values.astype(np.float32)
        elif name in TEXT_COLUMNS:
            text = values.astype(object)
            out[name] = text.where(values.notna() & (text != ""), None)
        else:
            out[name] = values.astype(np.int64)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _read_tsv(path: Path, rule: HitRule) -> tuple[pd.DataFrame, dict[str, str], TaskHits | None]:
    columns, gzipped = _tsv_header(path)
    _check_columns(path, columns)
    hits = _Hits(columns, rule)
    keep = [c for c in VARIANT_COLUMNS if c in columns]
    dtypes = {c: "float32" for c in [*hits.columns, *FLOAT_COLUMNS] if c in columns}
    dtypes.update({c: str for c in TEXT_COLUMNS if c in columns})
    dtypes.update({c: "int64" for c in ("record_index", "alt_index", "pos")})

    def batches() -> Iterator[pd.DataFrame]:
        reader = pd.read_csv(path, sep="\t", usecols=keep + hits.columns, dtype=dtypes,
                             na_values=["NA"], keep_default_na=False, chunksize=BATCH_ROWS,
                             compression="gzip" if gzipped else None)
        with reader:
            for batch in reader:
                hits.add(batch)
                yield batch

    try:
        variants = _variant_frame(batches(), keep)
    except (ValueError, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise RunOutputError(f"{path}: cannot be read as a tbvar TSV ({_first_line(exc)})"
                             ) from None
    return variants, {}, hits.result()


def _tsv_header(path: Path) -> tuple[list[str], bool]:
    """The column names of a TSV and whether it is gzip-compressed (told by its first bytes,
    not its name)."""
    try:
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
            first = handle.readline(1 << 20).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise RunOutputError(f"{path}: cannot be read as a TSV ({_first_line(exc)})") from None
    if not first.strip():
        raise _not_tbvar(path, "empty file")
    return first.rstrip("\r\n").split("\t"), gzipped


def _read_parquet(path: Path, rule: HitRule
                  ) -> tuple[pd.DataFrame, dict[str, str], TaskHits | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise RunOutputError(f"{path}: not a readable Parquet file ({_first_line(exc)})"
                             ) from None
    with source:
        columns = source.schema_arrow.names
        _check_columns(path, columns)
        meta = source.schema_arrow.metadata or {}
        provenance = {key.decode()[len("tbvar."):]: value.decode()
                      for key, value in meta.items() if key.startswith(b"tbvar.")}
        hits = _Hits(columns, rule)
        keep = [c for c in VARIANT_COLUMNS if c in columns]

        def batches() -> Iterator[pd.DataFrame]:
            # row group by row group (one per chunk of the run): iter_batches keeps growing
            # buffers with thousands of columns (pyarrow 26)
            for group in range(source.num_row_groups):
                frame = source.read_row_group(group, columns=keep + hits.columns).to_pandas()
                hits.add(frame)
                yield frame

        try:
            variants = _variant_frame(batches(), keep)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise RunOutputError(f"{path}: cannot be read as a tbvar Parquet file "
                                 f"({_first_line(exc)})") from None
    return variants, provenance, hits.result()


# -- VCF -----------------------------------------------------------------------------------------
def _read_vcf(path: Path) -> tuple[pd.DataFrame, dict[str, str], dict | None]:
    """Per-ALT rows from the ``TBVAR_*`` INFO fields (a record without ALT is one ``no_alt``
    row, as in tables), the ``##tbvar_*`` lines and the parsed ``##tbvar_summary``."""
    source = VcfSource(path)
    if "##INFO=<ID=TBVAR_STATUS," not in source.header:
        raise _not_tbvar(path, "no TBVAR_STATUS INFO field in the header")
    provenance: dict[str, str] = {}
    for line in source.header.splitlines():
        if line.startswith("##tbvar_"):
            key, _, value = line[len("##tbvar_"):].partition("=")
            provenance[key] = value
    summary = None
    if "summary" in provenance:
        try:
            summary = json.loads(provenance.pop("summary"))
        except ValueError:
            raise RunOutputError(f"{path}: the ##tbvar_summary header line is not JSON"
                                 ) from None
    rows: dict[str, list] = {c: [] for c in ("record_index", "alt_index", "chrom", "pos", "id",
                                             "ref", "alt", *INFO_COLUMNS.values())}
    for index, record in enumerate(source.records()):
        info = _tbvar_info(record.line)
        if not record.alts:
            _append(rows, index, -1, record, None, {"status": "no_alt"})
            continue
        if "TBVAR_STATUS" not in info:
            raise RunOutputError(f"{path}: {source.record_unit} {record.number}: no "
                                 "TBVAR_STATUS (not annotated by tbvar score)")
        values = {}
        for key, text in info.items():
            items = text.split(",")
            if len(items) != len(record.alts):
                raise RunOutputError(f"{path}: {source.record_unit} {record.number}: {key} has "
                                     f"{len(items)} values for {len(record.alts)} ALT alleles")
            values[INFO_COLUMNS[key]] = items
        for alt_index, alt in enumerate(record.alts):
            _append(rows, index, alt_index, record, alt,
                    {column: items[alt_index] for column, items in values.items()})
    declared = {"status", "max_lod", *(column for key, column in INFO_COLUMNS.items()
                                       if f"##INFO=<ID={key}," in source.header)}
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in rows.items()
                          if c not in INFO_COLUMNS.values() or c in declared})
    try:
        for column in FLOAT_COLUMNS:
            if column in frame:
                frame[column] = pd.to_numeric(frame[column])
    except ValueError as exc:
        raise RunOutputError(f"{path}: a TBVAR INFO number cannot be read ({_first_line(exc)})"
                             ) from None
    frame.insert(frame.columns.get_loc("max_lod"), "max_abslod",
                 frame["max_lod"].astype(np.float64).abs())
    return _normalise(frame[[c for c in VARIANT_COLUMNS if c in frame]]), provenance, summary


def _tbvar_info(line: str) -> dict[str, str]:
    """The known ``TBVAR_*`` INFO items of a VCF record line."""
    fields = line.split("\t", 8)
    out = {}
    for item in fields[7].split(";"):
        key, _, value = item.partition("=")
        if key in INFO_COLUMNS:
            out[key] = value
    return out


def _append(rows: dict[str, list], index: int, alt_index: int, record: RawRecord,
            alt: str | None, values: dict[str, str]) -> None:
    """One allele row; INFO values ``.`` become missing."""
    for column, value in (("record_index", index), ("alt_index", alt_index),
                          ("chrom", record.chrom), ("pos", record.pos), ("id", record.id),
                          ("ref", record.ref), ("alt", alt)):
        rows[column].append(value)
    for column in INFO_COLUMNS.values():
        value = values.get(column)
        rows[column].append(None if value in (None, ".") else value)
