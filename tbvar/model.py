"""TBiNet: convolution → max-pool → attention → BiLSTM → dense (Park et al. 2020).

The module follows the reference Keras model layer by layer (see docs/architecture.md):

- input one-hot ``(N, L, 4)`` in base order A, G, C, T (N = all zeros), or uint8 base codes
  ``(N, L)`` (0..3 = A, G, C, T; 4 = N) which are one-hot encoded on the model's device;
- Conv1D (``n_kernels`` × ``kernel_width``, valid, ReLU) → MaxPool (``pool_size``) → Dropout;
- attention: ``a = softmax_t(x_t · p + b)`` over the pooled positions, ``x_t ← a_t x_t``;
- BiLSTM (``lstm_units`` per direction, sequences returned) → Dropout → Flatten
  (position-major, as Keras ``channels_last``) → Dense ReLU → Dense (logits).

Design notes
------------
* Max-pooling is applied to the raw convolution and the bias + ReLU afterwards: both are
  monotone per channel, so the result is identical and most element-wise work is skipped.
* Keras' LSTM has one bias vector per gate, PyTorch's ``nn.LSTM`` two (``bias_ih`` and
  ``bias_hh``). tbvar keeps ``nn.LSTM`` (cuDNN on GPU) but freezes ``bias_hh`` at zero
  (``requires_grad=False``, never trained, re-zeroed on load), so ``bias_ih`` *is* the Keras bias
  and the trainable parameter count equals the Keras count (35,515,816 at the paper's sizes).
* ``recurrent_activation="hard_sigmoid"`` (Keras 2.2.4 default, ``clip(0.2x + 0.5, 0, 1)``)
  runs the same weights through an explicit recurrence: the input projection for every step and
  both directions is one matmul; only the ``h @ W_hh`` recurrence is a (batched) loop. With
  autograd on (training) the recurrence is one autograd Function with a hand-written backward
  (``tbvar.keras_lstm``) instead of autograd of the loop; same outputs.
* Inference on the CPU (base codes, eval mode, no autograd, no autocast) goes through
  :mod:`tbvar.fast_forward` instead: the same function laid out for throughput (float32
  rounding differences only). Training, autograd, one-hot input, autocast and CUDA (cuDNN's
  LSTM for sigmoid gates) keep the reference path below; ``fast_inference = False`` forces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from tbvar import fast_forward
from tbvar.json_config import JsonConfig
from tbvar.keras_lstm import hard_sigmoid_bilstm

#: One-hot channel order of every architecture (and of DeepSEA's data).
ONEHOT_ORDER = "AGCT"
#: Code used for N (and any base that is not A, G, C or T).
N_CODE = 4
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")


@dataclass(frozen=True)
class TBiNetConfig(JsonConfig):
    """Hyper-parameters of a TBiNet model (stored in every checkpoint).

    The defaults are the paper's sizes.
    """

    sequence_length: int = 1000
    n_kernels: int = 320
    kernel_width: int = 26
    pool_size: int = 13
    lstm_units: int = 320
    dense_units: int = 695
    n_tasks: int = 690
    recurrent_activation: str = "sigmoid"
    conv_dropout: float = 0.2
    lstm_dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.recurrent_activation not in RECURRENT_ACTIVATIONS:
            raise ValueError(
                f"recurrent_activation must be one of {RECURRENT_ACTIVATIONS}, "
                f"got {self.recurrent_activation!r}"
            )
        for name in ("sequence_length", "n_kernels", "kernel_width", "pool_size",
                     "lstm_units", "dense_units", "n_tasks"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer")
        if self.n_bins < 1:
            raise ValueError("sequence_length is too short for kernel_width and pool_size")

    @property
    def n_bins(self) -> int:
        """Number of pooled positions (attention bins); 75 at the paper's sizes."""
        return (self.sequence_length - self.kernel_width + 1) // self.pool_size

    @property
    def center_bin(self) -> int:
        """Attention bin whose receptive field is centred on window index L/2 (37 for L=1000)."""
        half_field = (self.pool_size + self.kernel_width - 2) / 2
        c = round((self.sequence_length // 2 - half_field) / self.pool_size)
        return int(min(max(c, 0), self.n_bins - 1))

    @property
    def bin_spans(self) -> np.ndarray:
        """``(n_bins, 2)`` window indices ``[start, end)`` each attention bin reads: bin k pools
        convolution outputs ``k·pool .. k·pool + pool − 1``, each reading ``kernel_width`` bases."""
        start = np.arange(self.n_bins, dtype=np.int64) * self.pool_size
        return np.stack([start, start + self.pool_size + self.kernel_width - 1], axis=1)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 2.2.4 hard sigmoid ``clip(0.2 x + 0.5, 0, 1)`` (not torch's slope-1/6 version)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def codes_to_onehot(codes: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot encode base codes ``(N, L)`` (0..3 = A,G,C,T; other = N) to ``(N, L, 4)``."""
    eye = torch.eye(N_CODE + 1, N_CODE, dtype=dtype, device=codes.device)
    return eye[codes.long().clamp_(0, N_CODE)]


def reverse_complement_codes(codes: torch.Tensor) -> torch.Tensor:
    """Reverse complement of base codes ``(N, L)`` in A,G,C,T order (A↔T, G↔C, N↔N)."""
    complement = torch.tensor([3, 2, 1, 0, N_CODE], dtype=codes.dtype, device=codes.device)
    return complement[codes.long().clamp(0, N_CODE)].flip(-1)


class TBiNet(nn.Module):
    """TBiNet model; ``forward`` returns ``(logits, attention)``.

    Parameters
    ----------
    config
        Hyper-parameters; defaults to the paper's model.
    """

    arch: ClassVar[str] = "tbinet"
    has_attention: ClassVar[bool] = True

    def __init__(self, config: TBiNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or TBiNetConfig()
        c = self.config
        self.conv = nn.Conv1d(4, c.n_kernels, c.kernel_width)
        self.conv_dropout = nn.Dropout(c.conv_dropout)
        self.attention = nn.Linear(c.n_kernels, 1)
        self.lstm = nn.LSTM(c.n_kernels, c.lstm_units, batch_first=True, bidirectional=True)
        for name in ("bias_hh_l0", "bias_hh_l0_reverse"):
            bias = getattr(self.lstm, name)
            bias.requires_grad_(False)
            nn.init.zeros_(bias)
        self.lstm_dropout = nn.Dropout(c.lstm_dropout)
        self.dense = nn.Linear(c.n_bins * 2 * c.lstm_units, c.dense_units)
        self.output = nn.Linear(c.dense_units, c.n_tasks)
        #: Serve inference on the CPU (base codes, no autograd) by :mod:`tbvar.fast_forward`.
        self.fast_inference = True

    def keras_parameter_count(self) -> int:
        """Number of trainable parameters (Keras convention: one LSTM bias per gate)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the model.

        Parameters
        ----------
        x
            One-hot ``(N, L, 4)`` float tensor, or uint8 base codes ``(N, L)``.

        Returns
        -------
        logits
            ``(N, n_tasks)``; ``torch.sigmoid(logits)`` are the binding probabilities.
        attention
            ``(N, n_bins)`` attention weights (sum to 1 over bins).
        """
        if fast_forward.applies(self, x):
            return fast_forward.forward(self, x)
        if x.dim() == 2:
            x = codes_to_onehot(x, dtype=self.conv.weight.dtype)
        c = self.config
        h = nn.functional.conv1d(x.transpose(1, 2), self.conv.weight)
        h = nn.functional.max_pool1d(h, c.pool_size)  # pool before bias + ReLU (identical)
        h = torch.relu(h + self.conv.bias[:, None]).transpose(1, 2)  # (N, bins, kernels)
        h = self.conv_dropout(h)
        attention = torch.softmax(self.attention(h).squeeze(-1).float(), dim=1)
        h = h * attention.to(h.dtype).unsqueeze(-1)
        if c.recurrent_activation == "sigmoid":
            h, _ = self.lstm(h)
        else:
            h = self._hard_sigmoid_bilstm(h)
        h = self.lstm_dropout(h).flatten(1)
        h = torch.relu(self.dense(h))
        return self.output(h), attention

    def _hard_sigmoid_bilstm(self, x: torch.Tensor) -> torch.Tensor:
        """Bidirectional LSTM with Keras' hard-sigmoid gates, same parameters as ``self.lstm``.

        With autograd on, the recurrence is one autograd Function with a hand-written backward
        (:mod:`tbvar.keras_lstm`); the outputs are the same.
        """
        if torch.is_grad_enabled():
            return hard_sigmoid_bilstm(x, self.lstm)
        return self._explicit_bilstm(x, hard_sigmoid)

    def _explicit_bilstm(self, x: torch.Tensor,
                         gate: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Bidirectional LSTM as an explicit recurrence with gate activation ``gate``.

        Equal to ``self.lstm(x)[0]`` when ``gate`` is ``torch.sigmoid`` (tested). The input
        projection of every step and both directions is one matmul; only the recurrence is a
        loop, both directions at once (``baddbmm``). Reordering the gates, contiguous
        time-major inputs and in-place gate math were measured on CPU and gave no gain.
        """
        lstm = self.lstm
        n, steps, _ = x.shape
        units = self.config.lstm_units
        w_ih = torch.cat([lstm.weight_ih_l0, lstm.weight_ih_l0_reverse])  # (8U, K)
        b = torch.cat([lstm.bias_ih_l0 + lstm.bias_hh_l0,
                       lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse])
        projected = torch.addmm(b, x.reshape(n * steps, -1), w_ih.t()).view(n, steps, 2, 4 * units)
        # direction-major (2, N, steps, 4U); the backward direction reads time reversed
        projected = projected.permute(2, 0, 1, 3)
        w_hh_t = torch.stack([lstm.weight_hh_l0.t(), lstm.weight_hh_l0_reverse.t()])  # (2, U, 4U)
        h = x.new_zeros(2, n, units)
        cell = x.new_zeros(2, n, units)
        outputs = x.new_empty(2, steps, n, units)
        for t in range(steps):
            step_input = torch.stack([projected[0, :, t], projected[1, :, steps - 1 - t]])
            gates = torch.baddbmm(step_input, h, w_hh_t)
            i, f, g, o = gates.chunk(4, dim=-1)
            cell = gate(f) * cell + gate(i) * torch.tanh(g)
            h = gate(o) * torch.tanh(cell)
            outputs[0, t] = h[0]
            outputs[1, steps - 1 - t] = h[1]
        return torch.cat([outputs[0], outputs[1]], dim=-1).transpose(0, 1)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Load weights; the frozen ``bias_hh`` terms are folded into ``bias_ih``."""
        state = dict(state_dict)
        for suffix in ("l0", "l0_reverse"):
            hh, ih = f"lstm.bias_hh_{suffix}", f"lstm.bias_ih_{suffix}"
            if hh in state and ih in state and torch.any(state[hh] != 0):
                state[ih] = state[ih] + state[hh]
                state[hh] = torch.zeros_like(state[hh])
        return super().load_state_dict(state, strict=strict, assign=assign)
