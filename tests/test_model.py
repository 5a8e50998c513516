"""TBiNet architecture: parameter count, and the fast forward against a naive one."""

from __future__ import annotations

import numpy as np
import torch

from tbvar.model import TBiNet, TBiNetConfig, hard_sigmoid

from .conftest import make_model


def test_full_size_parameter_count_matches_keras() -> None:
    model = TBiNet()
    assert model.keras_parameter_count() == 35_515_816
    by_layer = {
        "conv": 33_600, "attention": 321, "lstm": 1_640_960, "dense": 33_360_695,
        "output": 480_240,
    }
    for prefix, count in by_layer.items():
        got = sum(p.numel() for n, p in model.named_parameters()
                  if n.startswith(prefix) and p.requires_grad)
        assert got == count, prefix
    assert model.config.n_bins == 75 and model.config.center_bin == 37


def test_bias_hh_is_frozen_and_folded_on_load() -> None:
    model = make_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["lstm.bias_hh_l0"] = torch.full_like(state["lstm.bias_hh_l0"], 0.25)
    fresh = TBiNet(model.config)
    fresh.load_state_dict(state)
    assert not fresh.lstm.bias_hh_l0.requires_grad
    assert torch.count_nonzero(fresh.lstm.bias_hh_l0) == 0
    torch.testing.assert_close(fresh.lstm.bias_ih_l0, state["lstm.bias_ih_l0"] + 0.25)


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


def test_forward_equals_naive_keras_order_forward_for_both_gate_types() -> None:
    rng = np.random.default_rng(0)
    codes = torch.from_numpy(rng.integers(0, 5, (3, 1000)).astype(np.uint8))
    for activation in ("sigmoid", "hard_sigmoid"):
        config = TBiNetConfig(n_kernels=16, lstm_units=8, dense_units=16, n_tasks=5,
                              recurrent_activation=activation)
        model = make_model(config, seed=1)
        with torch.no_grad():
            logits, attention = model(codes)
            want_logits, want_attention = naive_forward(
                model, torch.eye(5, 4)[codes.long()])
        torch.testing.assert_close(logits, want_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(attention, want_attention, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(attention.sum(dim=1), torch.ones(3))


def test_hard_sigmoid_is_keras_not_torch() -> None:
    x = torch.tensor([-3.0, -2.5, 0.0, 1.0, 2.5, 3.0])
    torch.testing.assert_close(hard_sigmoid(x), torch.tensor([0.0, 0.0, 0.5, 0.7, 1.0, 1.0]))
