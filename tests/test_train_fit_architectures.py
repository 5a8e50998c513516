"""Training-side models: configs sized to the data and initialised modules of every architecture."""

from __future__ import annotations

import pytest
import torch

from tbvar.baselines import DanQ, DeepSEA, DeepSEAConfig
from tbvar.model import TBiNet
from tbvar_train.architectures import build_model, make_config

SMALL_OVERRIDES = {
    "tbinet": {"n_kernels": 6, "kernel_width": 5, "pool_size": 3, "lstm_units": 4,
               "dense_units": 7},
    "danq": {"n_kernels": 6, "kernel_width": 5, "pool_size": 3, "lstm_units": 4,
             "dense_units": 7},
    "deepsea": {"channels": [5, 6, 7], "kernel_width": 3, "pool_size": 2, "dense_units": 7},
}


@pytest.mark.parametrize("arch,module", [("tbinet", TBiNet), ("danq", DanQ),
                                         ("deepsea", DeepSEA)])
def test_make_config_and_build_model_for_every_architecture(arch, module):
    config = make_config(arch, sequence_length=40, n_tasks=3, overrides=SMALL_OVERRIDES[arch])
    assert (config.sequence_length, config.n_tasks) == (40, 3)
    model = build_model(config)
    assert type(model) is module and model.config is config
    assert torch.count_nonzero(model.output.bias) == 0  # Keras initialisation: zero biases
    assert model(torch.zeros(2, 40, dtype=torch.uint8))[0].shape == (2, 3)


def test_make_config_restores_tuples_from_json_lists():
    config = make_config("deepsea", 40, 3, SMALL_OVERRIDES["deepsea"])
    assert config == DeepSEAConfig(sequence_length=40, channels=(5, 6, 7), kernel_width=3,
                                   pool_size=2, dense_units=7, n_tasks=3)


def test_make_config_rejects_unknown_keys_and_shape_conflicts():
    with pytest.raises(ValueError, match=r"unknown model config keys: \['n_filters'\]"):
        make_config("danq", 100, 3, {"n_filters": 3})
    with pytest.raises(ValueError, match="n_tasks=5 in the model config does not match"):
        make_config("tbinet", 100, 3, {"n_tasks": 5})
    with pytest.raises(ValueError, match="unknown architecture"):
        make_config("basset", 100, 3)
