"""Inference-only CPU forward of TBiNet, laid out for throughput (same results within rounding).

:func:`forward` computes what ``TBiNet.forward`` computes from base codes, in float32, with a
different order of work (differences are float rounding, ~1e-7 relative):

- **convolution by table look-up**: the input is one-hot, so a kernel's response at a position
  is a sum of one weight per base. For each group of three kernel columns a table holds the
  summed weights of every 3-mer of codes (``5**3`` rows; N adds zero), and the response is the
  sum of ``ceil(w / 3)`` table rows (``embedding_bag``): 9 additions of K floats per position
  at the paper's sizes instead of ``4·w·K`` multiply-adds;
- max-pool before bias + ReLU (as the reference), attention as the reference;
- sequences go through convolution and attention ``CONV_ROWS`` at a time, so the
  ``(rows·bins·pool, K)`` convolution map stays small (10 MB at the paper's sizes, reused
  from the allocator's free memory rather than freshly mapped), and through the BiLSTM
  ``LSTM_ROWS`` at a time;
- BiLSTM: the input products of every step and both directions are one batched GEMM (the
  backward direction reads a time-reversed copy of its input); per step, both directions'
  recurrent products are one batched GEMM into a reused gate buffer. Gate rows are reordered
  to (i, f, o, g) so the three gate activations are one in-place op: ``sigmoid_``, or for
  Keras' hard sigmoid ``clamp_(0, 1)``, its slope 0.2 and offset 0.5 being folded into those
  rows' weights and bias;
- dense layers on the whole batch (their 33M weights are read once per batch);
- every intermediate lives in per-thread buffers kept across calls (:mod:`tbvar.workspace`):
  no per-batch allocation and page faulting of large tensors.

Derived weights (tables, reordered LSTM matrices) are made on first use and remade when any
parameter changes (data pointer or in-place version).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from tbvar import thread_split, workspace

#: Kernel columns per look-up table (5**3 = 125 rows per table).
KMER = 3
#: Sequences per convolution sub-batch (paper size: 8 × 975 × 320 floats = 10 MB).
CONV_ROWS = 8
#: Sequences per BiLSTM sub-batch.
LSTM_ROWS = 32


@dataclass(frozen=True)
class FastWeights:
    """Weights of one model rearranged for :func:`forward`.

    Attributes
    ----------
    key
        Identity of the parameters they were made from (:func:`_parameter_key`).
    conv_table
        ``(groups · 5**KMER, K)`` summed kernel weights of every k-mer, per column group.
    w_ih, w_hh
        ``(2, K, 4U)`` and ``(2, U, 4U)``: per direction, transposed, gates (i, f, o, g).
    lstm_bias
        ``(2, 1, 4U)`` per direction, same gate order.
    hard_sigmoid
        Whether the i, f, o rows hold ``0.2·W`` and ``0.2·b + 0.5`` (gate = clamp to [0, 1]).
    """

    key: tuple
    conv_table: torch.Tensor
    w_ih: torch.Tensor
    w_hh: torch.Tensor
    lstm_bias: torch.Tensor
    hard_sigmoid: bool


_WEIGHTS: weakref.WeakKeyDictionary[nn.Module, FastWeights] = weakref.WeakKeyDictionary()


def applies(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether :func:`forward` serves this call: base codes, float32 weights on the CPU, eval
    mode, no autograd, no autocast, and ``model.fast_inference`` set."""
    return (x.dim() == 2 and x.device.type == "cpu" and not x.is_floating_point()
            and model.fast_inference and not model.training
            and not torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")
            and model.conv.weight.dtype == torch.float32)


def conv_table(weight: torch.Tensor) -> torch.Tensor:
    """Look-up tables of a one-hot convolution.

    Parameters
    ----------
    weight
        ``(K, C, w)`` convolution weight (C = 4 bases; code C and above = N, weight zero).

    Returns
    -------
    torch.Tensor
        ``(groups · (C+1)**KMER, K)``: row ``g · (C+1)**KMER + Σ_o code_o · (C+1)**(KMER-1-o)``
        is ``Σ_o weight[:, code_o, KMER·g + o]`` (groups = ceil(w / KMER); columns past w are 0).
    """
    n_kernels, channels, width = weight.shape
    groups = -(-width // KMER)
    columns = torch.zeros(groups * KMER, channels + 1, n_kernels, dtype=weight.dtype)
    columns[:width, :channels] = weight.permute(2, 1, 0)
    columns = columns.view(groups, KMER, channels + 1, n_kernels)
    table = columns[:, 0]
    for offset in range(1, KMER):  # table[g, a, b, ...] = Σ_o columns[g, o, code_o]
        table = table.unsqueeze(-2) + columns[:, offset].view(
            groups, *([1] * offset), channels + 1, n_kernels)
    return table.reshape(-1, n_kernels).contiguous()


def _lstm_weights(lstm: nn.LSTM, hard_sigmoid: bool
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``w_ih (2, K, 4U)``, ``w_hh (2, U, 4U)``, ``bias (2, 1, 4U)``, gates (i, f, o, g)."""
    units = lstm.hidden_size
    order = torch.cat([torch.arange(2 * units), torch.arange(3 * units, 4 * units),
                       torch.arange(2 * units, 3 * units)])
    scale = torch.ones(4 * units)
    shift = torch.zeros(4 * units)
    if hard_sigmoid:  # clip(0.2 z + 0.5, 0, 1) with z = x W_ih + h W_hh + b
        scale[:3 * units], shift[:3 * units] = 0.2, 0.5
    w_ih, w_hh, bias = [], [], []
    for suffix in ("l0", "l0_reverse"):
        w_ih.append(getattr(lstm, f"weight_ih_{suffix}")[order].T * scale)
        w_hh.append(getattr(lstm, f"weight_hh_{suffix}")[order].T * scale)
        b = getattr(lstm, f"bias_ih_{suffix}") + getattr(lstm, f"bias_hh_{suffix}")
        bias.append(b[order] * scale + shift)
    return (torch.stack(w_ih).contiguous(), torch.stack(w_hh).contiguous(),
            torch.stack(bias).unsqueeze(1).contiguous())


def _parameter_key(model: nn.Module) -> tuple:
    """Config, data pointers and in-place versions of the parameters (an inference tensor,
    e.g. a parameter made under ``inference_mode``, has no version: ``None``, always remade)."""
    parameters = list(model.parameters())
    if any(p.is_inference() for p in parameters):
        return (None,)
    return (model.config, *((p.data_ptr(), p._version) for p in parameters))


def fast_weights(model: nn.Module) -> FastWeights:
    """The model's :class:`FastWeights`, made again whenever a parameter has changed."""
    key = _parameter_key(model)
    cached = _WEIGHTS.get(model)
    if cached is not None and cached.key == key and key != (None,):
        return cached
    hard = model.config.recurrent_activation == "hard_sigmoid"
    with torch.no_grad(), torch.inference_mode(False):
        w_ih, w_hh, bias = _lstm_weights(model.lstm, hard)
        made = FastWeights(key=key, conv_table=conv_table(model.conv.weight),
                           w_ih=w_ih, w_hh=w_hh, lstm_bias=bias, hard_sigmoid=hard)
    _WEIGHTS[model] = made
    return made


def _kmer_indices(codes: torch.Tensor, width: int, positions: int, channels: int
                  ) -> torch.Tensor:
    """Rows of :func:`conv_table` summed at each position: ``(n · positions, groups)`` int32."""
    groups = -(-width // KMER)
    base = channels + 1
    c = codes.to(torch.int32).clamp_(0, channels)
    c = nn.functional.pad(c, (0, groups * KMER - width), value=channels)
    kmers = c[:, :c.shape[1] - KMER + 1]
    for offset in range(1, KMER):
        kmers = kmers * base + c[:, offset:c.shape[1] - KMER + 1 + offset]
    span = KMER * (groups - 1) + 1
    starts = kmers.unfold(1, span, 1)[:, :positions, ::KMER]  # (n, positions, groups)
    offsets = torch.arange(groups, dtype=torch.int32) * base ** KMER
    return (starts + offsets).reshape(-1, groups)


def _conv_attention(model: nn.Module, weights: FastWeights, codes: torch.Tensor,
                    attention: torch.Tensor) -> torch.Tensor:
    """Pooled, ReLU'd, attention-weighted convolution ``(n, bins, K)`` of codes ``(n, L)``;
    the attention ``(n, bins)`` is written into ``attention``."""
    c = model.config
    n = codes.shape[0]
    indices = _kmer_indices(codes, c.kernel_width, c.n_bins * c.pool_size,
                            model.conv.weight.shape[1])
    conv = nn.functional.embedding_bag(indices, weights.conv_table, mode="sum")
    pooled = conv.view(n, c.n_bins, c.pool_size, c.n_kernels).amax(2)
    pooled.add_(model.conv.bias).relu_()
    scores = nn.functional.linear(pooled, model.attention.weight, model.attention.bias)
    attention.copy_(torch.softmax(scores.squeeze(-1), dim=1))
    return pooled.mul_(attention.unsqueeze(-1))


def _bilstm(weights: FastWeights, inputs: torch.Tensor, out: torch.Tensor) -> None:
    """Both LSTM directions over ``inputs`` ``(2, T, m, K)`` (``inputs[1]`` time-reversed)
    into ``out`` ``(m, T, 2, U)`` (the reference's ``(N, T, 2U)`` layout)."""
    _, steps, m, _ = inputs.shape
    units = weights.w_hh.shape[1]
    projected = workspace.buffer("lstm_projected", (2, steps * m, 4 * units))
    torch.baddbmm(weights.lstm_bias, inputs.view(2, steps * m, -1), weights.w_ih,
                  out=projected)
    projected = projected.view(2, steps, m, 4 * units)
    hidden = workspace.buffer("lstm_hidden", (steps, 2, m, units))  # step-major, both directions
    gates = workspace.buffer("lstm_gates", (2, m, 4 * units))
    cell = workspace.buffer("lstm_cell", (2, m, units))
    tanh_cell = workspace.buffer("lstm_tanh_cell", (2, m, units))
    sigmoids, candidate = gates[..., :3 * units], gates[..., 3 * units:]
    i, f, o = gates[..., :units], gates[..., units:2 * units], gates[..., 2 * units:3 * units]
    for t in range(steps):
        if t == 0:  # h = c = 0
            gates.copy_(projected[:, 0])
        else:
            torch.baddbmm(projected[:, t], hidden[t - 1], weights.w_hh, out=gates)
        if weights.hard_sigmoid:
            sigmoids.clamp_(0.0, 1.0)
        else:
            sigmoids.sigmoid_()
        candidate.tanh_()
        if t == 0:
            torch.mul(i, candidate, out=cell)
        else:
            cell.mul_(f).addcmul_(i, candidate)
        torch.tanh(cell, out=tanh_cell)
        torch.mul(o, tanh_cell, out=hidden[t])
    out[:, :, 0].copy_(hidden[:, 0].transpose(0, 1))
    out[:, :, 1].copy_(hidden[:, 1].flip(0).transpose(0, 1))


def _convolve_and_recur(model: nn.Module, weights: FastWeights, codes: torch.Tensor,
                        attention: torch.Tensor, lstm_out: torch.Tensor) -> None:
    """Convolution, attention and BiLSTM of codes ``(m, L)`` into ``attention`` ``(m, T)``
    and ``lstm_out`` ``(m, T, 2, U)``."""
    c = model.config
    m = codes.shape[0]
    inputs = workspace.buffer("lstm_inputs", (2, c.n_bins, m, c.n_kernels))
    for first in range(0, m, CONV_ROWS):
        last = min(first + CONV_ROWS, m)
        pooled = _conv_attention(model, weights, codes[first:last], attention[first:last])
        inputs[0, :, first:last] = pooled.transpose(0, 1)
    torch.index_select(inputs[0], 0, torch.arange(c.n_bins - 1, -1, -1), out=inputs[1])
    _bilstm(weights, inputs, lstm_out)


def forward(model: nn.Module, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``TBiNet.forward`` of base codes ``(N, L)``: logits ``(N, n_tasks)``, attention
    ``(N, n_bins)`` (see :func:`applies` for when it may be used).

    Sub-batches of ``LSTM_ROWS`` sequences go through convolution, attention and BiLSTM on all
    intra-op threads, one thread each (:mod:`tbvar.thread_split`); the dense layers then run
    on the whole batch.
    """
    c = model.config
    weights = fast_weights(model)
    n = codes.shape[0]
    attention = torch.empty(n, c.n_bins)
    lstm_out = workspace.buffer("lstm_out", (n, c.n_bins, 2, c.lstm_units))

    def sub_batch(start: int) -> None:
        rows = slice(start, min(start + LSTM_ROWS, n))
        _convolve_and_recur(model, weights, codes[rows], attention[rows], lstm_out[rows])

    thread_split.run_split(sub_batch, range(0, n, LSTM_ROWS))
    hidden = nn.functional.linear(lstm_out.view(n, model.dense.in_features), model.dense.weight,
                                  model.dense.bias)
    return model.output(hidden.relu_()), attention
