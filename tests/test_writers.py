"""Writers on their own: hand-built scored chunks → parts → assembled file → read back.

Covers :mod:`tbvar.writers` (TableWriter for TSV(.gz)/Parquet, SkippedWriter, detect_format,
concatenate_parts) and :mod:`tbvar.vcf_writer` (VcfWriter for VCF, VCF.gz, BCF). Expected
texts are written out by hand here, not derived from the writers.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pysam
import pytest

from tbvar import bgzf
from tbvar.formats import detect_format
from tbvar.stage import ScoredChunk
from tbvar.vcf_writer import VcfWriter
from tbvar.writers import SkippedWriter, TableWriter, concatenate_parts

NAN = np.nan
COLUMNS = {  # name -> dtype, in the order of the pipeline's result rows
    "record_index": np.int64, "alt_index": np.int64, "chrom": str, "pos": np.int64,
    "id": str, "ref": str, "alt": str, "status": str, "ref_match": bool, "swapped": bool,
    "contains_n": bool, "edge": bool, "max_abslod": np.float32, "max_lod": np.float32,
    "max_lod_task": str, "top_tasks": str, "attn_shift": np.float32,
    "attn_center": np.float32, "attn_peak_ref": np.int32, "attn_peak_alt": np.int32,
    "lod.A": np.float32, "lod.B": np.float32,
}
# Four records in two chunks: an SNV (rs1); a record with an ok and a symbolic ALT; a swapped
# SNV with extreme values; a record without ALT.
ROWS = [
    (0, 0, "chr1", 100, "rs1", "A", "G", "ok", True, False, False, False,
     0.5, -0.5, "A", "A:-0.5&B:0.25", 0.125, -0.0625, 3, 4, -0.5, 0.25),
    (1, 0, "chr1", 200, NAN, "C", "T", "ok", False, False, True, True,
     3.0, 3.0, "A&B", "A:3.0&B:-3.0", 0.0, -2.5e-7, 0, 1, 3.0, -3.0),
    (1, 1, "chr1", 200, NAN, "C", "<DEL>", "symbolic_allele", False, False, False, False,
     NAN, NAN, "", "", NAN, NAN, -1, -1, NAN, NAN),
    (2, 0, "chr2", 300, "rs3", "A", "G", "ok", False, True, False, False,
     16777216.0, 16777216.0, "B", "B:16777216.0&A:0.1", np.inf, -np.inf, 7, 7, 0.1,
     16777216.0),
    (3, -1, "chr2", 400, NAN, "T", NAN, "no_alt", False, False, False, False,
     NAN, NAN, "", "", NAN, NAN, -1, -1, NAN, NAN),
]
# the same rows as TSV text, by hand: floats in shortest float32 form, missing values NA
TSV_LINES = [
    "0\t0\tchr1\t100\trs1\tA\tG\tok\tTrue\tFalse\tFalse\tFalse\t"
    "0.5\t-0.5\tA\tA:-0.5&B:0.25\t0.125\t-0.0625\t3\t4\t-0.5\t0.25",
    "1\t0\tchr1\t200\tNA\tC\tT\tok\tFalse\tFalse\tTrue\tTrue\t"
    "3.0\t3.0\tA&B\tA:3.0&B:-3.0\t0.0\t-2.5e-7\t0\t1\t3.0\t-3.0",
    "1\t1\tchr1\t200\tNA\tC\t<DEL>\tsymbolic_allele\tFalse\tFalse\tFalse\tFalse\t"
    "NA\tNA\t\t\tNA\tNA\t-1\t-1\tNA\tNA",
    "2\t0\tchr2\t300\trs3\tA\tG\tok\tFalse\tTrue\tFalse\tFalse\t"
    "16777216.0\t16777216.0\tB\tB:16777216.0&A:0.1\tinf\t-inf\t7\t7\t0.1\t16777216.0",
    "3\t-1\tchr2\t400\tNA\tT\tNA\tno_alt\tFalse\tFalse\tFalse\tFalse\t"
    "NA\tNA\t\t\tNA\tNA\t-1\t-1\tNA\tNA",
]
HEADER = [
    "##fileformat=VCFv4.2",
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    '##INFO=<ID=NOTE,Number=1,Type=String,Description="Note">',
    '##INFO=<ID=TBVAR_STATUS,Number=1,Type=String,Description="from an earlier run">',
    '##FILTER=<ID=q10,Description="Quality below 10">',
    "##contig=<ID=chr1,length=1000>",
    "##contig=<ID=chr2,length=1000>",
    "##tbvar_version=0.0.1",
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
]
LINES = [
    "chr1\t100\trs1\tA\tG\t50\tPASS\tDP=3;TBVAR_STATUS=old",
    "chr1\t200\t.\tC\tT,<DEL>\t.\t.\t.",
    "chr2\t300\trs3\tA\tG\t.\tq10\tNOTE=x",
    "chr2\t400\t.\tT\t.\t.\t.\tTBVAR_STATUS=old",
]
INFO_TYPES = {"TBVAR_STATUS": "String", "TBVAR_FLAGS": "String", "TBVAR_MAXLOD": "Float",
              "TBVAR_MAXLOD_TASK": "String", "TBVAR_TOPK": "String",
              "TBVAR_ATTN_SHIFT": "Float", "TBVAR_ATTN_CENTER": "Float"}
ANNOTATED = [
    "chr1\t100\trs1\tA\tG\t50\tPASS\tDP=3;TBVAR_STATUS=ok;TBVAR_FLAGS=.;TBVAR_MAXLOD=-0.5;"
    "TBVAR_MAXLOD_TASK=A;TBVAR_TOPK=A:-0.5&B:0.25;TBVAR_ATTN_SHIFT=0.125;"
    "TBVAR_ATTN_CENTER=-0.0625",
    "chr1\t200\t.\tC\tT,<DEL>\t.\t.\tTBVAR_STATUS=ok,symbolic_allele;"
    "TBVAR_FLAGS=ref_mismatch&contains_n&edge,.;TBVAR_MAXLOD=3.0,.;TBVAR_MAXLOD_TASK=A&B,.;"
    "TBVAR_TOPK=A:3.0&B:-3.0,.;TBVAR_ATTN_SHIFT=0.0,.;TBVAR_ATTN_CENTER=-2.5e-7,.",
    "chr2\t300\trs3\tA\tG\t.\tq10\tNOTE=x;TBVAR_STATUS=ok;TBVAR_FLAGS=ref_mismatch&swapped;"
    "TBVAR_MAXLOD=16777216.0;TBVAR_MAXLOD_TASK=B;TBVAR_TOPK=B:16777216.0&A:0.1;"
    "TBVAR_ATTN_SHIFT=inf;TBVAR_ATTN_CENTER=-inf",
    "chr2\t400\t.\tT\t.\t.\t.\tTBVAR_STATUS=no_alt",  # every record carries its status
]


def frame(rows: Sequence[tuple]) -> pd.DataFrame:
    """Result rows with the pipeline's column dtypes (text columns: missing as NaN)."""
    table = pd.DataFrame([list(r) for r in rows], columns=list(COLUMNS))
    return table.astype({k: v for k, v in COLUMNS.items() if v is not str})


def chunks(rows: pd.DataFrame | None = None) -> list[ScoredChunk]:
    """The rows as two chunks: records 0-1 (input lines 5, 6) and 2-3 (lines 8, 9)."""
    rows = frame(ROWS) if rows is None else rows
    first = rows["record_index"] < 2
    return [ScoredChunk(rows=rows[first].reset_index(drop=True), lines=LINES[:2],
                        numbers=[5, 6], index=0),
            ScoredChunk(rows=rows[~first].reset_index(drop=True), lines=LINES[2:],
                        numbers=[8, 9], index=1)]


def write(writer, target: Path, scored: Sequence[ScoredChunk],
          extra_header: Sequence[str] = ()) -> list[bytes]:
    """Encode each chunk into a part file, assemble ``target``; return the parts' bytes."""
    paths = []
    for chunk in scored:
        paths.append(target.with_name(f"{target.name}.part{chunk.index}"))
        paths[-1].write_bytes(writer.encode(chunk))
    writer.assemble(target, paths, extra_header)
    return [p.read_bytes() for p in paths]


def read_tsv(path: Path) -> pd.DataFrame:
    """A TSV output read back as the result rows it holds (``NA`` missing, ``""`` empty)."""
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NA"])
    return table.astype(COLUMNS)


# --- detect_format -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    ("out.vcf", "vcf"), ("out.vcf.gz", "vcf"), ("out.vcf.bgz", "vcf"), ("out.bcf", "vcf"),
    ("out.tsv", "tsv"), ("out.tsv.gz", "tsv"), ("out.txt", "tsv"), ("out.txt.gz", "tsv"),
    ("out.parquet", "parquet"), ("out.pq", "parquet"), ("dir/OUT.VCF.GZ", "vcf"),
    ("OUT.Parquet", "parquet")])
def test_detect_format_from_the_name(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt
    assert detect_format(Path(name)) == fmt


def test_detect_format_given_format_wins_and_bad_names_fail() -> None:
    assert detect_format("out.vcf", "parquet") == "parquet"
    assert detect_format("results.dat", "tsv") == "tsv"
    with pytest.raises(ValueError, match="unknown output format 'csv'"):
        detect_format("out.tsv", "csv")
    for name in ("out.csv", "out.gz", "out", "out.vcf.zip"):
        with pytest.raises(ValueError, match=f"{re.escape(name)}: cannot tell the output "
                                             "format from the name; use --format"):
            detect_format(name)


# --- concatenate_parts ---------------------------------------------------------------------


def test_concatenate_parts_writes_head_parts_in_order_and_tail(tmp_path: Path) -> None:
    parts = []
    for i, data in enumerate([b"one\n", b"", bytes(range(256)) * 5000, b"last"]):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(data)
    target = tmp_path / "out"
    concatenate_parts(target, b"HEAD", iter(parts), b"TAIL")
    assert target.read_bytes() == (b"HEAD" + b"one\n" + bytes(range(256)) * 5000 + b"last"
                                   + b"TAIL")


# --- TableWriter: TSV ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.tsv", "out.tsv.gz"])
def test_tsv_text_and_round_trip(tmp_path: Path, name: str) -> None:
    rows = frame(ROWS)
    out = tmp_path / name
    write(TableWriter(out, "tsv", rows.iloc[:0], {"model": "ignored by TSV"}), out, chunks(),
          ["##not written to TSV"])
    data = out.read_bytes()
    text = gzip.decompress(data).decode() if name.endswith(".gz") else data.decode()
    assert text == "\t".join(COLUMNS) + "\n" + "".join(line + "\n" for line in TSV_LINES)
    back = read_tsv(out)
    pd.testing.assert_frame_equal(back, rows)  # floats read back to the same float32


def test_tsv_gz_is_bgzf_whose_parts_concatenate(tmp_path: Path) -> None:
    plain, packed = tmp_path / "out.tsv", tmp_path / "out.tsv.gz"
    template = frame(ROWS).iloc[:0]
    plain_parts = write(TableWriter(plain, "tsv", template), plain, chunks())
    packed_parts = write(TableWriter(packed, "tsv", template), packed, chunks())
    for text, compressed in zip(plain_parts, packed_parts, strict=True):
        assert gzip.decompress(compressed) == text  # each part is complete gzip members
        assert not compressed.endswith(bgzf.EOF)
    data = packed.read_bytes()
    assert data.endswith(bgzf.EOF) and gzip.decompress(data) == plain.read_bytes()
    with pysam.BGZFile(str(packed), "rb") as handle:  # htslib reads it as BGZF
        assert handle.read() == plain.read_bytes()


def test_tsv_quotes_text_with_tabs_quotes_and_line_breaks(tmp_path: Path) -> None:
    rows = pd.DataFrame({"text": ['say "a\tb"', "x\ny", "c\rd", 'q"', "plain", NAN],
                         "n": np.arange(6, dtype=np.int64)})
    out = tmp_path / "out.tsv"
    write(TableWriter(out, "tsv", rows.iloc[:0]), out,
          [ScoredChunk(rows=rows, lines=[], index=0)])
    assert out.read_bytes() == (b'text\tn\n"say ""a\tb"""\t0\n"x\ny"\t1\n"c\rd"\t2\n'
                                b'"q"""\t3\nplain\t4\nNA\t5\n')
    back = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=["NA"])
    pd.testing.assert_frame_equal(back, rows)


def test_tsv_columns_follow_the_template(tmp_path: Path) -> None:
    rows = frame(ROWS)
    template = rows[["lod.B", "status", "pos"]].iloc[:0]
    out = tmp_path / "out.tsv"
    write(TableWriter(out, "tsv", template), out, chunks(rows.assign(extra="dropped")))
    assert out.read_text().splitlines() == [
        "lod.B\tstatus\tpos", "0.25\tok\t100", "-3.0\tok\t200", "NA\tsymbolic_allele\t200",
        "16777216.0\tok\t300", "NA\tno_alt\t400"]


def test_tsv_of_float_columns_only_and_without_trailing_floats(tmp_path: Path) -> None:
    rows = frame(ROWS)
    for columns, expected in (
            (["lod.A", "lod.B"], ["lod.A\tlod.B", "-0.5\t0.25", "3.0\t-3.0", "NA\tNA",
                                  "0.1\t16777216.0", "NA\tNA"]),
            (["attn_shift", "edge"], ["attn_shift\tedge", "0.125\tFalse", "0.0\tTrue",
                                      "NA\tFalse", "inf\tFalse", "NA\tFalse"])):
        out = tmp_path / f"{columns[0]}.tsv"
        write(TableWriter(out, "tsv", rows[columns].iloc[:0]), out, chunks())
        assert out.read_text().splitlines() == expected


def test_tsv_empty_chunks_give_the_header_only(tmp_path: Path) -> None:
    empty = frame([])
    scored = [ScoredChunk(rows=empty, lines=[], index=0),
              ScoredChunk(rows=empty, lines=[], index=1)]
    for name in ("out.tsv", "out.tsv.gz"):
        out = tmp_path / name
        writer = TableWriter(out, "tsv", empty)
        assert write(writer, out, scored) == [b"", b""]
        data = out.read_bytes()
        text = gzip.decompress(data) if name.endswith(".gz") else data
        assert text.decode() == "\t".join(COLUMNS) + "\n"
        assert len(read_tsv(out)) == 0


# --- TableWriter: Parquet --------------------------------------------------------------------


def test_parquet_round_trip_schema_and_metadata(tmp_path: Path) -> None:
    rows = frame(ROWS)
    out = tmp_path / "out.parquet"
    parts = write(TableWriter(out, "parquet", rows.iloc[:0], {"model": "m.safetensors",
                                                               "rc_average": "true"}),
                  out, chunks(), ["##not written to Parquet"])
    for part, chunk in zip(parts, chunks(), strict=True):  # parts are Arrow IPC streams
        assert pa.ipc.open_stream(part).read_all().num_rows == len(chunk.rows)
    table = pq.read_table(out)
    assert table.schema.metadata == {b"tbvar.model": b"m.safetensors",
                                     b"tbvar.rc_average": b"true"}
    expected_types = {np.int64: pa.int64(), str: pa.string(), bool: pa.bool_(),
                      np.float32: pa.float32(), np.int32: pa.int32()}
    assert [(f.name, f.type) for f in table.schema] == [
        (name, expected_types[dtype]) for name, dtype in COLUMNS.items()]
    assert pq.ParquetFile(out).metadata.num_row_groups == 2  # one per chunk
    # missing floats and texts are nulls; empty texts stay empty strings
    assert table.column("max_lod").null_count == 2 and table.column("id").null_count == 3
    assert table.column("max_lod_task").to_pylist() == ["A", "A&B", "", "B", ""]
    pd.testing.assert_frame_equal(table.to_pandas(), rows)


def test_parquet_all_missing_text_columns_are_strings(tmp_path: Path) -> None:
    rows = pd.DataFrame({"id": pd.Series([None, None], dtype=object),
                         "note": pd.Series([NAN, NAN], dtype="str"),
                         "score": np.array([NAN, 1.5], dtype=np.float32)})
    out = tmp_path / "out.parquet"
    write(TableWriter(out, "parquet", rows.iloc[:0]), out,
          [ScoredChunk(rows=rows, lines=[], index=0)])
    table = pq.read_table(out)
    assert [(f.name, f.type) for f in table.schema] == [
        ("id", pa.string()), ("note", pa.string()), ("score", pa.float32())]
    assert table.to_pydict() == {"id": [None, None], "note": [None, None],
                                 "score": [None, 1.5]}


def test_parquet_of_empty_chunks_has_the_full_schema(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    empty = frame([])
    write(TableWriter(out, "parquet", empty), out, [ScoredChunk(rows=empty, lines=[])])
    table = pq.read_table(out)
    assert table.num_rows == 0
    assert table.schema.names == list(COLUMNS)
    assert table.schema.field("chrom").type == pa.string()
    assert table.schema.field("lod.B").type == pa.float32()


# --- SkippedWriter ---------------------------------------------------------------------------


SKIPPED_HEAD = "line\trecord_index\tchrom\tpos\tid\tref\talt\tstatus\treason"


@pytest.mark.parametrize("name", ["skipped.tsv", "skipped.tsv.gz"])
def test_skipped_rows_with_input_line_numbers(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    write(SkippedWriter(out), out, chunks())
    data = out.read_bytes()
    text = gzip.decompress(data).decode() if name.endswith(".gz") else data.decode()
    assert text.splitlines() == [
        SKIPPED_HEAD,
        "6\t1\tchr1\t200\t.\tC\t<DEL>\tsymbolic_allele\t"
        "symbolic ALT (<...>, *, breakend) cannot be scored",
        "9\t3\tchr2\t400\t.\tT\t.\tno_alt\tALT is '.'",
    ]


def test_skipped_swapped_rows_get_their_input_alleles_back(tmp_path: Path) -> None:
    rows = frame([(7, 0, "chr1", 10, "x", "G", "A", "ref_mismatch", False, True, False, False,
                   NAN, NAN, "", "", NAN, NAN, -1, -1, NAN, NAN),
                  (8, 0, "chr1", 20, NAN, "C", "T", "ok", True, False, False, False,
                   1.0, 1.0, "A", "A:1.0", 0.0, 0.0, 0, 0, 1.0, 0.0),
                  (9, 0, "chr1", 30, NAN, "C", "T", "ref_mismatch", False, False, False,
                   False, NAN, NAN, "", "", NAN, NAN, -1, -1, NAN, NAN)])
    out = tmp_path / "skipped.tsv"
    writer = SkippedWriter(out)
    # without line numbers (DataFrame input) the line is the record's number, 1-based
    write(writer, out, [ScoredChunk(rows=rows, lines=[], index=0)])
    assert out.read_text().splitlines()[1:] == [
        "8\t7\tchr1\t10\tx\tA\tG\tref_mismatch\tREF differs from the genome",
        "10\t9\tchr1\t30\t.\tC\tT\tref_mismatch\tREF differs from the genome"]
    ok_only = ScoredChunk(rows=rows.iloc[1:2].reset_index(drop=True), lines=[], index=0)
    assert writer.encode(ok_only) == b""


def test_skipped_of_empty_chunks_is_the_header(tmp_path: Path) -> None:
    out = tmp_path / "skipped.tsv.gz"
    write(SkippedWriter(out), out, [ScoredChunk(rows=frame([]), lines=[], index=0)])
    data = out.read_bytes()
    assert data.endswith(bgzf.EOF) and gzip.decompress(data).decode() == SKIPPED_HEAD + "\n"


# --- VcfWriter -------------------------------------------------------------------------------


def header_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def test_vcf_header_and_annotated_records(tmp_path: Path) -> None:
    out = tmp_path / "out.vcf"
    meta = {"model": "m.safetensors sha256=00", "command": "tbvar score\na.vcf"}
    write(VcfWriter(out, "\n".join(HEADER) + "\n", meta), out, chunks(), ["##extra=1"])
    text = out.read_text()
    header = header_lines(text)
    tbvar_info = [line for line in header if line.startswith("##INFO=<ID=TBVAR_")]
    assert [line for line in header if not line.startswith("##INFO=<ID=TBVAR_")] == [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        *HEADER[1:3], *HEADER[4:7],
        "##tbvar_model=m.safetensors sha256=00",
        "##tbvar_command=tbvar score a.vcf",
        "##extra=1",
        HEADER[-1]]
    assert header.index(tbvar_info[0]) == 7 and len(tbvar_info) == len(INFO_TYPES)
    assert [re.match(r"##INFO=<ID=(\w+),Number=A,Type=(\w+),Description=", line).groups()
            for line in tbvar_info] == list(INFO_TYPES.items())
    assert [line for line in text.splitlines() if not line.startswith("#")] == ANNOTATED
    assert text.endswith("\n")


@pytest.mark.parametrize("name", ["out.vcf", "out.vcf.gz", "out.bcf"])
def test_vcf_reads_back_with_pysam(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    write(VcfWriter(out, "\n".join(HEADER) + "\n", {"model": "m"}), out, chunks())
    rows = frame(ROWS)
    with pysam.VariantFile(str(out)) as reader:
        assert reader.header.info["TBVAR_MAXLOD"].number == "A"
        records = list(reader)
    assert [(r.chrom, r.pos, r.alts) for r in records] == [
        ("chr1", 100, ("G",)), ("chr1", 200, ("T", "<DEL>")), ("chr2", 300, ("G",)),
        ("chr2", 400, None)]
    picked = rows[rows["alt_index"] >= 0]
    for record, (_, alleles) in zip(records[:3], picked.groupby("record_index"), strict=True):
        assert record.info["TBVAR_STATUS"] == tuple(alleles["status"])
        for key, column in (("TBVAR_MAXLOD", "max_lod"), ("TBVAR_ATTN_SHIFT", "attn_shift"),
                            ("TBVAR_ATTN_CENTER", "attn_center")):
            expected = [None if np.isnan(v) else float(v) for v in alleles[column]]
            assert list(record.info[key]) == expected, key
    assert records[3].info["TBVAR_STATUS"] == ("no_alt",) and records[0].info["DP"] == 3
    assert records[2].filter.keys() == ["q10"] and records[2].info["NOTE"] == "x"


def test_vcf_gz_and_bcf_parts_are_bgzf(tmp_path: Path) -> None:
    plain, packed, binary = tmp_path / "out.vcf", tmp_path / "out.vcf.gz", tmp_path / "out.bcf"
    raw = "\n".join(HEADER) + "\n"
    plain_parts = write(VcfWriter(plain, raw, {}), plain, chunks())
    packed_parts = write(VcfWriter(packed, raw, {}), packed, chunks())
    binary_parts = write(VcfWriter(binary, raw, {}), binary, chunks())
    assert plain_parts == [("\n".join(ANNOTATED[:2]) + "\n").encode(),
                           ("\n".join(ANNOTATED[2:]) + "\n").encode()]
    for text, compressed, bcf_part in zip(plain_parts, packed_parts, binary_parts, strict=True):
        assert gzip.decompress(compressed) == text == gzip.decompress(bcf_part)
    data = packed.read_bytes()
    assert data.endswith(bgzf.EOF) and gzip.decompress(data) == plain.read_bytes()
    assert gzip.decompress(binary.read_bytes())[:5] == b"BCF\x02\x02"
    assert sorted(p.name for p in tmp_path.iterdir() if "part" not in p.name) == [
        "out.bcf", "out.bcf.csi", "out.vcf", "out.vcf.gz", "out.vcf.gz.tbi"
    ]  # the BCF's intermediate VCF.gz is gone; sorted records: indexed


def test_vcf_of_empty_chunks_is_the_header(tmp_path: Path) -> None:
    out = tmp_path / "out.vcf.gz"
    writer = VcfWriter(out, "\n".join(HEADER) + "\n", {})
    assert write(writer, out, [ScoredChunk(rows=frame([]), lines=[], index=0)]) == [b""]
    text = gzip.decompress(out.read_bytes()).decode()
    assert text.splitlines()[-1] == HEADER[-1]
    with pysam.VariantFile(str(out)) as reader:
        assert list(reader) == []


def test_vcf_header_without_chrom_line_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.vcf"
    writer = VcfWriter(out, "##fileformat=VCFv4.2\n", {})
    with pytest.raises(ValueError, match="no #CHROM line"):
        write(writer, out, [])
