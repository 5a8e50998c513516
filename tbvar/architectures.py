"""The registry of model architectures, shared by the scorer (``tbvar``) and ``tbvar_train``.

Every architecture is an ``nn.Module`` class satisfying :class:`SequenceModel` plus a config
class (a frozen :class:`tbvar.json_config.JsonConfig` dataclass) satisfying
:class:`ModelConfig`, or :class:`AttentionConfig` when the model has attention. Registered:

- ``tbinet``: :class:`tbvar.model.TBiNet` (attention), the scorer's default;
- ``danq``, ``deepsea``: :class:`tbvar.baselines.DanQ`, :class:`tbvar.baselines.DeepSEA`.

A new architecture is its module and config, defined in a module of their own, and one line in
``_REGISTERED`` here. Model files name the architecture (:mod:`tbvar.checkpoint`); a config is
written with its ``to_dict()`` and read back with :func:`config_from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from tbvar.baselines import DanQ, DanQConfig, DeepSEA, DeepSEAConfig
from tbvar.json_config import JsonConfig
from tbvar.model import TBiNet, TBiNetConfig


class ModelConfig(Protocol):
    """What every architecture's config offers."""

    @property
    def sequence_length(self) -> int:
        """Input length L in bases."""

    @property
    def n_tasks(self) -> int:
        """Number of outputs (logits)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, read back by :func:`config_from_dict`."""


class AttentionConfig(ModelConfig, Protocol):
    """The config of a model with attention also places its attention bins."""

    @property
    def n_bins(self) -> int:
        """Number of attention bins (the length of the attention vector)."""

    @property
    def center_bin(self) -> int:
        """The bin whose receptive field is centred on window index L/2."""

    @property
    def bin_spans(self) -> np.ndarray:
        """``(n_bins, 2)`` window indices ``[start, end)`` each bin reads (its receptive
        field; :mod:`tbvar.explain` maps them to genome coordinates)."""


@runtime_checkable
class SequenceModel(Protocol):
    """The interface of every architecture's module (an ``nn.Module``).

    Attributes
    ----------
    arch
        Registry name (class attribute).
    has_attention
        Whether ``forward`` returns attention weights (class attribute).
    config
        The model's :class:`ModelConfig` (an :class:`AttentionConfig` if ``has_attention``).
    """

    arch: ClassVar[str]
    has_attention: ClassVar[bool]
    config: ModelConfig

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the model (in the base order :data:`tbvar.model.ONEHOT_ORDER`, "AGCT").

        Parameters
        ----------
        x
            uint8 base codes ``(N, L)`` (A,G,C,T,N = 0..4; one-hot encoded on the model's
            device) or a one-hot float tensor ``(N, L, 4)``.

        Returns
        -------
        logits
            ``(N, n_tasks)``.
        attention
            ``(N, n_bins)`` attention weights if ``has_attention``, else ``None``.
        """

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Calling the module runs :meth:`forward`."""


@dataclass(frozen=True)
class Architecture:
    """One registered architecture: its module class and its config class."""

    module_class: type[nn.Module]
    config_class: type[JsonConfig]

    @property
    def name(self) -> str:
        """Registry name (the module's ``arch``)."""
        return self.module_class.arch

    @property
    def has_attention(self) -> bool:
        """Whether the module returns attention weights."""
        return self.module_class.has_attention


_REGISTERED = (
    Architecture(TBiNet, TBiNetConfig),
    Architecture(DanQ, DanQConfig),
    Architecture(DeepSEA, DeepSEAConfig),
)
REGISTRY: dict[str, Architecture] = {entry.name: entry for entry in _REGISTERED}
#: Registered architecture names; the first is the default.
ARCHITECTURES = tuple(REGISTRY)


def architecture(name: str) -> Architecture:
    """The registered architecture ``name``; ``ValueError`` naming the known ones if none."""
    if name not in REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; expected one of {ARCHITECTURES}")
    return REGISTRY[name]


def architecture_of(config: ModelConfig) -> Architecture:
    """The registered architecture whose config class ``config`` is an instance of."""
    for entry in _REGISTERED:
        if type(config) is entry.config_class:
            return entry
    raise ValueError(f"{type(config).__name__} is not the config of a registered "
                     f"architecture {ARCHITECTURES}")


def build_model(config: ModelConfig) -> nn.Module:
    """A new model of ``config``'s architecture, PyTorch-initialised (global torch RNG)."""
    return architecture_of(config).module_class(config)


def config_from_dict(arch: str, data: dict[str, Any]) -> ModelConfig:
    """Read the config of architecture ``arch`` from its ``to_dict()`` form.

    Unknown keys are a ``ValueError``; JSON lists become the config's tuples.
    """
    return architecture(arch).config_class.from_dict(data)
