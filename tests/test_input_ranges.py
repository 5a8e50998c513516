"""Indexed inputs split into ranges of whole chunks give the chunks of one plain read (no Ray)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pysam
import pytest
from cyvcf2 import VCF, Writer
from pysam import bcftools

from tbvar import input_ranges
from tbvar.variants import iter_source_chunks
from tbvar.vcf_index import contigs_in_file_order, index_path
from tbvar.vcf_reader import VariantInputError, VcfSource

HEADER = ["##fileformat=VCFv4.2", '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
          *[f"##contig=<ID=c{i},length=5000>" for i in range(3)], "##contig=<ID=c3>",
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A VCF whose contigs are not in header order (c2, c0, c3, c1), with duplicate
    positions, records past the declared length and undeclared INFO keys: plain, bgzipped
    with a tabix and with a CSI index, and as an indexed BCF."""
    root = tmp_path_factory.mktemp("ranges")
    rng = random.Random(5)
    lines = []
    for contig in ("c2", "c0", "c3", "c1"):
        for pos in sorted(rng.choices(range(1, 5600), k=400)):
            info = rng.choice(["DP=3", "SOMATIC", "XX=1;DP=2", "."])
            lines.append(f"{contig}\t{pos}\t.\tA\tC,G\t.\t.\t{info}")
    plain = root / "calls.vcf"
    plain.write_text("\n".join(HEADER + lines) + "\n")
    files = {"plain": plain}
    for kind in ("tbi", "csi"):
        path = root / f"calls_{kind}.vcf.gz"
        pysam.tabix_compress(str(plain), str(path), force=True)
        pysam.tabix_index(str(path), preset="vcf", force=True, csi=kind == "csi")
        files[kind] = path
    defined = root / "defined.vcf"  # BCF records need their INFO keys defined
    defined.write_text("\n".join(HEADER[:2] + [
        '##INFO=<ID=SOMATIC,Number=0,Type=Flag,Description="x">',
        '##INFO=<ID=XX,Number=1,Type=Integer,Description="x">'] + HEADER[2:] + lines) + "\n")
    reader = VCF(str(defined))
    bcf = root / "calls.bcf"
    writer = Writer(str(bcf), reader, mode="wb")
    for record in reader:
        writer.write_record(record)
    writer.close()
    reader.close()
    bcftools.index(str(bcf))
    files["bcf"] = bcf
    return files


def _split_read(path: Path, region: str | None, chunk_size: int, n_pieces: int,
                chunks_per_range: int) -> tuple[list, VcfSource]:
    driver = VcfSource(path, region)
    assert input_ranges.index_reason(driver) is None
    spans = input_ranges.input_spans(driver)
    pieces = input_ranges.pieces(driver, spans, n_pieces)
    counts = [input_ranges.count_piece(VcfSource(path, region), piece, chunk_size)
              for piece in pieces]
    for count in counts:
        driver.add_usage(count.usage)
    ranges = input_ranges.plan_ranges(spans, pieces, counts, chunk_size, chunk_size,
                                      chunks_per_range)
    chunks = [chunk for r in ranges
              for chunk in input_ranges.read_range(VcfSource(path, region), spans, r,
                                                   chunk_size)]
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    return chunks, driver


@pytest.mark.parametrize("kind", ["tbi", "csi", "bcf"])
@pytest.mark.parametrize(("chunk_size", "n_pieces", "per_range"), [(7, 9, 3), (100, 4, 1),
                                                                  (2000, 2, 2)])
def test_ranges_give_the_chunks_of_a_plain_read(inputs: dict[str, Path], kind: str,
                                                chunk_size: int, n_pieces: int,
                                                per_range: int) -> None:
    chunks, driver = _split_read(inputs[kind], None, chunk_size, n_pieces, per_range)
    plain = VcfSource(inputs["plain" if kind != "bcf" else "bcf"])
    expected = list(iter_source_chunks(plain, chunk_size))
    assert len(chunks) == len(expected) == -(-1600 // chunk_size)
    for got, want in zip(chunks, expected, strict=True):
        assert (got.index, got.lines, got.numbers) == (want.index, want.lines, want.numbers)
        assert got.alleles.equals(want.alleles)
    assert driver.header_additions() == plain.header_additions()
    assert any("ID=XX" in line for line in driver.header_additions()) == (kind != "bcf")


@pytest.mark.parametrize("kind", ["tbi", "bcf"])
def test_ranges_of_a_region(inputs: dict[str, Path], kind: str) -> None:
    chunks, _ = _split_read(inputs[kind], "c3:100-3000", 9, 5, 2)
    expected = list(iter_source_chunks(VcfSource(inputs[kind], "c3:100-3000"), 9))
    assert [(c.lines, c.numbers) for c in chunks] == [(c.lines, c.numbers) for c in expected]
    assert expected and all(line.startswith("c3\t") for c in chunks for line in c.lines)


def test_contigs_in_file_order_not_header_order(inputs: dict[str, Path]) -> None:
    for kind in ("tbi", "csi", "bcf"):
        index = index_path(inputs[kind])
        assert contigs_in_file_order(index, lambda: ["c0", "c1", "c2", "c3"]) == [
            "c2", "c0", "c3", "c1"], kind


def test_pieces_cut_known_lengths_and_keep_unknown_whole(inputs: dict[str, Path]) -> None:
    source = VcfSource(inputs["tbi"])
    spans = input_ranges.input_spans(source)
    pieces = input_ranges.pieces(source, spans, 6)
    assert pieces[:2] == [("c2", 0, 2500), ("c2", 2501, None)]  # the last runs to the end
    assert ("c3", 0, None) in pieces and len(pieces) == 7


def test_a_bad_record_is_named_by_its_piece(tmp_path: Path) -> None:
    plain = tmp_path / "bad.vcf"
    plain.write_text("\n".join(HEADER + ["c0\t5\t.\tA\tC\t.\t.\t.",
                                         "c0\t9\t.\tA\tC\t.\t.\t.\textra"]) + "\n")
    path = tmp_path / "bad.vcf.gz"
    pysam.tabix_compress(str(plain), str(path))
    pysam.tabix_index(str(path), preset="vcf")
    with pytest.raises(VariantInputError, match=r"c0:1-5000 record 2: 9 columns"):
        input_ranges.count_piece(VcfSource(path), ("c0", 0, 5000), 10)


def test_index_reason(inputs: dict[str, Path], tmp_path: Path) -> None:
    assert input_ranges.index_reason(VcfSource(inputs["plain"])) == "it has no tabix/CSI index"
    stale = tmp_path / "stale.vcf.gz"
    stale.write_bytes(inputs["tbi"].read_bytes())
    index = Path(f"{stale}.tbi")
    index.write_bytes(Path(f"{inputs['tbi']}.tbi").read_bytes())
    stat = stale.stat()
    os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    assert "older than the file" in input_ranges.index_reason(VcfSource(stale))
