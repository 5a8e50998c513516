"""Calibrated significance on simulated truth: the bundled example model on a sparse-site genome.

For one seed: a genome with the example model's four motifs planted sparsely (1 % of bases;
``tbvar-train simulate-genome``), its motif-destroying SNVs and as many control SNVs (at least
100 bp from every site), a background of random genome SNVs (``tbvar calibrate --random``), and:

- the p-value of each destroying SNV in its motif's task;
- the per-task p-values of the controls (they should be uniform);
- a run of 10 % destroying and 90 % control SNVs: discoveries at ``q < 0.1``, realised FDR and
  power.

``python -m tests.significance_truth [SEED ...]`` prints these figures as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import tbvar
from tbvar_train.simgenome import simulate_genome

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples" / "model.safetensors"
#: Genome size: 4 contigs of 850 kb give about 2,000 sites (and as many controls).
CONTIG_LENGTH = 850_000
BACKGROUND_SNVS = 5_000
MIX_FRACTION = 0.1
FDR_LEVEL = 0.1


@dataclass
class Outcome:
    """What one seed gives."""

    destroying_p: np.ndarray        # (d,) p in the destroyed motif's task
    control_p: pd.DataFrame          # (c, tasks) per-task p of the controls
    mix_truth: np.ndarray            # (m,) 1 = destroying
    mix_q: np.ndarray                # (m,) q-values of the mixed run
    site_fraction: float

    def summary(self) -> dict:
        """JSON-ready figures."""
        found = self.mix_q < FDR_LEVEL
        false = int((found & (self.mix_truth == 0)).sum())
        return {"site_fraction": round(self.site_fraction, 5),
                "destroying": len(self.destroying_p), "controls": len(self.control_p),
                "destroying_p_below_0.01": round(float(np.mean(self.destroying_p < 0.01)), 4),
                "mix": len(self.mix_q), "discoveries_q_below_0.1": int(found.sum()),
                "realised_fdr": round(false / max(int(found.sum()), 1), 4),
                "power": round(float(found[self.mix_truth == 1].mean()), 4)}


def run_seed(seed: int, root: Path) -> Outcome:
    """Simulate, calibrate and score for one seed under ``root``."""
    files = simulate_genome(root / "sim", n_contigs=4, contig_length=CONTIG_LENGTH, seed=seed)
    background = root / "background.safetensors"
    tbvar.calibrate(files.genome, MODEL, background, device="cpu",
                    source=tbvar.BackgroundSource(random=BACKGROUND_SNVS, seed=seed))
    truth = pd.read_csv(files.truth, sep="\t")
    frame = tbvar.score_vcf(files.variants, files.genome, MODEL, device="cpu", scores=("p",),
                            background=str(background))
    assert (frame["status"] == "ok").all() and frame["id"].tolist() == truth["id"].tolist()
    p = frame.filter(like="p.simulated|")
    destroying = truth["destroys_motif"].to_numpy() == 1
    # truth's task is the model output index, and p's columns are in output order
    destroying_p = p.to_numpy()[np.flatnonzero(destroying), truth["task"].to_numpy()[destroying]]
    rng = np.random.default_rng(seed)
    controls = np.flatnonzero(~destroying)
    picked = np.sort(np.r_[rng.choice(np.flatnonzero(destroying),
                                      int(len(controls) * MIX_FRACTION / (1 - MIX_FRACTION)),
                                      replace=False), controls])
    variants = truth.iloc[picked].rename(columns={"contig": "chrom"})[["chrom", "pos", "ref",
                                                                       "alt", "id"]]
    mix = tbvar.score_variants(variants, files.genome, MODEL, device="cpu",
                               background=str(background))
    meta = json.loads(files.meta.read_text())
    return Outcome(destroying_p, p.iloc[controls].reset_index(drop=True),
                   truth["destroys_motif"].to_numpy()[picked], mix["q"].to_numpy(),
                   float(meta["site_fraction"]))


def main(seeds: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {seed: run_seed(seed, Path(tmp) / str(seed)).summary() for seed in seeds}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [0, 1, 2])
