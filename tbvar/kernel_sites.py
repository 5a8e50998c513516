"""Where the first-layer kernels fire: base counts at each sequence's maximal activation.

The method of DanQ and TBiNet (Park et al. 2020) for turning convolution kernels into motifs:
for every kernel and input sequence, take the kernel-wide subsequence at the position of the
kernel's maximal activation (ReLU(conv + bias)) when that activation is > 0, and count its bases
per position into a position probability matrix. Sequences run through the first layer only
(convolution + bias, on the model's device, in batches); ``max(ReLU(a)) > 0`` is
``max(a) > 0``, so the ReLU itself is not applied. Ties take the first position. N bases
(all-zero one-hot) inside a site count as no base, so a column's counts can fall short of the
site count; a column without any base is uniform.

Supported: models whose first layer is a ``Conv1d`` over the one-hot input named ``conv``
(``tbinet``, ``danq``); DeepSEA's stacked ``features`` and other architectures are refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tbvar.meme import Motif
from tbvar.model import N_CODE, codes_to_onehot
from tbvar.scoring import resolve_device

#: Architectures whose first layer ``model.conv`` the kernel-motif method reads.
SUPPORTED = ("tbinet", "danq")


def first_layer(model: nn.Module) -> nn.Conv1d:
    """The model's first convolution (``model.conv``: 4 input channels, no padding/stride).

    Raises
    ------
    ValueError
        One line naming the architecture when the model has no such layer.
    """
    conv = getattr(model, "conv", None)
    arch = getattr(model, "arch", type(model).__name__)
    if (not isinstance(conv, nn.Conv1d) or conv.in_channels != 4 or conv.stride != (1,)
            or conv.padding != (0,) or conv.dilation != (1,) or conv.groups != 1):
        raise ValueError(f"model architecture {arch!r} has no one-hot convolution first layer "
                         f"'conv'; kernel motifs support {', '.join(SUPPORTED)}")
    return conv


def max_activation(weight: torch.Tensor, bias: torch.Tensor | None, codes: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each kernel's maximal activation before ReLU over each sequence, and where.

    Parameters
    ----------
    weight, bias
        The convolution's ``(K, 4, w)`` weight and ``(K,)`` bias (or ``None``).
    codes
        ``(n, L)`` base codes (A,G,C,T,N = 0..4) on the weight's device.

    Returns
    -------
    value, start
        ``(n, K)`` maxima of ``conv(x) + bias`` over positions and their first position.
    """
    onehot = codes_to_onehot(codes, dtype=weight.dtype).transpose(1, 2)
    return nn.functional.conv1d(onehot, weight, bias).max(dim=2)


def kernel_names(n: int) -> list[str]:
    """Names of ``n`` kernels: ``kernel_0`` .. ``kernel_{n-1}`` (the output channel index)."""
    return [f"kernel_{k}" for k in range(n)]


@dataclass(frozen=True)
class KernelCounts:
    """Base counts at the maximal-activation sites of every kernel.

    Attributes
    ----------
    counts
        ``(K, w, 4)`` int64 base counts, columns A, G, C, T (code order).
    n_sites
        ``(K,)`` int64 number of sequences whose maximal activation was > 0.
    n_sequences
        Number of sequences seen.
    """

    counts: np.ndarray
    n_sites: np.ndarray
    n_sequences: int

    def probabilities(self) -> np.ndarray:
        """``(K, w, 4)`` position probability matrices (columns without bases: uniform)."""
        total = self.counts.sum(axis=2, keepdims=True)
        return np.where(total > 0, self.counts / np.maximum(total, 1), 0.25)

    def motifs(self) -> list[Motif]:
        """Every kernel's matrix as a :class:`~tbvar.meme.Motif` named ``kernel_k``."""
        probs = self.probabilities()
        return [Motif(name, "", probs[k], int(self.n_sites[k]))
                for k, name in enumerate(kernel_names(len(probs)))]


class SiteCounter:
    """Accumulates :class:`KernelCounts` over batches of sequences.

    Parameters
    ----------
    conv
        The first layer (:func:`first_layer`).
    device
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    def __init__(self, conv: nn.Conv1d, device: str | torch.device = "auto") -> None:
        self.device = resolve_device(device)
        self.weight = conv.weight.detach().to(self.device)
        self.bias = conv.bias.detach().to(self.device) if conv.bias is not None else None
        self.n_kernels, _, self.width = self.weight.shape
        self._counts = torch.zeros(self.n_kernels * self.width * (N_CODE + 1), dtype=torch.int64,
                                   device=self.device)
        self._sites = torch.zeros(self.n_kernels, dtype=torch.int64, device=self.device)
        self._sequences = 0

    @torch.inference_mode()
    def add(self, codes: np.ndarray) -> None:
        """Count the sites of a batch of base codes ``(n, L)`` (uint8, A,G,C,T,N = 0..4)."""
        if codes.shape[1] < self.width:
            raise ValueError(f"sequences of {codes.shape[1]} bases are shorter than the "
                             f"kernels ({self.width})")
        x = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8)).to(self.device)
        value, start = max_activation(self.weight, self.bias, x)
        sequence, kernel = torch.nonzero(value > 0, as_tuple=True)  # (m,) each
        column = torch.arange(self.width, device=self.device)
        sites = x[sequence[:, None], start[sequence, kernel][:, None] + column].long()
        index = ((kernel[:, None] * self.width + column) * (N_CODE + 1) + sites).flatten()
        self._counts += torch.bincount(index, minlength=self._counts.numel())
        self._sites += torch.bincount(kernel, minlength=self.n_kernels)
        self._sequences += len(codes)

    def result(self) -> KernelCounts:
        """The counts so far (the N column dropped)."""
        counts = self._counts.view(self.n_kernels, self.width, N_CODE + 1)[:, :, :N_CODE]
        return KernelCounts(counts.cpu().numpy(), self._sites.cpu().numpy(), self._sequences)


def count_kernel_sites(model: nn.Module, batches: Iterable[np.ndarray],
                       device: str | torch.device = "auto") -> KernelCounts:
    """:class:`KernelCounts` of ``model``'s first layer over batches of codes ``(n, L)``."""
    counter = SiteCounter(first_layer(model), device)
    for codes in batches:
        counter.add(codes)
    return counter.result()
