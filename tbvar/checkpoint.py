"""tbvar model files: safetensors tensors + JSON metadata; never unpickled.

A tbvar model file is a ``.safetensors`` file whose header metadata has one key, ``tbvar``,
holding a JSON document::

    {"format": "tbvar-model", "format_version": 2, "arch": "tbinet",
     "config": {...the architecture's config...}, "onehot_order": "AGCT",
     "sequence_length": 1000, "genome_build": "hg19", "tasks": [{"index": 125,
     "cell_type": ..., "target": ..., "treatment": ...}, ...], "task_source": "...",
     "description": "...", "random_weights": false, "provenance": {...}}

``arch`` is a name in :data:`tbvar.architectures.REGISTRY`. Version 1 files have no ``arch``
and are TBiNet; they are still read. Version 2 was introduced with the other architectures, so
that an older tbvar refuses every new file with a clear version message instead of failing on
a config it does not know.

Tensors are the model's ``state_dict`` (float32). Loading checks the format marker, the
version, that every tensor the model needs is present with the right shape and that nothing
else is, and reports any problem as :class:`tbvar.errors.ModelFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from tbvar.architectures import (
    ARCHITECTURES,
    ModelConfig,
    architecture_of,
    build_model,
    config_from_dict,
)
from tbvar.atomic import atomic_write
from tbvar.errors import ModelFileError
from tbvar.model import ONEHOT_ORDER, TBiNet
from tbvar.tasks import TASK_COLUMNS, generic_tasks

FORMAT_NAME = "tbvar-model"
#: Version written; version 1 (TBiNet only, no ``arch`` key) is still read.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
METADATA_KEY = "tbvar"


@dataclass
class ModelInfo:
    """Everything a model file says about itself besides its weights.

    ``config`` is the config of any registered architecture; :attr:`arch` follows from it.
    """

    config: ModelConfig
    tasks: pd.DataFrame
    genome_build: str = "unknown"
    description: str = ""
    task_source: str = ""
    random_weights: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    sha256: str | None = None

    @property
    def arch(self) -> str:
        """Registry name of the model's architecture (from the config's class)."""
        return architecture_of(self.config).name

    def to_json(self) -> dict[str, Any]:
        """The JSON metadata document stored in the file."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "config": self.config.to_dict(),
            "onehot_order": ONEHOT_ORDER,
            "sequence_length": self.config.sequence_length,
            "genome_build": self.genome_build,
            "description": self.description,
            "task_source": self.task_source,
            "random_weights": self.random_weights,
            "provenance": self.provenance,
            "tasks": self.tasks[list(TASK_COLUMNS)].to_dict(orient="records"),
        }


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: nn.Module, path: str | os.PathLike[str], info: ModelInfo) -> None:
    """Write ``model`` and ``info`` to ``path`` atomically (temporary file + rename).

    ``model`` is a module of any registered architecture; ``info.config`` is set to its config.
    """
    if len(info.tasks) != model.config.n_tasks:
        raise ValueError(f"{len(info.tasks)} task descriptions for a model with "
                         f"{model.config.n_tasks} outputs")
    info.config = model.config
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    metadata = {METADATA_KEY: json.dumps(info.to_json())}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _parse_info(path: str, meta: dict[str, str] | None) -> ModelInfo:
    if not meta or METADATA_KEY not in meta:
        raise ModelFileError(f"{path}: a safetensors file, but not a tbvar model "
                             "(no 'tbvar' metadata); convert Keras files with "
                             "'tbvar model import-keras'")
    try:
        doc = json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: tbvar metadata is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: metadata format is not {FORMAT_NAME!r}")
    version = doc.get("format_version")
    if version not in READ_VERSIONS:
        readable = " and ".join(map(str, READ_VERSIONS))
        raise ModelFileError(f"{path}: model format version {version!r} is not supported "
                             f"(this tbvar reads versions {readable})")
    if doc.get("onehot_order", ONEHOT_ORDER) != ONEHOT_ORDER:
        raise ModelFileError(f"{path}: one-hot order {doc.get('onehot_order')!r} is not "
                             f"{ONEHOT_ORDER}")
    arch = doc.get("arch") if version != 1 else TBiNet.arch
    if arch not in ARCHITECTURES:
        raise ModelFileError(f"{path}: model architecture {arch!r} is not one this tbvar knows "
                             f"({', '.join(ARCHITECTURES)})")
    try:
        config = config_from_dict(arch, doc["config"])
        tasks = pd.DataFrame(doc["tasks"], columns=list(TASK_COLUMNS))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid model metadata ({exc})") from None
    if tasks.empty:
        tasks = generic_tasks(config.n_tasks)
    if len(tasks) != config.n_tasks:
        raise ModelFileError(f"{path}: {len(tasks)} task descriptions for "
                             f"{config.n_tasks} model outputs")
    return ModelInfo(
        config=config,
        tasks=tasks.astype({"index": int, "cell_type": str, "target": str, "treatment": str}),
        genome_build=str(doc.get("genome_build", "unknown")),
        description=str(doc.get("description", "")),
        task_source=str(doc.get("task_source", "")),
        random_weights=bool(doc.get("random_weights", False)),
        provenance=dict(doc.get("provenance", {})),
        path=path,
    )


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read only the metadata of a model file (no tensors)."""
    path = str(path)
    try:
        with safe_open(path, framework="pt") as handle:
            return _parse_info(path, handle.metadata())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: not a safetensors model file ({exc})") from None


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu"
               ) -> tuple[nn.Module, ModelInfo]:
    """Load a tbvar model file of any registered architecture without unpickling anything.

    Parameters
    ----------
    path
        ``.safetensors`` file written by :func:`save_model`.
    device
        Where to put the model.

    Returns
    -------
    model, info
        The model (a :class:`tbvar.architectures.SequenceModel`) in eval mode and its metadata
        (``info.sha256`` is the file's hash).

    Raises
    ------
    ModelFileError
        The file is missing, not safetensors, not a tbvar model, or its tensors do not match.
    """
    path = str(path)
    info = read_model_info(path)
    model = build_model(info.config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        with safe_open(path, framework="pt") as handle:
            names = set(handle.keys())
            missing = sorted(set(expected) - names)
            extra = sorted(names - set(expected))
            if missing or extra:
                raise ModelFileError(f"{path}: tensors do not match the model config "
                                     f"(a {info.arch} model: missing {missing[:5]}, "
                                     f"unexpected {extra[:5]})")
            state = {}
            for name in expected:
                tensor = handle.get_tensor(name)
                if tuple(tensor.shape) != expected[name]:
                    raise ModelFileError(f"{path}: tensor {name} has shape "
                                         f"{tuple(tensor.shape)}, expected {expected[name]}")
                state[name] = tensor.float()
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: corrupted model file ({exc})") from None
    model.load_state_dict(state)
    info.sha256 = file_sha256(path)
    return model.to(device).eval(), info
