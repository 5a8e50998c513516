"""Runs that are probably wrong say so: many unknown contigs or REF mismatches (--strict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tbvar
from tbvar.cli import main
from tbvar.run_summary import RunSummary

from .conftest import EXAMPLE_GENOME, REAL_START
from .reference_scoring import read_fasta


@pytest.fixture(scope="module")
def chr17() -> str:
    return read_fasta(str(EXAMPLE_GENOME))["chr17"]


def _vcf(path: Path, records: list[tuple[str, int, str, str]]) -> Path:
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t." for c, p, r, a in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def _snvs(chr17: str, shift: int = 0, n: int = 40) -> list[tuple[str, int, str, str]]:
    out = []
    for i in range(n):
        pos = REAL_START + 500 + 37 * i
        ref = chr17[pos - 1 + shift].upper()  # shift: positions off by `shift`
        out.append(("chr17", pos, ref, "A" if ref != "A" else "C"))
    return out


def test_thresholds_of_the_warnings() -> None:
    assert RunSummary(alleles=19, status_counts={"unknown_contig": 19}).warnings() == []
    assert len(RunSummary(alleles=40, status_counts={"unknown_contig": 20, "ok": 20})
               .warnings()) == 1
    assert RunSummary(alleles=40, status_counts={"unknown_contig": 19, "ok": 21}
                      ).warnings() == []
    assert RunSummary(alleles=40, status_counts={"ok": 37, "ref_mismatch": 3}).warnings() == []
    assert "REF alleles differ" in RunSummary(
        alleles=40, status_counts={"ok": 36, "ref_mismatch": 4}).warnings()[0]
    assert "REF alleles differ" in RunSummary(  # scored anyway (use-vcf) counts too
        alleles=40, status_counts={"ok": 40}, ref_differs=4).warnings()[0]


def test_shifted_positions_warn_and_strict_refuses(chr17: str, tmp_path: Path,
                                                   small_model_file: Path, capsys) -> None:
    vcf = _vcf(tmp_path / "shifted.vcf", _snvs(chr17, shift=1))
    out = tmp_path / "out.tsv"
    args = ["score", str(vcf), "--genome", str(EXAMPLE_GENOME), "--model",
            str(small_model_file), "-o", str(out), "--device", "cpu"]
    assert main([*args, "-q"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("tbvar: warning: ") and "0-based or shifted positions" in err
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["warnings"] and "REF alleles differ" in summary["warnings"][0]
    out.unlink()
    Path(f"{out}.summary.json").unlink()
    assert main([*args, "--strict", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--strict:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shifted.vcf"]  # nothing written


def test_unknown_contigs_warn_in_the_api_summary(chr17: str, tmp_path: Path,
                                                 small_model_file: Path) -> None:
    records = [("chrUn_x", p, r, a) for _, p, r, a in _snvs(chr17)]
    frame = tbvar.score_vcf(_vcf(tmp_path / "other.vcf", records), EXAMPLE_GENOME,
                            small_model_file, device="cpu")
    assert "contigs the genome lacks" in frame.attrs["summary"]["warnings"][0]
    good = tbvar.score_vcf(_vcf(tmp_path / "good.vcf", _snvs(chr17)), EXAMPLE_GENOME,
                           small_model_file, device="cpu")
    assert good.attrs["summary"]["warnings"] == []
    with pytest.raises(tbvar.VariantInputError, match="--strict"):
        tbvar.score_vcf(tmp_path / "other.vcf", EXAMPLE_GENOME, small_model_file, device="cpu",
                        strict=True)
