"""score_variants takes what a notebook has: tuples, strings, mapped columns, summary
statistics (oriented to the effect allele), open pyfaidx/pysam genomes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

import tbvar

from .conftest import EXAMPLE_GENOME, REAL_START
from .reference_scoring import read_fasta

SCORES = ("ref", "alt", "lod", "diff")


@pytest.fixture(scope="module")
def snvs() -> pd.DataFrame:
    chr17 = read_fasta(str(EXAMPLE_GENOME))["chr17"]
    rows = []
    for i in range(12):
        pos = REAL_START + 300 + 211 * i
        ref = chr17[pos - 1].upper()
        rows.append(("chr17", pos, ref, "ACGT"[("ACGT".index(ref) + 1 + i % 3) % 4]))
    return pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])


def _score(variants, small_model_file: Path, **kwargs) -> pd.DataFrame:
    return tbvar.score_variants(variants, kwargs.pop("genome", EXAMPLE_GENOME),
                                small_model_file, device="cpu", scores=SCORES, **kwargs)


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame.filter(regex=r"^(ref|alt|lod|diff)\.").to_numpy()


def test_tuples_strings_and_mapped_columns_score_alike(snvs: pd.DataFrame,
                                                       small_model_file: Path) -> None:
    want = _score(snvs, small_model_file)
    assert (want["status"] == "ok").all()
    tuples = list(snvs.itertuples(index=False, name=None))
    for separator in ":-_":
        strings = [separator.join(map(str, t)) for t in tuples]
        np.testing.assert_array_equal(_numbers(_score(strings, small_model_file)),
                                      _numbers(want))
    np.testing.assert_array_equal(_numbers(_score(tuples, small_model_file)), _numbers(want))
    gwas = snvs.rename(columns={"chrom": "CHR", "pos": "BP", "ref": "REF_", "alt": "ALT_"})
    mapped = _score(gwas, small_model_file,
                    columns={"chrom": "CHR", "pos": "BP", "ref": "REF_", "alt": "ALT_"})
    np.testing.assert_array_equal(_numbers(mapped), _numbers(want))


def test_contig_names_with_separators_parse() -> None:
    from tbvar.variant_table import variant_table

    table, _ = variant_table(["chr1_gl000192_random_100_A_G", "HLA-A*01:01-5-C-T"])
    assert table.values.tolist() == [["chr1_gl000192_random", "100", "A", "G"],
                                     ["HLA-A*01:01", "5", "C", "T"]]


@pytest.mark.parametrize("bad", [{"chrom": "chr17"}, 17, "chr17:1:A:C", [{"a": 1}],
                                 [("chr17", 1, "A")], None])
def test_anything_else_is_a_value_error_saying_what_is_accepted(bad, small_model_file) -> None:
    with pytest.raises(ValueError, match="expected a DataFrame with columns chrom, pos"):
        _score(bad, small_model_file)


def test_malformed_strings_and_columns_name_the_problem(small_model_file) -> None:
    with pytest.raises(tbvar.VariantInputError, match="variant 'chr17:abc:A:C'"):
        _score(["chr17:abc:A:C"], small_model_file)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['position'\]"):
        _score(pd.DataFrame({"c": []}), small_model_file, columns={"position": "c"})


def test_summary_statistics_are_oriented_to_the_effect_allele(snvs: pd.DataFrame,
                                                              small_model_file: Path) -> None:
    genome_ref = _score(snvs, small_model_file)  # REF = genome base, ALT = other allele
    effect_is_ref = np.arange(len(snvs)) % 2 == 0  # A1 (effect) is the genome base here
    gwas = pd.DataFrame({
        "CHR": snvs["chrom"], "BP": snvs["pos"],
        "A1": np.where(effect_is_ref, snvs["ref"], snvs["alt"]),
        "A2": np.where(effect_is_ref, snvs["alt"], snvs["ref"])})
    got = _score(gwas, small_model_file, columns={"chrom": "CHR", "pos": "BP",
                                                  "effect_allele": "A1", "other_allele": "A2"})
    assert (got["status"] == "ok").all()
    assert got["swapped"].tolist() == effect_is_ref.tolist()
    assert got["alt"].tolist() == gwas["A1"].tolist()  # alleles as the user gave them
    assert got["ref"].tolist() == gwas["A2"].tolist()
    lod, want = got.filter(like="lod."), genome_ref.filter(like="lod.")
    np.testing.assert_allclose(lod[~effect_is_ref], want[~effect_is_ref], rtol=0, atol=0)
    np.testing.assert_allclose(lod[effect_is_ref], -want[effect_is_ref], rtol=1e-6)
    np.testing.assert_array_equal(got.filter(like="alt.")[effect_is_ref],
                                  genome_ref.filter(like="ref.")[effect_is_ref])
    np.testing.assert_allclose(got["max_lod"][effect_is_ref],
                               -genome_ref["max_lod"][effect_is_ref], rtol=1e-6)


def test_open_pysam_and_pyfaidx_genomes(snvs: pd.DataFrame, small_model_file: Path,
                                        tmp_path: Path) -> None:
    import gzip

    import pyfaidx  # in the test extra: notebooks built on pyfaidx pass their Fasta

    want = _numbers(_score(snvs, small_model_file))
    with pysam.FastaFile(str(EXAMPLE_GENOME)) as fasta:
        np.testing.assert_array_equal(
            _numbers(_score(snvs, small_model_file, genome=fasta)), want)
    plain = tmp_path / "genome.fa"  # pyfaidx reads bgzip only with Biopython installed
    plain.write_bytes(gzip.decompress(EXAMPLE_GENOME.read_bytes()))
    fasta = pyfaidx.Fasta(str(plain))
    np.testing.assert_array_equal(_numbers(_score(snvs, small_model_file, genome=fasta)), want)
