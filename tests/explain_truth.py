"""``tbvar explain`` on simulated truth: attention and ISM at sparse planted motif sites.

A genome of sparse planted sites of the four example motifs (``tbvar-train simulate-genome``,
a seed no model here was trained on) is made; for ``sites_per_task`` sites per task that are
alone in the model's window (no other site within ±L/2 of the site's centre), a variant at the
site's centre is explained with ISM for the site's task, and:

- ``ism_hit_rate``: share of sites where the position with the largest |lod| lies inside the
  planted site;
- ``attention_mass``: mean REF attention mass on the bins whose receptive fields overlap the
  site; ``uniform_share``: mean share of such bins (overlapping bins / bins), the mass uniform
  attention would put there; ``mass_ratio`` = ``attention_mass / uniform_share``;
- ``peak_on_site_rate``: share of sites where the bin of largest attention overlaps the site
  (``uniform_share`` is about what chance gives).

``python -m tests.explain_truth [MODEL ...]`` prints these figures as JSON (default: the
example model and ``tests/data/attention_model.safetensors``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from tbvar.explain import DEFAULT_WINDOW, Explainer
from tbvar.genome import Genome
from tbvar.run_setup import load_model
from tbvar_train.simgenome import simulate_genome

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_MODEL = REPO / "examples" / "model.safetensors"
ATTENTION_MODEL = REPO / "tests" / "data" / "attention_model.safetensors"
#: Seed of the truth genome (the models were trained on ``tbvar-train simulate`` data).
TRUTH_SEED = 5


@dataclass(frozen=True)
class TruthGenome:
    """The sparse-site genome a model is measured on; ``n_contigs`` of 200 kb at 1 % site
    density hold about 28 sites per task and contig, of which fewer are alone in a long
    window (about half for 1000 bp)."""

    n_contigs: int = 2
    sites_per_task: int = 25
    seed: int = TRUTH_SEED


def measure(model: str | Path | nn.Module, root: Path, truth: TruthGenome = TruthGenome(),
            window: int = DEFAULT_WINDOW) -> dict[str, float]:
    """Explain ``truth.sites_per_task`` isolated sites per task with ``model``; ISM (half-width
    ``window``) and attention figures (see the module docstring). ``window=0`` leaves ISM out
    in effect (the one position mutated is the site's centre, so ``ism_hit_rate`` is then 1
    by construction)."""
    net = load_model(model)
    length = net.config.sequence_length
    files = simulate_genome(root / "sim", n_contigs=truth.n_contigs, contig_length=200_000,
                            seed=truth.seed)
    sites = pd.read_csv(files.sites, sep="\t")
    genome = Genome(files.genome, cache_dir=False)
    hits, masses, shares, peaks = [], [], [], []
    for task, group in sites.groupby("task"):
        explainer = Explainer(genome, net, device="cpu", tasks=[str(task)], window=window)
        taken = 0
        for site in group.itertuples():
            centre = (site.start + site.end) // 2  # 0-based
            near = sites[(sites["contig"] == site.contig) & (sites["end"] > centre - length // 2)
                         & (sites["start"] < centre + length // 2)]
            if len(near) != 1 or taken == truth.sites_per_task:
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
        if taken < truth.sites_per_task:
            raise ValueError(f"only {taken} sites of task {task} are alone in {length} bp "
                             f"windows; more contigs are needed")
    return {"sites": len(hits), "window": length, "bins": len(explained.attention_ref),
            "ism_hit_rate": float(np.mean(hits)),
            "attention_mass": float(np.mean(masses)), "uniform_share": float(np.mean(shares)),
            "mass_ratio": float(np.mean(masses) / np.mean(shares)),
            "peak_on_site_rate": float(np.mean(peaks))}


#: The genome each bundled model is measured on (the attention model's 1000 bp windows need
#: more contigs to find 25 isolated sites per task).
CASES = {EXAMPLE_MODEL: TruthGenome(), ATTENTION_MODEL: TruthGenome(n_contigs=4)}


def main(models: list[str]) -> None:
    """Print the figures of ``models`` (default: :data:`CASES`) as JSON, with timings."""
    torch.set_num_threads(1)  # one model, one sequence batch at a time: faster, as in tests
    paths = [Path(m) for m in models] or list(CASES)
    for path in paths:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(path, Path(tmp), CASES.get(path.resolve(), TruthGenome(4)))
        figures["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps({"model": str(path), **figures}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
