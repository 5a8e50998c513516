"""Training path of the BiLSTM with Keras hard-sigmoid gates: one autograd Function.

Autograd of the explicit recurrence (``TBiNet._explicit_bilstm``) records ~15 small operations
per step and accumulates the recurrent weight gradient step by step. Here the recurrence is one
:class:`torch.autograd.Function` whose backward is the hand-derived BPTT:

- the input projection of every step and both directions is one batched GEMM outside the
  Function (autograd differentiates it);
- forward runs both directions at once per step (``baddbmm``) and keeps, per step, only the
  products backward needs (gate derivatives times the values they multiply);
- backward is four element-wise operations and one ``baddbmm`` per step; the recurrent weight
  gradient is one GEMM over all steps after the loop.

``hard_sigmoid(z) = clip(0.2 z + 0.5, 0, 1)`` (Keras 2.2.4) is computed with the same
operations as ``tbvar.model.hard_sigmoid``, so outputs equal the explicit recurrence's; its
derivative follows ``torch.clamp``'s convention (0.2 where ``0 ≤ 0.2 z + 0.5 ≤ 1``, bounds
included), so gradients equal autograd's up to rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable


class HardSigmoidRecurrence(torch.autograd.Function):
    """LSTM recurrence of both directions with hard-sigmoid gates, gate order i, f, g, o.

    ``forward(projected, w_hh_t)``: ``projected`` ``(2, T, N, 4U)`` is the input projection
    plus bias, direction-major, in each direction's reading order (the backward direction's
    step t reads position T − 1 − t); ``w_hh_t`` ``(2, U, 4U)`` the transposed recurrent
    weights. Returns the hidden states ``(2, T, N, U)`` in the same step order.
    """

    @staticmethod
    def forward(ctx: Any, projected: torch.Tensor, w_hh_t: torch.Tensor) -> torch.Tensor:
        _, steps, n, gates4 = projected.shape
        units = gates4 // 4
        hidden = projected.new_empty(2, steps, n, units)
        forget = projected.new_empty(2, steps, n, units)
        # per step, gate order: dL/dz = factor × dL/dc for i, f, g and factor × dL/dh for o;
        # dL/dc gains cell_factor × dL/dh (h = o tanh c) and passes × f to the previous step
        factor = projected.new_empty(2, steps, n, gates4)
        cell_factor = projected.new_empty(2, steps, n, units)
        # (g, previous cell, unused, tanh(cell)) of this step and the next: slope × these
        # gives the i, f and o factors in one multiplication
        values, upcoming = projected.new_zeros(2, 2, n, gates4).unbind(0)
        h = projected.new_zeros(2, n, units)
        for t in range(steps):
            z = torch.baddbmm(projected[:, t], h, w_hh_t)
            g = torch.tanh(z[..., 2 * units:3 * units], out=values[..., :units])
            y = z.mul_(0.2).add_(0.5)  # hard sigmoid before clipping (the g quarter unused)
            a = y.clamp(0.0, 1.0)
            slope = torch.where(a == y, 0.2, 0.0).to(a.dtype)  # clamp's gradient passes its bounds
            i, f, o = a[..., :units], a[..., units:2 * units], a[..., 3 * units:]
            forget[:, t] = f
            input_g = i * g
            cell = torch.add(f * values[..., units:2 * units], input_g,
                             out=upcoming[..., units:2 * units])
            tanh_cell = torch.tanh(cell, out=values[..., 3 * units:])
            torch.mul(values, slope, out=factor[:, t])
            torch.addcmul(i, input_g, g, value=-1.0, out=factor[:, t, ..., 2 * units:3 * units])
            h = torch.mul(o, tanh_cell, out=hidden[:, t])
            torch.addcmul(o, h, tanh_cell, value=-1.0, out=cell_factor[:, t])
            values, upcoming = upcoming, values
        ctx.save_for_backward(w_hh_t, hidden, forget, factor, cell_factor)
        return hidden

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_hh_t, hidden, forget, factor, cell_factor = ctx.saved_tensors
        _, steps, n, units = hidden.shape
        w_hh = w_hh_t.transpose(1, 2).contiguous()  # (2, 4U, U)
        grad_z = grad_hidden.new_empty(2, steps, n, 4 * units)
        grad_cell = grad_hidden.new_zeros(2, n, units)
        for t in reversed(range(steps)):
            if t == steps - 1:
                grad_h = grad_hidden[:, t]
            else:
                grad_h = torch.baddbmm(grad_hidden[:, t], grad_z[:, t + 1], w_hh)
            grad_cell = torch.addcmul(grad_cell, grad_h, cell_factor[:, t])
            step = grad_z[:, t]
            torch.mul(factor[:, t, ..., :3 * units].unflatten(-1, (3, units)),
                      grad_cell.unsqueeze(2), out=step[..., :3 * units].unflatten(-1, (3, units)))
            torch.mul(factor[:, t, ..., 3 * units:], grad_h, out=step[..., 3 * units:])
            grad_cell = grad_cell * forget[:, t]
        previous = hidden[:, :-1].reshape(2, -1, units)
        grad_w = torch.bmm(previous.transpose(1, 2), grad_z[:, 1:].reshape(2, -1, 4 * units))
        return grad_z, grad_w


def hard_sigmoid_bilstm(x: torch.Tensor, lstm: nn.LSTM) -> torch.Tensor:
    """Bidirectional LSTM with Keras hard-sigmoid gates and ``lstm``'s parameters.

    Parameters
    ----------
    x
        ``(N, T, K)`` inputs.
    lstm
        One-layer bidirectional ``nn.LSTM`` (batch first) holding the weights.

    Returns
    -------
    torch.Tensor
        ``(N, T, 2U)`` hidden states, forward direction first (as ``lstm(x)[0]``).
    """
    n, steps, k = x.shape
    time_major = x.transpose(0, 1)
    inputs = torch.stack([time_major, time_major.flip(0)]).reshape(2, steps * n, k)
    w_ih_t = torch.stack([lstm.weight_ih_l0.t(), lstm.weight_ih_l0_reverse.t()])
    bias = torch.stack([lstm.bias_ih_l0 + lstm.bias_hh_l0,
                        lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse]).unsqueeze(1)
    projected = torch.baddbmm(bias, inputs, w_ih_t).view(2, steps, n, -1)
    w_hh_t = torch.stack([lstm.weight_hh_l0.t(), lstm.weight_hh_l0_reverse.t()])
    hidden = HardSigmoidRecurrence.apply(projected, w_hh_t.to(projected.dtype))
    forward, backward = hidden.unbind(0)
    return torch.cat([forward, backward.flip(0)], dim=-1).transpose(0, 1)
