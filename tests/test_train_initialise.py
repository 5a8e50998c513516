"""Keras 2.2.4 default initialisation of the trainable architectures."""

from __future__ import annotations

import pytest
import torch

from tbvar.model import TBiNet, TBiNetConfig
from tbvar_train.architectures import build_model
from tbvar_train.initialise import keras_initialise


def test_tbinet_gets_keras_initialisation() -> None:
    torch.manual_seed(0)
    config = TBiNetConfig(n_kernels=32, lstm_units=16, dense_units=24, n_tasks=3)
    model = keras_initialise(TBiNet(config))
    conv_limit = (6 / (4 * 26 + 32 * 26)) ** 0.5
    assert model.conv.weight.abs().max() <= conv_limit
    assert model.conv.weight.abs().max() > 0.9 * conv_limit
    dense_limit = (6 / (config.n_bins * 32 + 24)) ** 0.5
    assert model.dense.weight.abs().max() <= dense_limit
    for bias in (model.conv.bias, model.attention.bias, model.dense.bias, model.output.bias):
        assert torch.count_nonzero(bias) == 0
    for suffix in ("l0", "l0_reverse"):
        bias = getattr(model.lstm, f"bias_ih_{suffix}")
        expected = torch.zeros(64)
        expected[16:32] = 1.0  # unit_forget_bias: gate order i, f, g, o
        torch.testing.assert_close(bias, expected)
        assert torch.count_nonzero(getattr(model.lstm, f"bias_hh_{suffix}")) == 0
        recurrent = getattr(model.lstm, f"weight_hh_{suffix}")  # (4U, U), orthonormal columns
        torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(16), atol=1e-5, rtol=0)
        input_limit = (6 / (32 + 64)) ** 0.5
        assert getattr(model.lstm, f"weight_ih_{suffix}").abs().max() <= input_limit


def test_build_model_initialisation_choice() -> None:
    config = TBiNetConfig(sequence_length=100, n_kernels=8, kernel_width=8, pool_size=4,
                          lstm_units=4, dense_units=8, n_tasks=2)
    torch.manual_seed(1)
    keras = build_model(config)
    torch.manual_seed(1)
    plain = build_model(config, init="torch")
    assert torch.count_nonzero(keras.output.bias) == 0
    assert torch.count_nonzero(plain.output.bias) > 0
    with pytest.raises(ValueError, match="unknown initialisation"):
        build_model(config, init="xavier")


def test_warm_start_copies_matching_tensors_of_the_same_architecture() -> None:
    from tbvar.baselines import DanQ, DanQConfig
    from tbvar_train.initialise import warm_start

    short = TBiNet(TBiNetConfig(sequence_length=100, n_kernels=8, kernel_width=8, pool_size=4,
                                lstm_units=4, dense_units=8, n_tasks=2))
    long = TBiNet(TBiNetConfig(sequence_length=200, n_kernels=8, kernel_width=8, pool_size=4,
                               lstm_units=4, dense_units=8, n_tasks=2))
    copied = warm_start(long, short)
    assert "conv.weight" in copied and "output.bias" in copied
    assert "dense.weight" not in copied  # its width depends on the number of bins
    assert torch.equal(long.attention.weight, short.attention.weight)
    with pytest.raises(ValueError, match="cannot start a tbinet model from a danq model"):
        warm_start(long, DanQ(DanQConfig(sequence_length=100, n_kernels=8, kernel_width=8,
                                         pool_size=4, lstm_units=4, dense_units=8,
                                         n_tasks=2)))
