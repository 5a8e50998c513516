"""A plain TBiNet forward in Keras' order, to check the model's forward passes against."""

from __future__ import annotations

import torch

from tbvar.model import TBiNet, hard_sigmoid


def naive_forward(model: TBiNet, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras-order forward: conv+bias → ReLU → pool, explicit LSTM loop, einsum flatten."""
    c = model.config
    conv = torch.nn.functional.conv1d(onehot.transpose(1, 2), model.conv.weight,
                                      model.conv.bias)
    pooled = torch.nn.functional.max_pool1d(torch.relu(conv), c.pool_size).transpose(1, 2)
    scores = pooled @ model.attention.weight[0] + model.attention.bias[0]
    attention = torch.exp(scores) / torch.exp(scores).sum(dim=1, keepdim=True)
    x = pooled * attention[..., None]
    gate = torch.sigmoid if c.recurrent_activation == "sigmoid" else hard_sigmoid
    outputs = []
    for suffix, steps in (("l0", range(c.n_bins)), ("l0_reverse", reversed(range(c.n_bins)))):
        w_ih = getattr(model.lstm, f"weight_ih_{suffix}")
        w_hh = getattr(model.lstm, f"weight_hh_{suffix}")
        bias = getattr(model.lstm, f"bias_ih_{suffix}") + getattr(model.lstm, f"bias_hh_{suffix}")
        h = torch.zeros(x.shape[0], c.lstm_units)
        cell = torch.zeros_like(h)
        out = [None] * c.n_bins
        for t in steps:
            z = x[:, t] @ w_ih.T + h @ w_hh.T + bias
            i, f, g, o = z.split(c.lstm_units, dim=1)
            cell = gate(f) * cell + gate(i) * torch.tanh(g)
            h = gate(o) * torch.tanh(cell)
            out[t] = h
        outputs.append(torch.stack(out, dim=1))
    lstm_out = torch.cat(outputs, dim=2)  # (N, T, 2U)
    dense_w = model.dense.weight.view(c.dense_units, c.n_bins, 2 * c.lstm_units)
    hidden = torch.relu(torch.einsum("ntc,otc->no", lstm_out, dense_w) + model.dense.bias)
    return hidden @ model.output.weight.T + model.output.bias, attention
