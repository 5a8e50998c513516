"""TBiNet architecture: parameter count, and the fast forward against a naive one."""

from __future__ import annotations

import numpy as np
import torch

from tbvar.model import TBiNet, TBiNetConfig, hard_sigmoid

from .conftest import make_model
from .reference_forward import naive_forward


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
