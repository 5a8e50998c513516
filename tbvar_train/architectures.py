"""Trainable architectures: TBiNet (default) and the paper's baselines DanQ and DeepSEA.

Every model takes uint8 base codes ``(N, L)`` (one-hot encoded on the device, A,G,C,T order)
or one-hot ``(N, L, 4)`` floats, and returns ``(logits, attention)``; the baselines have no
attention and return ``None`` in its place.

- **DanQ** (Quang & Xie 2016): Conv1D 320 × 26 ReLU → MaxPool 13 → Dropout 0.2 → BiLSTM 320
  (sequences) → Dropout 0.5 → Flatten → Dense 925 ReLU → Dense (logits).
- **DeepSEA** (Zhou & Troyanskaya 2015): Conv 320 × 8 ReLU → MaxPool 4 → Dropout 0.2 →
  Conv 480 × 8 ReLU → MaxPool 4 → Dropout 0.2 → Conv 960 × 8 ReLU → Dropout 0.5 → Flatten →
  Dense 925 ReLU → Dense (logits). DeepSEA's original L1/L2 penalties and max-norm constraint
  are not reproduced: every architecture trains with the TBiNet paper's settings.

Only TBiNet exports to a tbvar model file (the scorer's format). Baselines are saved as
training weights (:func:`save_weights`), which ``tbvar-train evaluate`` reads but ``tbvar score``
does not.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from tbvar.atomic import atomic_write
from tbvar.checkpoint import load_model, read_model_info
from tbvar.model import TBiNet, TBiNetConfig, codes_to_onehot
from tbvar.tasks import TASK_COLUMNS
from tbvar_train.initialise import keras_initialise

ARCHITECTURES = ("tbinet", "danq", "deepsea")
WEIGHTS_KEY = "tbvar_train"
WEIGHTS_FORMAT = "tbvar-train-weights"


@dataclass(frozen=True)
class DanQConfig:
    """DanQ hyper-parameters (defaults: Quang & Xie 2016)."""

    sequence_length: int = 1000
    n_kernels: int = 320
    kernel_width: int = 26
    pool_size: int = 13
    lstm_units: int = 320
    dense_units: int = 925
    n_tasks: int = 690
    conv_dropout: float = 0.2
    lstm_dropout: float = 0.5

    @property
    def n_bins(self) -> int:
        """Pooled positions fed to the BiLSTM (75 at the default sizes)."""
        return (self.sequence_length - self.kernel_width + 1) // self.pool_size


@dataclass(frozen=True)
class DeepSEAConfig:
    """DeepSEA hyper-parameters (defaults: Zhou & Troyanskaya 2015)."""

    sequence_length: int = 1000
    channels: tuple[int, int, int] = (320, 480, 960)
    kernel_width: int = 8
    pool_size: int = 4
    dropouts: tuple[float, float, float] = (0.2, 0.2, 0.5)
    dense_units: int = 925
    n_tasks: int = 690

    @property
    def out_length(self) -> int:
        """Positions after the third convolution (53 at the default sizes)."""
        length = self.sequence_length
        for _ in range(2):
            length = (length - self.kernel_width + 1) // self.pool_size
        return length - self.kernel_width + 1


def _as_onehot(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return codes_to_onehot(x, dtype=dtype) if x.dim() == 2 else x


class DanQ(nn.Module):
    """DanQ: convolution → max-pool → BiLSTM → dense; ``forward`` returns ``(logits, None)``."""

    def __init__(self, config: DanQConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DanQConfig()
        if c.n_bins < 1:
            raise ValueError("sequence_length is too short for kernel_width and pool_size")
        self.conv = nn.Conv1d(4, c.n_kernels, c.kernel_width)
        self.conv_dropout = nn.Dropout(c.conv_dropout)
        self.lstm = nn.LSTM(c.n_kernels, c.lstm_units, batch_first=True, bidirectional=True)
        self.lstm_dropout = nn.Dropout(c.lstm_dropout)
        self.dense = nn.Linear(c.n_bins * 2 * c.lstm_units, c.dense_units)
        self.output = nn.Linear(c.dense_units, c.n_tasks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Logits ``(N, n_tasks)`` for codes ``(N, L)`` or one-hot ``(N, L, 4)``."""
        h = _as_onehot(x, self.conv.weight.dtype).transpose(1, 2)
        h = nn.functional.max_pool1d(torch.relu(self.conv(h)), self.config.pool_size)
        h, _ = self.lstm(self.conv_dropout(h.transpose(1, 2)))
        h = torch.relu(self.dense(self.lstm_dropout(h).flatten(1)))
        return self.output(h), None


class DeepSEA(nn.Module):
    """DeepSEA: three convolutions → dense; ``forward`` returns ``(logits, None)``."""

    def __init__(self, config: DeepSEAConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DeepSEAConfig()
        if c.out_length < 1:
            raise ValueError("sequence_length is too short for kernel_width and pool_size")
        widths = (4, *c.channels)
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv1d(widths[i], widths[i + 1], c.kernel_width), nn.ReLU()]
            if i < 2:
                layers.append(nn.MaxPool1d(c.pool_size))
            layers.append(nn.Dropout(c.dropouts[i]))
        self.features = nn.Sequential(*layers)
        self.dense = nn.Linear(c.out_length * c.channels[2], c.dense_units)
        self.output = nn.Linear(c.dense_units, c.n_tasks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Logits ``(N, n_tasks)`` for codes ``(N, L)`` or one-hot ``(N, L, 4)``."""
        h = self.features(_as_onehot(x, self.dense.weight.dtype).transpose(1, 2))
        # flatten position-major (Keras channels_last order), as TBiNet and DanQ do
        h = torch.relu(self.dense(h.transpose(1, 2).flatten(1)))
        return self.output(h), None


_CONFIGS: dict[str, type] = {"tbinet": TBiNetConfig, "danq": DanQConfig,
                             "deepsea": DeepSEAConfig}
_MODELS: dict[str, type[nn.Module]] = {"tbinet": TBiNet, "danq": DanQ, "deepsea": DeepSEA}


def make_config(arch: str, sequence_length: int, n_tasks: int,
                overrides: dict[str, Any] | None = None) -> Any:
    """Configuration of ``arch`` for the data's shape, with hyper-parameter ``overrides``."""
    if arch not in _CONFIGS:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    cls = _CONFIGS[arch]
    values = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {arch} config keys {unknown}; known: {sorted(known)}")
    shape = {"sequence_length": sequence_length, "n_tasks": n_tasks}
    for key, value in shape.items():
        if values.get(key, value) != value:
            raise ValueError(f"{key}={values[key]} in the model config does not match the "
                             f"data ({value})")
    values.update(shape)
    for name in ("channels", "dropouts"):
        if name in values:
            values[name] = tuple(values[name])
    return cls(**values)


INITIALISATIONS = ("keras", "torch")


def build_model(arch: str, config: Any, init: str = "keras") -> nn.Module:
    """A freshly initialised model of ``arch`` (uses the global torch RNG).

    ``init="keras"`` (default) reproduces the reference code's Keras 2.2.4 initialisation
    (:func:`tbvar_train.initialise.keras_initialise`); ``"torch"`` keeps PyTorch's defaults.
    """
    if init not in INITIALISATIONS:
        raise ValueError(f"unknown initialisation {init!r}; expected one of {INITIALISATIONS}")
    model = _MODELS[arch](config)
    return keras_initialise(model) if init == "keras" else model


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-JSON form of any architecture's config."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(config).items()}


def save_weights(model: nn.Module, arch: str, path: str | os.PathLike[str],
                 tasks: pd.DataFrame, provenance: dict[str, Any]) -> None:
    """Save a trained model of any architecture (safetensors + JSON metadata), atomically.

    This is a training artefact, not a tbvar model file; TBiNet models are exported with
    :func:`tbvar.checkpoint.save_model` instead.
    """
    doc = {"format": WEIGHTS_FORMAT, "arch": arch, "config": config_to_dict(model.config),
           "tasks": tasks[list(TASK_COLUMNS)].to_dict(orient="records"),
           "provenance": provenance}
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp,
                                             metadata={WEIGHTS_KEY: json.dumps(doc)}))


def load_trained(path: str | os.PathLike[str], device: str | torch.device = "cpu"
                 ) -> tuple[nn.Module, str, pd.DataFrame]:
    """Load a tbvar model file or a :func:`save_weights` file.

    Returns
    -------
    model, arch, tasks
        The model in eval mode on ``device``, its architecture name and task table.
    """
    path = str(path)
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
            if WEIGHTS_KEY not in meta:
                model, info = load_model(path, device)
                return model, "tbinet", info.tasks
            doc = json.loads(meta[WEIGHTS_KEY])
            arch = doc["arch"]
            config = make_config(arch, doc["config"]["sequence_length"],
                                 doc["config"]["n_tasks"], doc["config"])
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such model file") from None
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
        read_model_info(path)  # raises the scorer's clear message for non-model files
        raise ValueError(f"{path}: invalid trained-weights file ({exc})") from None
    model = build_model(arch, config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not match the {arch} config ({exc})") from None
    tasks = pd.DataFrame(doc["tasks"], columns=list(TASK_COLUMNS))
    return model.to(device).eval(), arch, tasks
