"""DanQ and DeepSEA baselines: published sizes, input convention, saving and loading."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.model import TBiNet, codes_to_onehot
from tbvar.tasks import generic_tasks
from tbvar_train.architectures import (
    DanQ,
    DanQConfig,
    DeepSEA,
    DeepSEAConfig,
    build_model,
    load_trained,
    make_config,
    save_weights,
)


def _trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_danq_full_size_matches_the_published_parameter_count():
    model = DanQ(DanQConfig(n_tasks=919))
    # DanQ (Quang & Xie 2016) reports 46,926,479 parameters (Keras: one LSTM bias per gate);
    # torch's nn.LSTM adds a second bias per gate and direction: 2 × 4 × 320.
    assert _trainable(model) - 2 * 4 * 320 == 46_926_479


def test_deepsea_full_size_layer_arithmetic():
    config = DeepSEAConfig(n_tasks=919)
    assert config.out_length == 53  # 1000 → 993 → 248 → 241 → 60 → 53
    convs = (4 * 8 + 1) * 320 + (320 * 8 + 1) * 480 + (480 * 8 + 1) * 960
    dense = (53 * 960 + 1) * 925 + (925 + 1) * 919
    assert _trainable(DeepSEA(config)) == convs + dense


@pytest.mark.parametrize("arch,overrides", [
    ("danq", {"n_kernels": 6, "kernel_width": 5, "pool_size": 3, "lstm_units": 4,
              "dense_units": 7}),
    ("deepsea", {"channels": [5, 6, 7], "kernel_width": 3, "pool_size": 2, "dense_units": 7}),
])
def test_baselines_take_codes_or_onehot_and_return_no_attention(arch, overrides):
    config = make_config(arch, sequence_length=40, n_tasks=3, overrides=overrides)
    torch.manual_seed(0)
    model = build_model(arch, config).eval()
    codes = torch.randint(0, 5, (4, 40), dtype=torch.uint8)
    logits, attention = model(codes)
    assert logits.shape == (4, 3) and attention is None
    assert torch.equal(logits, model(codes_to_onehot(codes))[0])


def test_make_config_rejects_unknown_keys_and_shape_conflicts():
    with pytest.raises(ValueError, match="unknown danq config keys"):
        make_config("danq", 100, 3, {"n_filters": 3})
    with pytest.raises(ValueError, match="n_tasks=5 in the model config does not match"):
        make_config("tbinet", 100, 3, {"n_tasks": 5})
    with pytest.raises(ValueError, match="unknown architecture"):
        make_config("basset", 100, 3)


def test_weights_round_trip_and_tbvar_model_files_load(tmp_path):
    tasks = generic_tasks(3)
    config = make_config("deepsea", 40, 3, {"channels": [4, 4, 4], "kernel_width": 3,
                                            "pool_size": 2, "dense_units": 5})
    model = build_model("deepsea", config).eval()
    save_weights(model, "deepsea", tmp_path / "w.safetensors", tasks, {"seed": 1})
    loaded, arch, loaded_tasks = load_trained(tmp_path / "w.safetensors")
    assert arch == "deepsea" and loaded.config == config
    pd.testing.assert_frame_equal(loaded_tasks, tasks)
    codes = torch.randint(0, 4, (2, 40), dtype=torch.uint8)
    assert torch.equal(loaded(codes)[0], model(codes)[0])

    tbinet = TBiNet(make_config("tbinet", 100, 3, {"n_kernels": 4, "kernel_width": 8,
                                                   "pool_size": 4, "lstm_units": 2,
                                                   "dense_units": 3}))
    save_model(tbinet, tmp_path / "m.safetensors", ModelInfo(config=tbinet.config, tasks=tasks))
    assert load_trained(tmp_path / "m.safetensors")[1] == "tbinet"

    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.safetensors"):
        load_trained(tmp_path / "junk.safetensors")
