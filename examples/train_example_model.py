"""Train the bundled example model with ``tbvar-train`` on simulated planted-motif data.

Steps (all deterministic for a given seed, on the CPU in a few minutes):

1. ``tbvar-train simulate``: JASPAR motifs planted in random sequence (one task per motif),
   with a genome of held-out sequences and motif-destroying / control variants;
2. ``tbvar-train fit``: a small TBiNet with the paper's optimiser settings;
3. ``tbvar-train evaluate``: held-out per-task AUROC/AUPR (forward + RC averaged);
4. ``tbvar score`` of the simulated variants: AUROC of ``max_abslod`` for separating
   motif-destroying variants from controls;
5. copies the trained model to ``examples/model.safetensors`` and prints a JSON report.

Usage: ``python examples/train_example_model.py [--workdir DIR] [--epochs N] [--no-install]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

import tbvar
from tbvar.checkpoint import save_model

HERE = Path(__file__).resolve().parent
SEED = 20200817
MOTIFS = "CTCF,REST,ZNF143,ESR1"
#: 220 bp windows: (220 − 26 + 1) = 195 = 15 × 13, so the RC attention flip stays exact.
MODEL_CONFIG = {"n_kernels": 32, "kernel_width": 26, "pool_size": 13, "lstm_units": 16,
                "dense_units": 32}
#: The paper's Adam settings except the learning rate: 3e-3 instead of 1e-3, because the
#: attention weights (which sum to 1 over the bins) scale the BiLSTM input down and a small
#: data set gives few steps per epoch; with 1e-3 the same model needs ~3x more epochs.
LEARNING_RATE = "3e-3"


def run(*args: str) -> None:
    """Run a tbvar-train sub-command in this interpreter, failing loudly."""
    subprocess.run([sys.executable, "-m", "tbvar_train.cli", *args], check=True)


def main() -> None:
    """Simulate, train, evaluate, score; install the model unless ``--no-install``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tbvar-example-"))
    sim, out = work / "sim", work / "run"
    run("simulate", "--out", str(sim), "--n-tasks", "4", "--n-grammar", "0",
        "--motif-names", MOTIFS, "--n-train", "12000", "--n-valid", "1000", "--n-test", "2000",
        "--seq-len", "220", "--seed", str(SEED), "--overwrite")
    run("fit", "--data", str(sim), "--out", str(out), "--epochs", str(args.epochs),
        "--patience", "8", "--lr", LEARNING_RATE, "--seed", str(SEED), "--device", "cpu",
        "--no-progress", "--small-model-config", json.dumps(MODEL_CONFIG))
    model = out / "model.safetensors"
    run("evaluate", "--model", str(model), "--data", str(sim), "-o", str(work / "test.tsv"))
    table = pd.read_csv(work / "test.tsv", sep="\t")
    scored = tbvar.score_vcf(sim / "variants.vcf", sim / "genome.fa", model, device="cpu")
    truth = pd.read_csv(sim / "variants_truth.tsv", sep="\t")
    merged = scored.merge(truth[["id", "destroys_motif"]], on="id", validate="one_to_one")
    report = {
        "test_auroc": dict(zip(table["target"], table["auroc"].round(4), strict=True)),
        "test_mean_auroc": round(float(table["auroc"].mean()), 4),
        "test_mean_aupr": round(float(table["aupr"].mean()), 4),
        "variants": int(len(merged)),
        "destroying_vs_control_auroc": round(float(roc_auc_score(
            merged["destroys_motif"], merged["max_abslod"])), 4),
    }
    print(json.dumps(report, indent=2))
    if not args.no_install:
        trained = tbvar.load_model(model)
        info = trained.info
        info.description = ("tbvar example model: small TBiNet trained by "
                            "examples/train_example_model.py on simulated planted-motif data "
                            f"({MOTIFS}); not a model of real TF binding")
        info.provenance = {**info.provenance, "example_report": report}
        save_model(trained, HERE / "model.safetensors", info)


if __name__ == "__main__":
    main()
