"""Keras import: exact agreement with an independent numpy Keras forward pass, and rejection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from tbvar.checkpoint import file_sha256, load_model
from tbvar.cli import main
from tbvar.errors import KerasImportError, ModelFileError
from tbvar.keras_import import import_keras, read_keras_tbinet
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import DEEPSEA_TASK_SOURCE, tbinet_tasks

from .keras_reference import (
    keras_forward,
    lstm,
    onehot,
    random_weights,
    read_fasta,
    write_keras_file,
)

SMALL = {"length": 58, "width": 7, "kernels": 16, "pool": 4, "units": 8, "dense": 12, "tasks": 10}
PAPER = {"length": 1000, "width": 26, "kernels": 320, "pool": 13, "units": 320, "dense": 695,
         "tasks": 690}
TOLERANCE = 1e-5
REAL = read_fasta(Path(__file__).parent / "data" / "hg19_real_pieces.fa")


def real_windows(length: int) -> np.ndarray:
    """One-hot windows of real hg19 sequence (soft-masked; the chr22 piece has N runs)."""
    chr17 = REAL["chr17:7512445-7514444"]
    chr22 = REAL["chr22:19178140-19179170"]
    windows = [chr17[:length], chr17[-length:], chr22[:length], chr22[-length:]]
    if length <= 200:  # short models: also windows over the chr22 N run
        start = min(max(chr22.upper().index("N") - length // 2, 0), len(chr22) - length)
        windows.append(chr22[start:start + length])
    return np.stack([onehot(w) for w in windows]).astype(np.float32)


def random_inputs(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """Random one-hot sequences with some N (all-zero) positions."""
    codes = rng.integers(0, 5, size=(n, length))
    return np.eye(5, 4, dtype=np.float32)[codes]


def tbvar_forward(model: TBiNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        logits, attention = model(torch.from_numpy(x))
    return torch.sigmoid(logits).double().numpy(), attention.double().numpy()


def assert_matches(model: TBiNet, weights: dict, x: np.ndarray, backend: str, pool: int,
                   gate: str = "hard_sigmoid") -> None:
    probs, attention = tbvar_forward(model, x)
    ref_probs, ref_attention = keras_forward(weights, x, backend=backend, pool=pool, gate=gate)
    assert np.abs(probs - ref_probs).max() < TOLERANCE
    assert np.abs(attention - ref_attention).max() < TOLERANCE
    # the probabilities are spread out, so agreement is not an artefact of saturation
    assert 0.05 < ref_probs.mean() < 0.95 and ref_probs.std() > 0.05


@pytest.fixture(scope="module")
def small_weights() -> dict[str, np.ndarray]:
    return random_weights(np.random.default_rng(1), **SMALL)


@pytest.mark.parametrize("backend", ["theano", "tensorflow"])
@pytest.mark.parametrize("full_model", [True, False])
def test_import_matches_keras_reference(tmp_path, small_weights, backend, full_model):
    source = write_keras_file(tmp_path / "model.h5", small_weights, backend=backend,
                              full_model=full_model, length=SMALL["length"], pool=SMALL["pool"])
    out = tmp_path / "model.safetensors"
    options = {} if full_model else {"pool_size": SMALL["pool"]}
    import_keras(source, out, **options)
    model, info = load_model(out)  # through the written file
    assert info.config == TBiNetConfig(
        sequence_length=58, n_kernels=16, kernel_width=7, pool_size=4, lstm_units=8,
        dense_units=12, n_tasks=10, recurrent_activation="hard_sigmoid")
    rng = np.random.default_rng(2)
    assert_matches(model, small_weights, random_inputs(rng, 6, SMALL["length"]), backend, 4)
    assert_matches(model, small_weights, real_windows(SMALL["length"]), backend, 4)
    assert info.provenance["keras_backend"] == backend
    assert info.provenance["conv_kernel_flipped"] == (backend == "theano")
    assert info.provenance["source_sha256"] == file_sha256(source)
    assert info.provenance["source_format"] == ("keras full model" if full_model
                                                else "keras weights only")
    assert info.provenance["keras_layers"] == ["conv1d_7", "dense_7", "bidirectional_7",
                                               "dense_8", "dense_9"]


def test_reference_discriminates_flip_and_gates(tmp_path, small_weights):
    """The comparison is sensitive: a missing kernel flip or sigmoid gates are far off."""
    source = write_keras_file(tmp_path / "m.h5", small_weights, backend="theano",
                              full_model=True, length=58, pool=4)
    model, _ = import_keras(source)
    x = random_inputs(np.random.default_rng(3), 8, 58)
    probs, _ = tbvar_forward(model, x)
    unflipped, _ = keras_forward(small_weights, x, backend="tensorflow", pool=4)
    sigmoid_gates, _ = keras_forward(small_weights, x, backend="theano", pool=4, gate="sigmoid")
    assert np.abs(probs - unflipped).max() > 1e-2
    assert np.abs(probs - sigmoid_gates).max() > 1e-2
    # and the LSTM gates really visit both the clipped and the linear part of hard_sigmoid
    record: list = []
    keras_forward(small_weights, x, backend="theano", pool=4, record=record)
    clipped = np.mean(np.abs(np.concatenate(record)) > 2.5)
    assert 0.1 < clipped < 0.9


def test_sigmoid_gates_from_model_config(tmp_path, small_weights):
    source = write_keras_file(tmp_path / "m.h5", small_weights, backend="tensorflow",
                              full_model=True, length=58, pool=4, gate="sigmoid")
    model, info = import_keras(source)
    assert info.config.recurrent_activation == "sigmoid"
    assert_matches(model, small_weights, random_inputs(np.random.default_rng(5), 6, 58),
                   "tensorflow", 4, gate="sigmoid")


def test_explicit_recurrence_matches_nn_lstm():
    """The hand-written BiLSTM loop with sigmoid gates reproduces nn.LSTM exactly."""
    torch.manual_seed(0)
    model = TBiNet(TBiNetConfig(sequence_length=58, n_kernels=16, kernel_width=7, pool_size=4,
                                lstm_units=8, dense_units=12, n_tasks=10)).eval()
    with torch.no_grad():
        for name, param in model.lstm.named_parameters():
            if name.startswith("bias_ih"):
                param.normal_(0, 1)
        x = torch.randn(5, 13, 16)
        expected, _ = model.lstm(x)
        explicit = model._explicit_bilstm(x, torch.sigmoid)
    assert torch.abs(expected - explicit).max() < 1e-6


def test_hard_sigmoid_recurrence_matches_numpy():
    torch.manual_seed(1)
    model = TBiNet(TBiNetConfig(sequence_length=58, n_kernels=16, kernel_width=7, pool_size=4,
                                lstm_units=8, dense_units=12, n_tasks=10,
                                recurrent_activation="hard_sigmoid")).eval()
    x = torch.randn(3, 13, 16) * 3
    lstm_module = model.lstm
    params = {}
    for suffix, direction in (("l0", "forward"), ("l0_reverse", "backward")):
        params[direction] = [getattr(lstm_module, f"weight_ih_{suffix}").detach().numpy().T,
                             getattr(lstm_module, f"weight_hh_{suffix}").detach().numpy().T,
                             getattr(lstm_module, f"bias_ih_{suffix}").detach().numpy()]
    xs = x.double().numpy()
    ref = np.concatenate([lstm(xs, *params["forward"], "hard_sigmoid"),
                          lstm(xs, *params["backward"], "hard_sigmoid", go_backwards=True)], 2)
    with torch.no_grad():
        got = model._hard_sigmoid_bilstm(x).double().numpy()
    assert np.abs(got - ref).max() < 1e-5


def test_paper_sized_model(tmp_path):
    weights = random_weights(np.random.default_rng(6), **PAPER)
    source = write_keras_file(tmp_path / "tbinet_best.hdf5", weights, backend="theano",
                              full_model=True, length=1000, pool=13, suffix=1)
    out = tmp_path / "tbinet.safetensors"
    import_keras(source, out)
    model, info = load_model(out)
    assert info.config == TBiNetConfig(recurrent_activation="hard_sigmoid")
    assert info.genome_build == "hg19"
    assert info.task_source == DEEPSEA_TASK_SOURCE
    assert info.tasks.equals(tbinet_tasks())
    assert model.keras_parameter_count() == 35_515_816
    x = np.concatenate([real_windows(1000), random_inputs(np.random.default_rng(7), 1, 1000)])
    assert_matches(model, weights, x, "theano", 13)


# ---------------------------------------------------------------------------- rejection


def small_file(tmp_path: Path, weights: dict, **kwargs) -> Path:
    options = {"backend": "tensorflow", "full_model": False, "length": 58, "pool": 4, **kwargs}
    return write_keras_file(tmp_path / "m.h5", weights, **options)


def test_not_hdf5(tmp_path):
    path = tmp_path / "model.h5"
    path.write_text("not a model\n")
    with pytest.raises(KerasImportError, match="not an HDF5 file"):
        import_keras(path)
    with pytest.raises(KerasImportError, match="no such file"):
        import_keras(tmp_path / "missing.h5")


def test_hdf5_without_keras_layers(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = b"2.2.4"
        handle.attrs["backend"] = b"theano"
        handle.create_dataset("x", data=np.zeros(3))
    with pytest.raises(KerasImportError, match="not a Keras model file"):
        import_keras(path)


def test_missing_tensor(tmp_path, small_weights):
    path = small_file(tmp_path, small_weights)
    with h5py.File(path, "a") as handle:
        del handle["bidirectional_7"]["bidirectional_7/backward_lstm_7/recurrent_kernel:0"]
    missing = (r"weight bidirectional_7/bidirectional_7/backward_lstm_7/recurrent_kernel:0 "
               r"is missing")
    with pytest.raises(KerasImportError, match=missing):
        import_keras(path)


def test_weight_left_out_of_layer(tmp_path, small_weights):
    path = small_file(tmp_path, small_weights)
    with h5py.File(path, "a") as handle:
        group = handle["bidirectional_7"]
        group.attrs["weight_names"] = list(group.attrs["weight_names"])[:5]
    with pytest.raises(KerasImportError, match=r"BiLSTM layer bidirectional_7 has 5 weights, "
                                               r"expected 6"):
        import_keras(path)


def test_misshaped_tensor(tmp_path, small_weights):
    path = small_file(tmp_path, small_weights)
    with h5py.File(path, "a") as handle:
        del handle["dense_9/dense_9/kernel:0"]
        handle["dense_9"].create_dataset("dense_9/kernel:0", data=np.zeros((11, 10), np.float32))
    with pytest.raises(KerasImportError,
                       match=r"output layer dense_9: weight dense_9/kernel:0 has shape \(11, 10\), "
                             r"expected \(12, 10\)"):
        import_keras(path)


def test_swapped_lstm_weights(tmp_path):
    # units == kernels, so kernel and recurrent_kernel have the same shape: names decide
    weights = random_weights(np.random.default_rng(8), **{**SMALL, "units": 16})
    path = small_file(tmp_path, weights)
    with h5py.File(path, "a") as handle:
        names = list(handle["bidirectional_7"].attrs["weight_names"])
        names[0], names[1] = names[1], names[0]
        handle["bidirectional_7"].attrs["weight_names"] = names
    with pytest.raises(KerasImportError, match="where kernel was expected"):
        import_keras(path)


def test_extra_layer(tmp_path, small_weights):
    path = small_file(tmp_path, small_weights)
    with h5py.File(path, "a") as handle:
        names = [*handle.attrs["layer_names"], b"dense_99"]
        handle.attrs["layer_names"] = np.array(names, dtype="S")
        group = handle.create_group("dense_99")
        group.attrs["weight_names"] = [b"dense_99/kernel:0"]
        group.create_dataset("dense_99/kernel:0", data=np.zeros((10, 3), np.float32))
    with pytest.raises(KerasImportError, match=r"6 layers with weights, expected 5.*dense_99"):
        import_keras(path)


def test_danq_like_model_rejected(tmp_path, small_weights):
    path = write_keras_file(tmp_path / "danq.h5", small_weights, backend="theano",
                            full_model=True, length=58, pool=4, attention=False)
    with pytest.raises(KerasImportError, match="not a TBiNet model"):
        import_keras(path)
    path = write_keras_file(tmp_path / "danq_w.h5", small_weights, backend="theano",
                            full_model=False, length=58, pool=4, attention=False)
    with pytest.raises(KerasImportError, match="4 layers with weights, expected 5"):
        import_keras(path, pool_size=4)


@pytest.mark.parametrize(("layer", "key", "value", "message"), [
    ("conv1d_7", "padding", "same", "conv1d_7 has padding='same'"),
    ("dense_8", "activation", "tanh", "dense_8 has activation 'tanh'; TBiNet expects 'relu'"),
    ("dense_7", "activation", "relu", "dense_7 has activation 'relu'; TBiNet expects 'linear'"),
    ("max_pooling1d_1", "strides", [2], "max_pooling1d_1 has strides=2"),
    ("bidirectional_7", "merge_mode", "sum", "bidirectional_7 has merge_mode='sum'"),
])
def test_model_config_mismatch_rejected(tmp_path, small_weights, layer, key, value, message):
    path = small_file(tmp_path, small_weights, full_model=True)
    with h5py.File(path, "a") as handle:
        config = json.loads(handle.attrs["model_config"])
        for entry in config["config"]["layers"]:
            if entry["name"] == layer:
                entry["config"][key] = value
        handle.attrs["model_config"] = json.dumps(config).encode()
    with pytest.raises(KerasImportError, match=re.escape(message)):
        import_keras(path)


def test_backend_and_version_checked(tmp_path, small_weights):
    path = small_file(tmp_path, small_weights)
    with h5py.File(path, "a") as handle:
        handle.attrs["backend"] = b"cntk"
    with pytest.raises(KerasImportError, match="backend 'cntk' is not supported"):
        import_keras(path)
    with h5py.File(path, "a") as handle:
        handle.attrs["backend"] = b"theano"
        handle.attrs["keras_version"] = b"1.2.2"
    with pytest.raises(KerasImportError, match="Keras version '1.2.2' is not supported"):
        import_keras(path)


def test_overrides_must_agree_with_model_config(tmp_path, small_weights):
    path = small_file(tmp_path, small_weights, full_model=True)
    with pytest.raises(KerasImportError, match="pool_size=13 given, but .* says 4"):
        read_keras_tbinet(path, pool_size=13)
    weights_only = small_file(tmp_path, small_weights)
    with pytest.raises(KerasImportError, match="expects 13 positions"):
        read_keras_tbinet(weights_only, pool_size=4, sequence_length=40)


def test_lambda_bytecode_is_never_executed(tmp_path, small_weights):
    marker = tmp_path / "executed"
    path = small_file(tmp_path, small_weights, full_model=True,
                      lambda_source=f"open({str(marker)!r}, 'w').close()")
    import_keras(path)
    assert not marker.exists()


def test_import_keras_cli(tmp_path, small_weights, capsys):
    path = small_file(tmp_path, small_weights, backend="theano", full_model=True)
    out = tmp_path / "out.safetensors"
    assert main(["model", "import-keras", str(path), "-o", str(out)]) == 0
    model, info = load_model(out)
    assert info.provenance["source_sha256"] == file_sha256(path)
    assert_matches(model, small_weights, real_windows(58), "theano", 4)
    assert "wrote" in capsys.readouterr().out

    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x00" * 64)
    assert main(["model", "import-keras", str(bad), "-o", str(tmp_path / "x.safetensors")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an HDF5 file" in err
    assert not (tmp_path / "x.safetensors").exists()
    assert issubclass(KerasImportError, ModelFileError)
