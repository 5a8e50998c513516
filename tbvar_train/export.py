"""Outputs of a training run: the metrics log (CSV + JSON) and the exported best model."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

import tbvar
from tbvar.architectures import build_model
from tbvar.checkpoint import ModelInfo, save_model
from tbvar_train.checkpointing import atomic_write_text

if TYPE_CHECKING:
    from tbvar_train.fit import FitOptions, _Trainer

METRIC_COLUMNS = ("epoch", "train_loss", "valid_loss", "best_valid_loss", "improved",
                  "train_samples", "seconds", "samples_per_s", "lr")


def write_metrics(out: Path, history: list[dict[str, Any]],
                  summary: dict[str, Any] | None = None) -> None:
    """Write ``metrics.csv`` (one row per epoch) and ``metrics.json`` (rows + summary)."""
    table = pd.DataFrame(history, columns=list(METRIC_COLUMNS))
    atomic_write_text(out / "metrics.csv", table.to_csv(index=False))
    atomic_write_text(out / "metrics.json",
                      json.dumps({"history": history, "summary": summary}, indent=1) + "\n")


def fit_command(options: FitOptions) -> str:
    """The ``tbvar-train fit`` command line equivalent to ``options`` (for provenance; the
    data and run directories by name only, as they are in the model's provenance)."""
    words = ["tbvar-train", "fit", "--data", Path(options.data).name,
             "--out", Path(options.out).name,
             "--arch", options.arch, "--epochs", options.epochs, "--patience", options.patience,
             "--batch-size", options.batch_size, "--lr", options.lr, "--seed", options.seed,
             "--device", options.device, "--precision", options.precision]
    if options.model_config:
        words += ["--small-model-config", json.dumps(options.model_config)]
    if options.init_from:
        words += ["--init-from", Path(options.init_from).name]
    if options.max_steps_per_epoch:
        words += ["--max-steps-per-epoch", options.max_steps_per_epoch]
    return " ".join(shlex.quote(str(w)) for w in words)


def export_best(trainer: _Trainer, options: FitOptions) -> Path:
    """Save the best epoch's weights as the tbvar model file ``model.safetensors``.

    Returns
    -------
    Path
        The model file (any architecture; read by ``tbvar score`` and ``tbvar-train evaluate``).
    """
    meta, state = trainer.meta, trainer.state
    model = build_model(trainer.config)
    model.load_state_dict(trainer.best)
    provenance = {
        "trained_by": "tbvar-train fit", "tbvar_version": tbvar.__version__,
        "torch_version": torch.__version__, "command": fit_command(options),
        "data": Path(options.data).name,
        "data_meta": {k: v for k, v in meta.items() if k != "tasks"},
        "arch": options.arch, "seed": options.seed, "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"], "best_valid_loss": state["best_valid_loss"],
        "batch_size": options.batch_size, "world_size": trainer.env.world_size,
        "lr": options.lr, "precision": trainer.precision,
    }
    path = trainer.out / "model.safetensors"
    genome_build = str(meta.get("provenance", {}).get("genome_build", "unknown"))
    info = ModelInfo(config=trainer.config, tasks=trainer.train_split.tasks,
                     genome_build=genome_build,
                     description=(f"{type(model).__name__} trained by tbvar-train on "
                                  f"{Path(options.data).name}"),
                     task_source=f"tbvar shards {provenance['data']}", provenance=provenance)
    save_model(model, path, info)
    return path
