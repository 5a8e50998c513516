"""Models to train: a registered architecture's config sized to the data, initialised modules.

The architectures (TBiNet, and the paper's baselines DanQ and DeepSEA) and their registry live
in :mod:`tbvar.architectures`, so a model trained here of any architecture is exported as a
tbvar model file (:func:`tbvar.checkpoint.save_model`) that ``tbvar score`` and
``tbvar-train evaluate`` read.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tbvar import architectures
from tbvar_train.initialise import keras_initialise

INITIALISATIONS = ("keras", "torch")


def make_config(arch: str, sequence_length: int, n_tasks: int,
                overrides: dict[str, Any] | None = None) -> architectures.ModelConfig:
    """Configuration of ``arch`` for the data's shape, with hyper-parameter ``overrides``.

    Unknown architectures and config keys, and overrides of the data's shape, are a
    ``ValueError``.
    """
    values = dict(overrides or {})
    shape = {"sequence_length": sequence_length, "n_tasks": n_tasks}
    for key, value in shape.items():
        if values.get(key, value) != value:
            raise ValueError(f"{key}={values[key]} in the model config does not match the "
                             f"data ({value})")
    return architectures.config_from_dict(arch, {**values, **shape})


def build_model(config: architectures.ModelConfig, init: str = "keras") -> nn.Module:
    """A freshly initialised model of ``config``'s architecture (uses the global torch RNG).

    ``init="keras"`` (default) reproduces the reference code's Keras 2.2.4 initialisation
    (:func:`tbvar_train.initialise.keras_initialise`); ``"torch"`` keeps PyTorch's defaults.
    """
    if init not in INITIALISATIONS:
        raise ValueError(f"unknown initialisation {init!r}; expected one of {INITIALISATIONS}")
    model = architectures.build_model(config)
    return keras_initialise(model) if init == "keras" else model
