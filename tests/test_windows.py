"""Windows against hand-written expectations (docs/architecture.md window rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tbvar.genome import Genome, decode_sequence
from tbvar.model import codes_to_onehot
from tbvar.windows import build_windows

# index: 0 A, 1 A, 2 C, 3 C, 4 G, 5 G, 6 T, 7 T, 8 A, 9 c, 10 g, 11 t, 12 N, 13 N,
#        14 A, 15 G, 16 C, 17 T  (soft-masked lower case and an N run)
CONTIG = "AACCGGTTAcgtNNAGCT"
L = 8

# (case, POS (1-based), REF, ALT, expected REF window, expected ALT window, edge)
CASES = [
    ("snv", 7, "T", "A", "CCGGTTAC", "CCGGATAC", False),
    ("mnv", 5, "GG", "TA", "AACCGGTT", "AACCTATT", False),
    ("insertion", 5, "G", "GCA", "AACCGGTT", "AACCGCAG", False),
    ("long insertion cut to L", 5, "G", "GAAAAAAA", "AACCGGTT", "AACCGAAA", False),
    ("deletion", 5, "GGT", "G", "AACCGGTT", "AACCGTAC", False),
    ("complex", 6, "GTT", "CA", "ACCGGTTA", "ACCGCAAC", False),
    ("left contig edge", 2, "A", "G", "NNNAACCG", "NNNAGCCG", True),
    ("right contig edge", 17, "C", "T", "NNAGCTNN", "NNAGTTNN", True),
    ("deletion reaching past the end", 15, "AGC", "A", "GTNNAGCT", "GTNNATNN", True),
    ("soft-masked and N bases", 11, "g", "A", "TTACGTNN", "TTACATNN", False),
]


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Genome:
    path = tmp_path_factory.mktemp("windows") / "tiny.fa"
    path.write_text(f">chrT\n{CONTIG}\n")
    return Genome(path, cache_dir=False)


@pytest.mark.parametrize("case,pos,ref,alt,want_ref,want_alt,want_edge", CASES,
                         ids=[c[0] for c in CASES])
def test_hand_written_windows(genome: Genome, case: str, pos: int, ref: str, alt: str,
                              want_ref: str, want_alt: str, want_edge: bool) -> None:
    alleles = pd.DataFrame({"contig": ["chrT"], "pos": [pos], "ref": [ref], "alt": [alt]})
    windows = build_windows(genome, alleles, L)
    ref_w, alt_w, edge = windows.ref, windows.alt, windows.edge
    assert decode_sequence(ref_w[0]) == want_ref
    assert decode_sequence(alt_w[0]) == want_alt
    assert bool(edge[0]) is want_edge


def test_all_cases_in_one_vectorised_call(genome: Genome) -> None:
    alleles = pd.DataFrame([(c[1], c[2], c[3]) for c in CASES], columns=["pos", "ref", "alt"])
    alleles.insert(0, "contig", "chrT")
    windows = build_windows(genome, alleles, L)
    ref_w, alt_w, edge = windows.ref, windows.alt, windows.edge
    assert [decode_sequence(w) for w in ref_w] == [c[4] for c in CASES]
    assert [decode_sequence(w) for w in alt_w] == [c[5] for c in CASES]
    assert edge.tolist() == [c[6] for c in CASES]


def test_codes_follow_agct_order(genome: Genome) -> None:
    assert genome.codes("chrT")[:9].tolist() == [0, 0, 2, 2, 1, 1, 3, 3, 0]
    assert genome.codes("chrT")[12] == 4


def test_onehot_order_is_a_g_c_t_and_n_is_zero() -> None:
    codes = torch.tensor([[0, 1, 2, 3, 4]], dtype=torch.uint8)
    onehot = codes_to_onehot(codes)[0].numpy()
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(onehot, expected)


def test_first_ref_base_sits_at_half_window(genome: Genome) -> None:
    alleles = pd.DataFrame({"contig": ["chrT"], "pos": [9], "ref": ["A"], "alt": ["T"]})
    windows = build_windows(genome, alleles, L)
    ref_w, alt_w = windows.ref, windows.alt
    assert decode_sequence(ref_w[0])[L // 2] == "A"
    assert decode_sequence(alt_w[0])[L // 2] == "T"


# --anchor deepsea: the first REF base at index L/2 - 1 (DeepSEA, ExPecto, Selene)
DEEPSEA_CASES = [
    ("snv", 7, "T", "A", "CGGTTACG", "CGGATACG", False),
    ("deletion", 5, "GGT", "G", "ACCGGTTA", "ACCGTACG", False),
    ("left contig edge", 2, "A", "G", "NNAACCGG", "NNAGCCGG", True),
    ("right contig edge", 17, "C", "T", "NAGCTNNN", "NAGTTNNN", True),
]


@pytest.mark.parametrize("case,pos,ref,alt,want_ref,want_alt,want_edge", DEEPSEA_CASES,
                         ids=[c[0] for c in DEEPSEA_CASES])
def test_deepsea_anchor_windows(genome: Genome, case: str, pos: int, ref: str, alt: str,
                                want_ref: str, want_alt: str, want_edge: bool) -> None:
    alleles = pd.DataFrame({"contig": ["chrT"], "pos": [pos], "ref": [ref], "alt": [alt]})
    windows = build_windows(genome, alleles, L, anchor=L // 2 - 1)
    assert decode_sequence(windows.ref[0]) == want_ref
    assert decode_sequence(windows.alt[0]) == want_alt
    assert bool(windows.edge[0]) is want_edge


def test_anchor_option_reaches_the_windows(small_model_file, tmp_path) -> None:
    import tbvar

    from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF

    center = tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, device="cpu")
    deepsea = tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, device="cpu",
                              anchor="deepsea")
    ok = center["status"] == "ok"
    lod = [c for c in center.columns if c.startswith("lod.")]
    assert not np.allclose(center.loc[ok, lod], deepsea.loc[ok, lod])  # other windows
    out = tmp_path / "d.vcf"
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out, device="cpu",
                    anchor="deepsea")
    assert "##tbvar_anchor=deepsea (first REF base at window index L/2 - 1)" in out.read_text()
