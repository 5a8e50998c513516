"""First-layer kernel activity at a variant: which convolution kernels the variant switches.

For a REF and an ALT window, each kernel's activation is its ReLU(convolution + bias) maximised
over the positions whose ``kernel_width`` bases overlap the allele (window indices
``[a, a + allele length)``, a the window anchor of :mod:`tbvar.windows`). With
reverse-complement averaging the same is computed on the reverse-complement windows (strand
``-``: the kernel read the other strand; the allele is then at ``[L − a − allele length,
L − a)``), since the scorer's RC pass sees those activations too. Every architecture's first
layer is an ``nn.Conv1d`` over the four one-hot channels (TBiNet, DanQ, DeepSEA); activations
are computed in the layer's own precision (float32), whatever the scoring precision.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tbvar.model import codes_to_onehot, reverse_complement_codes


def first_convolution(model: nn.Module) -> nn.Conv1d:
    """The model's first ``nn.Conv1d`` (registration order): it must read the one-hot bases
    with stride 1 and no padding or dilation (TBiNet's and DanQ's ``conv``, DeepSEA's
    ``features[0]``; :func:`tbvar.kernel_sites.first_layer` accepts a ``conv`` only, as
    ``tbvar motifs`` supports TBiNet and DanQ)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv1d)), None)
    if (conv is None or conv.in_channels != 4 or conv.stride != (1,) or conv.padding != (0,)
            or conv.dilation != (1,) or conv.groups != 1):
        raise ValueError(f"{type(model).__name__} has no first convolution over the one-hot "
                         "bases (4 channels, stride 1, no padding); kernel activity needs one")
    return conv


@torch.inference_mode()
def kernel_activity(model: nn.Module, windows: np.ndarray, allele_lengths: np.ndarray,
                    first: int, reverse_complement: bool, device: torch.device | str = "cpu"
                    ) -> np.ndarray:
    """Each kernel's largest activation over the positions overlapping the allele.

    Parameters
    ----------
    model
        Any registered architecture.
    windows
        ``(n, L)`` uint8 base codes (e.g. REF and ALT).
    allele_lengths
        ``(n,)`` length of each window's allele.
    first
        The window index of each allele's first base (the anchor).
    reverse_complement
        Also read the reverse-complement windows (strand ``-``).

    Returns
    -------
    np.ndarray
        ``(n, S, K)`` float32 activations; S = 2 strands (``+``, ``-``) or 1.
    """
    conv = first_convolution(model)
    codes = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.uint8)).to(device)
    length, width = codes.shape[1], conv.kernel_size[0]
    lengths = torch.as_tensor(np.asarray(allele_lengths, dtype=np.int64), device=device)
    starts = [torch.full_like(lengths, first)]
    if reverse_complement:
        codes = torch.cat([codes, reverse_complement_codes(codes)])
        starts.append(length - first - lengths)
    first = torch.cat(starts)[:, None]  # (n·S, 1) first allele index on the strand read
    onehot = codes_to_onehot(codes, dtype=conv.weight.dtype).transpose(1, 2)
    activation = torch.relu(nn.functional.conv1d(onehot, conv.weight, conv.bias))
    j = torch.arange(activation.shape[-1], device=device)[None, :]
    overlaps = (j > first - width) & (j < first + lengths.repeat(len(starts))[:, None])
    best = torch.where(overlaps[:, None, :], activation, 0.0).amax(dim=-1)  # ReLU ≥ 0
    n = len(windows)
    return best.view(len(starts), n, -1).transpose(0, 1).float().cpu().numpy()
