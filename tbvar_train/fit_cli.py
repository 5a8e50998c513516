"""``tbvar-train fit`` command line (the loop itself is :mod:`tbvar_train.fit`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tbvar.architectures import ARCHITECTURES
from tbvar_train.architectures import INITIALISATIONS
from tbvar_train.fit import PRECISIONS, FitOptions, fit


def _model_config(value: str) -> dict[str, Any]:
    """A JSON object given inline or as a path to a JSON file."""
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not a JSON object: {exc}") from None
    if not isinstance(config, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` sub-command."""
    parser = subparsers.add_parser(
        "fit", help="train a model on a tbvar shard directory",
        description="Train TBiNet (or the DanQ/DeepSEA baselines) with the TBiNet paper's "
                    "settings; checkpoints every epoch, exports the best epoch. Multi-GPU: "
                    "launch with torchrun (batch size is per process).")
    parser.add_argument("--data", required=True, help="tbvar shard directory (meta.json ...)")
    parser.add_argument("--out", required=True, help="run directory (created)")
    parser.add_argument("--arch", choices=ARCHITECTURES, default="tbinet",
                        help="architecture (default tbinet); every one exports a model file "
                        "that tbvar score reads")
    parser.add_argument("--init", choices=INITIALISATIONS, default="keras",
                        help="weight initialisation: keras (the reference code's Keras 2.2.4 "
                        "defaults, default) or torch (PyTorch defaults)")
    parser.add_argument("--init-from", metavar="MODEL",
                        help="start from the weights of this tbvar model file (same "
                        "architecture) wherever name and shape match, e.g. the convolution, "
                        "attention and LSTM of a TBiNet of another window length")
    parser.add_argument("--epochs", type=int, default=60, help="maximum epochs (default 60)")
    parser.add_argument("--patience", type=int, default=10,
                        help="early-stopping patience on the validation loss (default 10)")
    parser.add_argument("--batch-size", type=int, default=100, help="per process (default 100)")
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="Adam learning rate (default 0.001, the paper's)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of initialisation, shuffling and dropout (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto = bf16 autocast on CUDA, fp32 on CPU")
    parser.add_argument("--small-model-config", type=_model_config, default={},
                        metavar="JSON", help="architecture hyper-parameter overrides (JSON "
                        "object or file), e.g. '{\"n_kernels\": 32, \"lstm_units\": 16}'")
    parser.add_argument("--max-steps-per-epoch", type=int, default=None,
                        help="cap the optimiser steps per epoch (default: the whole split)")
    parser.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                        help="also checkpoint every STEPS steps within an epoch")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoint.safetensors when it exists")
    parser.add_argument("--prefetch", type=int, default=4, help="batches read ahead (0: off)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tbvar-train fit``."""
    options = FitOptions(
        data=args.data, out=args.out, arch=args.arch, init=args.init,
        init_from=args.init_from, epochs=args.epochs,
        patience=args.patience, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        device=args.device, precision=args.precision, model_config=args.small_model_config,
        max_steps_per_epoch=args.max_steps_per_epoch, checkpoint_every=args.checkpoint_every,
        resume=args.resume, prefetch=args.prefetch,
        progress=False if args.no_progress else None)
    summary = fit(options)
    if "model" in summary:
        print(f"best epoch {summary['best_epoch']} (valid loss {summary['best_valid_loss']:.5f});"
              f" model written to {summary['model']}", file=sys.stderr)
    return 0
