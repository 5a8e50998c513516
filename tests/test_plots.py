"""Notebook figures: tbvar.plot_variant (attention profile, ISM heat map) and tbvar.plot_run
(Manhattan plot of a run): what they draw equals the data, at the stated pixel sizes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

import tbvar
from tbvar.errors import RunOutputError
from tbvar.plot_run import plot_run_manhattan
from tbvar.plot_variant import plot_attention_profile, plot_ism_heatmap

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, EXAMPLES

MODEL = EXAMPLES / "model.safetensors"
BACKGROUND = EXAMPLES / "background.safetensors"


def png_size(figure: Figure) -> tuple[int, int]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    with Image.open(buffer) as image:
        return image.size


@pytest.fixture(scope="module")
def explained() -> tbvar.VariantExplanation:
    return tbvar.explain_variant("chr17:7517295:C:G", EXAMPLE_GENOME, MODEL, device="cpu",
                                 window=10, tasks=["CTCF", "ESR1"])


@pytest.fixture(scope="module")
def run() -> pd.DataFrame:
    return tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, device="cpu",
                           background=BACKGROUND)


def test_attention_profile_draws_the_arrays(explained: tbvar.VariantExplanation) -> None:
    figure = plot_attention_profile(explained)
    top, bottom = figure.axes
    ref, alt = top.lines[0], top.lines[1]
    centre = (explained.bin_start + explained.bin_end) / 2
    np.testing.assert_allclose(ref.get_xdata(), centre)
    np.testing.assert_allclose(ref.get_ydata(), explained.attention_ref)
    np.testing.assert_allclose(alt.get_ydata(), explained.attention_alt)
    heights = [bar.get_height() for bar in bottom.patches]
    np.testing.assert_allclose(heights, explained.attention_diff, rtol=1e-6)
    assert png_size(figure) == (1000, 450)


def test_ism_heatmap_draws_the_effects(explained: tbvar.VariantExplanation) -> None:
    figure = plot_ism_heatmap(explained, "ESR1")
    top, bottom = figure.axes[:2]
    cells = np.asarray(bottom.collections[0].get_array()).reshape(4, -1)  # rows A, C, G, T
    np.testing.assert_allclose(cells, explained.ism[1][:, [0, 2, 1, 3]].T)
    np.testing.assert_allclose([bar.get_height() for bar in top.patches], explained.ism_max[1])
    assert "ESR1" in top.get_title() and png_size(figure) == (1000, 400)
    assert plot_ism_heatmap(explained).axes[0].get_title().endswith("simulated|CTCF|None")
    with pytest.raises(ValueError, match="task 'REST' has no ISM in this explanation"):
        plot_ism_heatmap(explained, "REST")


def test_attention_profile_needs_attention() -> None:
    left_out = tbvar.explain_variant("chr17:7517295:C:G", EXAMPLE_GENOME, MODEL, device="cpu",
                                     window=1, attention=False)
    with pytest.raises(ValueError, match="the explanation has no attention"):
        plot_attention_profile(left_out)


@pytest.mark.parametrize("value, transform", [("max_abslod", lambda v: v),
                                              ("min_p", lambda v: -np.log10(v))])
def test_manhattan_from_a_frame(run: pd.DataFrame, value: str,
                                transform: Callable[[np.ndarray], np.ndarray]) -> None:
    figure = plot_run_manhattan(run, value)
    ax = figure.axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    scored = run[run["status"] == "ok"]
    assert len(points) == len(scored)  # one contig: x is the position
    order = np.lexsort((points[:, 1], points[:, 0]))
    expected = np.column_stack([scored["pos"], transform(scored[value].to_numpy(np.float64))])
    np.testing.assert_allclose(points[order], expected[np.lexsort((expected[:, 1],
                                                                   expected[:, 0]))], rtol=1e-6)
    assert png_size(figure) == (1200, 400)


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz", ".parquet", ".vcf.gz"])
def test_manhattan_from_files_equals_from_the_frame(tmp_path: Path, run: pd.DataFrame,
                                                    suffix: str) -> None:
    output = tmp_path / f"run{suffix}"
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, output, device="cpu",
                    background=BACKGROUND)
    region = "chr17:7,517,000-7,525,000"
    from_file = plot_run_manhattan(output, "min_p", region=region, threshold=0.05)
    from_frame = plot_run_manhattan(run, "min_p", region=region)
    points = from_file.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(points, from_frame.axes[0].collections[0].get_offsets(),
                               rtol=1e-6, atol=1e-6)  # float32 p through text
    assert ((points[:, 0] >= 7_517_000) & (points[:, 0] <= 7_525_000)).all()
    assert from_file.axes[0].lines[0].get_ydata()[0] == pytest.approx(-np.log10(0.05))


def test_manhattan_errors(tmp_path: Path, run: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="the run: no column 'p.CTCF'"):
        plot_run_manhattan(run, "p.CTCF")
    with pytest.raises(ValueError, match="no scored allele with a max_abslod value in chr1"):
        plot_run_manhattan(run, region="chr1")
    with pytest.raises(ValueError, match="region 'chr17:5': expected chrom or chrom:start-end"):
        plot_run_manhattan(run, region="chr17:5")
    (tmp_path / "other.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(RunOutputError, match="other.tsv: not a tbvar"):
        plot_run_manhattan(tmp_path / "other.tsv", "min_p")
    output = tmp_path / "run.tsv"
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, output, device="cpu", scores=["lod"])
    with pytest.raises(ValueError, match="per-task columns need the score_vcf DataFrame"):
        plot_run_manhattan(output, "lod.simulated|CTCF|None")
