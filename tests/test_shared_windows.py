"""Identical windows go through the model once: same outputs, fewer forward rows."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

import tbvar
from tbvar.genome import Genome
from tbvar.scoring import Scorer, distinct_rows

from .conftest import EXAMPLE_GENOME, REAL_START, make_model

BASES = "ACGT"


def multiallelic_vcf(path: Path) -> Path:
    """4 tri-allelic SNVs, the same 4 records again, then one plain SNV (25 alleles)."""
    genome = Genome(EXAMPLE_GENOME)
    lines = []
    for k in range(5):
        pos = REAL_START + 1000 + 97 * k
        ref = genome.fetch("chr17", pos - 1, pos)
        alts = [b for b in BASES if b != ref]
        lines.append(f"chr17\t{pos}\t.\t{ref}\t{','.join(alts[:3 if k < 4 else 1])}\t.\t.\t.")
    records = lines[:4] * 2 + lines[4:]
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    + "\n".join(records) + "\n")
    return path


def score_counting_rows(vcf: Path, out: Path, monkeypatch: pytest.MonkeyPatch,
                        share: bool, rc: bool) -> int:
    """Score ``vcf`` into ``out`` (batch 4); the rows the model's forward passes saw."""
    model = make_model()
    rows = []
    forward = model.forward

    def counted(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        rows.append(len(codes))
        return forward(codes)

    model.forward = counted
    with monkeypatch.context() as patch:
        patch.setattr("tbvar.run_setup.Scorer", partial(Scorer, share_windows=share))
        tbvar.score_vcf(vcf, EXAMPLE_GENOME, model, output=out, device="cpu", batch_size=4,
                        reverse_complement=rc)
    return sum(rows)


@pytest.mark.parametrize(("suffix", "rc"), [(".vcf", True), (".tsv", True), (".tsv", False)])
def test_shared_windows_give_the_same_output_with_fewer_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, rc: bool) -> None:
    vcf = multiallelic_vcf(tmp_path / "in.vcf")
    (tmp_path / "shared").mkdir()
    (tmp_path / "each").mkdir()
    shared = score_counting_rows(vcf, tmp_path / "shared" / f"out{suffix}", monkeypatch, True,
                                 rc)
    each = score_counting_rows(vcf, tmp_path / "each" / f"out{suffix}", monkeypatch, False, rc)
    assert (tmp_path / "shared" / f"out{suffix}").read_bytes() == \
        (tmp_path / "each" / f"out{suffix}").read_bytes()
    # 25 alleles, each REF + ALT (and their reverse complements): 50 (100) rows unshared.
    # Shared: the 24 alleles of the 6 full passes of 4 variants hold 4 distinct REF and 12
    # distinct ALT windows (2 passes of 8 rows), the last pass (1 variant) runs as it is.
    strands = 2 if rc else 1
    assert each == 50 * strands
    assert shared == (16 + 2) * strands


def test_distinct_rows_in_order_of_first_appearance() -> None:
    codes = np.array([[1, 2], [3, 4], [1, 2], [0, 0], [3, 4]], dtype=np.uint8)
    distinct, inverse = distinct_rows(codes)
    assert distinct.tolist() == [[1, 2], [3, 4], [0, 0]]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    assert np.array_equal(distinct[inverse], codes)
    same, none = distinct_rows(codes[:2])
    assert same is not None and none is None
