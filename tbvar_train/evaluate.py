"""``tbvar-train evaluate``: per-task AUROC / AUPR on a shard split, as in the TBiNet paper.

Each sequence's prediction is the mean of the probabilities for the sequence and its reverse
complement (made on the device). Per task: AUROC = ``auc(*roc_curve(...)[:2])`` and AUPR =
``auc(recall, precision)`` from ``precision_recall_curve`` (trapezoids, as the paper's code;
this is *not* sklearn's average precision). A task whose labels hold a single class has no
defined AUROC/AUPR: it is reported as NaN and left out of the means (the count is reported).
When the tasks are DeepSEA's 690 TBiNet tasks, the means are shown beside the paper's Table 4.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import auc, precision_recall_curve, roc_curve
from torch import nn

from tbvar.checkpoint import load_model
from tbvar.model import reverse_complement_codes
from tbvar.progress import Progress
from tbvar.tasks import tbinet_tasks
from tbvar_train.checkpointing import atomic_write_text
from tbvar_train.dataset import ShardLoader, ShardSplit
from tbvar_train.distributed import resolve_device
from tbvar_train.shards import SPLITS

#: Paper Table 4 (Park et al. 2020): mean AUROC and AUPR over the 690 tasks.
PAPER_TABLE4 = {"DeepSEA": (0.9015, 0.2485), "DanQ": (0.9316, 0.2959),
                "TBiNet": (0.9473, 0.3332)}


def task_metrics(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Per-task positives, negatives, AUROC and AUPR (NaN for single-class tasks).

    Parameters
    ----------
    labels
        ``(N, T)`` 0/1 labels.
    scores
        ``(N, T)`` predicted probabilities.
    """
    if labels.shape != scores.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be equal 2-D")
    rows = []
    for j in range(labels.shape[1]):
        y, s = labels[:, j].astype(bool), scores[:, j]
        n_pos = int(y.sum())
        auroc = aupr = float("nan")
        if 0 < n_pos < len(y):
            fpr, tpr, _ = roc_curve(y, s)
            precision, recall, _ = precision_recall_curve(y, s)
            auroc, aupr = float(auc(fpr, tpr)), float(auc(recall, precision))
        rows.append((n_pos, len(y) - n_pos, auroc, aupr))
    return pd.DataFrame(rows, columns=["n_pos", "n_neg", "auroc", "aupr"])


@torch.no_grad()
def predict(model: nn.Module, split: ShardSplit, batch_size: int = 256,
            device: str | torch.device = "cpu", progress: bool = False) -> np.ndarray:
    """Probabilities ``(N, T)`` averaged over each sequence and its reverse complement
    (``progress``: sequences done, on standard error)."""
    model.eval()
    loader = ShardLoader(split, batch_size, shuffle=False, device=device)
    parts = []
    with Progress(len(split), progress, desc="tbvar-train evaluate", unit="sequences") as shown:
        for batch in loader.iterate():
            forward, _ = model(batch.x)
            reverse, _ = model(reverse_complement_codes(batch.x))
            parts.append(((torch.sigmoid(forward.float()) + torch.sigmoid(reverse.float())) / 2)
                         .cpu().numpy())
            shown.update(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, split.meta["n_tasks"]), np.float32)


def is_tbinet_task_set(tasks: pd.DataFrame) -> bool:
    """True when ``tasks`` are DeepSEA's 690 TBiNet tasks in output order."""
    reference = tbinet_tasks()
    return len(tasks) == len(reference) and tasks["index"].tolist() == \
        reference["index"].tolist()


def evaluate(model_path: str, data: str, split: str = "test", batch_size: int = 256,
             device: str = "auto", progress: bool = False
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate a tbvar model file (any architecture) on one split of a shard directory.

    Returns
    -------
    table, summary
        Per-task table (task columns, n_pos, n_neg, auroc, aupr) and a summary with the
        means over tasks with both classes, counts, and the paper's Table 4 when applicable.
    """
    resolved = resolve_device(device)
    model, info = load_model(model_path, resolved)
    shard = ShardSplit(data, split)
    config = model.config
    if (config.sequence_length, config.n_tasks) != (shard.meta["sequence_length"],
                                                    shard.meta["n_tasks"]):
        raise ValueError(f"{model_path}: model takes {config.sequence_length} bp and predicts "
                         f"{config.n_tasks} tasks; {data} has {shard.meta['sequence_length']} "
                         f"bp and {shard.meta['n_tasks']} tasks")
    tasks = shard.tasks
    scores = predict(model, shard, batch_size, resolved, progress)
    table = pd.concat([tasks, task_metrics(np.asarray(shard.y), scores)], axis=1)
    defined = table.dropna(subset=["auroc", "aupr"])
    summary: dict[str, Any] = {
        "model": str(model_path), "arch": info.arch, "data": str(data), "split": split,
        "n_sequences": len(shard), "n_tasks": len(table),
        "n_tasks_evaluated": len(defined), "n_tasks_single_class": len(table) - len(defined),
        "mean_auroc": float(defined["auroc"].mean()) if len(defined) else float("nan"),
        "mean_aupr": float(defined["aupr"].mean()) if len(defined) else float("nan"),
        "model_tasks_match_data": info.tasks["index"].tolist() == tasks["index"].tolist(),
        "averaging": "mean of forward and reverse-complement probabilities",
    }
    if is_tbinet_task_set(tasks):
        summary["paper_table4"] = {name: {"mean_auroc": a, "mean_aupr": p}
                                   for name, (a, p) in PAPER_TABLE4.items()}
    return table, summary


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable means (and the side-by-side with the paper's Table 4)."""
    lines = [f"{summary['split']}: {summary['n_sequences']} sequences, "
             f"{summary['n_tasks_evaluated']} of {summary['n_tasks']} tasks evaluated "
             f"({summary['n_tasks_single_class']} single-class tasks are NaN, not in the means)",
             f"{'model':<28}{'mean AUROC':>12}{'mean AUPR':>12}",
             f"{'this model (' + summary['arch'] + ')':<28}"
             f"{summary['mean_auroc']:>12.4f}{summary['mean_aupr']:>12.4f}"]
    for name, row in summary.get("paper_table4", {}).items():
        lines.append(f"{name + ' (paper Table 4)':<28}"
                     f"{row['mean_auroc']:>12.4f}{row['mean_aupr']:>12.4f}")
    if not summary["model_tasks_match_data"]:
        lines.append("warning: the model's task indices differ from the data's task table")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate", help="per-task AUROC/AUPR of a model on a shard split",
        description="Per-task AUROC and AUPR of a tbvar model (any architecture) on a split "
                    "of a shard directory, as in the TBiNet paper (forward/reverse-complement "
                    "averaged), with the paper's Table 4 beside them for DeepSEA's 690 tasks.")
    parser.add_argument("--model", required=True,
                        help="tbvar model file (e.g. RUNDIR/model.safetensors from fit)")
    parser.add_argument("--data", required=True, help="tbvar shard directory")
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="which split to evaluate (default test)")
    parser.add_argument("-o", "--output", required=True, help="per-task table (TSV)")
    parser.add_argument("--json", help="also write the summary as JSON here")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="sequences per forward pass (default 256)")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tbvar-train evaluate``."""
    table, summary = evaluate(args.model, args.data, args.split, args.batch_size, args.device,
                              progress=not args.no_progress)
    atomic_write_text(Path(args.output), table.to_csv(sep="\t", index=False, na_rep="NaN"))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(summary, indent=1) + "\n")
    print(format_summary(summary), file=sys.stdout)
    return 0
