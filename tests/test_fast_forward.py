"""The CPU inference forward (tbvar.fast_forward) against the reference and a plain forward."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tbvar import fast_forward, workspace
from tbvar.checkpoint import load_model
from tbvar.model import TBiNet, TBiNetConfig

from .conftest import EXAMPLES, make_model
from .reference_forward import naive_forward

CONFIGS = {
    "example": load_model(EXAMPLES / "model.safetensors")[0].config,
    "odd": TBiNetConfig(sequence_length=150, n_kernels=12, kernel_width=7, pool_size=5,
                        lstm_units=6, dense_units=10, n_tasks=3),
    "paper": TBiNetConfig(),
}


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sub-batches of 3 (convolution) and 4 (BiLSTM) rows, so a few sequences cross both."""
    monkeypatch.setattr(fast_forward, "CONV_ROWS", 3)
    monkeypatch.setattr(fast_forward, "LSTM_ROWS", 4)


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def model_for(config: TBiNetConfig, activation: str, seed: int = 1) -> TBiNet:
    """Random weights; LSTM weights ×4 and biases ×10, so hard-sigmoid gates clip at 0 and 1."""
    model = make_model(TBiNetConfig(**{**config.to_dict(), "recurrent_activation": activation}),
                       seed=seed)
    with torch.no_grad():
        for name, param in model.lstm.named_parameters():
            param.mul_(4 if name.startswith("weight") else 10)
    return model


def random_codes(n: int, length: int, seed: int = 0) -> torch.Tensor:
    """Codes 0..4 (N included) and a few out-of-range codes (read as N)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 5, (n, length)).astype(np.uint8)
    codes[:, :7] = 4
    codes[:1, 50:60] = 9
    return torch.from_numpy(codes)


def reference(model: TBiNet, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    model.fast_inference = False
    try:
        return model(codes)
    finally:
        model.fast_inference = True


def assert_close(got: tuple[torch.Tensor, torch.Tensor],
                 want: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Probabilities within 1e-5, attention within 1e-6."""
    torch.testing.assert_close(torch.sigmoid(got[0]), torch.sigmoid(want[0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1], want[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("size", ["example", "odd"])
@pytest.mark.parametrize("n", [1, 7, 13])
@pytest.mark.usefixtures("small_chunks")
def test_equals_reference_and_plain_forward(size: str, activation: str, n: int) -> None:
    config = CONFIGS[size]
    model = model_for(config, activation)
    codes = random_codes(n, config.sequence_length, seed=n)
    with torch.inference_mode():
        fast = model(codes)
        want = reference(model, codes)
    plain = naive_forward(model, torch.eye(5, 4)[codes.long().clamp(0, 4)])
    assert_close(fast, want)
    assert_close(fast, tuple(t.detach() for t in plain))
    assert fast[0].shape == (n, config.n_tasks) and fast[1].shape == (n, config.n_bins)


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
def test_empty_batch(activation: str) -> None:
    model = model_for(CONFIGS["odd"], activation)
    with torch.inference_mode():
        logits, attention = model(random_codes(0, CONFIGS["odd"].sequence_length))
    assert logits.shape == (0, 3) and attention.shape == (0, CONFIGS["odd"].n_bins)


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
def test_paper_size_equals_reference(activation: str) -> None:
    model = model_for(CONFIGS["paper"], activation)
    codes = random_codes(3, 1000)
    with torch.inference_mode():
        assert_close(model(codes), reference(model, codes))


@pytest.mark.usefixtures("small_chunks", "two_threads")
@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad])
def test_sub_batches_on_two_threads_equal_one_thread(mode) -> None:
    model = model_for(CONFIGS["example"], "hard_sigmoid")
    codes = random_codes(11, 220)
    with mode():
        split = model(codes)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        inline = model(codes)
    torch.testing.assert_close(split[1], inline[1], atol=0, rtol=0)
    torch.testing.assert_close(split[0], inline[0], atol=1e-6, rtol=0)


def test_serves_only_cpu_inference_of_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model()
    codes = random_codes(2, 1000)
    calls = []
    real = fast_forward.forward
    monkeypatch.setattr(fast_forward, "forward", lambda m, x: calls.append(1) or real(m, x))
    with torch.no_grad():
        model(codes)
        model(torch.eye(5, 4)[codes.long().clamp(0, 4)])  # one-hot: reference
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(codes)
        model.train()
        model(codes)
        model.eval()
    model(codes)  # autograd on
    model.fast_inference = False
    with torch.no_grad():
        model(codes)
    assert len(calls) == 1


def test_derived_weights_follow_new_parameters() -> None:
    config = CONFIGS["example"]
    model = model_for(config, "sigmoid")
    codes = random_codes(5, config.sequence_length)
    with torch.inference_mode():
        before = model(codes)
        model.load_state_dict(model_for(config, "sigmoid", seed=2).state_dict())
        after = model(codes)
        assert_close(after, reference(model, codes))
    assert not torch.allclose(before[0], after[0])


def test_model_made_in_inference_mode_follows_in_place_changes() -> None:
    """Parameters made under inference_mode have no version counter: weights are remade."""
    codes = random_codes(3, CONFIGS["odd"].sequence_length)
    with torch.inference_mode():
        model = make_model(CONFIGS["odd"])
        model(codes)
        model.lstm.bias_ih_l0.add_(1.0)
        assert_close(model(codes), reference(model, codes))


def test_workspace_buffers_are_reused() -> None:
    first = workspace.buffer("test", (4, 5))
    assert workspace.buffer("test", (2, 3)).data_ptr() == first.data_ptr()
    assert workspace.buffer("test", (4, 5), dtype=torch.int32).data_ptr() != first.data_ptr()
    grown = workspace.buffer("test", (5, 5))
    assert grown.shape == (5, 5) and workspace.buffer("test", (4, 5)).data_ptr() == \
        grown.data_ptr()
