"""Per-task p-values of a batch of variants and their per-variant statistics, computed on the
host or where the model runs.

:class:`TaskPValues` holds, for the calibrated tasks (the selected ones, in selection order),
the empirical p-values of |lod| against a background (:meth:`tbvar.background.Background.
p_values`) and per variant the smallest p-value, its task and the Simes combination
(:func:`tbvar.variant_summaries.p_statistics`). :meth:`TaskPValues.on_host` computes them with
numpy from the host's lod (:attr:`tbvar.scores.VariantScores.lod`): that is the definition.

On a GPU these 690 binary searches per variant and a sort for Simes cost the host more than
all its other work per variant (``benchmarks/RESULTS.md``), while the device does them in
microseconds. :class:`ModelNull` therefore computes them on the model's device from the
probabilities of each pass, before they leave it (``--p-values-on model``, the default on
CUDA), with the same operations: the lod in float64 rounded to float32, a left-sided search of
the same float32 null values, the same table of p-values, Simes' products and quotients in
float64, ties of the smallest p broken by the largest |z| and then the first task.

Exactness: the device's logarithm may differ from numpy's in the last bit, so the device also
returns its lod and :meth:`ModelPValues.checked` keeps its results for a variant only where its
lod equals the host's bit for bit in every calibrated task (then every later step sees the
same numbers and IEEE-rounded operations give the same results); any other variant, and every
NaN, is recomputed on the host. (REF and ALT exchanged for ``orientation="input"`` negate
both lods exactly.) The output is thus byte-identical to ``--p-values-on host``
(``tests/test_model_pvalues.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tbvar.background import Background, p_value_table
from tbvar.log_odds import log_odds_difference_torch
from tbvar.variant_summaries import p_statistics


@dataclass
class TaskPValues:
    """p-values of n variants in C calibrated tasks and their per-variant statistics.

    Attributes
    ----------
    p
        ``(n, C)`` float32 two-sided empirical p-values of |lod|; ``None`` when not asked
        for (:class:`ModelNull` without ``with_p``).
    min_p
        ``(n,)`` float32 smallest p-value per variant.
    best
        ``(n,)`` int64 column of ``min_p`` (ties: the largest |z|, then the first).
    combined_p
        ``(n,)`` float32 Simes combination of each row of ``p``.
    """

    p: np.ndarray | None
    min_p: np.ndarray
    best: np.ndarray
    combined_p: np.ndarray

    @classmethod
    def on_host(cls, background: Background, lod: np.ndarray, columns: np.ndarray | None,
                z: np.ndarray) -> TaskPValues:
        """The definition: numpy lookups of ``lod`` ``(n, C)`` in the background's columns
        (``None``: all, in order) with z-scores ``z`` ``(n, C)`` for ties."""
        p = background.p_values("lod", lod, columns)
        return cls(p, *p_statistics(p, z))

    def replaced(self, rows: np.ndarray, other: TaskPValues) -> TaskPValues:
        """These values with ``rows`` (indices) taken from ``other`` (of those rows only)."""
        parts: dict[str, np.ndarray | None] = {"p": None}
        for name in ("p", "min_p", "best", "combined_p"):
            if getattr(self, name) is not None:
                parts[name] = values = getattr(self, name).copy()
                values[rows] = getattr(other, name)
        return TaskPValues(**parts)


@dataclass
class ModelPValues:
    """:class:`TaskPValues` of consecutive passes computed on the model's device, with the lod
    ``(m, C)`` float32 of each pass they were computed from (to be :meth:`checked` against
    the host's). Per-pass arrays stay apart: joining them would copy 2 × 690 floats per
    variant on the host for nothing."""

    lod: list[np.ndarray]
    p: list[np.ndarray] | None
    min_p: np.ndarray
    best: np.ndarray
    combined_p: np.ndarray

    def checked(self, lod: np.ndarray, recompute: Callable[[np.ndarray], TaskPValues]
                ) -> TaskPValues:
        """The device's values where its lod equals the host's ``lod`` ``(n, C)`` in every
        column; the other rows (indices) from ``recompute(rows)``."""
        edges = np.cumsum([0] + [len(part) for part in self.lod])
        differs = np.concatenate([  # NaN differs from itself; -0.0 == 0.0
            (part != lod[start:stop]).any(axis=1)
            for part, start, stop in zip(self.lod, edges[:-1], edges[1:], strict=True)])
        found = TaskPValues(np.concatenate(self.p) if self.p is not None else None,
                            self.min_p, self.best, self.combined_p)
        if not differs.any():
            return found
        rows = np.flatnonzero(differs)
        return found.replaced(rows, recompute(rows))

    def exchanged(self, rows: np.ndarray) -> ModelPValues:
        """These values for REF and ALT exchanged in ``rows`` (``(n,)`` bool): the lod changes
        sign, p-values and their statistics (of |lod| and |z|) do not."""
        edges = np.cumsum([0] + [len(part) for part in self.lod])
        lod = [np.where(rows[start:stop, None], -part, part)
               for part, start, stop in zip(self.lod, edges[:-1], edges[1:], strict=True)]
        return ModelPValues(lod, self.p, self.min_p, self.best, self.combined_p)

    @classmethod
    def joined(cls, parts: Sequence[ModelPValues]) -> ModelPValues:
        """Consecutive passes' values as one (the per-variant arrays joined)."""
        return cls([lod for part in parts for lod in part.lod],
                   [p for part in parts for p in part.p] if parts[0].p is not None else None,
                   *(np.concatenate([getattr(part, name) for part in parts])
                     for name in ("min_p", "best", "combined_p")))


class ModelNull:
    """A background's null values of the calibrated tasks on the model's device.

    Parameters
    ----------
    background
        The run's background.
    columns
        ``(C,)`` the calibrated tasks (model output indices), in selection order.
    device
        The model's device.
    with_p
        Return the per-task p-values too (else only their per-variant statistics).
    """

    def __init__(self, background: Background, columns: np.ndarray,
                 device: torch.device, with_p: bool = True) -> None:
        self.with_p = with_p
        self.columns = torch.as_tensor(np.asarray(columns, np.int64), device=device)
        null = background.by_column("lod")[np.asarray(columns, np.int64)]
        self.null = torch.from_numpy(np.ascontiguousarray(null)).to(device)  # (C, k)
        self.rms = torch.from_numpy(np.asarray(background.rms["lod"], np.float64)[columns]
                                    ).to(device)
        self.table = torch.from_numpy(p_value_table(null.shape[1])).to(device)
        self.rank = torch.arange(1, len(columns) + 1, dtype=torch.float64, device=device)

    @staticmethod
    def usable(background: Background, columns: np.ndarray) -> bool:
        """Whether the device can compute the p-values of ``columns``: at least one, and a
        positive RMS in each (else z, which breaks ties, is not finite)."""
        rms = np.asarray(background.rms["lod"], np.float64)[np.asarray(columns, np.int64)]
        return len(rms) > 0 and bool(np.all(rms > 0))

    @torch.inference_mode()
    def __call__(self, ref: torch.Tensor, alt: torch.Tensor) -> ModelPValues:
        """p-values and statistics of REF/ALT probabilities ``(n, T)`` on the device."""
        lod = log_odds_difference_torch(ref.index_select(1, self.columns),
                                        alt.index_select(1, self.columns))
        below = torch.searchsorted(self.null, lod.abs().T.contiguous())  # (C, n), left side
        p = self.table[below.T]
        z = (lod.double() / self.rms).float()
        tied = p == p.min(dim=1, keepdim=True).values
        best = torch.where(tied, z.abs(), -torch.inf).argmax(dim=1)
        ordered = torch.sort(p, dim=1).values.double()
        combined = torch.clamp((len(self.rank) * ordered / self.rank).min(dim=1).values,
                               max=1.0).float()
        min_p = p.gather(1, best[:, None])[:, 0]
        return ModelPValues([lod.cpu().numpy()], [p.cpu().numpy()] if self.with_p else None,
                            *(t.cpu().numpy() for t in (min_p, best, combined)))
