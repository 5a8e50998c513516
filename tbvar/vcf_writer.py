"""Annotated VCF / VCF.gz / BCF output: input records passed through with TBVAR INFO fields.

VCF output keeps every input record and header line. Per ALT it adds Number=A INFO fields
(``TBVAR_*``, valid VCF 4.3 keys) with float32 values written in their shortest exact decimal
form. Any ``TBVAR_*`` INFO fields already in the input are replaced. Parts and assembly work as
for the other writers (:mod:`tbvar.writers`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
from cyvcf2 import VCF, Writer

from tbvar import bgzf
from tbvar.stage import ScoredChunk
from tbvar.text import format_floats, join_columns
from tbvar.writers import concatenate_parts, write_parts

#: Stands in a part's INFO for the run-wide ``TBVAR_Q`` until assembly (input lines never hold a
#: NUL byte: :mod:`tbvar.vcf_reader` refuses them).
Q_SLOT = "\x00"

INFO_FIELDS = (
    ("TBVAR_STATUS", "String", "tbvar status per ALT: ok, or why it was not scored "
                               "(no_alt: a record without ALT, one value)"),
    ("TBVAR_FLAGS", "String", "flags per ALT joined by '&': ref_mismatch (REF differs from "
                              "the genome), swapped (REF and ALT swapped to match the genome, "
                              "--ref-mismatch flip), contains_n (a window holds N), edge (a "
                              "window passes a contig end); '.' if none"),
    ("TBVAR_MAXLOD", "Float", "log-odds difference logit(alt)-logit(ref) (forward/reverse-"
                              "complement averaged) of the task with the largest |lod|"),
    ("TBVAR_MAXLOD_TASK", "String", "task(s) reaching the largest |lod| (cell|target|"
                                    "treatment; ties joined by '&')"),
    ("TBVAR_TOPK", "String", "tasks with the largest |lod| as task:lod joined by '&'"),
    ("TBVAR_ATTN_SHIFT", "Float", "attention total-variation distance 0.5*sum|a_alt-a_ref|"),
    ("TBVAR_ATTN_CENTER", "Float", "attention change a_alt-a_ref at the bin centred on the "
                                   "variant"),
    ("TBVAR_MINP", "Float", "smallest per-task empirical p-value of |lod| against the "
                            "background (##tbvar_background)"),
    ("TBVAR_MINP_TASK", "String", "task with the smallest p-value (ties: largest |z|)"),
    ("TBVAR_Q", "Float", "Benjamini-Hochberg q-value over the run's scored variants of the "
                         "Simes combination of the per-task p-values"),
)


ATTENTION_FIELDS = ("TBVAR_ATTN_SHIFT", "TBVAR_ATTN_CENTER")
SIGNIFICANCE_FIELDS = ("TBVAR_MINP", "TBVAR_MINP_TASK", "TBVAR_Q")


def info_fields(attention: bool, significance: bool = False
                ) -> tuple[tuple[str, str, str], ...]:
    """The :data:`INFO_FIELDS` written for a model with or without attention, and with or
    without p-values against a background."""
    return tuple(f for f in INFO_FIELDS if (attention or f[0] not in ATTENTION_FIELDS)
                 and (significance or f[0] not in SIGNIFICANCE_FIELDS))


def annotated_header(raw_header: str, metadata: dict[str, str], extra: Sequence[str] = (),
                     attention: bool = True, significance: bool = False) -> str:
    """Input header with old TBVAR INFO lines removed and tbvar's lines added before #CHROM.

    ``extra`` lines (definitions the input lacked, the run summary) go last before #CHROM;
    the attention INFO fields are declared only for models with ``attention``, the p-value
    fields only with ``significance``.
    """
    lines = [line for line in raw_header.rstrip("\r\n").splitlines()
             if not line.startswith("##INFO=<ID=TBVAR_") and not line.startswith("##tbvar_")]
    chrom_line = lines.pop() if lines and lines[-1].startswith("#CHROM") else None
    if chrom_line is None:
        raise ValueError("VCF header has no #CHROM line")
    if not any(line.startswith("##FILTER=<ID=PASS,") for line in lines):
        # htslib defines PASS implicitly; writing it keeps the header as htslib reads it
        lines.insert(1 if lines and lines[0].startswith("##fileformat") else 0,
                     '##FILTER=<ID=PASS,Description="All filters passed">')
    meta = [f"##tbvar_{key}={str(value).replace(chr(10), ' ')}" for key, value in metadata.items()]
    info = [f'##INFO=<ID={key},Number=A,Type={kind},Description="{text}">'
            for key, kind, text in info_fields(attention, significance)]
    return "\n".join(lines + info + meta + list(extra) + [chrom_line]) + "\n"


FLAG_NAMES = ("ref_mismatch", "swapped", "contains_n", "edge")
_FLAG_TEXT = np.array(["&".join(name for bit, name in enumerate(FLAG_NAMES) if code >> bit & 1)
                       or "." for code in range(1 << len(FLAG_NAMES))], dtype=object)


def _flags(rows: pd.DataFrame) -> np.ndarray:
    """``TBVAR_FLAGS`` per allele row: the set flags joined by ``&``, ``.`` for none."""
    ok = rows["status"].to_numpy(dtype=object) == "ok"
    swapped = rows["swapped"] if "swapped" in rows else pd.Series(False, index=rows.index)
    matched = rows["ref_match"].to_numpy(dtype=bool, na_value=True)
    on = (ok & ~matched, swapped.to_numpy(bool),
          rows["contains_n"].to_numpy(bool), rows["edge"].to_numpy(bool))
    code = sum(flag.astype(np.int64) << bit for bit, flag in enumerate(on))
    return _FLAG_TEXT[code]


def _text(values: pd.Series) -> np.ndarray:
    """Strings as they are; ``.`` for empty or missing."""
    text = values.to_numpy(dtype=object, na_value="", copy=True)
    text[text == ""] = "."
    return text


def _info_values(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per INFO key, one formatted value per allele row (attention keys only when the rows
    have attention scores)."""
    values = {
        "TBVAR_STATUS": rows["status"].to_numpy(dtype=object),
        "TBVAR_FLAGS": _flags(rows),
        "TBVAR_MAXLOD": format_floats(rows["max_lod"]),
        "TBVAR_MAXLOD_TASK": _text(rows["max_lod_task"]),
        "TBVAR_TOPK": _text(rows["top_tasks"]),
    }
    if "attn_shift" in rows:
        values["TBVAR_ATTN_SHIFT"] = format_floats(rows["attn_shift"])
        values["TBVAR_ATTN_CENTER"] = format_floats(rows["attn_center"])
    if "min_p" in rows:  # TBVAR_Q is added at assembly (run-wide)
        values["TBVAR_MINP"] = format_floats(rows["min_p"])
        values["TBVAR_MINP_TASK"] = _text(rows["min_p_task"])
    return values


def _record_info(rows: pd.DataFrame, n_records: int, q_slot: bool = False) -> np.ndarray:
    """The TBVAR INFO text of each of a chunk's records (``""`` for records without ALT).

    ``rows`` are the chunk's allele rows, sorted by ``record_index``; values of a record's
    ALTs are joined by ``,`` (Number=A). ``q_slot``: records with ALTs end in ``;`` and
    :data:`Q_SLOT`, where assembly puts ``TBVAR_Q``.
    """
    record_index = rows["record_index"].to_numpy()
    record = record_index - (record_index[0] if len(rows) else 0)
    alt_index = rows["alt_index"].to_numpy()
    info = _join_per_record(record, alt_index, _info_values(rows), n_records)
    if q_slot:
        with_alt = np.unique(record[alt_index >= 0])
        # (not `info[with_alt] + ";\x00"`: numpy would make the str a U array, dropping the
        # trailing NUL)
        info[with_alt] = [f"{text};{Q_SLOT}" for text in info[with_alt]]
    info[record[alt_index < 0]] = "TBVAR_STATUS=no_alt"  # every record carries its status
    return info


def _join_per_record(record: np.ndarray, alt_index: np.ndarray,
                     values: dict[str, np.ndarray], n_records: int) -> np.ndarray:
    """``KEY=v1,v2;KEY2=...`` per record from per-allele-row texts (rows sorted by
    chunk-relative ``record``; rows without ALT skipped); ``""`` for records without ALT."""
    info = np.full(n_records, "", dtype=object)
    picked = np.flatnonzero(alt_index >= 0)
    if not len(picked):
        return info
    record = record[picked]
    starts = np.flatnonzero(np.r_[True, record[1:] != record[:-1]])
    ends = np.r_[starts[1:], len(picked)]
    multi = np.flatnonzero(ends - starts > 1)
    fields = []
    for key, texts in values.items():
        texts = texts[picked]
        joined = texts[starts]
        for i in multi:
            joined[i] = ",".join(texts[starts[i]:ends[i]])
        fields.append(f"{key}=" + joined)
    info[record[starts]] = join_columns(np.stack(fields, axis=1), ";")
    return info


def _annotate_line(line: str, info: str) -> str:
    fields = line.split("\t")
    kept = [item for item in fields[7].split(";")
            if item not in (".", "") and not item.startswith("TBVAR_")]
    fields[7] = ";".join(kept + [info]) if info else (";".join(kept) or ".")
    return "\t".join(fields)


class VcfWriter:
    """Annotated VCF (plain, bgzip ``.vcf.gz``) or BCF, input records passed through.

    Parameters
    ----------
    path
        Final output path (``.gz``/``.bgz`` → BGZF, ``.bcf`` → BCF).
    raw_header
        The input's header text.
    metadata
        ``##tbvar_KEY=value`` lines for the header.
    attention
        Whether the model has attention (declares the attention INFO fields).
    significance
        Whether rows carry p-values against a background: declares ``TBVAR_MINP``,
        ``TBVAR_MINP_TASK`` and ``TBVAR_Q``; ``TBVAR_Q`` (run-wide) is added at assembly, so
        parts are then kept uncompressed and compressed at assembly.
    """

    part = "vcf"

    def __init__(self, path: str | os.PathLike[str], raw_header: str,
                 metadata: dict[str, str], attention: bool = True,
                 significance: bool = False) -> None:
        self.path = str(path)
        self.raw_header = raw_header
        self.metadata = metadata
        self.attention = attention
        self.significance = significance
        self.bcf = self.path.lower().endswith(".bcf")
        self.compressed = self.bcf or self.path.lower().endswith((".gz", ".bgz"))

    def encode(self, chunk: ScoredChunk) -> bytes:
        """A chunk's records with their TBVAR INFO fields (BGZF blocks if compressed)."""
        info = _record_info(chunk.rows, len(chunk.lines), q_slot=self.significance)
        out = [_annotate_line(line, text) for line, text in zip(chunk.lines, info, strict=True)]
        text = ("\n".join(out) + "\n").encode() if out else b""
        return bgzf.compress(text) if self.compressed and not self.significance else text

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = (),
                 q: Sequence[np.ndarray] | None = None) -> None:
        """Write the complete output to ``target``: header (with ``extra_header`` lines before
        ``#CHROM``), then the chunk parts (with ``TBVAR_Q`` from the run's ``q`` per chunk)."""
        header = annotated_header(self.raw_header, self.metadata, extra_header,
                                  self.attention, self.significance).encode()
        text = target.with_name(target.name + ".vcf.gz") if self.bcf else target
        head = bgzf.compress(header) if self.compressed else header
        tail = bgzf.EOF if self.compressed else b""
        if self.significance:
            write_parts(text, head, (_with_q(Path(part).read_bytes(), values, self.compressed)
                                     for part, values in zip(parts, q or [], strict=True)), tail)
        else:
            concatenate_parts(text, head, parts, tail)
        if self.bcf:
            try:
                _vcf_to_bcf(text, target)
            finally:
                text.unlink(missing_ok=True)
        if self.index_suffix:
            _index(target, self.bcf)

    @property
    def index_suffix(self) -> str | None:
        """The index written beside a compressed output: ``.tbi`` (VCF.gz), ``.csi`` (BCF)."""
        if not self.compressed:
            return None
        return ".csi" if self.bcf else ".tbi"


def _index(path: Path, bcf: bool) -> None:
    """Index a compressed output in place (``PATH.tbi`` / ``PATH.csi``); records out of
    position order (allowed in the input) cannot be indexed, and then no index is written."""
    previous = pysam.set_verbosity(0)
    try:
        pysam.tabix_index(str(path), preset="bcf" if bcf else "vcf", csi=bcf, force=True,
                          keep_original=True)
    except (OSError, ValueError):
        Path(f"{path}{'.csi' if bcf else '.tbi'}").unlink(missing_ok=True)
    finally:
        pysam.set_verbosity(previous)


def _with_q(part: bytes, values: np.ndarray, compressed: bool) -> bytes:
    """An uncompressed VCF part with ``TBVAR_Q`` in the slot (:data:`Q_SLOT`) of every record
    with ALTs."""
    record, alt_index = values["record"], values["alt_index"]
    q = format_floats(values["q"].astype(np.float32))
    texts = _join_per_record(record, alt_index, {"TBVAR_Q": q},
                             int(record.max()) + 1 if len(record) else 0)
    texts = texts[texts != ""]  # the records with ALTs, in order
    pieces = part.split(Q_SLOT.encode())
    if len(pieces) != len(texts) + 1:
        raise ValueError(f"a VCF part has {len(pieces) - 1} TBVAR_Q slots for {len(texts)} "
                         "records with ALTs")
    joined = [b""] * (2 * len(texts) + 1)
    joined[0::2] = pieces
    joined[1::2] = [text.encode() for text in texts]
    text = b"".join(joined)
    return bgzf.compress(text) if compressed else text


def _vcf_to_bcf(source_path: Path, target: Path) -> None:
    """Convert with cyvcf2's htslib (pysam 0.24's writes records with symbolic ``<DEL>``
    alleles that fail to read back: "Invalid INFO id")."""
    try:
        reader = VCF(str(source_path), threads=1)
        try:
            writer = Writer(str(target), reader, mode="wb")
            try:
                for record in reader:
                    writer.write_record(record)
            finally:
                writer.close()
        finally:
            reader.close()
    except Exception as exc:  # cyvcf2 raises bare Exception for htslib failures
        raise ValueError(f"cannot write BCF {target}: htslib rejects the annotated records "
                         f"({exc}); write .vcf.gz instead") from None
