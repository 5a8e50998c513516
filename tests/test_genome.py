"""Genome access: contig names, the encoded cache and its invalidation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pysam
import pytest

from tbvar.errors import GenomeError
from tbvar.genome import Genome, contig_name_candidates, encode_sequence

from .conftest import EXAMPLE_GENOME


def test_contig_harmonisation(tmp_path: Path) -> None:
    fasta = tmp_path / "g.fa"
    fasta.write_text(">chr1\nACGT\n>MT\nGGCC\n>GL000192.1\nAAAA\n")
    genome = Genome(fasta, cache_dir=False)
    assert genome.resolve("1") == "chr1"
    assert genome.resolve("chr1") == "chr1"
    assert genome.resolve("chrM") == "MT"
    assert genome.resolve("M") == "MT"
    assert genome.resolve("GL000192.1") == "GL000192.1"
    assert genome.resolve("chr2") is None
    assert Genome(fasta, cache_dir=False, contig_map={"one": "chr1"}).resolve("one") == "chr1"
    assert contig_name_candidates("chrX") == ["chrX", "X"]


def test_encoding_is_case_insensitive_and_maps_iupac_to_n() -> None:
    assert encode_sequence("AGCTagctNnRYK").tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 4, 4, 4]


def test_cache_is_reused_and_invalidated_when_the_fasta_changes(tmp_path: Path) -> None:
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c\nACGTACGT\n")
    cache = tmp_path / "cache"
    first = Genome(fasta, cache_dir=cache).codes("c")
    files = list(cache.rglob("*.npy"))
    assert len(files) == 1
    again = Genome(fasta, cache_dir=cache).codes("c")
    assert isinstance(again, np.memmap) and again.tolist() == first.tolist()
    fasta.write_text(">c\nTTTTACGT\n")
    os.utime(fasta, ns=(1, 1))
    Path(str(fasta) + ".fai").unlink()
    changed = Genome(fasta, cache_dir=cache).codes("c")
    assert changed.tolist()[:4] == [3, 3, 3, 3]


def test_bgzip_fasta_with_true_coordinates() -> None:
    genome = Genome(EXAMPLE_GENOME)
    assert genome.lengths == {"chr17": 7_531_642}
    assert genome.fetch("chr17", 7_517_294, 7_517_295) == "C"  # rs143393141 REF
    assert genome.fetch("chr17", 7_530_270, 7_530_271) == "C"  # rs858520 REF
    assert genome.fetch("chr17", 0, 5) == "NNNNN"


def test_unreadable_fasta_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fa"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(GenomeError, match="bad.fa"):
        Genome(bad)


def test_files_that_are_not_a_genome_get_one_line_saying_what_to_do(
        tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    import gzip

    fasta = ">chr1\nACGTACGT\n"
    plain_gzip = tmp_path / "genome.fa.gz"
    plain_gzip.write_bytes(gzip.compress(fasta.encode()))
    vcf = tmp_path / "calls.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    expected = {plain_gzip: "gzip-compressed but not bgzip; recompress it with 'gunzip -c",
                vcf: "a VCF, not a genome", text: "not a FASTA file"}
    for path, message in expected.items():
        with pytest.raises(GenomeError, match=message):
            Genome(path, cache_dir=False)
    assert "[E::" not in capfd.readouterr().err  # htslib's own lines are not shown
    plain, bgzipped = tmp_path / "plain.fa", tmp_path / "genome.fa.bgz"
    plain.write_text(fasta)
    pysam.tabix_compress(str(plain), str(bgzipped), force=True)
    assert Genome(bgzipped, cache_dir=False).fetch("chr1", 0, 4) == "ACGT"
