"""``tbvar model ...`` sub-commands."""

from __future__ import annotations

import argparse
import json

from tbvar.checkpoint import read_model_info
from tbvar.tasks import task_labels


def _info(args: argparse.Namespace) -> int:
    info = read_model_info(args.model)
    if args.json:
        print(json.dumps(info.to_json(), indent=2))
        return 0
    config = info.config
    print(f"model file      {args.model}")
    print(f"description     {info.description or '-'}")
    if info.random_weights:
        print("WEIGHTS         RANDOM (untrained): predictions are meaningless; "
              "for tests and demos only")
    print(f"genome build    {info.genome_build}")
    print(f"sequence length {config.sequence_length} "
          f"(one-hot A,G,C,T; {config.n_bins} attention bins)")
    print(f"architecture    conv {config.n_kernels}x{config.kernel_width}, "
          f"pool {config.pool_size}, "
          f"BiLSTM {config.lstm_units} ({config.recurrent_activation} gates), "
          f"dense {config.dense_units}, {config.n_tasks} tasks")
    print(f"task source     {info.task_source or '-'}")
    labels = task_labels(info.tasks)
    shown = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
    print(f"tasks           {len(labels)}: {shown}")
    for key, value in sorted(info.provenance.items()):
        print(f"provenance      {key}: {value}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``model`` command group."""
    model = subparsers.add_parser("model", help="inspect and manage models")
    commands = model.add_subparsers(dest="model_command", required=True)
    info = commands.add_parser("info", help="print a model file's metadata")
    info.add_argument("model", help="model file (.safetensors)")
    info.add_argument("--json", action="store_true", help="print the raw JSON metadata")
    info.set_defaults(func=_info)
