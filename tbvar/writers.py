"""Output writers for tables (TSV(.gz), Parquet) and skipped records; all atomic.

Each writer turns a :class:`tbvar.pipeline.ScoredChunk` into an output *part* (bytes) with
``encode`` and builds the complete output from the parts of all chunks, in order, with
``assemble``. :mod:`tbvar.output` stores the parts in ``OUT.partial/`` and renames the assembled
file into place, so a target path only ever holds a complete output, and a resumed run gives
the same bytes as an uninterrupted one. Compressed outputs are BGZF (:mod:`tbvar.bgzf`), so the
compressed parts concatenate.

The annotated VCF writer is :mod:`tbvar.vcf_writer`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from tbvar import bgzf
from tbvar.stage import ScoredChunk
from tbvar.text import format_float_rows, format_floats, join_columns
from tbvar.variants import STATUS_REASONS

TSV_MISSING = "NA"


def _arrow_schema(rows: pd.DataFrame, metadata: dict[str, str]):  # -> pyarrow.Schema
    """Arrow schema fixed by column dtypes (text columns are strings even when all-missing)."""
    import pyarrow as pa

    fields = [pa.field(name, _arrow_type(dtype)) for name, dtype in rows.dtypes.items()]
    meta = {f"tbvar.{k}".encode(): str(v).encode() for k, v in metadata.items()}
    return pa.schema(fields, metadata=meta)


def _arrow_type(dtype: object):  # -> pyarrow.DataType
    """Arrow type of a result column's dtype (text, nullable Int32/boolean, numpy)."""
    import pyarrow as pa

    if pd.api.types.is_string_dtype(dtype) or getattr(dtype, "kind", "") == "O":
        return pa.string()
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):  # Int32, boolean
        return pa.from_numpy_dtype(dtype.numpy_dtype)
    return pa.from_numpy_dtype(dtype)


def _arrow_table(rows: pd.DataFrame, schema):  # (pd.DataFrame, pyarrow.Schema) -> pyarrow.Table
    """``rows`` as an Arrow table of ``schema``; NaN becomes null as in ``Table.from_pandas``.

    The float32 score columns (hundreds to thousands) are taken from one transposed numpy
    block, one array each, instead of pandas' per-column conversion.
    """
    import pyarrow as pa

    floats = [field.name for field in schema if field.type == pa.float32()]
    block = np.ascontiguousarray(rows[floats].to_numpy(np.float32).T)
    arrays = {name: pa.array(column, from_pandas=True) for name, column in
              zip(floats, block, strict=True)}
    others = pa.schema([field for field in schema if field.name not in arrays])
    rest = pa.Table.from_pandas(rows[others.names], schema=others, preserve_index=False)
    arrays.update(zip(others.names, rest.columns, strict=True))
    return pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)


def _tsv_field(values: pd.Series) -> np.ndarray:
    """One TSV column as text: floats as :func:`format_floats`, ``True``/``False``, integers;
    missing values ``NA``; text wrapped in double quotes (inner quotes doubled) only when it
    holds a tab, a double quote, ``\n`` or ``\r``: pandas' ``to_csv`` rule, except that pandas
    leaves a ``\r`` unquoted."""
    if values.dtype == np.float32 or values.dtype == np.float64:
        return format_floats(values.to_numpy(), missing=TSV_MISSING)
    if values.dtype == bool:
        return np.where(values.to_numpy(), "True", "False").astype(object)
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "i":
        return values.to_numpy().astype(str).astype(object)
    text = values.astype(object).where(values.notna(), TSV_MISSING).astype(str)
    special = text.str.contains(r'[\t"\r\n]', regex=True).to_numpy(dtype=bool)
    text = text.to_numpy(dtype=object)
    text[special] = ['"' + item.replace('"', '""') + '"' for item in text[special]]
    return text


def _tsv_lines(rows: pd.DataFrame, block: int) -> str:
    """TSV body of ``rows``; columns from ``block`` on (float32) are formatted as one block."""
    return "\n".join(_tsv_rows(rows, block)) + "\n" if len(rows) else ""


def _tsv_rows(rows: pd.DataFrame, block: int) -> np.ndarray:
    """One TSV line per row (without line end); see :func:`_tsv_lines`."""
    if not len(rows):
        return np.zeros(0, dtype=object)
    lines = join_columns(np.stack([_tsv_field(rows[c]) for c in rows.columns[:block]], axis=1)
                         if block else np.zeros((len(rows), 0), dtype=object), "\t")
    if block < rows.shape[1]:
        values = np.asarray(format_float_rows(rows.iloc[:, block:].to_numpy(np.float32), "\t",
                                              TSV_MISSING), dtype=object)
        lines = values if block == 0 else lines + "\t" + values
    return lines


def pack_lines(lines: Sequence[str]) -> bytes:
    """Lines (which may hold quoted line breaks) as one part: count, byte lengths, text."""
    encoded = [line.encode() for line in lines]
    sizes = np.array([len(e) for e in encoded], dtype="<i8")
    return np.array([len(encoded)], dtype="<i8").tobytes() + sizes.tobytes() + b"".join(encoded)


def unpack_lines(data: bytes) -> list[bytes]:
    """Inverse of :func:`pack_lines` (as bytes)."""
    count = int(np.frombuffer(data[:8], dtype="<i8")[0])
    ends = np.cumsum(np.frombuffer(data[8:8 + 8 * count], dtype="<i8")) + 8 + 8 * count
    starts = np.r_[8 + 8 * count, ends[:-1]]
    return [data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


class TableWriter:
    """Wide table, one row per allele: TSV (optionally bgzip) or Parquet.

    Parameters
    ----------
    path
        Final output path (``.gz`` → BGZF-compressed TSV).
    fmt
        ``tsv`` or ``parquet``.
    template
        A zero-row result frame: the column names and dtypes of every output (an empty input
        still gives a header / a Parquet file with the full schema).
    metadata
        Provenance stored in the Parquet schema metadata (``tbvar.KEY``).

    With a ``q`` column (the last; rows carry p-values against a background) the q-values of
    the whole run are filled in at assembly: TSV parts then hold the rows without it
    (:func:`pack_lines`, uncompressed) and Parquet parts a null column.
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str, template: pd.DataFrame,
                 metadata: dict[str, str] | None = None) -> None:
        self.path = str(path)
        self.fmt = fmt
        self.part = "tsv" if fmt == "tsv" else "arrow"
        self.columns = list(template.columns)
        self.compressed = fmt == "tsv" and self.path.endswith(".gz")
        self.metadata = metadata or {}
        self.fill_q = self.columns[-1:] == ["q"]
        if fmt == "parquet":
            self._schema = _arrow_schema(template, self.metadata)
        floats = [dtype == np.float32 for dtype in template.dtypes]
        self._block = len(floats) - next((i for i, f in enumerate(reversed(floats)) if not f),
                                         len(floats))  # first of the trailing float32 columns

    def encode(self, chunk: ScoredChunk) -> bytes:
        """The chunk's rows as an output part (TSV body, or an Arrow IPC stream for Parquet)."""
        rows = chunk.rows[self.columns]
        if self.fmt == "tsv" and self.fill_q:
            return pack_lines(_tsv_rows(rows.iloc[:, :-1], self._block))
        if self.fmt == "tsv":
            text = _tsv_lines(rows, self._block).encode()
            return bgzf.compress(text) if self.compressed else text
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self._schema) as stream:
            stream.write_table(_arrow_table(rows, self._schema))
        return sink.getvalue().to_pybytes()

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = (),
                 q: Sequence[np.ndarray] | None = None) -> None:
        """Write the complete output to ``target`` from the chunk parts, in order (with the
        run's q-values per chunk when the table has a ``q`` column)."""
        if self.fmt == "tsv":
            head = ("\t".join(self.columns) + "\n").encode()
            if self.fill_q:
                parts = (_with_q_column(Path(part).read_bytes(), values["q"], self.compressed)
                         for part, values in zip(parts, q or [], strict=True))
                write_parts(target, bgzf.compress(head) if self.compressed else head, parts,
                            bgzf.EOF if self.compressed else b"")
                return
            concatenate_parts(target, bgzf.compress(head) if self.compressed else head, parts,
                         bgzf.EOF if self.compressed else b"")
            return
        self._assemble_parquet(target, parts, q if self.fill_q else None)

    def _assemble_parquet(self, target: Path, parts: Iterable[Path],
                          q: Sequence[np.ndarray] | None) -> None:
        import pyarrow as pa

        fills = iter(q) if q is not None else None
        with _parquet_writer(target, self._schema) as writer:
            for part in parts:
                with pa.memory_map(str(part)) as source:
                    table = pa.ipc.open_stream(source).read_all()
                writer.write_table(table if fills is None else _with_q(table, next(fills)))


def _parquet_writer(where: object, schema):  # (path or buffer, pyarrow.Schema) -> ParquetWriter
    """A Parquet writer with tbvar's settings: dictionary encoding for the text columns only
    (score columns are near-unique floats: half the write time and a larger file with
    dictionaries)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = [field.name for field in schema if pa.types.is_string(field.type)]
    return pq.ParquetWriter(where, schema, use_dictionary=text)


def _with_q(table, values: np.ndarray):  # (pyarrow.Table, QVALUE_DTYPE array) -> pyarrow.Table
    """``table`` with its ``q`` column set to the run's q-values of its rows."""
    import pyarrow as pa

    index = table.schema.get_field_index("q")
    return table.set_column(index, table.schema.field(index),
                            pa.array(values["q"].astype(np.float32), from_pandas=True))


class ParquetDatasetWriter:
    """A Parquet dataset: a directory of one Parquet file per chunk, in input order
    (``part-000000000.parquet``, ...; read it whole with ``pandas.read_parquet(DIR)``).

    Workers encode each chunk into its file, so assembling the dataset only links the files
    into the directory (no data passes through the assembling process), unless the rows carry
    p-values: the run's q-values are then written into every file, in parallel threads.

    Parameters
    ----------
    path
        The output directory.
    template
        A zero-row result frame (columns and dtypes; an empty input gives one empty file).
    metadata
        Provenance stored in every file's schema metadata (``tbvar.KEY``).
    """

    part = "parquet"
    directory = True

    def __init__(self, path: str | os.PathLike[str], template: pd.DataFrame,
                 metadata: dict[str, str] | None = None) -> None:
        self.path = str(path)
        self._schema = _arrow_schema(template, metadata or {})
        self._template = template
        self.fill_q = list(template.columns)[-1:] == ["q"]

    def encode(self, chunk: ScoredChunk) -> bytes:
        """The chunk's rows as a complete Parquet file."""
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with _parquet_writer(sink, self._schema) as writer:
            writer.write_table(_arrow_table(chunk.rows[self._schema.names], self._schema))
        return sink.getvalue().to_pybytes()

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = (),
                 q: Sequence[np.ndarray] | None = None) -> None:
        """Make the directory ``target`` of the chunks' files (with the run's q-values per
        chunk when the rows carry p-values); ``extra_header`` is not used."""
        import pyarrow.parquet as pq

        target.mkdir()
        parts = list(parts)
        names = [target / f"part-{index:09d}.parquet" for index in range(len(parts))]
        if not parts:
            with _parquet_writer(target / "part-000000000.parquet", self._schema) as writer:
                writer.write_table(_arrow_table(self._template, self._schema))
        elif not self.fill_q:
            for part, name in zip(parts, names, strict=True):
                _link(Path(part), name)
        else:
            def fill(job: tuple[Path, Path, np.ndarray]) -> None:
                part, name, values = job
                with _parquet_writer(name, self._schema) as writer:
                    writer.write_table(_with_q(pq.read_table(part), values))

            jobs = list(zip(parts, names, q or [], strict=True))
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                list(pool.map(fill, jobs))


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy where links are not possible)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def concatenate_parts(target: Path, head: bytes, parts: Iterable[Path], tail: bytes) -> None:
    """Write ``head``, the parts' bytes in order, then ``tail`` to ``target``."""
    with open(target, "wb") as out:
        out.write(head)
        for part in parts:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
        out.write(tail)


def write_parts(target: Path, head: bytes, parts: Iterable[bytes], tail: bytes) -> None:
    """Write ``head``, the given bytes in order, then ``tail`` to ``target``."""
    with open(target, "wb") as out:
        out.write(head)
        for data in parts:
            out.write(data)
        out.write(tail)


def _with_q_column(part: bytes, q: np.ndarray, compressed: bool) -> bytes:
    """A packed TSV part's rows with their q-value appended as the last field."""
    values = format_floats(q.astype(np.float32), missing=TSV_MISSING)
    text = b"".join(line + b"\t" + value.encode() + b"\n"
                    for line, value in zip(unpack_lines(part), values, strict=True))
    return bgzf.compress(text) if compressed else text


SKIPPED_COLUMNS = ("line", "record_index", "chrom", "pos", "id", "ref", "alt", "status",
                   "reason")


class SkippedWriter:
    """TSV of every allele row that was not scored, with its input line and reason.

    ``line`` is the record's 1-based line in the input file (its record number for BCF input
    or ``--region`` queries); ``ref``/``alt`` are as in the input.
    """

    part = "skipped"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.compressed = self.path.endswith(".gz")

    def encode(self, chunk: ScoredChunk) -> bytes:
        """The chunk's unscored rows as TSV text."""
        rows = chunk.rows
        bad = rows[rows["status"] != "ok"]
        if not len(bad):
            return b""
        first = int(rows["record_index"].iloc[0])
        numbers = np.asarray(chunk.numbers if chunk.numbers else
                             rows["record_index"].drop_duplicates() + 1, dtype=np.int64)
        swapped = bad["swapped"].to_numpy(dtype=bool) if "swapped" in bad else False
        table = pd.DataFrame({
            "line": numbers[bad["record_index"].to_numpy() - first],
            "record_index": bad["record_index"],
            "chrom": bad["chrom"], "pos": bad["pos"], "id": bad["id"],
            "ref": np.where(swapped, bad["alt"], bad["ref"]),
            "alt": np.where(swapped, bad["ref"], bad["alt"]),
            "status": bad["status"],
            "reason": bad["status"].map(STATUS_REASONS),
        })
        text = table.to_csv(sep="\t", index=False, header=False, na_rep=".",
                            lineterminator="\n").encode()
        return bgzf.compress(text) if self.compressed else text

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = (),
                 q: Sequence[np.ndarray] | None = None) -> None:
        """Write the complete TSV to ``target`` (``q`` is not used: skipped rows have none)."""
        head = ("\t".join(SKIPPED_COLUMNS) + "\n").encode()
        concatenate_parts(target, bgzf.compress(head) if self.compressed else head, parts,
                     bgzf.EOF if self.compressed else b"")


