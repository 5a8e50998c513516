"""Output writers: annotated VCF / VCF.gz / BCF, TSV(.gz) and Parquet; all atomic.

Each writer receives :class:`tbvar.pipeline.ScoredChunk` objects in input order and writes to a
temporary file next to the target, renamed into place only by :meth:`commit`; :meth:`abort`
(or an exception) removes it, so a target path only ever holds a complete output.

VCF output keeps every input record and header line. Per ALT it adds Number=A INFO fields
(``TBVAR_*``, valid VCF 4.3 keys) with float32 values written in their shortest exact decimal
form. Any ``TBVAR_*`` INFO fields already in the input are replaced.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd
import pysam
from cyvcf2 import VCF, Writer

from tbvar.atomic import AtomicOutput
from tbvar.pipeline import ScoredChunk

OUTPUT_FORMATS = ("vcf", "tsv", "parquet")
INFO_FIELDS = (
    ("TBVAR_STATUS", "String", "tbvar status per ALT: ok, or why it was not scored"),
    ("TBVAR_FLAGS", "String", "flags per ALT joined by '&': ref_mismatch (REF differs from "
                              "the genome), contains_n (a window holds N), edge (a window "
                              "passes a contig end); '.' if none"),
    ("TBVAR_MAXLOD", "Float", "log-odds difference logit(alt)-logit(ref) (forward/reverse-"
                              "complement averaged) of the task with the largest |lod|"),
    ("TBVAR_MAXLOD_TASK", "String", "task(s) reaching the largest |lod| (cell|target|"
                                    "treatment; ties joined by '&')"),
    ("TBVAR_TOPK", "String", "tasks with the largest |lod| as task:lod joined by '&'"),
    ("TBVAR_ATTN_SHIFT", "Float", "attention total-variation distance 0.5*sum|a_alt-a_ref|"),
    ("TBVAR_ATTN_CENTER", "Float", "attention change a_alt-a_ref at the bin centred on the "
                                   "variant"),
)


def detect_format(path: str | os.PathLike[str], given: str | None = None) -> str:
    """Output format from ``given`` or the file name (.vcf[.gz], .bcf, .tsv[.gz], .parquet)."""
    if given:
        if given not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {given!r}; choose from {OUTPUT_FORMATS}")
        return given
    name = str(path).lower()
    for suffixes, fmt in (((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf"), "vcf"),
                          ((".tsv", ".tsv.gz", ".txt", ".txt.gz"), "tsv"),
                          ((".parquet", ".pq"), "parquet")):
        if name.endswith(suffixes):
            return fmt
    raise ValueError(f"{path}: cannot tell the output format from the name; use --format "
                     f"({'|'.join(OUTPUT_FORMATS)})")


def format_float(value: float) -> str:
    """Shortest decimal that reads back as the same float32; ``.`` for NaN."""
    value = np.float32(value)
    return "." if np.isnan(value) else str(value)


def _arrow_schema(rows: pd.DataFrame, metadata: dict[str, str]):  # -> pyarrow.Schema
    """Arrow schema fixed by column dtypes (text columns are strings even when all-missing)."""
    import pyarrow as pa

    fields = [pa.field(name, pa.string() if pd.api.types.is_string_dtype(dtype)
                       or dtype.kind == "O" else pa.from_numpy_dtype(dtype))
              for name, dtype in rows.dtypes.items()]
    meta = {f"tbvar.{k}".encode(): str(v).encode() for k, v in metadata.items()}
    return pa.schema(fields, metadata=meta)


class TableWriter:
    """Wide table, one row per allele: TSV (optionally gzip) or Parquet."""

    def __init__(self, path: str | os.PathLike[str], fmt: str,
                 metadata: dict[str, str] | None = None) -> None:
        self.output = AtomicOutput(path)
        self.fmt = fmt
        self.metadata = metadata or {}
        self._header_written = False
        self._parquet = None
        self._text = None
        if fmt == "tsv":
            opener = gzip.open if str(path).endswith(".gz") else open
            self._text = opener(self.output.tmp, "wt", encoding="utf-8", newline="")

    def write(self, chunk: ScoredChunk) -> None:
        """Append a chunk's rows."""
        if self.fmt == "tsv":
            chunk.rows.to_csv(self._text, sep="\t", index=False, header=not self._header_written,
                              na_rep="NA", lineterminator="\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._parquet is None:
                self._schema = _arrow_schema(chunk.rows, self.metadata)
                self._parquet = pq.ParquetWriter(self.output.tmp, self._schema)
            self._parquet.write_table(pa.Table.from_pandas(chunk.rows, schema=self._schema,
                                                           preserve_index=False))
        self._header_written = True

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self.fmt == "tsv":
            self._text.close()
        elif self._parquet is not None:
            self._parquet.close()
        else:
            raise ValueError("no rows to write: cannot make an empty Parquet schema")
        self.output.commit()

    def abort(self) -> None:
        """Drop the partial output."""
        for handle in (self._text, self._parquet):
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # closing a broken stream must not mask the real error
                    pass
        self.output.abort()


def _info_header_lines() -> list[str]:
    return [f'##INFO=<ID={key},Number=A,Type={kind},Description="{text}">'
            for key, kind, text in INFO_FIELDS]


def annotated_header(raw_header: str, metadata: dict[str, str]) -> str:
    """Input header with old TBVAR INFO lines removed and tbvar's lines added before #CHROM."""
    lines = [line for line in raw_header.rstrip("\r\n").splitlines()
             if not line.startswith("##INFO=<ID=TBVAR_") and not line.startswith("##tbvar_")]
    chrom_line = lines.pop() if lines and lines[-1].startswith("#CHROM") else None
    if chrom_line is None:
        raise ValueError("VCF header has no #CHROM line")
    meta = [f"##tbvar_{key}={str(value).replace(chr(10), ' ')}" for key, value in metadata.items()]
    return "\n".join(lines + _info_header_lines() + meta + [chrom_line]) + "\n"


def _flags(row: pd.Series) -> str:
    flags = [name for name, on in (("ref_mismatch", row.status == "ok" and not row.ref_match),
                                   ("contains_n", row.contains_n), ("edge", row.edge)) if on]
    return "&".join(flags) or "."


def _info_values(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Per INFO key, one formatted value per allele row."""
    def text(values: pd.Series) -> list[str]:
        return [str(v) if isinstance(v, str) and v else "." for v in values]

    return {
        "TBVAR_STATUS": rows["status"].tolist(),
        "TBVAR_FLAGS": [_flags(row) for row in rows.itertuples()],
        "TBVAR_MAXLOD": [format_float(v) for v in rows["max_lod"]],
        "TBVAR_MAXLOD_TASK": text(rows["max_lod_task"]),
        "TBVAR_TOPK": text(rows["top_tasks"]),
        "TBVAR_ATTN_SHIFT": [format_float(v) for v in rows["attn_shift"]],
        "TBVAR_ATTN_CENTER": [format_float(v) for v in rows["attn_center"]],
    }


def _annotate_line(line: str, info: str) -> str:
    fields = line.split("\t")
    kept = [item for item in fields[7].split(";")
            if item not in (".", "") and not item.startswith("TBVAR_")]
    fields[7] = ";".join(kept + [info]) if info else (";".join(kept) or ".")
    return "\t".join(fields)


class VcfWriter:
    """Annotated VCF (plain, bgzip ``.vcf.gz``) or BCF, input records passed through."""

    def __init__(self, path: str | os.PathLike[str], raw_header: str,
                 metadata: dict[str, str]) -> None:
        self.path = str(path)
        self.output = AtomicOutput(path)
        self.bcf = self.path.lower().endswith(".bcf")
        self.compressed = self.bcf or self.path.lower().endswith((".gz", ".bgz"))
        self._handle = (pysam.BGZFile(str(self.output.tmp), "wb") if self.compressed
                        else open(self.output.tmp, "wb"))
        self._handle.write(annotated_header(raw_header, metadata).encode())

    def write(self, chunk: ScoredChunk) -> None:
        """Append a chunk's records with their TBVAR INFO fields."""
        rows = chunk.rows
        values = _info_values(rows)
        record_index = rows["record_index"].to_numpy()
        has_alt = rows["alt_index"].to_numpy() >= 0
        first = int(record_index[0]) if len(rows) else 0
        bounds = np.searchsorted(record_index, first + np.arange(len(chunk.lines) + 1))
        out = []
        for offset, line in enumerate(chunk.lines):
            picked = [i for i in range(bounds[offset], bounds[offset + 1]) if has_alt[i]]
            info = ";".join(f"{key}={','.join(vals[i] for i in picked)}"
                            for key, vals in values.items()) if picked else ""
            out.append(_annotate_line(line, info))
        if out:
            self._handle.write(("\n".join(out) + "\n").encode())

    def commit(self) -> None:
        """Finish the file (converting to BCF if asked) and move it into place."""
        self._handle.close()
        if self.bcf:
            self._convert_to_bcf()
        self.output.commit()

    def _convert_to_bcf(self) -> None:
        """Re-encode the finished text VCF as BCF (with cyvcf2).

        BCF needs every contig and INFO/FORMAT tag declared. A first pass lets htslib add its
        placeholder declarations for undeclared names; the text is then rewritten under that
        complete header and copied record by record into the BCF. (pysam's record copy
        corrupts records with symbolic alleles such as ``<DEL>``; cyvcf2's writer does not.)
        """
        text = self.output.tmp.with_suffix(".vcf.gz")
        complete = self.output.tmp.with_suffix(".complete.vcf")
        os.replace(self.output.tmp, text)
        try:
            first_pass = VCF(str(text))
            for _ in first_pass:
                pass
            header_text = first_pass.raw_header
            first_pass.close()
            with gzip.open(text, "rt") as body, open(complete, "w") as out:
                out.write(header_text)
                out.writelines(line for line in body if not line.startswith("#"))
            source = VCF(str(complete))
            sink = Writer(str(self.output.tmp), source, mode="wb")
            for record in source:
                sink.write_record(record)
            sink.close()
            source.close()
        finally:
            text.unlink(missing_ok=True)
            complete.unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop the partial output."""
        try:
            self._handle.close()
        except Exception:  # closing a broken stream must not mask the real error
            pass
        self.output.abort()
