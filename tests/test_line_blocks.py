"""Line blocks of a text VCF (read here, parsed where the chunk is prepared) against a plain
line-by-line read: the same records, numbers, chunks and header additions, the same first
error; and a host-worker run that parses blocks in its workers reports what a run without
workers reports."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tbvar.cli import main
from tbvar.errors import VariantInputError
from tbvar.output import ChunkSaver
from tbvar.variants import block_chunk, chunk_records, iter_source_chunks
from tbvar.vcf_reader import RawRecord, VcfSource
from tests.test_host_engine import disk_full_at
from tests.vcf_corpus import header, other, rec, snv, write_genome, write_model

HEADER = "\n".join(header(extra=["##INFO=<ID=DP,Number=1,Type=Integer,Description=\"d\">"]))
#: Lines between records: blank in every sense str.strip knows (ASCII and Unicode spaces,
#: information separators), or not blank.
FILLERS = ["", " ", "\t", "\r", "\x1c\x1d", "\u00a0", "\u2003 ", "\x0b\x0c"]


def _reference_records(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every record, read the obvious way: the whole file decoded,
    split at ``\\n``, ``\\r`` of CRLF dropped, lines that ``str.strip`` empties skipped."""
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    start = next(i for i, line in enumerate(lines) if line.startswith("#CHROM")) + 1
    return [(number, line.rstrip("\r")) for number, line in enumerate(lines[start:], start + 1)
            if line.rstrip("\r").strip()]


def _record(k: int, info: str) -> str:
    return rec("chr1", 100 + k, "A", "C,G" if k % 5 == 0 else "T", info=info)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.one_of(st.sampled_from(FILLERS),
                                st.sampled_from(["DP=3", ".", "NEW=1;FLAG", "DP=1;X"])),
                      min_size=0, max_size=40),
       size=st.integers(1, 7), crlf=st.booleans(), last_newline=st.booleans(),
       compressed=st.booleans())
def test_blocks_give_the_records_and_chunks_of_a_line_by_line_read(
        tmp_path_factory: pytest.TempPathFactory, items: list[str], size: int, crlf: bool,
        last_newline: bool, compressed: bool) -> None:
    infos = {"DP=3", ".", "NEW=1;FLAG", "DP=1;X"}
    lines = [_record(k, item) if item in infos else item for k, item in enumerate(items)]
    newline = "\r\n" if crlf else "\n"
    text = HEADER.replace("\n", newline) + newline + newline.join(lines)
    text += newline if last_newline and lines else ""
    path = tmp_path_factory.mktemp("blocks") / ("in.vcf.gz" if compressed else "in.vcf")
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compressed else data)

    expected = _reference_records(path)
    source = VcfSource(path)
    blocks = list(source.line_blocks(size))
    assert [b.n_records for b in blocks] == [size] * (len(expected) // size) + (
        [len(expected) % size] if len(expected) % size else [])
    assert [b.index for b in blocks] == list(range(len(blocks)))
    assert [b.first_record for b in blocks] == [size * k for k in range(len(blocks))]
    got = [(r.number, r.line) for b in blocks for r in source.block_records(b)]
    assert got == expected

    # chunks: what chunk_records makes of the reference records, field by field
    reference = VcfSource(path)
    parsed = [reference._parse(number, line) for number, line in expected]
    want = list(chunk_records(iter(parsed), size))
    chunks = list(iter_source_chunks(VcfSource(path), size))
    assert len(chunks) == len(want)
    for one, two in zip(chunks, want, strict=True):
        assert (one.index, one.lines, one.numbers) == (two.index, two.lines, two.numbers)
        assert one.alleles.equals(two.alleles)
    # IDs used, counted by a parse of the blocks elsewhere (a fresh source per block)
    counted = VcfSource(path)
    for block in VcfSource(path).line_blocks(size):
        worker = VcfSource(path)
        block_chunk(worker, block)
        counted.add_usage(worker.take_usage())
    assert counted.header_additions() == reference.header_additions()


def test_records_read_in_blocks_are_the_lines_records(tmp_path: Path) -> None:
    lines = [snv("chr1", 100 + k % 800) for k in range(2500)]
    lines[700] = ""
    path = tmp_path / "in.vcf"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    records = list(VcfSource(path).records())  # blocks of BLOCK_RECORDS inside
    assert [(r.number, r.line) for r in records] == _reference_records(path)
    assert all(isinstance(r, RawRecord) for r in records)


def test_a_read_error_comes_after_the_lines_read_before_it(tmp_path: Path) -> None:
    """A truncated gzip file: the block that meets the end holds the lines before it, and
    an earlier bad line is reported, not the truncation."""
    lines = [snv("chr1", 100 + k % 800) for k in range(3000)]
    path = tmp_path / "cut.vcf.gz"
    data = gzip.compress((HEADER + "\n" + "\n".join(lines) + "\n").encode())
    path.write_bytes(data[: len(data) // 2])
    source = VcfSource(path)
    blocks = list(source.line_blocks(100))
    assert all(b.error is None for b in blocks[:-1])
    assert isinstance(blocks[-1].error, VariantInputError)
    assert "truncated or corrupt" in str(blocks[-1].error)
    parsed = [r for b in blocks[:-1] for r in source.block_records(b)]
    assert len(parsed) == 100 * (len(blocks) - 1)
    with pytest.raises(VariantInputError, match="truncated or corrupt"):
        list(source.block_records(blocks[-1]))
    whole = dataclasses.replace(blocks[-1], error=None)
    assert sum(1 for _ in source.block_records(whole)) == blocks[-1].n_records > 0


def test_blocks_refuse_inputs_not_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "in.vcf"
    path.write_text(HEADER + "\n" + snv("chr1", 200) + "\n")
    with pytest.raises(ValueError, match="positive"):
        next(VcfSource(path).line_blocks(0))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("blocks_run")
    return {"root": root, "genome": write_genome(root),
            "model": write_model(root / "tiny.safetensors")}


def _score(inputs: dict, vcf: Path, out: Path, *extra: str) -> list[str]:
    return ["score", str(vcf), "--genome", str(inputs["genome"]), "--model",
            str(inputs["model"]), "-o", str(out), "--device", "cpu", "--chunk-size", "3",
            "--batch-size", "4", "-q", *extra]


def _with_bad_lines(inputs: dict, name: str, bad: dict[int, str]) -> Path:
    records = [snv("chr1", 100 + 7 * k) for k in range(40)]
    for k, line in bad.items():
        records[k] = line
    path = inputs["root"] / name
    path.write_text(HEADER + "\n" + "\n".join(records) + "\n")
    return path


@pytest.mark.parametrize("bad", [
    {31: "chr1\tabc\t.\tA\tG\t.\t.\t.", 4: "chr1\t260\t.\tA\tG\t.\t."},
    {2: "chr1\t0\t.\tA\tG\t.\t.\t.\tEXTRA", 20: "chr1\tx\t.\tA\tG\t.\t.\t."},
    {25: "#CHROM\tlate"},
])
def test_workers_report_the_first_bad_line_in_the_file(
        inputs: dict, tmp_path: Path, bad: dict[int, str],
        capsys: pytest.CaptureFixture) -> None:
    vcf = _with_bad_lines(inputs, "bad.vcf", bad)
    first = len(HEADER.split("\n")) + 1 + min(bad)
    errors = []
    for workers in ("1", "2", "3"):
        assert main(_score(inputs, vcf, tmp_path / "out.tsv", "--host-workers", workers)) == 1
        errors.append(capsys.readouterr().err)
        assert list(tmp_path.iterdir()) == []
    assert errors[0] == errors[1] == errors[2]
    assert f"{vcf}: line {first}:" in errors[0] and errors[0].count("\n") == 1


def test_workers_report_a_bad_line_before_a_truncation(inputs: dict, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    records = [snv("chr1", 100 + k % 800) for k in range(3000)]
    records[10] = "chr1\tPOS\t.\tA\tG\t.\t.\t."
    vcf = inputs["root"] / "bad_then_cut.vcf.gz"
    data = gzip.compress((HEADER + "\n" + "\n".join(records) + "\n").encode())
    vcf.write_bytes(data[: len(data) // 2])
    errors = []
    for workers in ("1", "2"):
        assert main(_score(inputs, vcf, tmp_path / "out.tsv", "--host-workers", workers)) == 1
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1]
    assert f"line {len(HEADER.split(chr(10))) + 11}:" in errors[0]


def test_workers_define_the_ids_their_records_use(inputs: dict, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Records in different chunks use INFO, FILTER, FORMAT IDs and contigs the header does
    not define: the output header defines each, as a run without workers does, also when a
    resumed run parses the chunks saved before in this process."""
    lines = [snv("chr1", 100 + 9 * k, rest="GT\t0/1") for k in range(30)]
    lines[2] = snv("chr1", 150, info="NEWFLAG", rest="GT\t0/1")
    lines[13] = snv("chr1", 300, info="NEWKEY=5", rest="GT:XF\t0/1:2").replace(
        "\t.\tNEWKEY", "\tq30\tNEWKEY")
    lines[27] = rec("chrM", 10, "A", other("A"), rest="GT\t1/1")
    vcf = inputs["root"] / "undefined.vcf"
    vcf.write_text("\n".join(header(contigs=False, samples=["S1"])) + "\n"
                   + "\n".join(lines) + "\r\n\n \n")
    out = tmp_path / "out.vcf"
    assert main(_score(inputs, vcf, out)) == 0
    expected = out.read_bytes()
    text = expected.decode()
    for line in ["##INFO=<ID=NEWFLAG,Number=0,Type=Flag", "##INFO=<ID=NEWKEY,Number=.",
                 "##FORMAT=<ID=XF,", "##FILTER=<ID=q30,", "##contig=<ID=chr1>",
                 "##contig=<ID=chrM>"]:
        assert line in text
    assert main(_score(inputs, vcf, out, "--host-workers", "2")) == 0
    assert out.read_bytes() == expected
    out.unlink()

    save = disk_full_at(monkeypatch, 6)
    assert main(_score(inputs, vcf, out, "--host-workers", "2")) == 1
    saved = {int(p.stem.split("-")[1]) for p in Path(f"{out}.partial").glob("chunk-*.json")}
    assert set(range(6)) <= saved and 6 not in saved  # chunks 0 and 4 use the new IDs
    monkeypatch.setattr(ChunkSaver, "__call__", save)
    assert main(_score(inputs, vcf, out, "--host-workers", "2", "--resume")) == 0
    assert out.read_bytes() == expected


def test_an_error_that_arrives_early_waits_for_the_chunks_before_it(
        inputs: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Chunk 0 (2,000 records, bad at its end) takes a worker far longer to parse than chunk 1
    (one bad record) takes another: chunk 1's error arrives first but chunk 0's is reported."""
    records = [snv("chr1", 100 + k % 800) for k in range(2001)]
    records[1999] = "chr1\tnine\t.\tA\tG\t.\t.\t."
    records[2000] = "chr1\tten\t.\tA\tG\t.\t.\t."
    vcf = inputs["root"] / "late_bad.vcf"
    vcf.write_text(HEADER + "\n" + "\n".join(records) + "\n")
    assert main(_score(inputs, vcf, tmp_path / "out.tsv", "--host-workers", "2",
                       "--chunk-size", "2000")) == 1
    err = capsys.readouterr().err
    assert f"line {len(HEADER.split(chr(10))) + 2000}: POS 'nine'" in err
