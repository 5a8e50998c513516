"""Random SNVs: eligibility, uniformity, determinism, chunking, BED regions, exact blocks."""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from tbvar import random_snvs
from tbvar.genome import Genome
from tbvar.random_snvs import read_bed, sample_snvs

MARGIN = 50
N_DRAWS = 60_000


def _sequence(length: int, seed: int, n_runs: list[tuple[int, int]],
              lower: list[tuple[int, int]]) -> str:
    rand = random.Random(seed)
    bases = [rand.choice("ACGT") for _ in range(length)]
    for start, end in lower:
        bases[start:end] = [b.lower() for b in bases[start:end]]
    for start, end in n_runs:
        bases[start:end] = ["N"] * (end - start)
    return "".join(bases)


# N at the start, inside and at the end; soft-masked stretches; chrS is shorter than 2*MARGIN
CONTIGS = {
    "chr1": _sequence(1200, 1, n_runs=[(0, 30), (300, 420)], lower=[(500, 700)]),
    "chr2": _sequence(800, 2, n_runs=[(400, 450), (780, 800)], lower=[(600, 760)]),
    "chrS": _sequence(90, 3, n_runs=[], lower=[]),
    "chrN": "N" * 300,
}


def _write_fasta(path: Path, contigs: dict[str, str]) -> Path:
    with open(path, "w") as out:
        for name, seq in contigs.items():
            out.write(f">{name}\n")
            out.writelines(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))
    return path


def _eligible(regions: dict[str, list[tuple[int, int]]] | None = None) -> list[tuple[str, int]]:
    """``(contig, 1-based pos)`` of every eligible position, by a plain loop over the text."""
    return [(name, p + 1) for name, seq in CONTIGS.items()
            for p in range(MARGIN, len(seq) - MARGIN)
            if seq[p].upper() in "ACGT"
            and (regions is None or any(s <= p < e for s, e in regions.get(name, [])))]


def _frame(chunks) -> pd.DataFrame:
    return pd.concat([chunk.alleles for chunk in chunks], ignore_index=True)


def _position_chi2_p(draws: pd.DataFrame, eligible: list[tuple[str, int]]) -> float:
    counts = Counter(zip(draws["chrom"], draws["pos"], strict=True))
    observed = np.array([counts[key] for key in eligible])
    assert observed.sum() == len(draws)  # nothing drawn outside the eligible set
    return chisquare(observed).pvalue


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Genome:
    fasta = _write_fasta(tmp_path_factory.mktemp("random_snvs") / "g.fa", CONTIGS)
    return Genome(fasta, cache_dir=False)


@pytest.fixture(scope="module")
def draws(genome: Genome) -> pd.DataFrame:
    return _frame(sample_snvs(genome, N_DRAWS, seed=7, margin=MARGIN, chunk_size=10_000))


def test_every_snv_is_eligible_with_genome_ref_and_another_alt(draws: pd.DataFrame) -> None:
    assert set(zip(draws["chrom"], draws["pos"], strict=True)) <= set(_eligible())
    genome_bases = [CONTIGS[c][p - 1].upper() for c, p in zip(draws["chrom"], draws["pos"],
                                                             strict=True)]
    assert draws["ref"].tolist() == genome_bases
    assert set(draws["alt"]) <= set("ACGT")
    assert (draws["alt"] != draws["ref"]).all()
    assert not draws["chrom"].isin(["chrS", "chrN"]).any()
    # soft-masked and unmasked bases are both drawn
    assert draws["pos"][draws["chrom"] == "chr1"].between(501, 700).any()


def test_positions_are_uniform_over_eligible_positions(draws: pd.DataFrame) -> None:
    assert _position_chi2_p(draws, _eligible()) > 0.001


def test_alt_is_uniform_over_the_other_three_bases(draws: pd.DataFrame) -> None:
    for ref, group in draws.groupby("ref"):
        counts = group["alt"].value_counts()
        assert sorted(counts.index) == sorted(set("ACGT") - {ref})
        assert chisquare(counts.to_numpy()).pvalue > 0.001


def test_output_is_sorted_by_contig_then_position(draws: pd.DataFrame) -> None:
    order = draws["chrom"].map({name: k for k, name in enumerate(CONTIGS)})
    assert order.is_monotonic_increasing
    assert all(group["pos"].is_monotonic_increasing for _, group in draws.groupby("chrom"))
    assert draws["record_index"].tolist() == list(range(N_DRAWS))
    assert draws["id"].tolist() == [f"rand{i}" for i in range(N_DRAWS)]


def test_same_seed_same_snvs_different_seed_different(genome: Genome) -> None:
    first = _frame(sample_snvs(genome, 500, seed=3, margin=MARGIN))
    pd.testing.assert_frame_equal(first, _frame(sample_snvs(genome, 500, seed=3, margin=MARGIN)))
    other = _frame(sample_snvs(genome, 500, seed=4, margin=MARGIN))
    assert not first[["chrom", "pos", "alt"]].equals(other[["chrom", "pos", "alt"]])


def test_chunks_are_numbered_and_sized_and_records_consecutive(genome: Genome) -> None:
    chunks = list(sample_snvs(genome, 2500, seed=1, margin=MARGIN, chunk_size=1000))
    assert [chunk.index for chunk in chunks] == [0, 1, 2]
    assert [len(chunk.alleles) for chunk in chunks] == [1000, 1000, 500]
    assert all(chunk.lines == [] and chunk.numbers == [] for chunk in chunks)
    assert chunks[1].alleles["record_index"].tolist() == list(range(1000, 2000))
    whole = _frame(chunks)
    assert whole["record_index"].tolist() == list(range(2500))
    assert (whole["alt_index"] == 0).all()
    assert list(whole.columns) == ["record_index", "alt_index", "chrom", "pos", "id", "ref",
                                   "alt"]
    one_chunk = _frame(sample_snvs(genome, 2500, seed=1, margin=MARGIN, chunk_size=5000))
    pd.testing.assert_frame_equal(whole, one_chunk)


def test_more_draws_than_positions_is_sampling_with_replacement(genome: Genome) -> None:
    bed = {"chr1": [(100, 110)]}
    regions = {"chr1": np.array(bed["chr1"], dtype=np.int64)}
    snvs = _frame(sample_snvs(genome, 200, margin=MARGIN, regions=regions))
    assert len(snvs) == 200
    assert set(snvs["pos"]) == {pos for _, pos in _eligible(bed)}


# BED regions: overlapping pair on chr1 (union 100-300), one reaching into the N run
# (380-450; 420-450 eligible), soft-masked 520-560, and chr2 written as "2"
BED_TEXT = """track name=test
browser position chr1:1-100
# a comment

chr1\t100\t250\tfirst
chr1\t200\t300\tsecond
chr1\t380\t450
chr1\t520\t560
2\t100\t200
chrZ\t1\t100
"""
BED_UNION = {"chr1": [(100, 300), (380, 450), (520, 560)], "chr2": [(100, 200)]}


def test_bed_intervals_are_merged_harmonised_and_gzip_is_read(genome: Genome,
                                                              tmp_path: Path) -> None:
    plain = tmp_path / "r.bed"
    plain.write_text(BED_TEXT)
    packed = tmp_path / "r.bed.gz"
    packed.write_bytes(gzip.compress(BED_TEXT.encode()))
    for path in (plain, packed):
        regions = read_bed(path, genome)
        assert list(regions) == ["chr1", "chr2"]  # chrZ is not in the genome: skipped
        for name, intervals in BED_UNION.items():
            assert regions[name].tolist() == [list(pair) for pair in intervals]


def test_regions_are_honoured_and_density_is_uniform_over_their_union(
        genome: Genome, tmp_path: Path) -> None:
    bed = tmp_path / "r.bed.gz"
    bed.write_bytes(gzip.compress(BED_TEXT.encode()))
    snvs = _frame(sample_snvs(genome, 40_000, seed=11, margin=MARGIN,
                              regions=read_bed(bed, genome), chunk_size=10_000))
    eligible = _eligible(BED_UNION)
    assert _position_chi2_p(snvs, eligible) > 0.001
    # the overlap 200-250 is not counted twice: its share is that of its 50 of the positions
    in_overlap = ((snvs["chrom"] == "chr1") & snvs["pos"].between(201, 250)).mean()
    assert abs(in_overlap - 50 / len(eligible)) < 0.01


def test_block_processing_is_exact(genome: Genome, monkeypatch: pytest.MonkeyPatch) -> None:
    regions = {"chr1": np.array([[90, 333], [410, 700]]), "chr2": np.array([[0, 800]])}
    widths: list[int] = []
    counted = random_snvs._eligible

    def recording(codes: np.ndarray, lo: int, hi: int, intervals: np.ndarray | None
                  ) -> np.ndarray:
        widths.append(hi - lo)
        return counted(codes, lo, hi, intervals)

    monkeypatch.setattr(random_snvs, "_eligible", recording)
    for chosen in (None, regions):
        monkeypatch.setattr(random_snvs, "BLOCK_SIZE", 1 << 30)
        large = _frame(sample_snvs(genome, 3000, seed=5, margin=MARGIN, regions=chosen))
        monkeypatch.setattr(random_snvs, "BLOCK_SIZE", 7)
        widths.clear()
        small = _frame(sample_snvs(genome, 3000, seed=5, margin=MARGIN, regions=chosen))
        assert max(widths) == 7 and len(widths) > 100  # the genome really went in small blocks
        pd.testing.assert_frame_equal(small, large)


@pytest.mark.parametrize(("line", "reason"), [
    ("chr1\t10", "at least 3 columns"),
    ("chr1\tten\t20", "must be integers"),
    ("chr1\t-1\t20", "bad interval"),
    ("chr1\t30\t20", "bad interval"),
])
def test_bed_errors_name_file_and_line(genome: Genome, tmp_path: Path, line: str,
                                       reason: str) -> None:
    bed = tmp_path / "bad.bed"
    bed.write_text(f"track name=x\nchr1\t100\t200\n{line}\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(bed))}: line 3: .*{reason}"):
        read_bed(bed, genome)


def test_bed_without_intervals_on_the_genome_is_an_error(genome: Genome, tmp_path: Path) -> None:
    bed = tmp_path / "other.bed"
    bed.write_text("chrZ\t1\t100\nchrY\t5\t10\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(bed))}: none of its 2 intervals"):
        read_bed(bed, genome)


def test_no_eligible_position_is_an_error(genome: Genome, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no eligible position.*inside the regions"):
        sample_snvs(genome, 10, margin=MARGIN, regions={"chr1": np.array([[300, 420]])})
    fasta = _write_fasta(tmp_path / "small.fa", {"chrS": CONTIGS["chrS"], "chrN": CONTIGS["chrN"]})
    with pytest.raises(ValueError, match="no eligible position"):
        sample_snvs(Genome(fasta, cache_dir=False), 10, margin=MARGIN)
    with pytest.raises(ValueError, match="n >= 1"):
        sample_snvs(genome, 0)
