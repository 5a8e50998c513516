"""The architecture registry: every model builds, round-trips its config, saves and loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tbvar.architectures import (
    ARCHITECTURES,
    SequenceModel,
    architecture,
    architecture_of,
    build_model,
    config_from_dict,
)
from tbvar.baselines import DanQ, DanQConfig, DeepSEA, DeepSEAConfig
from tbvar.checkpoint import ModelInfo, load_model, save_model
from tbvar.cli import main
from tbvar.model import TBiNet, TBiNetConfig, codes_to_onehot
from tbvar.tasks import generic_tasks

SMALL = {
    "tbinet": TBiNetConfig(sequence_length=60, n_kernels=6, kernel_width=5, pool_size=4,
                           lstm_units=3, dense_units=7, n_tasks=3),
    "danq": DanQConfig(sequence_length=60, n_kernels=6, kernel_width=5, pool_size=4,
                       lstm_units=3, dense_units=7, n_tasks=3),
    "deepsea": DeepSEAConfig(sequence_length=60, channels=(4, 5, 6), kernel_width=3,
                             pool_size=2, dropouts=(0.1, 0.2, 0.3), dense_units=7, n_tasks=3),
}
MODULES = {"tbinet": TBiNet, "danq": DanQ, "deepsea": DeepSEA}


def _trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_registry_names_the_three_architectures():
    assert ARCHITECTURES == ("tbinet", "danq", "deepsea")
    assert [architecture(name).module_class for name in ARCHITECTURES] == [TBiNet, DanQ, DeepSEA]
    assert [architecture(name).has_attention for name in ARCHITECTURES] == [True, False, False]
    with pytest.raises(ValueError, match=r"unknown architecture 'basset'.*'danq'"):
        architecture("basset")
    with pytest.raises(ValueError, match="dict is not the config of a registered"):
        build_model({"n_tasks": 3})


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_builds_from_its_default_config(name):
    config = architecture(name).config_class()
    assert (config.sequence_length, config.n_tasks) == (1000, 690)
    model = build_model(config)
    assert type(model) is MODULES[name] and model.arch == name and model.config is config
    assert isinstance(model, SequenceModel)
    assert architecture_of(config) is architecture(name)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_config_round_trips_through_json(name):
    for config in (architecture(name).config_class(), SMALL[name]):
        text = json.dumps(config.to_dict())
        back = config_from_dict(name, json.loads(text))
        assert back == config and hash(back) == hash(config)  # tuples restored, not lists
    with pytest.raises(ValueError, match=r"unknown model config keys: \['colour'\]"):
        config_from_dict(name, {**SMALL[name].to_dict(), "colour": "blue"})


def test_deepsea_config_writes_tuples_as_lists():
    data = SMALL["deepsea"].to_dict()
    assert data["channels"] == [4, 5, 6] and data["dropouts"] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_forward_takes_codes_or_onehot_and_attention_matches_has_attention(name):
    torch.manual_seed(0)
    model = build_model(SMALL[name]).eval()
    codes = torch.randint(0, 5, (4, 60), dtype=torch.uint8)
    logits, attention = model(codes)
    assert logits.shape == (4, 3)
    if model.has_attention:
        assert attention.shape == (4, model.config.n_bins)
        torch.testing.assert_close(attention.sum(1), torch.ones(4))
        assert 0 <= model.config.center_bin < model.config.n_bins
    else:
        assert attention is None
    assert torch.equal(logits, model(codes_to_onehot(codes))[0])


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_save_and_load_give_the_same_model(name, tmp_path: Path):
    torch.manual_seed(1)
    model = build_model(SMALL[name]).eval()
    path = tmp_path / f"{name}.safetensors"
    save_model(model, path, ModelInfo(config=model.config, tasks=generic_tasks(3)))
    with safe_open(path, framework="pt") as handle:
        doc = json.loads(handle.metadata()["tbvar"])
    assert (doc["format_version"], doc["arch"]) == (2, name)

    loaded, info = load_model(path)
    assert type(loaded) is MODULES[name] and info.arch == name and info.config == model.config
    assert not loaded.training
    codes = torch.randint(0, 5, (5, 60), dtype=torch.uint8)
    with torch.no_grad():
        (want, want_attention), (got, got_attention) = model(codes), loaded(codes)
    assert torch.equal(got, want)
    assert (got_attention is None) == (want_attention is None) == (not loaded.has_attention)
    if loaded.has_attention:
        assert torch.equal(got_attention, want_attention)


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


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_model_info_describes_every_architecture(name, tmp_path: Path, capsys):
    model = build_model(SMALL[name])
    path = tmp_path / f"{name}.safetensors"
    save_model(model, path, ModelInfo(config=model.config, tasks=generic_tasks(3)))
    assert main(["model", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"architecture    {name}: " in out and "; 3 tasks" in out
    assert ("attention bins" in out) == model.has_attention
