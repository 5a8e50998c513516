"""Keras 2.2.4 default initialisation, as the reference TBiNet/DanQ/DeepSEA code trained with.

PyTorch's defaults differ (uniform ±1/√fan_in everywhere, LSTM biases random): Keras uses
Glorot-uniform kernels and zero biases for Conv1D and Dense, and for LSTMs a Glorot-uniform
input kernel, an orthogonal recurrent kernel and zero biases except the forget gate's, which
is 1 (``unit_forget_bias=True``). Weights are laid out as in PyTorch, so the fans are those of
the Keras kernel each tensor corresponds to.
"""

from __future__ import annotations

import torch
from torch import nn


def _glorot_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    nn.init.uniform_(weight, -limit, limit)


def _init_lstm(lstm: nn.LSTM) -> None:
    units = lstm.hidden_size
    for name, param in lstm.named_parameters(recurse=False):
        if name.startswith("weight_ih"):
            _glorot_uniform_(param, lstm.input_size, 4 * units)  # Keras kernel (in, 4U)
        elif name.startswith("weight_hh"):
            # Keras: orthogonal (U, 4U) matrix; PyTorch stores its transpose (4U, U)
            nn.init.orthogonal_(param)
        elif name.startswith("bias"):
            nn.init.zeros_(param)
            if name.startswith("bias_ih"):
                param.data[units:2 * units] = 1.0  # forget gate (gate order i, f, g, o)


def warm_start(model: nn.Module, source: nn.Module) -> list[str]:
    """Copy into ``model`` every tensor of ``source`` (a model of the same architecture) whose
    name and shape match; the others keep their initialisation. Returns the copied names.

    E.g. a TBiNet of another window length gives its convolution, attention and LSTM (their
    shapes do not depend on the window) but not its dense layer.

    Raises
    ------
    ValueError
        Another architecture, or no tensor matches.
    """
    if source.arch != model.arch:
        raise ValueError(f"cannot start a {model.arch} model from a {source.arch} model")
    own = model.state_dict()
    copied = {name: tensor for name, tensor in source.state_dict().items()
              if name in own and own[name].shape == tensor.shape}
    if not copied:
        raise ValueError("no tensor of the source model matches this model's shapes")
    model.load_state_dict(copied, strict=False)
    return list(copied)


def keras_initialise(model: nn.Module) -> nn.Module:
    """Re-initialise every Conv1d, Linear and LSTM of ``model`` like Keras 2.2.4 (in place)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv1d):
                receptive = module.kernel_size[0]
                _glorot_uniform_(module.weight, module.in_channels * receptive,
                                 module.out_channels * receptive)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                _glorot_uniform_(module.weight, module.in_features, module.out_features)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LSTM):
                _init_lstm(module)
    return model
