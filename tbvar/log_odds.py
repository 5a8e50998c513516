"""The log-odds difference of two probabilities, ``lod = logit(alt) − logit(ref)``, in numpy
(the definition, :attr:`tbvar.scores.VariantScores.lod`) and in torch (on the model's device,
:class:`tbvar.task_pvalues.ModelNull`), with the same steps: float32 probabilities taken to
float64, clipped to [ε, 1 − ε] (ε = :data:`LOGIT_EPS`), ``log(a / (1 − a))`` of each, the
difference rounded to float32. Only the logarithm's implementation differs, in the last bit
at most."""

from __future__ import annotations

import numpy as np
import torch

LOGIT_EPS = 1e-7


def log_odds_difference(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """``(n, T)`` float32 lod of float32 probabilities ``ref``, ``alt`` ``(n, T)``."""
    ref = np.clip(ref.astype(np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
    alt = np.clip(alt.astype(np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
    return (np.log(alt / (1 - alt)) - np.log(ref / (1 - ref))).astype(np.float32)


def log_odds_difference_torch(ref: torch.Tensor, alt: torch.Tensor) -> torch.Tensor:
    """:func:`log_odds_difference` of tensors, on their device."""
    ref = ref.double().clamp(LOGIT_EPS, 1 - LOGIT_EPS)
    alt = alt.double().clamp(LOGIT_EPS, 1 - LOGIT_EPS)
    return (torch.log(alt / (1 - alt)) - torch.log(ref / (1 - ref))).float()
