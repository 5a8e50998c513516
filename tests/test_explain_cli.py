"""``tbvar explain`` output: directory layout, self-contained pages, figure files, tables,
motif matches, and bad input refused in one line with nothing written."""

from __future__ import annotations

import re
import stat
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import tbvar
from tbvar.baselines import DanQ, DanQConfig
from tbvar.checkpoint import ModelInfo, save_model
from tbvar.cli import main as tbvar_main
from tbvar.explain_page import explain_page, explain_panel
from tbvar.motif_matches import MotifMatchError, read_kernel_matches
from tbvar.tasks import generic_tasks

from .conftest import EXAMPLE_GENOME, EXAMPLES

MODEL = EXAMPLES / "model.safetensors"
BACKGROUND = EXAMPLES / "background.safetensors"
SNVS = ("chr17:7517295:C:G", "chr17:7530271:C:T")  # rs143393141, rs858520
BASE = ["--genome", str(EXAMPLE_GENOME), "--model", str(MODEL), "--device", "cpu", "-q"]


def run(*args: str) -> int:
    return tbvar_main(["explain", *args])


def assert_self_contained(html: str) -> None:
    """Nothing to fetch: every src/href is an in-page anchor or a data: URI."""
    references = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert all(r.startswith(("#", "data:")) for r in references), references[:3]
    for fetch in ("<link", "@import", "url(http", "<iframe", "<img src"):
        assert fetch not in html


def assert_png(path: Path, size: tuple[int, int]) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # a picture, not a blank


@pytest.fixture(scope="module")
def two_variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "out"
    assert run(*SNVS, *BASE, "--background", str(BACKGROUND), "--tasks", "CTCF,REST",
               "-o", str(out)) == 0
    return out


def test_layout_pages_and_figures(two_variants: Path) -> None:
    slugs = ["chr17_7517295_C_G", "chr17_7530271_C_T"]
    assert sorted(p.name for p in two_variants.iterdir()) == [*slugs, "explain.html"]
    assert stat.S_IMODE(two_variants.stat().st_mode) != 0o700  # not mkdtemp's mode
    index = (two_variants / "explain.html").read_text(encoding="utf-8")
    assert_self_contained(index)
    assert "<title>tbvar explain: 2 variants</title>" in index
    for slug, variant in zip(slugs, SNVS, strict=True):
        assert f'href="#{slug}"' in index and f'<article id="{slug}">' in index
        directory = two_variants / slug
        page = (directory / "explain.html").read_text(encoding="utf-8")
        assert_self_contained(page)
        assert f"<title>tbvar explain: {variant}</title>" in page
        assert page.count("<svg") == 3  # attention and two ISM tasks
        assert_png(directory / "attention.png", (1000, 450))
        for task in ("0_simulated_CTCF_None", "1_simulated_REST_None"):
            assert_png(directory / f"ism_{task}.png", (1000, 400))
            ET.parse(directory / f"ism_{task}.svg")
        ET.parse(directory / "attention.svg")
        assert {p.name for p in directory.glob("*.tsv")} == {"tasks.tsv", "ism.tsv",
                                                             "kernels.tsv", "attention.tsv"}


def test_tables_hold_the_explanation(two_variants: Path) -> None:
    explained = tbvar.explain_variant(SNVS[0], EXAMPLE_GENOME, MODEL, device="cpu",
                                      background=BACKGROUND, tasks=["CTCF", "REST"])
    directory = two_variants / "chr17_7517295_C_G"
    tasks = pd.read_csv(directory / "tasks.tsv", sep="\t")
    np.testing.assert_allclose(tasks["lod"], explained.lod, rtol=1e-5)
    np.testing.assert_allclose(tasks["p"], explained.p, rtol=1e-5)
    ism = pd.read_csv(directory / "ism.tsv", sep="\t")
    assert len(ism) == 2 * 101 and list(ism.columns[3:8]) == ["A", "C", "G", "T", "max_abs"]
    first = ism[ism["task"] == "simulated|CTCF|None"]
    np.testing.assert_array_equal(first["position"], explained.ism_positions)
    assert "".join(first["ref_base"]) == explained.ism_reference
    for base, code in zip("ACGT", (0, 2, 1, 3), strict=True):  # code order A, G, C, T
        np.testing.assert_allclose(first[base], explained.ism[0][:, code], rtol=1e-5,
                                   atol=1e-7)
    attention = pd.read_csv(directory / "attention.tsv", sep="\t")
    np.testing.assert_array_equal(attention["start"], explained.bin_start)
    np.testing.assert_allclose(attention["diff"], explained.attention_diff, rtol=1e-5,
                               atol=1e-8)
    kernels = pd.read_csv(directory / "kernels.tsv", sep="\t")
    np.testing.assert_array_equal(kernels["kernel"], explained.kernel_ranking)


def test_one_variant_page_and_explain_page_function(tmp_path: Path) -> None:
    out = tmp_path / "one"
    assert run(SNVS[1], *BASE, "-o", str(out)) == 0
    html = (out / "explain.html").read_text(encoding="utf-8")
    assert "<title>tbvar explain: chr17:7530271:C:T</title>" in html and "<article" not in html
    assert len(list((out / "chr17_7530271_C_T").glob("ism_*.png"))) == 1  # the top task only
    explained = tbvar.explain_variant(SNVS[1], EXAMPLE_GENOME, MODEL, device="cpu")
    page = explain_page(explained)
    assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2


def test_explain_panel_in_a_run_report(tmp_path: Path) -> None:
    run_output = tmp_path / "run.parquet"
    tbvar.score_vcf(EXAMPLES / "variants.vcf", EXAMPLE_GENOME, MODEL, run_output, device="cpu")
    explained = tbvar.explain_variants(list(SNVS), EXAMPLE_GENOME, MODEL, device="cpu",
                                       window=3)
    report = tbvar.report(run_output, tmp_path / "report.html",
                          panels=[explain_panel(e) for e in explained])
    html = report.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert '<article id="chr17_7517295_C_G"><h3>chr17:7517295:C:G</h3>' in html
    assert "<h4>In-silico mutagenesis</h4>" in html and html.count("<article") == 2


@pytest.mark.parametrize("variants, reason", [
    (["chr17:x:C:G"], "variant 'chr17:x:C:G': not chrom:pos:ref:alt"),
    (["chrUn:5:A:G"], "variant chrUn:5:A:G: contig not in the genome"),
    (["chr17:99999999:A:G"], "variant chr17:99999999:A:G: POS < 1 or REF runs past the end"),
    ([SNVS[0], "chr17:7530271:A:T"], "variant chr17:7530271:A:T: REF differs from the genome "
                                     "(genome: C;"),
])
def test_bad_variants_one_line_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], variants: list[str],
        reason: str) -> None:
    out = tmp_path / "out"
    assert run(*variants, *BASE, "-o", str(out)) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"tbvar: error: {reason}") and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no output, no staging directory


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert run(SNVS[0], *BASE, "--window", "2", "-o", str(out)) == 1
    assert "already exists" in capsys.readouterr().err and (out / "mine.txt").exists()
    assert run(SNVS[0], *BASE, "--window", "2", "--overwrite", "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["chr17_7517295_C_G", "explain.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_outputs_that_would_destroy_inputs_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    genome = inputs / "genome.fa"
    genome.write_text(">chr17\nACGT\n")
    model = tmp_path / "model.safetensors"
    model.write_bytes(MODEL.read_bytes())
    cases = [(["--genome", str(genome), "--model", str(MODEL), "-o", str(inputs)],
              "replacing it would delete the input"),
             (["--genome", str(EXAMPLE_GENOME), "--model", str(model), "-o", str(model)],
              "is a file, not a directory to replace"),
             (["--genome", str(tmp_path / "missing.fa"), "--model", "no-such-model",
               "-o", str(tmp_path / "out")], "missing.fa: no such genome file")]
    for args, message in cases:
        assert run(SNVS[0], *args, "--overwrite", "-q") == 1
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1
    assert genome.read_text() == ">chr17\nACGT\n" and model.read_bytes() == MODEL.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs", "model.safetensors"]


@pytest.fixture(scope="module")
def danq_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    config = DanQConfig(sequence_length=220, n_kernels=8, kernel_width=26, pool_size=13,
                        lstm_units=4, dense_units=8, n_tasks=3)
    path = tmp_path_factory.mktemp("danq") / "danq.safetensors"
    save_model(DanQ(config).eval(), path, ModelInfo(config=config, tasks=generic_tasks(3)))
    return path


def test_model_without_attention(tmp_path: Path, danq_file: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = [SNVS[0], "--genome", str(EXAMPLE_GENOME), "--model", str(danq_file), "-q",
            "--window", "3"]
    assert run(*args, "--attention", "-o", str(tmp_path / "a")) == 1
    error = capsys.readouterr().err
    assert "a danq model has no attention" in error and error.count("\n") == 1
    assert not (tmp_path / "a").exists()
    assert run(*args, "-o", str(tmp_path / "b")) == 0
    html = (tmp_path / "b" / "explain.html").read_text(encoding="utf-8")
    assert "Not shown: this model (danq) has no attention." in html
    assert not list((tmp_path / "b").rglob("attention*"))
    assert list((tmp_path / "b").rglob("ism_*.png"))


def test_without_matplotlib_one_line_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("tbvar.explain_page", "tbvar.plot_variant"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    assert run(SNVS[0], *BASE, "-o", str(tmp_path / "out")) == 1
    error = capsys.readouterr().err
    assert "tbvar explain needs matplotlib" in error and "[interpret]" in error
    assert error.count("\n") == 1 and list(tmp_path.iterdir()) == []


def write_matches(path: Path, rows: list[str], header: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "matches.tsv").write_text("\n".join([header, *rows]) + "\n")
    return path


def test_motif_matches_on_the_page(tmp_path: Path) -> None:
    explained = tbvar.explain_variant(SNVS[0], EXAMPLE_GENOME, MODEL, device="cpu", window=2)
    top = int(explained.kernel_ranking[0])
    motifs = write_matches(tmp_path / "motifs", [
        f"MA0139.2\tkernel_{top}\tCTCF\t0.5\t0.01\textra",
        f"MA0001.1\tkernel_{top}\tAGL3\t0.9\t0.2\textra",  # a worse match of the same kernel
        "\tkernel_1\t\t\tNA\textra",  # no match
    ], "best_match_id\tKernel\tbest_match_name\tp\tq\tnotes")
    assert run(SNVS[0], *BASE, "--window", "2", "--motifs", str(motifs),
               "-o", str(tmp_path / "out")) == 0
    kernels = pd.read_csv(tmp_path / "out" / "chr17_7517295_C_G" / "kernels.tsv", sep="\t",
                          keep_default_na=False)
    best = kernels[kernels["kernel"] == top].iloc[0]
    assert (best["match_id"], best["match_name"], float(best["match_q"])) == (
        "MA0139.2", "CTCF", 0.01)
    assert (kernels[kernels["kernel"] != top]["match_id"] == "").all()
    html = (tmp_path / "out" / "explain.html").read_text(encoding="utf-8")
    assert "<th>JASPAR</th>" in html and "<td>MA0139.2</td><td>CTCF</td>" in html


def test_matches_of_a_real_tbvar_motifs_run(tmp_path: Path) -> None:
    """The best (rank 1) match per kernel of ``tbvar motifs``' own matches.tsv."""
    motifs = tmp_path / "motifs"
    tbvar.kernel_motifs(MODEL, motifs, genome=EXAMPLE_GENOME, random=500, logos=False,
                        device="cpu")
    table = pd.read_csv(motifs / "matches.tsv", sep="\t")
    best = table[table["rank"] == 1].set_index("kernel")
    assert len(best) >= 1
    explained = tbvar.explain_variant(SNVS[0], EXAMPLE_GENOME, MODEL, device="cpu", window=1,
                                      motifs=motifs)
    matches = explained.kernel_matches
    for k in range(32):
        name = f"kernel_{k}"
        if name in best.index:
            assert (matches.match_id[k], matches.match_name[k]) == (
                best.loc[name, "match_id"], best.loc[name, "match_name"])
            assert matches.q[k] == pytest.approx(best.loc[name, "q"])
        else:
            assert matches.match_id[k] == "" and np.isnan(matches.q[k])


@pytest.mark.parametrize("header, rows, message", [
    ("kernel\tid\tq", ["0\tMA1\t0.1"], "no id column (looked for best_match_id"),
    ("kernel\tmatch_id\tmatch_name\tq", ["32\tMA1\tX\t0.1"],
     "kernel '32' is not one of this model's 32 kernels"),
    ("filter\ttarget_id\ttarget_name\tq_value", ["filter7\tMA1\tX\t0.1"], None),
])
def test_matches_file_errors(tmp_path: Path, header: str, rows: list[str],
                             message: str | None) -> None:
    directory = write_matches(tmp_path / "m", rows, header)
    if message is None:
        matches = read_kernel_matches(directory, 32)
        assert matches.match_id[7] == "MA1" and matches.q[7] == pytest.approx(0.1)
        return
    with pytest.raises(MotifMatchError, match=re.escape(message)):
        read_kernel_matches(directory, 32)


def test_missing_matches_file(tmp_path: Path) -> None:
    with pytest.raises(MotifMatchError, match="matches.tsv: no such file"):
        read_kernel_matches(tmp_path, 32)


def test_readme_figures_are_images_of_the_stated_size() -> None:
    docs = EXAMPLES.parent / "docs" / "img"
    assert_png(docs / "explain_attention.png", (1000, 450))
    assert_png(docs / "explain_ism.png", (1000, 400))
