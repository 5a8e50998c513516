"""Allele rows and statuses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pysam
import pytest

from tbvar.genome import Genome
from tbvar.variants import VariantInputError, alleles_from_frame, classify, iter_vcf_chunks

from .conftest import EXAMPLE_VCF


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Genome:
    path = tmp_path_factory.mktemp("variants") / "g.fa"
    path.write_text(">chr1\nACGTACGTACgtacgtNNAC\n")
    return Genome(path, cache_dir=False)


def statuses(genome: Genome, rows: list[tuple], **kwargs: object) -> list[str]:
    frame = alleles_from_frame(pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]))
    return classify(frame, genome, **kwargs)["status"].tolist()


def test_statuses(genome: Genome) -> None:
    rows = [
        ("chr1", 1, "A", "G"),          # ok
        ("1", 11, "G", "A"),            # ok: soft-masked g, chr prefix harmonised
        ("chr1", 2, "CGT", "C"),        # ok deletion
        ("chr1", 1, "C", "G"),          # ref_mismatch
        ("chr1", 1, "A", "<DEL>"),      # symbolic
        ("chr1", 1, "A", "*"),          # spanning deletion
        ("chr1", 1, "A", "G]chr1:5]"),  # breakend
        ("chr1", 1, "A", "R"),          # IUPAC
        ("chr1", 1, "A", "A" * 101),    # too long
        ("chr9", 1, "A", "G"),          # unknown contig
        ("chr1", 20, "CA", "C"),        # REF runs past the end
        ("chr1", 0, "A", "G"),          # POS 0
        ("chr1", 17, "N", "A"),         # REF N matches genome N
        ("chr1", 3, "G", "."),          # no ALT
    ]
    assert statuses(genome, rows) == [
        "ok", "ok", "ok", "ref_mismatch", "symbolic_allele", "symbolic_allele",
        "symbolic_allele", "ambiguous_allele", "too_long", "unknown_contig", "bad_position",
        "bad_position", "ok", "no_alt"]


def test_ref_mismatch_policy_use_vcf(genome: Genome) -> None:
    frame = alleles_from_frame(pd.DataFrame([("chr1", 1, "C", "G")],
                                            columns=["chrom", "pos", "ref", "alt"]))
    out = classify(frame, genome, ref_mismatch="use-vcf")
    assert out["status"].tolist() == ["ok"] and out["ref_match"].tolist() == [False]


def test_multi_allelic_split_and_chunking() -> None:
    chunks = list(iter_vcf_chunks(EXAMPLE_VCF, chunk_size=10))
    assert [len(c.lines) for c in chunks] == [10, 10, 10, 5]
    alleles = pd.concat([c.alleles for c in chunks])
    multi = alleles[alleles["record_index"].duplicated(keep=False)]
    assert multi["alt"].tolist() == ["C", "AAC"] and multi["alt_index"].tolist() == [0, 1]
    assert alleles.loc[alleles["alt"].isna(), "alt_index"].tolist() == [-1]


def test_region_query_needs_and_uses_an_index(tmp_path: Path) -> None:
    compressed = tmp_path / "v.vcf.gz"
    pysam.tabix_compress(str(EXAMPLE_VCF), str(compressed))
    pysam.tabix_index(str(compressed), preset="vcf")
    rows = pd.concat([c.alleles for c in iter_vcf_chunks(compressed,
                                                         region="chr17:7520000-7520300")])
    assert rows["pos"].tolist() == [7520000, 7520100, 7520200, 7520236, 7520277, 7520300]
    with pytest.raises(VariantInputError, match="region"):
        list(iter_vcf_chunks(EXAMPLE_VCF, region="chr17:1-10"))


def test_unreadable_vcf_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vcf.gz"
    bad.write_text("not gzip at all")
    with pytest.raises(VariantInputError, match="bad.vcf.gz"):
        list(iter_vcf_chunks(bad))
    with pytest.raises(VariantInputError, match="no such file"):
        list(iter_vcf_chunks(tmp_path / "missing.vcf"))
