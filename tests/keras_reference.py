"""Independent numpy Keras-2.2.4 TBiNet forward pass and a Keras-layout HDF5 writer for tests.

Nothing here uses tbvar: the forward pass works on Keras-layout weights (conv kernel
``(W, 4, K)``, dense ``(in, out)``, LSTM ``kernel``/``recurrent_kernel``/``bias`` with gate
columns i, f, c, o) and follows Keras 2.2.4 / Theano 1.0.3 semantics written out from their
definitions: Theano's Conv1D is a true convolution, TensorFlow's a cross-correlation; LSTM gates
use ``hard_sigmoid(x) = clip(0.2 x + 0.5, 0, 1)`` step by step; the backward LSTM reads the
sequence reversed and Bidirectional re-reverses its output; Flatten is channels-last. float64.
"""

from __future__ import annotations

import base64
import json
import marshal
from pathlib import Path

import h5py
import numpy as np

BASES = "AGCT"


def onehot(sequence: str) -> np.ndarray:
    """One-hot ``(L, 4)`` in A, G, C, T order; anything else (N) is all zeros."""
    seq = sequence.upper()
    return np.array([[float(b == base) for base in BASES] for b in seq])


def read_fasta(path: Path) -> dict[str, str]:
    """Tiny FASTA reader (name → sequence)."""
    records: dict[str, list[str]] = {}
    name = ""
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].strip()
            records[name] = []
        elif line.strip():
            records[name].append(line.strip())
    return {k: "".join(v) for k, v in records.items()}


def random_weights(rng: np.random.Generator, *, length: int, width: int, kernels: int, pool: int,
                   units: int, dense: int, tasks: int) -> dict[str, np.ndarray]:
    """Keras-layout TBiNet weights, scaled so every non-linearity works in its interesting range
    (conv outputs O(1), peaked attention, LSTM gates both clipped and linear, logits O(1))."""
    bins = (length - width + 1) // pool
    flat = bins * 2 * units

    def normal(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    weights = {
        "conv_kernel": normal((width, 4, kernels), 1.0 / np.sqrt(width)),
        "conv_bias": normal((kernels,), 0.3),
        "att_kernel": normal((kernels, 1), 3.0 / np.sqrt(kernels)),
        "att_bias": normal((1,), 1.0),
        "dense_kernel": normal((flat, dense), 2.0 / np.sqrt(flat)),
        "dense_bias": normal((dense,), 0.2),
        "out_kernel": normal((dense, tasks), 2.0 / np.sqrt(dense)),
        "out_bias": normal((tasks,), 0.5),
    }
    for direction in ("forward", "backward"):
        # attention weights are ~1/bins, so the input kernel is scaled up by bins
        weights[f"{direction}_kernel"] = normal((kernels, 4 * units), bins / np.sqrt(kernels))
        weights[f"{direction}_recurrent"] = normal((units, 4 * units), 2.0 / np.sqrt(units))
        weights[f"{direction}_bias"] = normal((4 * units,), 1.5)
    return weights


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Keras 2.2.4 / Theano hard sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, backend: str) -> np.ndarray:
    """Keras Conv1D, ``padding='valid'``: true convolution on Theano, cross-correlation on TF."""
    width = kernel.shape[0]
    steps = x.shape[1] - width + 1
    out = np.zeros((x.shape[0], steps, kernel.shape[2]))
    for j in range(width):
        tap = kernel[width - 1 - j] if backend == "theano" else kernel[j]
        out += x[:, j:j + steps, :] @ tap.astype(np.float64)
    return out + bias


def lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
         gate: str, go_backwards: bool = False, record: list | None = None) -> np.ndarray:
    """Keras LSTM (return_sequences=True), one step at a time; ``record`` collects the
    pre-activations of the i, f, o gates."""
    act = hard_sigmoid if gate == "hard_sigmoid" else sigmoid
    n, steps, _ = x.shape
    units = recurrent.shape[0]
    h = np.zeros((n, units))
    c = np.zeros((n, units))
    outputs = []
    for t in (range(steps - 1, -1, -1) if go_backwards else range(steps)):
        z = x[:, t] @ kernel + h @ recurrent + bias
        if record is not None:
            record.append(np.concatenate([z[:, :2 * units], z[:, 3 * units:]], axis=1))
        i = act(z[:, :units])
        f = act(z[:, units:2 * units])
        candidate = np.tanh(z[:, 2 * units:3 * units])
        o = act(z[:, 3 * units:])
        c = f * c + i * candidate
        h = o * np.tanh(c)
        outputs.append(h)
    y = np.stack(outputs, axis=1)
    return y[:, ::-1] if go_backwards else y


def keras_forward(weights: dict[str, np.ndarray], x: np.ndarray, *, backend: str, pool: int,
                  gate: str = "hard_sigmoid", record: list | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities ``(N, tasks)`` and attention ``(N, bins)`` of the Keras TBiNet."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = np.maximum(conv1d(np.asarray(x, dtype=np.float64), w["conv_kernel"], w["conv_bias"],
                          backend), 0.0)
    n, steps, kernels = h.shape
    bins = steps // pool
    h = h[:, :bins * pool].reshape(n, bins, pool, kernels).max(axis=2)
    scores = (h @ w["att_kernel"] + w["att_bias"])[:, :, 0]
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    attention = exp / exp.sum(axis=1, keepdims=True)
    h = h * attention[:, :, None]
    forward = lstm(h, w["forward_kernel"], w["forward_recurrent"], w["forward_bias"], gate,
                   record=record)
    backward = lstm(h, w["backward_kernel"], w["backward_recurrent"], w["backward_bias"], gate,
                    go_backwards=True, record=record)
    h = np.concatenate([forward, backward], axis=2).reshape(n, -1)
    h = np.maximum(h @ w["dense_kernel"] + w["dense_bias"], 0.0)
    return sigmoid(h @ w["out_kernel"] + w["out_bias"]), attention


def _layer(name: str, class_name: str, inbound: str | None, **config: object) -> dict:
    return {"name": name, "class_name": class_name, "config": {"name": name, **config},
            "inbound_nodes": [[[inbound, 0, 0, {}]]] if inbound else []}


def model_config(names: dict[str, str], *, length: int, width: int, kernels: int, pool: int,
                 units: int, dense: int, tasks: int, gate: str, lambda_code: str,
                 attention: bool = True) -> dict:
    """A Keras 2.2.4 functional-model ``model_config`` for TBiNet (or DanQ-like if not
    ``attention``); ``lambda_code`` is stored like Keras' marshalled Lambda bytecode."""
    conv, att, bilstm, hidden, out = (names[k] for k in ("conv", "att", "lstm", "dense", "out"))
    layers = [
        _layer("input_1", "InputLayer", None, batch_input_shape=[None, length, 4],
               dtype="float32", sparse=False),
        _layer(conv, "Conv1D", "input_1", filters=kernels, kernel_size=[width], strides=[1],
               padding="valid", data_format="channels_last", dilation_rate=[1],
               activation="relu", use_bias=True),
        _layer("max_pooling1d_1", "MaxPooling1D", conv, pool_size=[pool], strides=[pool],
               padding="valid"),
        _layer("dropout_1", "Dropout", "max_pooling1d_1", rate=0.2),
    ]
    last = "dropout_1"
    if attention:
        layers += [
            _layer(att, "Dense", "dropout_1", units=1, activation="linear", use_bias=True),
            _layer("permute_1", "Permute", att, dims=[2, 1]),
            _layer("activation_1", "Activation", "permute_1", activation="softmax"),
            _layer("permute_2", "Permute", "activation_1", dims=[2, 1]),
            _layer("attention", "Lambda", "permute_2", function=[lambda_code, None, None],
                   function_type="lambda", output_shape=[75], output_shape_type="raw",
                   arguments={}),
            _layer("repeat_vector_1", "RepeatVector", "attention", n=320),
            _layer("permute_3", "Permute", "repeat_vector_1", dims=[2, 1]),
        ]
        layers.append({"name": "multiply_1", "class_name": "Multiply",
                       "config": {"name": "multiply_1"},
                       "inbound_nodes": [[["dropout_1", 0, 0, {}], ["permute_3", 0, 0, {}]]]})
        last = "multiply_1"
    lstm_config = {"name": "lstm_1", "units": units, "activation": "tanh",
                   "recurrent_activation": gate, "use_bias": True, "return_sequences": True,
                   "go_backwards": False, "implementation": 1}
    layers += [
        _layer(bilstm, "Bidirectional", last, layer={"class_name": "LSTM", "config": lstm_config},
               merge_mode="concat"),
        _layer("dropout_2", "Dropout", bilstm, rate=0.5),
        _layer("flatten_1", "Flatten", "dropout_2", data_format="channels_last"),
        _layer(hidden, "Dense", "flatten_1", units=dense, activation="linear"),
        _layer("activation_2", "Activation", hidden, activation="relu"),
        _layer(out, "Dense", "activation_2", units=tasks, activation="linear"),
        _layer("activation_3", "Activation", out, activation="sigmoid"),
    ]
    return {"class_name": "Model", "config": {
        "name": "model_1", "layers": layers, "input_layers": [["input_1", 0, 0]],
        "output_layers": [["activation_3", 0, 0]]}}


def write_keras_file(path: Path, weights: dict[str, np.ndarray], *, backend: str,
                     full_model: bool, length: int, pool: int, gate: str = "hard_sigmoid",
                     suffix: int = 7, lambda_source: str = "lambda x: K.mean(x, axis=2)",
                     attention: bool = True) -> Path:
    """Write ``weights`` in the Keras 2.2.4 HDF5 layout (``model.save`` or ``save_weights``).

    Layer names carry the suffix ``suffix`` (``conv1d_7``, ``bidirectional_7``, ...); weight
    names end in ``:0`` for TensorFlow and not for Theano, as Keras 2.2.4 writes them.
    """
    tag = "" if backend == "theano" else ":0"
    names = {"conv": f"conv1d_{suffix}", "att": f"dense_{suffix}",
             "lstm": f"bidirectional_{suffix}", "dense": f"dense_{suffix + 1}",
             "out": f"dense_{suffix + 2}"}
    lstm_weights = []
    for direction in ("forward", "backward"):
        prefix = f"{names['lstm']}/{direction}_lstm_{suffix}"
        lstm_weights += [(f"{prefix}/kernel{tag}", weights[f"{direction}_kernel"]),
                         (f"{prefix}/recurrent_kernel{tag}", weights[f"{direction}_recurrent"]),
                         (f"{prefix}/bias{tag}", weights[f"{direction}_bias"])]

    def pair(layer: str, key: str) -> list[tuple[str, np.ndarray]]:
        return [(f"{layer}/kernel{tag}", weights[f"{key}_kernel"]),
                (f"{layer}/bias{tag}", weights[f"{key}_bias"])]

    weighted = {names["conv"]: pair(names["conv"], "conv"),
                names["lstm"]: lstm_weights,
                names["dense"]: pair(names["dense"], "dense"),
                names["out"]: pair(names["out"], "out")}
    if attention:
        weighted[names["att"]] = pair(names["att"], "att")
    code = base64.b64encode(marshal.dumps(compile(lambda_source, "<lambda>", "exec")))
    width, _, kernels = weights["conv_kernel"].shape
    config = model_config(names, length=length, width=width, kernels=kernels, pool=pool,
                          units=weights["forward_recurrent"].shape[0],
                          dense=weights["dense_bias"].shape[0], tasks=weights["out_bias"].shape[0],
                          gate=gate, lambda_code=code.decode("ascii"), attention=attention)
    layer_names = [layer["name"] for layer in config["config"]["layers"]]
    with h5py.File(path, "w") as handle:
        if full_model:
            handle.attrs["keras_version"] = b"2.2.4"
            handle.attrs["backend"] = backend.encode()
            handle.attrs["model_config"] = json.dumps(config).encode()
            handle.attrs["training_config"] = json.dumps(
                {"loss": "binary_crossentropy", "optimizer_config": {"class_name": "Adam"}}
            ).encode()
            handle.create_group("optimizer_weights").attrs["weight_names"] = [b"Adam/iterations"]
            group = handle.create_group("model_weights")
        else:
            group = handle
        group.attrs["layer_names"] = [name.encode() for name in layer_names]
        group.attrs["backend"] = backend.encode()
        group.attrs["keras_version"] = b"2.2.4"
        for name in layer_names:
            layer_group = group.create_group(name)
            entries = weighted.get(name, [])
            layer_group.attrs["weight_names"] = [n.encode() for n, _ in entries]
            for weight_name, value in entries:
                layer_group.create_dataset(weight_name, data=value)
    return path
