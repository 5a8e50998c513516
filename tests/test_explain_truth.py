"""``tbvar explain`` on simulated truth: the bundled example model on a genome of sparse
planted motif sites (``tbvar-train simulate-genome``, a seed the model never saw).

For 100 sites (25 per task) that are alone in the model's 220 bp window, a variant at the
site's centre is explained with ISM for the site's task (:func:`tests.explain_truth.measure`):

- ISM: the position with the largest |lod| lies inside the planted site for ≥ 90 % of sites;
- attention: the mean REF attention mass on the bins whose receptive fields overlap the site,
  against its uniform share (overlapping bins / 15).

About the attention bound: the issue asked for ≥ 3× the uniform share. With this model's 15
bins of 38 bp every 13 bp, a 15-21 bp site overlaps 4 or 5 bins, so the uniform share is
0.27-0.33 and 3× would need 80-100 % of all attention on those bins (impossible for 5 of
15). The example model measures 1.24× (mass 0.37 against 0.30; ``python -m
tests.explain_truth`` prints the figures), and its attention peak lies on a site bin for
86 % of sites against about 30 % by chance; the bounds below sit under those figures. ISM
finds the site for 100 % of them. The
exact placement of bins on the genome is tested separately
(``test_explain.test_attention_bins_are_the_receptive_fields``).
"""

from __future__ import annotations

import pytest

from .explain_truth import CASES, EXAMPLE_MODEL, measure


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    return measure(EXAMPLE_MODEL, tmp_path_factory.mktemp("truth"), CASES[EXAMPLE_MODEL])


def test_ism_peaks_inside_the_planted_site(figures: dict[str, float]) -> None:
    assert figures["sites"] == 100
    assert figures["ism_hit_rate"] >= 0.9


def test_attention_concentrates_on_the_planted_site(figures: dict[str, float]) -> None:
    assert figures["bins"] == 15
    assert figures["mass_ratio"] >= 1.15
    assert figures["peak_on_site_rate"] >= 0.75
