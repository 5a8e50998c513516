"""The TBiNet paper's baselines DanQ and DeepSEA (no attention).

Both take uint8 base codes ``(N, L)`` (one-hot encoded on the device, A,G,C,T order) or one-hot
``(N, L, 4)`` floats, and return ``(logits, None)``.

- **DanQ** (Quang & Xie 2016): Conv1D 320 × 26 ReLU → MaxPool 13 → Dropout 0.2 → BiLSTM 320
  (sequences) → Dropout 0.5 → Flatten → Dense 925 ReLU → Dense (logits).
- **DeepSEA** (Zhou & Troyanskaya 2015): Conv 320 × 8 ReLU → MaxPool 4 → Dropout 0.2 →
  Conv 480 × 8 ReLU → MaxPool 4 → Dropout 0.2 → Conv 960 × 8 ReLU → Dropout 0.5 → Flatten →
  Dense 925 ReLU → Dense (logits). DeepSEA's original L1/L2 penalties and max-norm constraint
  are not reproduced: every architecture trains with the TBiNet paper's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from tbvar.json_config import JsonConfig
from tbvar.model import codes_to_onehot


@dataclass(frozen=True)
class DanQConfig(JsonConfig):
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
class DeepSEAConfig(JsonConfig):
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

    arch: ClassVar[str] = "danq"
    has_attention: ClassVar[bool] = False

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

    arch: ClassVar[str] = "deepsea"
    has_attention: ClassVar[bool] = False

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
