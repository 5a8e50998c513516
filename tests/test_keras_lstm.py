"""The hard-sigmoid BiLSTM autograd Function against autograd of the explicit recurrence."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from tbvar.checkpoint import load_model
from tbvar.keras_lstm import HardSigmoidRecurrence
from tbvar.model import TBiNet, hard_sigmoid
from tbvar_train.dataset import Batch
from tbvar_train.fit import make_optimizer, train_step

from .conftest import EXAMPLES

#: The softmax over bins ignores this bias: its true gradient is 0, both computed ones are noise.
SHIFT_INVARIANT = "attention.bias"


def autograd_recurrence(projected: torch.Tensor, w_hh_t: torch.Tensor) -> torch.Tensor:
    """What the Function computes, step by step through autograd: ``(2, T, N, U)``."""
    h = projected.new_zeros(2, projected.shape[2], w_hh_t.shape[1])
    cell = torch.zeros_like(h)
    hidden = []
    for t in range(projected.shape[1]):
        i, f, g, o = torch.baddbmm(projected[:, t], h, w_hh_t).chunk(4, dim=-1)
        cell = hard_sigmoid(f) * cell + hard_sigmoid(i) * torch.tanh(g)
        h = hard_sigmoid(o) * torch.tanh(cell)
        hidden.append(h)
    return torch.stack(hidden, dim=1)


def test_gradcheck_float64() -> None:
    torch.manual_seed(0)
    projected = (torch.randn(2, 5, 3, 16, dtype=torch.float64) * 3).requires_grad_()
    w_hh_t = torch.randn(2, 4, 16, dtype=torch.float64, requires_grad=True)
    clipped = (projected.abs() > 2.5).double().mean()
    assert 0.2 < clipped < 0.8  # both the clipped and the linear part are checked
    assert torch.autograd.gradcheck(HardSigmoidRecurrence.apply, (projected, w_hh_t))


def test_clip_bounds_pass_the_gradient_as_torch_clamp_does() -> None:
    """``0.2 z + 0.5`` exactly 0 or 1 (z = ∓2.5): the slope is 0.2 there, 0 beyond."""
    values = torch.tensor([-3.0, -2.5, -1.0, 0.0, 2.5, 3.0])
    assert torch.equal(0.2 * values[[1, 4]] + 0.5, torch.tensor([0.0, 1.0]))
    zeros, ones = torch.zeros(6), torch.ones(6)
    # 12 units: i and f run through the values in units 0-5, o in units 6-11
    gates = torch.cat([values, zeros, values, zeros, ones, ones, zeros, values])  # i, f, g, o
    projected = gates.expand(2, 4, 1, 48).contiguous()
    w_hh_t = torch.zeros(2, 12, 48)
    grads = []
    for recurrence in (HardSigmoidRecurrence.apply, autograd_recurrence):
        p, w = projected.clone().requires_grad_(), w_hh_t.clone().requires_grad_()
        recurrence(p, w).sum().backward()
        grads.append(p.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-7)
    at_bounds = grads[0][..., [1, 4, 16, 43, 46]]  # i of units 1, 4; f of 4; o of 7, 10
    assert (at_bounds.abs().sum(dim=(0, 1, 2)) > 0).all()


@pytest.fixture(scope="module")
def example_hard_sigmoid() -> TBiNet:
    """The bundled example model's weights with hard-sigmoid gates, dropout off."""
    trained, _ = load_model(EXAMPLES / "model.safetensors")
    config = dataclasses.replace(trained.config, recurrent_activation="hard_sigmoid")
    model = TBiNet(config)
    model.load_state_dict(trained.state_dict())
    return model.eval()


def explicit_copy(model: TBiNet) -> TBiNet:
    """A copy of ``model`` whose hard-sigmoid BiLSTM is autograd of the explicit recurrence."""
    twin = copy.deepcopy(model)
    twin._hard_sigmoid_bilstm = lambda x: twin._explicit_bilstm(x, hard_sigmoid)
    return twin


def test_example_model_outputs_equal_and_gradients_match(example_hard_sigmoid: TBiNet) -> None:
    model = copy.deepcopy(example_hard_sigmoid)
    reference = explicit_copy(model)
    codes = torch.randint(0, 5, (16, model.config.sequence_length),
                          generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    weights = torch.randn(16, model.config.n_tasks, generator=torch.Generator().manual_seed(2))
    logits = []
    for m in (model, reference):
        out, _ = m(codes)
        (out * weights).sum().backward()
        logits.append(out)
    assert logits[0].grad_fn is not None
    assert torch.equal(logits[0], logits[1])
    with torch.no_grad():  # the no-grad explicit loop: the same outputs
        model.fast_inference = False
        assert torch.equal(model(codes)[0], logits[0])
        model.fast_inference = True  # the CPU inference forward: float32 rounding apart
        torch.testing.assert_close(torch.sigmoid(model(codes)[0]), torch.sigmoid(logits[0]),
                                   rtol=0, atol=1e-5)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        if p.requires_grad and name != SHIFT_INVARIANT:
            scale = q.grad.abs().max()
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6 * scale, msg=name)


def test_training_steps_match_explicit_recurrence(example_hard_sigmoid: TBiNet) -> None:
    model = copy.deepcopy(example_hard_sigmoid)
    reference = explicit_copy(model)
    generator = torch.Generator().manual_seed(3)
    batches = [Batch(torch.randint(0, 4, (20, model.config.sequence_length),
                                   generator=generator, dtype=torch.uint8),
                     (torch.rand(20, model.config.n_tasks, generator=generator) < 0.3).float())
               for _ in range(3)]
    losses = []
    for m in (model, reference):
        optimizer = make_optimizer(m, 1e-3, torch.device("cpu"))
        losses.append([train_step(m, b, optimizer, None, None).item() for b in batches])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        if name != SHIFT_INVARIANT:
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
