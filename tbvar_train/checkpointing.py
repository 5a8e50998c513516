"""Training checkpoints without pickle: one safetensors file, tensors plus a JSON state document.

Tensor names are prefixed by what they belong to: ``model.*`` (current weights), ``best.*``
(weights of the best epoch so far), ``optim.<param>.<key>`` (optimizer state tensors) and
``rng.*`` (random-generator states, one per rank). Everything else (epoch, position in the
epoch, best-so-far, early-stopping counter, metrics history, optimizer hyper-parameters,
gradient-scaler state, the options of the run) is a JSON document stored in the safetensors
header under ``tbvar_train_state``. The file is written to a temporary name and renamed, so a
crash leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tbvar.atomic import atomic_write

STATE_KEY = "tbvar_train_state"
CHECKPOINT_FORMAT = "tbvar-train-checkpoint"
CHECKPOINT_VERSION = 1


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer ``state_dict`` into named tensors and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entries in state_dict["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{param_id}.{key}"] = value
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> dict:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    for param_id, entries in doc["scalars"].items():
        state.setdefault(int(param_id), {}).update(entries)
    groups = [dict(group, betas=tuple(group["betas"])) if "betas" in group else group
              for group in doc["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_checkpoint(path: str | os.PathLike[str], groups: dict[str, dict[str, torch.Tensor]],
                    state: dict[str, Any]) -> None:
    """Write tensor ``groups`` (prefix → name → tensor) and the JSON ``state`` atomically."""
    tensors = {f"{prefix}.{name}": value.detach().cpu().contiguous()
               for prefix, group in groups.items() for name, value in group.items()}
    doc = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={STATE_KEY: json.dumps(doc)}))


def load_checkpoint(path: str | os.PathLike[str]
                    ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    groups, state
        Tensors by prefix and name, and the JSON state document.
    """
    path = str(path)
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
            if STATE_KEY not in meta:
                raise ValueError(f"{path}: not a tbvar-train checkpoint")
            state = json.loads(meta[STATE_KEY])
            groups: dict[str, dict[str, torch.Tensor]] = {}
            for key in handle.keys():
                prefix, name = key.split(".", 1)
                groups.setdefault(prefix, {})[name] = handle.get_tensor(key)
    except (SafetensorError, OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable checkpoint ({exc})") from None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint format "
                         f"{state.get('format')!r} version {state.get('version')!r}")
    return groups, state
