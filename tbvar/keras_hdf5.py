"""Read the structure of a Keras 2.x HDF5 model file with h5py (no Keras, no TensorFlow).

Reads full-model files (``model.save``: weights under ``/model_weights``, the architecture in the
root attribute ``model_config``) and weights-only files (``model.save_weights``: layer groups at
the root): the layers that have weights, in file order, with their Keras class and config from
``model_config`` when the file has one. The ``model_config`` JSON is parsed; the serialised Lambda
bytecode in it is never unmarshalled or executed. Matching the layers to an architecture is
:mod:`tbvar.keras_import`'s job.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from tbvar.errors import KerasImportError

#: ``{layer name: (Keras class name, layer config)}`` from a file's ``model_config``.
LayerSpecs = dict[str, tuple[str, dict[str, Any]]]


@dataclass
class KerasLayer:
    """A Keras layer that has weights, as found in the file."""

    name: str
    class_name: str | None
    config: dict[str, Any]
    weight_names: list[str]
    weights: list[np.ndarray]

    def describe(self) -> str:
        """``name (class): weight (shape), ...`` for error messages."""
        shapes = ", ".join(f"{n} {tuple(w.shape)}"
                           for n, w in zip(self.weight_names, self.weights, strict=True))
        kind = f" ({self.class_name})" if self.class_name else ""
        return f"{self.name}{kind}: {shapes}"


def open_hdf5(path: str) -> h5py.File:
    """Open a Keras HDF5 file for reading.

    Raises
    ------
    KerasImportError
        The file is missing, not HDF5 or unreadable.
    """
    if not os.path.isfile(path):
        raise KerasImportError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise KerasImportError(f"{path}: not an HDF5 file (Keras .h5/.hdf5 expected)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise KerasImportError(f"{path}: cannot read the HDF5 file ({exc})") from None


def attr_text(value: Any) -> str:
    """An HDF5 attribute value (bytes, numpy scalar or str) as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return attr_text(value.item())
    return str(value)


def _name_list(group: h5py.Group, attr: str) -> list[str] | None:
    """A Keras name-list attribute, also in its chunked form (``attr0``, ``attr1``, ...)."""
    if attr in group.attrs:
        return [attr_text(v) for v in np.atleast_1d(group.attrs[attr])]
    chunks = []
    while f"{attr}{len(chunks)}" in group.attrs:
        chunks.extend(attr_text(v) for v in np.atleast_1d(group.attrs[f"{attr}{len(chunks)}"]))
    return chunks or None


def layer_specs(path: str, root: h5py.File) -> LayerSpecs:
    """The layers' classes and configs from the ``model_config`` JSON.

    Returns
    -------
    LayerSpecs
        ``{layer name: (class name, config)}``; empty when the file has no ``model_config``
        (weights-only files).

    Raises
    ------
    KerasImportError
        The ``model_config`` is not Keras model JSON.
    """
    if "model_config" not in root.attrs:
        return {}
    try:
        doc = json.loads(attr_text(root.attrs["model_config"]))
        config = doc["config"]
        layers = config["layers"] if isinstance(config, dict) else config
        return {layer.get("name") or layer["config"]["name"]:
                (str(layer["class_name"]), dict(layer["config"])) for layer in layers}
    except (ValueError, KeyError, TypeError) as exc:
        raise KerasImportError(f"{path}: cannot parse the Keras model_config ({exc!r})") from None


def read_layers(path: str, group: h5py.Group, specs: LayerSpecs) -> list[KerasLayer]:
    """The layers that have weights, in the order of the group's ``layer_names``.

    Parameters
    ----------
    path
        File name, for error messages.
    group
        ``/model_weights`` of a full-model file, the root of a weights-only file.
    specs
        From :func:`layer_specs`; every layer must be in it unless it is empty.

    Returns
    -------
    list of KerasLayer
        Weights as float32 arrays in the file's order.

    Raises
    ------
    KerasImportError
        No layer list, a missing layer or weight, a non-float or non-finite weight, or a layer
        absent from the ``model_config``.
    """
    names = _name_list(group, "layer_names")
    if names is None:
        raise KerasImportError(f"{path}: HDF5 file without Keras layers (no 'model_weights' "
                               "group and no 'layer_names' attribute); not a Keras model file")
    layers = []
    for name in names:
        if name not in group:
            raise KerasImportError(f"{path}: layer group {name!r} listed in layer_names is missing")
        weight_names = _name_list(group[name], "weight_names") or []
        weights = []
        for weight_name in weight_names:
            item = group[name].get(weight_name)
            if not isinstance(item, h5py.Dataset):
                raise KerasImportError(f"{path}: weight {name}/{weight_name} is missing")
            array = item[()]
            if not np.issubdtype(array.dtype, np.floating):
                raise KerasImportError(f"{path}: weight {name}/{weight_name} has dtype "
                                       f"{array.dtype}, expected float32")
            if not np.all(np.isfinite(array)):
                raise KerasImportError(f"{path}: weight {name}/{weight_name} has NaN/inf values")
            weights.append(array.astype(np.float32, copy=False))
        class_name, config = specs.get(name, (None, {}))
        if specs and name not in specs:
            raise KerasImportError(f"{path}: layer {name!r} is not in the model_config")
        if weights:
            layers.append(KerasLayer(name, class_name, config, weight_names, weights))
    return layers


def base_name(weight_name: str) -> str:
    """A weight's name without its layer path and ``:0`` suffix (``.../kernel:0`` → ``kernel``)."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]
