"""Train ``tests/data/attention_model.safetensors``: a small TBiNet of the paper's geometry.

The bundled example model reads 220 bp in 15 attention bins, too few for the attention
acceptance bound (see :mod:`tests.test_explain_truth`). This model has the paper's window and
bins: 1000 bp, kernels of width 26, pool 13, so 75 bins of 38 bp every 13 bp; a planted site
overlaps about 4 of them (uniform share ~5 %). It is otherwise as small as the example model
(32 kernels, 16 LSTM units, 32 dense units, the same four JASPAR motifs) and trained the same
way (``tbvar-train simulate`` → ``fit`` with the paper's settings except lr 3e-3 →
``evaluate``), all in this process on one CPU thread, deterministic for a seed.

From scratch (``--init-from ''``) the 1000 bp model finds the motifs one at a time after long
plateaus: with the attention near-uniform at the start, a site's features reach the BiLSTM
divided by ~75, so the signal that would teach the attention where to look is itself diluted
(37 epochs, 18 min: REST and ESR1 learned, CTCF and ZNF143 not, AUROC ~0.5). So by default the
model starts (``fit --init-from``) from the example model's convolution, attention, LSTM and
output layer, which do not depend on the window length (a curriculum: 220 bp windows, then
1000 bp ones); the dense layer starts fresh. Then the attention and ISM figures of
:func:`tests.explain_truth.measure` are taken on a sparse-site genome of another seed, and
everything is printed as JSON and stored in the model file's provenance.

Usage: ``python -m tests.train_attention_model [--workdir DIR] [--epochs N] [--lr LR]
[--init-from MODEL|''] [--no-install]`` (about 17 minutes on a loaded two-core machine).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from tbvar.checkpoint import file_sha256, save_model
from tbvar.run_setup import load_model
from tbvar_train.evaluate import evaluate
from tbvar_train.fit import FitOptions, fit
from tbvar_train.simulate import simulate_dataset

from .explain_truth import ATTENTION_MODEL, CASES, EXAMPLE_MODEL, measure

SEED = 20200817
MOTIFS = ["CTCF", "REST", "ZNF143", "ESR1"]
#: The paper's window, kernel width and pool (75 bins); the example model's small sizes.
MODEL_CONFIG = {"n_kernels": 32, "kernel_width": 26, "pool_size": 13, "lstm_units": 16,
                "dense_units": 32}


def train(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Simulate, fit and evaluate in ``work``; the report (without the attention figures)."""
    sim = work / "sim"
    simulate_dataset(sim, n_tasks=len(MOTIFS), n_grammar=0, motif_names=MOTIFS,
                     n_train=args.n_train, n_valid=1000, n_test=2000, seq_len=1000,
                     seed=SEED, p_motif=args.p_motif, genome_seqs=0, variants=False,
                     overwrite=True, command="python -m tests.train_attention_model")
    init_from = args.init_from or None
    start = time.perf_counter()
    summary = fit(FitOptions(data=str(sim), out=str(work / "run"), epochs=args.epochs,
                             patience=args.patience, lr=args.lr, seed=SEED, device="cpu",
                             model_config={**MODEL_CONFIG, "lstm_dropout": args.lstm_dropout},
                             init_from=init_from, resume=args.resume, progress=False))
    wall = time.perf_counter() - start
    history = pd.read_csv(work / "run" / "metrics.csv")
    table, metrics = evaluate(summary["model"], str(sim), device="cpu")
    return {"model": summary["model"], "n_train": args.n_train, "p_motif": args.p_motif,
            "lr": args.lr, "lstm_dropout": args.lstm_dropout,
            "init_from": init_from and {"file": Path(init_from).name,
                                        "sha256": file_sha256(init_from)},
            "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
            "train_seconds": round(float(history["seconds"].sum()), 1),
            "fit_wall_seconds": round(wall, 1),
            "test_auroc": dict(zip(table["target"], table["auroc"].round(4), strict=True)),
            "test_mean_auroc": round(metrics["mean_auroc"], 4),
            "test_mean_aupr": round(metrics["mean_aupr"], 4)}


def install(report: dict[str, Any]) -> None:
    """Save ``report["model"]`` as :data:`ATTENTION_MODEL` with the rest of ``report`` in its
    provenance."""
    report = dict(report)
    trained = load_model(report.pop("model"))
    info = trained.info
    info.description = ("tbvar test model: small TBiNet of the paper's geometry (1000 bp, "
                        "75 attention bins) trained by tests/train_attention_model.py on "
                        f"simulated planted-motif data ({','.join(MOTIFS)}); not a model of "
                        "real TF binding")
    info.provenance = {**info.provenance, "attention_report": report}
    save_model(trained, ATTENTION_MODEL, info)


def main() -> None:
    """Train, measure, print the JSON report; install the model unless ``--no-install``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--p-motif", type=float, default=0.3)
    parser.add_argument("--lstm-dropout", type=float, default=0.5)
    parser.add_argument("--init-from", default=str(EXAMPLE_MODEL),
                        help="model to start from ('' = from scratch; default the example "
                             "model)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in WORKDIR (e.g. with more --epochs)")
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tbvar-attention-"))
    report = train(work, args)
    with tempfile.TemporaryDirectory() as truth:
        report.update(measure(report["model"], Path(truth), CASES[ATTENTION_MODEL]))
    print(json.dumps(report, indent=1), flush=True)
    if not args.no_install:
        install(report)


if __name__ == "__main__":
    main()
