"""Import TBiNet models saved by the reference Keras code (Keras 2.x HDF5, h5py only).

:mod:`tbvar.keras_hdf5` reads the file (full model or weights only); this module matches its
layers to TBiNet by their order, their Keras class (from ``model_config`` when the file has one)
and their weight shapes, never by layer-name suffixes (``conv1d_7``, ``bidirectional_3`` depend
on the Python session that built the model), checks the architecture and converts the weights.

Conversions (Keras 2.2.4 semantics):

* Conv1D kernel ``(W, 4, K)`` → ``(K, 4, W)``; files saved with the **Theano** backend hold true
  convolution kernels and are flipped along the width axis first (TensorFlow files are not).
* Dense kernels ``(in, out)`` → ``(out, in)``.
* LSTM ``kernel (K, 4U)`` → ``weight_ih (4U, K)``, ``recurrent_kernel`` → ``weight_hh``,
  ``bias`` → ``bias_ih`` (``bias_hh`` stays zero); Keras' gate order i, f, c, o is PyTorch's
  i, f, g, o. Bidirectional weights are the forward then the backward layer's.
* The recurrent activation comes from ``model_config`` (Keras' default ``hard_sigmoid``
  for weights-only files); Flatten is channels-last, which is tbvar's position-major flatten.

The model size is inferred from the tensor shapes, so any TBiNet-shaped Keras model imports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from tbvar.checkpoint import ModelInfo, file_sha256, save_model
from tbvar.errors import KerasImportError
from tbvar.keras_hdf5 import (
    KerasLayer,
    LayerSpecs,
    attr_text,
    base_name,
    layer_specs,
    open_hdf5,
    read_layers,
)
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import DEEPSEA_TASK_SOURCE, generic_tasks, tbinet_tasks
from tbvar.version import __version__

if TYPE_CHECKING:
    import h5py

#: Pool size assumed for weights-only files (which do not record it); TBiNet uses 13.
DEFAULT_POOL_SIZE = 13
SUPPORTED_BACKENDS = ("theano", "tensorflow")
CONVERTER = f"tbvar {__version__} (tbvar.keras_import)"
#: Keras layer classes a TBiNet model is built from (anything else means another architecture).
TBINET_LAYER_CLASSES = frozenset({
    "InputLayer", "Conv1D", "MaxPooling1D", "Dropout", "Dense", "Permute", "Activation",
    "Lambda", "RepeatVector", "Multiply", "Bidirectional", "Flatten",
})
EXPECTED_LAYOUT = ("Conv1D, Dense(1) attention, Bidirectional(LSTM), Dense, Dense "
                   "(TBiNet, Park et al. 2020)")
_LSTM_WEIGHTS = ("kernel", "recurrent_kernel", "bias")


class _Settings(NamedTuple):
    """Model settings the weight shapes do not fix (``None``: not known)."""

    sequence_length: int | None
    pool_size: int | None
    recurrent_activation: str | None


@dataclass
class _KerasFile:
    """What :func:`_read_file` found in a Keras HDF5 file."""

    full_model: bool
    version: str
    backend: str
    specs: LayerSpecs
    stored: _Settings
    layers: list[KerasLayer]

    @property
    def flip_conv(self) -> bool:
        """Whether the convolution kernels are flipped (Theano stores true convolutions)."""
        return self.backend == "theano"


@dataclass
class KerasTBiNet:
    """A TBiNet read from a Keras file: config, tbvar ``state_dict`` and provenance."""

    config: TBiNetConfig
    state: dict[str, torch.Tensor]
    provenance: dict[str, Any]

    def model(self) -> TBiNet:
        """The tbvar model (eval mode, CPU) holding these weights."""
        model = TBiNet(self.config)
        model.load_state_dict(self.state)
        return model.eval()

    def info(self) -> ModelInfo:
        """Metadata for the tbvar model file (the 690 DeepSEA tasks when the model has 690)."""
        tbinet = self.config.n_tasks == len(tbinet_tasks())
        source = self.provenance["source_file"]
        return ModelInfo(
            config=self.config,
            tasks=tbinet_tasks() if tbinet else generic_tasks(self.config.n_tasks),
            genome_build="hg19" if tbinet else "unknown",
            description=(f"TBiNet imported from Keras file {source} (Keras "
                         f"{self.provenance['keras_version']}, "
                         f"{self.provenance['keras_backend']} backend)"),
            task_source=(DEEPSEA_TASK_SOURCE if tbinet
                         else f"none in the Keras file ({self.config.n_tasks} unnamed outputs)"),
            provenance=dict(self.provenance),
        )


def _check_weights(path: str, layer: KerasLayer, role: str, expected: list[tuple[str, tuple]]
                   ) -> None:
    """Check a layer's weights against ``[(base name, shape), ...]``."""
    want = ", ".join(f"{name} {shape}" for name, shape in expected)
    if len(layer.weights) != len(expected):
        raise KerasImportError(f"{path}: {role} layer {layer.name} has {len(layer.weights)} "
                               f"weights, expected {len(expected)} ({want}); "
                               f"found {layer.describe()}")
    for weight_name, array, (base, shape) in zip(layer.weight_names, layer.weights, expected,
                                                 strict=True):
        found = base_name(weight_name)
        if found in _LSTM_WEIGHTS and found != base:
            raise KerasImportError(f"{path}: {role} layer {layer.name}: weight {weight_name} "
                                   f"where {base} was expected (expected {want})")
        if tuple(array.shape) != shape:
            raise KerasImportError(f"{path}: {role} layer {layer.name}: weight {weight_name} has "
                                   f"shape {tuple(array.shape)}, expected {shape}")


def _expect_class(path: str, layer: KerasLayer, role: str, class_name: str) -> None:
    if layer.class_name is not None and layer.class_name != class_name:
        raise KerasImportError(f"{path}: layer {layer.name} is a {layer.class_name} where the "
                               f"{role} ({class_name}) was expected; expected {EXPECTED_LAYOUT}")


def _config_value(path: str, layer_name: str, config: dict[str, Any], key: str,
                  allowed: tuple[Any, ...]) -> Any:
    value = config.get(key, allowed[0])
    value = value[0] if isinstance(value, list) and len(value) == 1 else value
    if value not in allowed:
        raise KerasImportError(f"{path}: layer {layer_name} has {key}={value!r}; tbvar's TBiNet "
                               f"supports {' or '.join(map(repr, allowed))}")
    return value


def _architecture(path: str, specs: LayerSpecs) -> _Settings:
    """Check a ``model_config``; return the settings it records."""
    if not specs:
        return _Settings(None, None, None)
    classes = [class_name for class_name, _ in specs.values()]
    unsupported = sorted(set(classes) - TBINET_LAYER_CLASSES)
    if unsupported:
        raise KerasImportError(f"{path}: not a TBiNet model: layer classes {unsupported} are not "
                               f"part of TBiNet; expected {EXPECTED_LAYOUT}")
    for required in ("MaxPooling1D", "Flatten", "Multiply", "Lambda"):
        if classes.count(required) != 1:
            raise KerasImportError(f"{path}: not a TBiNet model: {classes.count(required)} "
                                   f"{required} layers, expected 1 ({EXPECTED_LAYOUT})")
    by_class = {class_name: (name, config) for name, (class_name, config) in specs.items()}
    seq_len = None
    if "InputLayer" in by_class:
        shape = by_class["InputLayer"][1].get("batch_input_shape")
        if not (isinstance(shape, list) and len(shape) == 3 and shape[2] == 4):
            raise KerasImportError(f"{path}: model input shape {shape} is not (batch, length, 4)")
        seq_len = int(shape[1]) if shape[1] is not None else None
    name, pool = by_class["MaxPooling1D"]
    pool_size = pool.get("pool_size")
    pool_size = pool_size[0] if isinstance(pool_size, list) and len(pool_size) == 1 else pool_size
    if not isinstance(pool_size, int) or pool_size < 1:
        raise KerasImportError(f"{path}: layer {name} has pool_size={pool_size!r}")
    _config_value(path, name, pool, "strides", (pool_size, None))
    _config_value(path, name, pool, "padding", ("valid",))
    recurrent = None
    for name, (class_name, config) in specs.items():
        if class_name == "Conv1D":
            for key, allowed in (("padding", ("valid",)), ("strides", (1,)),
                                 ("dilation_rate", (1,)), ("activation", ("relu",)),
                                 ("data_format", ("channels_last",))):
                _config_value(path, name, config, key, allowed)
        elif class_name == "Bidirectional":
            _config_value(path, name, config, "merge_mode", ("concat",))
            inner = config.get("layer", {})
            if inner.get("class_name") != "LSTM":
                raise KerasImportError(f"{path}: layer {name} wraps a {inner.get('class_name')}, "
                                       "expected an LSTM")
            lstm = inner.get("config", {})
            _config_value(path, name, lstm, "activation", ("tanh",))
            _config_value(path, name, lstm, "return_sequences", (True,))
            _config_value(path, name, lstm, "use_bias", (True,))
            recurrent = _config_value(path, name, lstm, "recurrent_activation",
                                      ("hard_sigmoid", "sigmoid"))
    return _Settings(seq_len, pool_size, recurrent)


def _check_activations(path: str, specs: LayerSpecs,
                       attention: KerasLayer, dense: KerasLayer, output: KerasLayer) -> None:
    """Dense activations: linear attention scores, ReLU hidden layer, sigmoid outputs."""
    separate = {config.get("activation") for class_name, config in specs.values()
                if class_name == "Activation"}
    if "softmax" not in separate:
        raise KerasImportError(f"{path}: not a TBiNet model: no softmax Activation layer for "
                               "the attention weights")
    for layer, wanted in ((attention, None), (dense, "relu"), (output, "sigmoid")):
        activation = layer.config.get("activation", "linear")
        if activation == wanted or (activation == "linear" and wanted in separate | {None}):
            continue
        raise KerasImportError(f"{path}: Dense layer {layer.name} has activation "
                               f"{activation!r}; TBiNet expects {wanted or 'linear'!r} there")


def _version_and_backend(path: str, root: h5py.File, group: h5py.Group) -> tuple[str, str]:
    """Read the Keras version and backend (the layer group's, else the root's).

    Raises
    ------
    KerasImportError
        Not Keras 2.x, or a backend other than Theano and TensorFlow.
    """
    version = attr_text(group.attrs.get("keras_version", root.attrs.get("keras_version", "")))
    backend = attr_text(group.attrs.get("backend", root.attrs.get("backend", "")))
    if not version.startswith("2."):
        raise KerasImportError(f"{path}: Keras version {version or 'unknown'!r} is not "
                               "supported (Keras 2.x files only)")
    if backend not in SUPPORTED_BACKENDS:
        raise KerasImportError(f"{path}: Keras backend {backend or 'unknown'!r} is not "
                               f"supported ({' or '.join(SUPPORTED_BACKENDS)}); it decides "
                               "whether convolution kernels are flipped")
    return version, backend


def _read_file(path: str) -> _KerasFile:
    """Open a Keras HDF5 file, check its header and ``model_config`` and read its layers."""
    with open_hdf5(path) as root:
        full_model = "model_weights" in root
        group = root["model_weights"] if full_model else root
        version, backend = _version_and_backend(path, root, group)
        specs = layer_specs(path, root)
        stored = _architecture(path, specs)
        layers = read_layers(path, group, specs)
    return _KerasFile(full_model, version, backend, specs, stored, layers)


def _merge_settings(path: str, given: _Settings, stored: _Settings) -> _Settings:
    """Check the caller's settings against the file's; return each given one, else the stored one.

    Raises
    ------
    KerasImportError
        A setting given and stored with different values.
    """
    for key, mine, theirs in zip(_Settings._fields, given, stored, strict=True):
        if mine is not None and theirs is not None and mine != theirs:
            raise KerasImportError(f"{path}: {key}={mine!r} given, but the file's model_config "
                                   f"says {theirs!r}")
    return _Settings(*(mine or theirs for mine, theirs in zip(given, stored, strict=True)))


def _check_layers(path: str, layers: list[KerasLayer], specs: LayerSpecs) -> None:
    """Check for TBiNet's five layers with weights, their classes and their activations."""
    if len(layers) != 5:
        found = "; ".join(layer.describe() for layer in layers) or "none"
        raise KerasImportError(f"{path}: not a TBiNet model: {len(layers)} layers with weights, "
                               f"expected 5 ({EXPECTED_LAYOUT}); found {found}")
    roles = (("convolution", "Conv1D"), ("attention", "Dense"), ("BiLSTM", "Bidirectional"),
             ("hidden dense", "Dense"), ("output", "Dense"))
    for layer, (role, class_name) in zip(layers, roles, strict=True):
        _expect_class(path, layer, role, class_name)
    if specs:
        _check_activations(path, specs, layers[1], layers[3], layers[4])


def _conv_sizes(path: str, conv: KerasLayer, attention: KerasLayer) -> tuple[int, int]:
    """Check the convolution and attention weights.

    Returns
    -------
    kernel_width, n_kernels
    """
    kernel = conv.weights[0]
    if kernel.ndim != 3 or kernel.shape[1] != 4:
        raise KerasImportError(f"{path}: convolution layer {conv.name}: kernel shape "
                               f"{kernel.shape} is not (width, 4, kernels)")
    width, _, n_kernels = kernel.shape
    _check_weights(path, conv, "convolution",
                   [("kernel", (width, 4, n_kernels)), ("bias", (n_kernels,))])
    _check_weights(path, attention, "attention", [("kernel", (n_kernels, 1)), ("bias", (1,))])
    return width, n_kernels


def _lstm_units(path: str, lstm: KerasLayer, n_kernels: int) -> int:
    """Check the BiLSTM weights (forward then backward); return the units per direction."""
    first = lstm.weights[0]
    if first.ndim != 2 or first.shape[0] != n_kernels or first.shape[1] % 4:
        raise KerasImportError(f"{path}: BiLSTM layer {lstm.name}: kernel shape "
                               f"{first.shape} is not ({n_kernels}, 4*units)")
    units = first.shape[1] // 4
    one_direction = [("kernel", (n_kernels, 4 * units)), ("recurrent_kernel", (units, 4 * units)),
                     ("bias", (4 * units,))]
    _check_weights(path, lstm, "BiLSTM", one_direction * 2)
    return units


def _dense_sizes(path: str, dense: KerasLayer, output: KerasLayer,
                 lstm_units: int) -> tuple[int, int, int]:
    """Check the hidden dense and output weights.

    Returns
    -------
    n_bins, dense_units, n_tasks
    """
    kernel = dense.weights[0]
    flat, dense_units = kernel.shape if kernel.ndim == 2 else (0, 0)
    if flat == 0 or flat % (2 * lstm_units):
        raise KerasImportError(f"{path}: hidden dense layer {dense.name}: kernel shape "
                               f"{kernel.shape} is not (bins*{2 * lstm_units}, units)")
    _check_weights(path, dense, "hidden dense",
                   [("kernel", (flat, dense_units)), ("bias", (dense_units,))])
    n_tasks = output.weights[0].shape[-1]
    _check_weights(path, output, "output",
                   [("kernel", (dense_units, n_tasks)), ("bias", (n_tasks,))])
    return flat // (2 * lstm_units), dense_units, n_tasks


def _infer_config(path: str, layers: list[KerasLayer], settings: _Settings) -> TBiNetConfig:
    """Check the five layers' weight shapes and infer the model config from them.

    Settings still unknown get the defaults: pool 13, ``hard_sigmoid`` and the shortest
    sequence length giving the hidden dense layer's number of positions.
    """
    conv, attention, lstm, dense, output = layers
    width, n_kernels = _conv_sizes(path, conv, attention)
    units = _lstm_units(path, lstm, n_kernels)
    n_bins, dense_units, n_tasks = _dense_sizes(path, dense, output, units)
    pool = settings.pool_size or DEFAULT_POOL_SIZE
    length = settings.sequence_length or n_bins * pool + width - 1
    try:
        config = TBiNetConfig(
            sequence_length=length, n_kernels=n_kernels, kernel_width=width, pool_size=pool,
            lstm_units=units, dense_units=dense_units, n_tasks=n_tasks,
            recurrent_activation=settings.recurrent_activation or "hard_sigmoid")
    except ValueError as exc:
        raise KerasImportError(f"{path}: {exc}") from None
    if config.n_bins != n_bins:
        raise KerasImportError(f"{path}: hidden dense layer {dense.name} expects {n_bins} "
                               f"positions, but sequence length {length}, kernel width {width} "
                               f"and pool size {pool} give {config.n_bins}")
    return config


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A contiguous float32 tensor holding ``array``."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _state_dict(layers: list[KerasLayer], lstm_units: int,
                flip_conv: bool) -> dict[str, torch.Tensor]:
    """Convert the five checked layers' Keras weights to a tbvar TBiNet ``state_dict``."""
    conv, attention, lstm, dense, output = (layer.weights for layer in layers)
    conv_k = conv[0][::-1] if flip_conv else conv[0]  # Theano: true convolution
    state = {
        "conv.weight": _tensor(conv_k.transpose(2, 1, 0)),
        "conv.bias": _tensor(conv[1]),
        "attention.weight": _tensor(attention[0].T),
        "attention.bias": _tensor(attention[1]),
        "dense.weight": _tensor(dense[0].T),
        "dense.bias": _tensor(dense[1]),
        "output.weight": _tensor(output[0].T),
        "output.bias": _tensor(output[1]),
    }
    for suffix, (w_ih, w_hh, bias) in (("l0", lstm[:3]), ("l0_reverse", lstm[3:])):
        state[f"lstm.weight_ih_{suffix}"] = _tensor(w_ih.T)
        state[f"lstm.weight_hh_{suffix}"] = _tensor(w_hh.T)
        state[f"lstm.bias_ih_{suffix}"] = _tensor(bias)
        state[f"lstm.bias_hh_{suffix}"] = torch.zeros(4 * lstm_units)
    return state


def _provenance(path: str, keras: _KerasFile) -> dict[str, Any]:
    """Record the source file (name, SHA-256, format), its Keras version and backend."""
    return {
        "source_file": Path(path).name,
        "source_sha256": file_sha256(path),
        "source_format": "keras full model" if keras.full_model else "keras weights only",
        "keras_version": keras.version,
        "keras_backend": keras.backend,
        "conv_kernel_flipped": keras.flip_conv,
        "keras_layers": [layer.name for layer in keras.layers],
        "converter": CONVERTER,
    }


def read_keras_tbinet(path: str | os.PathLike[str], *, sequence_length: int | None = None,
                      pool_size: int | None = None,
                      recurrent_activation: str | None = None) -> KerasTBiNet:
    """Read and validate a Keras TBiNet file.

    Parameters
    ----------
    path
        Keras HDF5 file: full model (``model.save``) or weights only (``save_weights``).
    sequence_length, pool_size, recurrent_activation
        Only needed for weights-only files that differ from the defaults (pool 13, Keras'
        ``hard_sigmoid``, the shortest length giving the file's number of attention bins);
        for full-model files they must agree with the stored architecture.

    Returns
    -------
    KerasTBiNet
        Config inferred from the shapes, converted tensors and provenance.

    Raises
    ------
    KerasImportError
        Not HDF5, not a Keras file, another architecture, or a missing / mis-shaped / extra
        tensor (the message names the layer and weight).
    """
    path = str(path)
    keras = _read_file(path)
    given = _Settings(sequence_length, pool_size, recurrent_activation)
    settings = _merge_settings(path, given, keras.stored)
    _check_layers(path, keras.layers, keras.specs)
    config = _infer_config(path, keras.layers, settings)
    state = _state_dict(keras.layers, config.lstm_units, keras.flip_conv)
    return KerasTBiNet(config, state, _provenance(path, keras))


def import_keras(path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
                 **options: Any) -> tuple[TBiNet, ModelInfo]:
    """Convert a Keras TBiNet file to a tbvar model (and write it when ``output`` is given).

    Parameters
    ----------
    path
        Keras HDF5 file (see :func:`read_keras_tbinet`).
    output
        Optional ``.safetensors`` path, written atomically.
    **options
        ``sequence_length``, ``pool_size``, ``recurrent_activation`` for weights-only files.

    Returns
    -------
    model, info
        The model in eval mode on the CPU and its metadata.
    """
    keras = read_keras_tbinet(path, **options)
    model, info = keras.model(), keras.info()
    if output is not None:
        save_model(model, output, info)
        info.path = str(output)
    return model, info
