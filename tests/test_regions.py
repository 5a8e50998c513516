"""``--region`` selects records by POS, so regions that tile a contig give every record once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pysam
import pytest
from cyvcf2 import VCF, Writer

import tbvar
from tbvar.vcf_reader import VariantInputError, parse_region

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF

# tiles of the example's chr17 records; the REF AA at 7,520,000 spans the first boundary
TILES = ["chr17:1-7520000", "chr17:7520001-7525000", "chr17:7,525,001-"]
KEY = ["chrom", "pos", "ref", "alt"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("regions")
    vcf = root / "calls.vcf.gz"
    pysam.tabix_compress(str(EXAMPLE_VCF), str(vcf), force=True)
    pysam.tabix_index(str(vcf), preset="vcf", force=True)
    bcf = root / "calls.bcf"
    reader = VCF(str(vcf))
    writer = Writer(str(bcf), reader, mode="wb")
    for record in reader:
        writer.write_record(record)
    writer.close()
    reader.close()
    pysam.tabix_index(str(bcf), preset="bcf", force=True, csi=True)
    return {"vcf": vcf, "bcf": bcf}


def test_parse_region() -> None:
    assert parse_region("chr1") == ("chr1", 1, None)
    assert parse_region("chr1:100") == ("chr1", 100, None)
    assert parse_region("chr1:100-") == ("chr1", 100, None)
    assert parse_region("chr1:1,000-2,000") == ("chr1", 1000, 2000)
    assert parse_region("HLA-A*01:01:01:01", ["HLA-A*01:01:01:01"]) == (
        "HLA-A*01:01:01:01", 1, None)
    for bad in ("chr1:200-100", "chr1:0-5"):
        with pytest.raises(VariantInputError, match="invalid region"):
            parse_region(bad)


@pytest.mark.parametrize("kind", ["vcf", "bcf"])
def test_tiles_partition_the_records(indexed: dict[str, Path], small_model_file: Path,
                                     kind: str) -> None:
    whole = tbvar.score_vcf(indexed[kind], EXAMPLE_GENOME, small_model_file, device="cpu",
                            region="chr17")
    tiles = [tbvar.score_vcf(indexed[kind], EXAMPLE_GENOME, small_model_file, device="cpu",
                             region=region) for region in TILES]
    assert all(len(tile) for tile in tiles)
    spanning = tiles[0][(tiles[0]["pos"] == 7_520_000) & (tiles[0]["ref"] == "AA")]
    assert len(spanning) == 1  # it starts in the first tile and overlaps the second
    joined = pd.concat(tiles, ignore_index=True)
    assert not joined.duplicated(KEY).any()
    in_order = [frame[KEY].sort_values(KEY).values.tolist() for frame in (joined, whole)]
    assert in_order[0] == in_order[1]
    ok = whole["status"] == "ok"
    merged = joined.merge(whole[ok], on=KEY, suffixes=("", "_whole"))
    assert len(merged) == ok.sum()
    pd.testing.assert_series_equal(merged["max_lod"], merged["max_lod_whole"], check_names=False)
    for tile, region in zip(tiles, TILES, strict=True):
        _, start, end = parse_region(region)
        assert tile["pos"].between(start, end or 10**12).all()


@pytest.mark.parametrize("kind", ["vcf", "bcf"])
def test_region_contig_names_are_harmonised(indexed: dict[str, Path], small_model_file: Path,
                                            kind: str) -> None:
    def score(region: str) -> pd.DataFrame:
        return tbvar.score_vcf(indexed[kind], EXAMPLE_GENOME, small_model_file, device="cpu",
                               region=region)

    named = score("chr17:7520001-7525000")
    assert len(named) and named[KEY].equals(score("17:7520001-7525000")[KEY])
    assert score("17")[KEY].equals(score("chr17")[KEY])
    with pytest.raises(VariantInputError, match="contig '18' is not in the index"):
        score("18:1-100")
